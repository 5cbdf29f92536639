//! Where sandboxes are attached. Sockt's isolated network gives sandboxes
//! of the engine's default runtime routed links of its own (`routed`), and
//! the rest (gVisor) a Docker bridge: one per engine, shared by every
//! Sockt store on it (containers stay labelled with their store),
//! inter-container traffic off (a sandbox cannot reach another), its
//! interface named so that `firewall` can guard it.

use bollard::models::NetworkCreateRequest;
use bollard::Docker;
use std::collections::HashMap;

/// Where sandboxes are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkChoice {
    /// Sockt's isolated network, reaching beyond it only the internet and
    /// the ranges in `allow`: routed links with addresses of `subnet` for
    /// the engine's default runtime (`routed`), the bridge below for others.
    Isolated {
        allow: Vec<String>,
        subnet: super::routed::Subnet,
        /// Where the routed sandboxes' `/etc/hosts` and `resolv.conf` are written.
        names_dir: std::path::PathBuf,
    },
    /// A network of the engine's, as is ("none", "bridge", a name): no
    /// isolation beyond what it gives.
    Engine(String),
}

/// The default subnet of routed sandbox addresses.
pub const DEFAULT_SUBNET: &str = "10.89.0.0/16";

pub fn default_subnet() -> super::routed::Subnet {
    super::routed::Subnet::DEFAULT
}

/// The isolated network's name, which is also its bridge interface's.
pub const ISOLATED: &str = "sockt-isolated";

/// Create the isolated network unless it exists; its name and bridge.
pub async fn ensure_isolated(docker: &Docker) -> anyhow::Result<(String, String)> {
    let (name, bridge) = (ISOLATED.to_string(), ISOLATED.to_string());
    let icc_off = |options: Option<&HashMap<String, String>>| {
        options
            .and_then(|o| o.get("com.docker.network.bridge.enable_icc"))
            .is_some_and(|v| v == "false")
    };
    if let Ok(found) = docker.inspect_network(&name, None).await {
        anyhow::ensure!(
            icc_off(found.options.as_ref()),
            "the Docker network {name} exists but lets containers reach each other; remove it (docker network rm {name}) and start again"
        );
        return Ok((name, bridge));
    }
    let options = HashMap::from([
        (
            "com.docker.network.bridge.enable_icc".to_string(),
            "false".to_string(),
        ),
        ("com.docker.network.bridge.name".to_string(), bridge.clone()),
    ]);
    let request = NetworkCreateRequest {
        name: name.clone(),
        driver: Some("bridge".into()),
        options: Some(options),
        labels: Some(HashMap::from([(
            super::LABEL_MANAGED.to_string(),
            "true".to_string(),
        )])),
        ..Default::default()
    };
    if let Err(e) = docker.create_network(request).await {
        // Another process of this store may have made it just now.
        docker
            .inspect_network(&name, None)
            .await
            .map_err(|_| anyhow::anyhow!("creating the sandbox network {name}: {e}"))?;
    }
    Ok((name, bridge))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bridge_name_is_a_valid_interface_name() {
        assert!(super::ISOLATED.len() <= 15);
    }
}
