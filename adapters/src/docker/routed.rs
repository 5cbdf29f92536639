//! Sandboxes' own routed links, for containers of the engine's default
//! runtime on Sockt's isolated network. Such a container starts on the
//! engine's `none` network and gets one link from Sockt: a veth pair whose
//! host end, `sbx<address in hex>`, carries a /32 route to the sandbox's
//! address, and whose other end is the sandbox's `eth0`, with its default
//! route through the host end (proxy ARP answers for the gateway,
//! 169.254.1.1). No bridge joins two sandboxes: all their traffic is routed
//! through the host, where `firewall` guards it, and the host end drops
//! packets whose source is not the sandbox's own address (strict
//! reverse-path filter). Why not a Docker network: on a user-defined one
//! the engine starts an embedded DNS server and writes rules inside every
//! container's namespace, a quarter more per start under load; attaching
//! here costs two short `ip` runs.
//!
//! Addresses come from the subnet, arbitrated by the kernel across
//! processes: an address is taken by creating its pair in the host (`sbx…`
//! and `sbw…`, before the container exists, which is labelled with it); the
//! `sbw…` end moves into the container when it starts. The pair goes with
//! the container's network namespace (when the container stops); `sweep`
//! removes reservations no container holds.

use domain::ports::RuntimeError;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// The label holding a container's routed address.
pub const LABEL_ADDRESS: &str = "sockt.address";
/// The next hop every sandbox routes through (answered by proxy ARP).
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The interface pattern of every host end (for iptables).
pub const HOST_ENDS: &str = "sbx+";

/// An IPv4 subnet of sandbox addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    network: u32,
    prefix: u8,
}

impl Subnet {
    /// 10.89.0.0/16, the default.
    pub const DEFAULT: Subnet = Subnet {
        network: u32::from_be_bytes([10, 89, 0, 0]),
        prefix: 16,
    };

    /// Parse `a.b.c.d/n` (n from 8 to 30).
    pub fn parse(text: &str) -> Result<Subnet, String> {
        let bad = || format!("'{text}' is not an IPv4 subnet such as 10.89.0.0/16");
        let (address, prefix) = text.split_once('/').ok_or_else(bad)?;
        let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "the sandbox subnet '{text}' needs a prefix from /8 to /30"
            ));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            network: u32::from(address) & mask,
            prefix,
        })
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix)
    }

    /// Addresses sandboxes may hold (not the network's, not its broadcast).
    fn hosts(&self) -> u32 {
        (1u32 << (32 - self.prefix)) - 2
    }

    /// The `n`th sandbox address (0-based, wrapping).
    fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 1 + n % self.hosts())
    }

    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == self.network
    }

    /// Whether it shares addresses with `other`.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let prefix = self.prefix.min(other.prefix);
        let mask = u32::MAX << (32 - prefix);
        self.network & mask == other.network & mask
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

/// The host end of `address`'s pair.
pub fn host_end(address: Ipv4Addr) -> String {
    format!("sbx{:08x}", u32::from(address))
}

/// The end waiting in the host for its container (until it moves in).
fn waiting_end(address: Ipv4Addr) -> String {
    format!("sbw{:08x}", u32::from(address))
}

/// The address a waiting end (a reservation) belongs to.
fn address_of_waiting(name: &str) -> Option<Ipv4Addr> {
    let hex = name.strip_prefix("sbw")?;
    (hex.len() == 8)
        .then(|| u32::from_str_radix(hex, 16).ok())
        .flatten()
        .map(Ipv4Addr::from)
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Run `ip` (through `nsenter` into `pid`'s network namespace when given)
/// with `batch` as its commands.
async fn ip_batch(in_namespace_of: Option<i64>, batch: &str) -> Result<(), String> {
    let mut command = match in_namespace_of {
        Some(pid) => {
            let mut c = tokio::process::Command::new("nsenter");
            c.args(["-t", &pid.to_string(), "-n", "ip", "-batch", "-"]);
            c
        }
        None => {
            let mut c = tokio::process::Command::new("ip");
            c.args(["-batch", "-"]);
            c
        }
    };
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running ip: {e} (install iproute2 and util-linux)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(batch.as_bytes())
            .await
            .map_err(|e| format!("writing to ip: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| format!("running ip: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Set a per-interface IPv4 setting of a host end.
fn set_interface(end: &str, setting: &str, value: &str) -> Result<(), String> {
    std::fs::write(format!("/proc/sys/net/ipv4/conf/{end}/{setting}"), value)
        .map_err(|e| format!("setting {setting} on {end}: {e}"))
}

/// Turn IPv6 off on a host interface: the kernel then drops every IPv6
/// packet that arrives on it, so a sandbox reaches nothing of the host's
/// over IPv6 (link-local included, which no IPv4 rule covers). A kernel
/// without IPv6 has nothing to turn off, nor has an interface gone
/// meanwhile (another server's sweep took a fresh reservation: `attach`
/// makes the pair again, and turns it off then).
pub fn disable_ipv6(interface: &str) -> Result<(), String> {
    let setting = format!("/proc/sys/net/ipv6/conf/{interface}/disable_ipv6");
    if !Path::new("/proc/sys/net/ipv6").exists() {
        return Ok(());
    }
    match std::fs::write(&setting, "1") {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(|e| format!("turning IPv6 off on {interface}: {e}")),
    }
}

/// Hands out addresses of the subnet and links them to containers.
pub struct Routed {
    subnet: Subnet,
    /// The `/etc/hosts` and `/etc/resolv.conf` every routed sandbox mounts
    /// (it starts without the engine's networking, which would write them).
    names: super::names::NameFiles,
    /// Where the search for a free address goes on (round robin: a freed
    /// address is not handed out again at once).
    next: std::sync::Mutex<u32>,
}

impl Routed {
    pub fn new(subnet: Subnet, names: super::names::NameFiles) -> Routed {
        // Processes start their search at different places (fewer tries
        // on addresses another has just taken).
        let start = uuid::Uuid::new_v4().as_u128() as u32;
        Routed {
            subnet,
            names,
            next: std::sync::Mutex::new(start),
        }
    }

    /// The read-only mounts of the name files, for a routed container.
    pub fn name_binds(&self) -> Vec<String> {
        self.names.binds()
    }

    /// The next address the search tries (the cursor wraps around).
    fn next_candidate(&self) -> Ipv4Addr {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let this = *next;
        *next = this.wrapping_add(1);
        self.subnet.host(this)
    }

    /// Take a free address: its pair is made in the host.
    pub async fn reserve(&self) -> Result<Ipv4Addr, RuntimeError> {
        for _ in 0..self.subnet.hosts() {
            let address = self.next_candidate();
            let end = host_end(address);
            if link_exists(&end) {
                continue;
            }
            let batch = format!(
                "link add {end} type veth peer name {}\n",
                waiting_end(address)
            );
            match ip_batch(None, &batch).await {
                Ok(()) => {
                    // Before the link is ever up: no IPv6 address, ever.
                    disable_ipv6(&end).map_err(RuntimeError::Failed)?;
                    return Ok(address);
                }
                // Taken by another process just now.
                Err(e) if e.contains("File exists") => continue,
                Err(e) => {
                    return Err(RuntimeError::Failed(format!(
                        "making a sandbox network link: {e}"
                    )))
                }
            }
        }
        Err(RuntimeError::Failed(format!(
            "every address of the sandbox subnet {} is taken",
            self.subnet
        )))
    }

    /// Give the started container whose process is `pid` its link at
    /// `address` (idempotent: a link already moved in is left as it is).
    pub async fn attach(&self, address: Ipv4Addr, pid: i64) -> Result<(), RuntimeError> {
        let (end, waiting) = (host_end(address), waiting_end(address));
        let failed =
            |e: String| RuntimeError::Failed(format!("linking the sandbox's network: {e}"));
        let rest = format!("link set dev {end} up\nroute replace {address}/32 dev {end}\n");
        let move_in = format!("link set dev {waiting} netns {pid}\n{rest}");
        // Its reservation gone (swept meanwhile, or it never had one): the
        // pair is made straight into the container.
        // Its host end gets IPv6 turned off before it is up.
        let make_in = || async {
            let add = format!("link add {end} type veth peer name {waiting} netns {pid}\n");
            ip_batch(None, &add).await?;
            disable_ipv6(&end)?;
            ip_batch(None, &rest).await
        };
        let linked = if link_exists(&waiting) {
            match ip_batch(None, &move_in).await {
                Err(_) if !link_exists(&waiting) && !link_exists(&end) => make_in().await,
                other => other,
            }
        } else if !link_exists(&end) {
            make_in().await
        } else {
            return Ok(());
        };
        linked.map_err(failed)?;
        // Idempotent; a reservation made by an older server had it on.
        disable_ipv6(&end).map_err(failed)?;
        set_interface(&end, "rp_filter", "1").map_err(failed)?;
        set_interface(&end, "proxy_arp", "1").map_err(failed)?;
        // The gateway's link address is written in: nothing waits on ARP.
        let mac = std::fs::read_to_string(format!("/sys/class/net/{end}/address"))
            .map_err(|e| failed(format!("reading the address of {end}: {e}")))?;
        let inside = format!(
            "link set dev {waiting} name eth0\n\
             addr add {address}/32 dev eth0\n\
             link set dev eth0 up\n\
             route add {GATEWAY} dev eth0 scope link\n\
             neigh replace {GATEWAY} lladdr {} dev eth0 nud permanent\n\
             route add default via {GATEWAY} dev eth0\n",
            mac.trim()
        );
        ip_batch(Some(pid), &inside).await.map_err(failed)
    }

    /// Let `address` go (its pair, if the container did not take it along).
    pub async fn release(&self, address: Ipv4Addr) {
        let end = host_end(address);
        if link_exists(&end) {
            if let Err(e) = ip_batch(None, &format!("link del {end}\n")).await {
                if link_exists(&end) {
                    tracing::warn!(link = %end, error = %e, "could not remove a sandbox network link");
                }
            }
        }
    }
}

/// The addresses reserved now: pairs whose ends both wait in the host. (A
/// pair whose end moved into a container is never swept: it goes with
/// the container's namespace.)
pub fn reservations() -> BTreeSet<Ipv4Addr> {
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter_map(|entry| address_of_waiting(&entry.file_name().to_string_lossy()))
        .collect()
}

/// Remove the reservations among `seen` (taken before `in_use`, the
/// addresses labelled on the engine's containers of every store, was
/// listed) that no container holds: left by a process that died between
/// reserving and making its container. One made since is not among them;
/// one whose end has moved in meanwhile is kept.
pub async fn sweep(seen: &BTreeSet<Ipv4Addr>, in_use: &BTreeSet<Ipv4Addr>) {
    for address in seen.difference(in_use) {
        if !link_exists(&waiting_end(*address)) {
            continue;
        }
        let end = host_end(*address);
        if let Err(e) = ip_batch(None, &format!("link del {end}\n")).await {
            tracing::warn!(link = %end, error = %e, "could not remove a stale sandbox network link");
        }
    }
}

/// Refuse a subnet that shares addresses with a route of the host's own
/// (other than the sandboxes' /32 routes).
pub async fn check_subnet(subnet: Subnet) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("ip")
        .args(["-4", "route", "show", "table", "all"])
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("running ip: {e} (install iproute2)"))?;
    anyhow::ensure!(
        output.status.success(),
        "ip route: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let routes = String::from_utf8_lossy(&output.stdout);
    if let Some(clash) = clashing_route(subnet, &routes) {
        anyhow::bail!(
            "the sandbox subnet {subnet} overlaps the host's route '{clash}': choose another with SOCKT_SANDBOX_SUBNET"
        );
    }
    Ok(())
}

/// The first route of `routes` (`ip route` lines) that overlaps `subnet`,
/// the default route and the sandboxes' own host ends aside.
fn clashing_route(subnet: Subnet, routes: &str) -> Option<String> {
    routes
        .lines()
        .filter(|line| !line.contains(" dev sbx"))
        .find(|line| {
            let destination = line
                .split_whitespace()
                .find(|word| word.chars().next().is_some_and(|c| c.is_ascii_digit()));
            let Some(destination) = destination else {
                return false;
            };
            let destination = if destination.contains('/') {
                destination.to_string()
            } else {
                format!("{destination}/32")
            };
            // Host routes (/31, /32) parse with a wider prefix range.
            let parsed = destination
                .split_once('/')
                .and_then(|(a, p)| Some((a.parse::<Ipv4Addr>().ok()?, p.parse::<u8>().ok()?)));
            match parsed {
                Some((address, prefix)) if prefix > 30 => subnet.contains(address),
                Some((address, prefix)) if prefix >= 8 => {
                    Subnet::parse(&format!("{address}/{prefix}"))
                        .is_ok_and(|route| route.overlaps(&subnet))
                }
                _ => false,
            }
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_to_their_network_and_hand_out_host_addresses() {
        let subnet = Subnet::parse("10.89.7.9/16").unwrap();
        assert_eq!(subnet.to_string(), "10.89.0.0/16");
        assert_eq!(subnet.host(0), Ipv4Addr::new(10, 89, 0, 1));
        assert_eq!(subnet.host(65_533), Ipv4Addr::new(10, 89, 255, 254));
        assert_eq!(subnet.host(65_534), Ipv4Addr::new(10, 89, 0, 1), "wraps");
        assert!(subnet.contains(Ipv4Addr::new(10, 89, 3, 4)));
        assert!(!subnet.contains(Ipv4Addr::new(10, 90, 0, 1)));
        assert!(Subnet::parse("10.89.0.0").is_err());
        assert!(Subnet::parse("10.89.0.0/31").is_err());
        assert!(Subnet::parse("banana/16").is_err());
    }

    #[test]
    fn the_default_subnet_is_the_documented_one() {
        assert_eq!(
            Subnet::DEFAULT.to_string(),
            crate::docker::network::DEFAULT_SUBNET
        );
        assert_eq!(
            Subnet::parse(crate::docker::network::DEFAULT_SUBNET),
            Ok(Subnet::DEFAULT)
        );
    }

    #[test]
    fn the_search_for_a_free_address_wraps_around_without_overflow() {
        let dir = std::env::temp_dir().join(format!("sockt-routed-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let host = dir.join("resolv.conf");
        std::fs::write(&host, "nameserver 203.0.113.53\n").unwrap();
        let names = super::super::names::NameFiles::write(&dir.join("names"), &host).unwrap();
        let routed = Routed::new(Subnet::DEFAULT, names);
        *routed.next.lock().unwrap() = u32::MAX;
        let last = routed.next_candidate();
        let first = routed.next_candidate();
        assert!(Subnet::DEFAULT.contains(last) && Subnet::DEFAULT.contains(first));
        assert_eq!(*routed.next.lock().unwrap(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn link_names_fit_an_interface_and_give_back_their_address() {
        let address = Ipv4Addr::new(10, 89, 0, 17);
        assert_eq!(host_end(address), "sbx0a590011");
        assert!(host_end(address).len() <= 15 && waiting_end(address).len() <= 15);
        assert_eq!(address_of_waiting("sbw0a590011"), Some(address));
        assert_eq!(address_of_waiting("sockt-isolated"), None);
        assert_eq!(address_of_waiting("sbx0a590011"), None);
    }

    #[test]
    fn a_subnet_that_overlaps_a_host_route_is_refused() {
        let routes = "default via 192.0.2.1 dev eth0\n\
                      172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1\n\
                      10.89.0.5 dev sbx0a590005 scope link\n\
                      local 10.0.0.7 dev lo table local proto kernel scope host src 10.0.0.7\n";
        let ours = Subnet::parse("10.89.0.0/16").unwrap();
        assert_eq!(clashing_route(ours, routes), None);
        let docker = Subnet::parse("172.17.128.0/20").unwrap();
        assert!(clashing_route(docker, routes).unwrap().contains("docker0"));
        let wide = Subnet::parse("10.0.0.0/8").unwrap();
        assert!(clashing_route(wide, routes).unwrap().contains("10.0.0.7"));
    }
}
