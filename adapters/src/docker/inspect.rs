//! What an engine's inspection of a container tells: its addresses (routed,
//! reserved, on a Docker network), its labels and network policy, the
//! sandbox it serves, and whether its init can be killed directly.

use super::{pool, routed, LABEL_NETWORK, LABEL_SANDBOX};
use bollard::models::ContainerInspectResponse;
use domain::network::NetworkPolicy;
use std::net::Ipv4Addr;

/// The container's IPv4 address on Sockt's isolated network: its routed
/// link's, or else its address on the Docker `network`.
pub(super) fn address_on(info: &ContainerInspectResponse, network: &str) -> Option<Ipv4Addr> {
    routed_address(info).or_else(|| docker_address(info, network))
}

/// The routed address a container is labelled with, while it holds it: a
/// stopped container's link went with its namespace, and its address may
/// be another sandbox's by now.
pub(super) fn routed_address(info: &ContainerInspectResponse) -> Option<Ipv4Addr> {
    use bollard::models::ContainerStateStatusEnum as State;
    let status = info.state.as_ref()?.status?;
    if !matches!(
        status,
        State::CREATED | State::RUNNING | State::PAUSED | State::RESTARTING
    ) {
        return None;
    }
    label_of(info, routed::LABEL_ADDRESS)?.parse().ok()
}

/// The address a container that never started still holds in reserve.
pub(super) fn reserved_address(info: &ContainerInspectResponse) -> Option<Ipv4Addr> {
    use bollard::models::ContainerStateStatusEnum as State;
    (info.state.as_ref()?.status? == State::CREATED)
        .then(|| routed_address(info))
        .flatten()
}

/// The container's IPv4 address on the Docker network `network`.
pub(super) fn docker_address(info: &ContainerInspectResponse, network: &str) -> Option<Ipv4Addr> {
    info.network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(network)?
        .ip_address
        .as_deref()?
        .parse()
        .ok()
}

/// A label of the container.
pub(super) fn label_of(info: &ContainerInspectResponse, label: &str) -> Option<String> {
    info.config.as_ref()?.labels.as_ref()?.get(label).cloned()
}

/// The policy a container's label records (open when it has none).
pub(super) fn policy_of(info: &ContainerInspectResponse) -> Option<NetworkPolicy> {
    let label = info.config.as_ref()?.labels.as_ref()?.get(LABEL_NETWORK)?;
    serde_json::from_str(label).ok()
}

/// A running, unpaused runc container's full id and init PID: one whose
/// processes `direct_kill` can end (a frozen one takes no signal; another
/// runtime's init PID may not be the sandbox's).
pub(super) fn directly_killable(info: &ContainerInspectResponse) -> Option<(String, i64)> {
    let state = info.state.as_ref()?;
    let runc = info
        .host_config
        .as_ref()
        .and_then(|h| h.runtime.as_deref())
        .is_none_or(|runtime| runtime == "runc");
    let live = state.running == Some(true) && state.paused != Some(true);
    (runc && live).then_some(())?;
    Some((info.id.clone()?, state.pid?))
}

/// The sandbox a container serves: its label, or for a container claimed
/// from the pool its name; None for one still waiting in the pool.
pub(super) fn sandbox_of(container: &bollard::models::ContainerSummary) -> Option<String> {
    if let Some(id) = container.labels.as_ref()?.get(LABEL_SANDBOX) {
        return Some(id.clone());
    }
    let name = container.names.as_ref()?.first()?.trim_start_matches('/');
    if name.starts_with(pool::POOL_PREFIX) {
        return None;
    }
    name.strip_prefix("sockt-").map(str::to_string)
}
