//! A sandbox's network policy put into the kernel as its container comes
//! (`policies` writes the rules) and taken out as it goes, and at start the
//! kernel's per-sandbox rules made to match the containers there are.

use super::engine::routed_addresses;
use super::errors::{map_err, PathContext};
use super::inspect::{address_on, policy_of};
use super::{policies, DockerRuntime, LABEL_NETWORK};
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;
use domain::network::NetworkPolicy;
use domain::ports::RuntimeError;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Remove the policy chain of `address` (none there: nothing to do).
pub(super) async fn remove_policy(address: Ipv4Addr) -> Result<(), RuntimeError> {
    let failed = |e: String| RuntimeError::Failed(format!("removing the network policy: {e}"));
    tokio::task::spawn_blocking(move || policies::remove(address))
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(e.to_string()))
}

/// At start, make the kernel's per-sandbox rules match the containers on
/// the isolated network (of every store: the network is shared): chains of
/// addresses no container holds go (only those that existed before looking,
/// so a chain another process writes meanwhile is kept), and every
/// container with a policy gets its chain (re)written.
pub(super) async fn reconcile_policies(docker: &Docker, network: &str) -> anyhow::Result<()> {
    let before = tokio::task::spawn_blocking(policies::addresses_with_chains).await??;
    let attached = docker.inspect_network(network, None).await?;
    let mut in_use: std::collections::BTreeSet<Ipv4Addr> = attached
        .containers
        .unwrap_or_default()
        .values()
        .filter_map(|c| c.ipv4_address.as_deref()?.split('/').next()?.parse().ok())
        .collect();
    in_use.extend(routed_addresses(docker).await?);
    for stale in before.difference(&in_use).copied() {
        // Another server starting now may be removing the same chain.
        if let Err(e) = remove_policy(stale).await {
            tracing::warn!(address = %stale, error = %e, "could not remove a stale policy chain");
        }
    }
    let filters = HashMap::from([("label".to_string(), vec![LABEL_NETWORK.to_string()])]);
    let options = ListContainersOptionsBuilder::new()
        .filters(&filters)
        .build();
    for container in docker.list_containers(Some(options)).await? {
        let Some(id) = container.id else { continue };
        let Ok(info) = docker.inspect_container(&id, None).await else {
            continue;
        };
        if let (Some(address), Some(policy)) = (address_on(&info, network), policy_of(&info)) {
            let resolved = policies::resolve(&policy).await;
            tokio::task::spawn_blocking(move || policies::apply(address, &resolved)).await??;
        }
    }
    Ok(())
}

impl DockerRuntime {
    /// Give the container its network policy in the kernel (on Sockt's
    /// isolated network; elsewhere only the open policy can be honoured).
    pub(super) async fn enforce_policy(
        &self,
        container: &str,
        policy: &NetworkPolicy,
    ) -> Result<(), RuntimeError> {
        // Halting it removes its rules, found by its address: the engine's way.
        self.inits.forget(container);
        if !self.is_isolated() {
            return if policy.is_open() {
                Ok(())
            } else {
                Err(RuntimeError::Failed(
                    "this server's sandboxes join an engine network (SOCKT_SANDBOX_NETWORK), where network policies cannot be enforced".into(),
                ))
            };
        }
        let info = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        let address = address_on(&info, &self.network).ok_or_else(|| {
            RuntimeError::NoNetwork(format!("it has no address on '{}'", self.network))
        })?;
        let resolved = policies::resolve(policy).await;
        tokio::task::spawn_blocking(move || policies::apply(address, &resolved))
            .await
            .map_err(|e| RuntimeError::Failed(format!("applying the network policy: {e}")))?
            .map_err(|e| RuntimeError::Failed(format!("applying the network policy: {e}")))
    }
}
