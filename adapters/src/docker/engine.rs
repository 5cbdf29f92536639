//! The engine itself: a client of it, the OCI runtimes it knows, and what
//! it lists (this store's containers, labels across every store's).

use super::errors::{map_err, PathContext};
use super::{agent, routed, DockerConfig, DockerRuntime, LABEL_INSTANCE};
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;
use domain::ports::RuntimeError;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// A client of the local engine, on an API version both speak; nothing
/// else is set up (a tool that only builds an image uses this).
pub async fn engine() -> anyhow::Result<Docker> {
    let docker = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    docker
        .ping()
        .await
        .map_err(|e| anyhow::anyhow!("the Docker engine does not answer: {e}"))?;
    Ok(docker)
}

/// Every OCI runtime the configuration names must be one the engine knows.
pub(super) async fn check_runtimes(docker: &Docker, config: &DockerConfig) -> anyhow::Result<()> {
    let named: std::collections::BTreeSet<&String> = config
        .tier_runtimes
        .values()
        .chain(config.oci_runtime.iter())
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let known = docker.info().await?.runtimes.unwrap_or_default();
    for runtime in named {
        anyhow::ensure!(
            known.contains_key(runtime.as_str()),
            "the Docker engine has no OCI runtime named {runtime:?} (it knows: {}); register it in /etc/docker/daemon.json (\"runtimes\") or see SOCKT_OCI_RUNTIME / SOCKT_TIER_RUNTIMES",
            known.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// The values of `label` on every container of the engine that has it (of
/// every store, in any state).
pub(super) async fn label_everywhere(docker: &Docker, label: &str) -> anyhow::Result<Vec<String>> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    Ok(docker
        .list_containers(Some(options))
        .await?
        .into_iter()
        .filter_map(|c| c.labels?.get(label).cloned())
        .collect())
}

/// The agent slots of every container on the engine.
pub(super) async fn slots_in_use(
    docker: &Docker,
) -> anyhow::Result<std::collections::HashSet<String>> {
    Ok(label_everywhere(docker, agent::LABEL_AGENT)
        .await?
        .into_iter()
        .collect())
}

/// The routed addresses labelled on the engine's containers (of every
/// store, in any state).
pub(super) async fn routed_addresses(
    docker: &Docker,
) -> anyhow::Result<std::collections::BTreeSet<Ipv4Addr>> {
    Ok(label_everywhere(docker, routed::LABEL_ADDRESS)
        .await?
        .iter()
        .filter_map(|address| address.parse().ok())
        .collect())
}

impl DockerRuntime {
    /// This store's containers (in any state) that carry `label`.
    pub(super) async fn list_ours(
        &self,
        label: String,
    ) -> Result<Vec<bollard::models::ContainerSummary>, RuntimeError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![label, format!("{LABEL_INSTANCE}={}", self.config.instance)],
        )]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(|e| map_err(e, PathContext::None))
    }

    /// Whether the engine answers now (readiness).
    pub async fn answers(&self) -> Result<(), RuntimeError> {
        self.docker
            .ping()
            .await
            .map(drop)
            .map_err(|e| map_err(e, PathContext::None))
    }
}
