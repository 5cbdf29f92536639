//! Each sandbox's own network policy (`domain::network`) in the kernel.
//! A sandbox whose policy narrows the open default gets a chain named after
//! its address on Sockt's bridge (`SOCKT-P-<address in hex>`), reached from
//! `SOCKT-POLICIES`, which the bridge's forward chain consults before the
//! operator's ranges: allowed destinations return to those (so a sandbox can
//! never open a private range), denied ones are refused, and with the
//! internet off so is everything else. An address's chain is rewritten (or
//! removed) whenever a container takes the address, removed when its
//! container is destroyed, and every chain is rebuilt from the containers'
//! labels at start, so a stale rule never outlives its container for long
//! and never applies to another sandbox. Host names are resolved (IPv4) when
//! the rules are written.

use super::iptables::{has_rule, iptables, restore};
use domain::network::{Cidr, Destination, NetworkPolicy};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The chain holding one jump per sandbox with a policy.
pub const POLICIES_CHAIN: &str = "SOCKT-POLICIES";
/// Prefix of the per-address chains.
const CHAIN_PREFIX: &str = "SOCKT-P-";
/// How long host names of one policy may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A policy with its host names resolved to addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPolicy {
    pub internet: bool,
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
}

impl ResolvedPolicy {
    /// Whether it adds nothing to the operator's rules.
    pub fn is_open(&self) -> bool {
        self.internet && self.allow.is_empty() && self.deny.is_empty()
    }
}

/// The chain of the sandbox at `address`.
pub fn chain_of(address: Ipv4Addr) -> String {
    format!("{CHAIN_PREFIX}{:08X}", u32::from(address))
}

/// The address a per-address chain belongs to.
fn address_of(chain: &str) -> Option<Ipv4Addr> {
    let hex = chain.strip_prefix(CHAIN_PREFIX)?;
    (hex.len() == 8)
        .then(|| u32::from_str_radix(hex, 16).ok())
        .flatten()
        .map(Ipv4Addr::from)
}

/// Resolve the policy's host names (IPv4 only; a name that does not
/// resolve adds nothing).
pub async fn resolve(policy: &NetworkPolicy) -> ResolvedPolicy {
    async fn addresses(list: &[Destination]) -> Vec<Cidr> {
        let lookups = list.iter().map(|destination| async move {
            match destination {
                Destination::Cidr(cidr) => vec![*cidr],
                Destination::Host(name) => {
                    let found =
                        tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name.as_str(), 0)))
                            .await;
                    match found {
                        Ok(Ok(found)) => found
                            .filter_map(|address| match address.ip() {
                                std::net::IpAddr::V4(v4) => Some(Cidr::host(v4)),
                                std::net::IpAddr::V6(_) => None,
                            })
                            .collect(),
                        _ => {
                            tracing::warn!(host = %name, "a network policy's host name did not resolve");
                            Vec::new()
                        }
                    }
                }
            }
        });
        let mut all: Vec<Cidr> = futures::future::join_all(lookups)
            .await
            .into_iter()
            .flatten()
            .collect();
        all.sort_by_key(|c| (u32::from(c.network), c.prefix));
        all.dedup();
        all
    }
    ResolvedPolicy {
        internet: policy.internet,
        allow: addresses(&policy.allow).await,
        deny: addresses(&policy.deny).await,
    }
}

/// The rules of one sandbox's chain, as an `iptables-restore` transaction
/// that (re)writes the chain and adds the jump when `add_jump`.
fn ruleset(address: Ipv4Addr, policy: &ResolvedPolicy, add_jump: bool) -> String {
    let chain = chain_of(address);
    let mut rules = vec!["*filter".to_string(), format!(":{chain} - [0:0]")];
    rules.extend(
        policy
            .allow
            .iter()
            .map(|cidr| format!("-A {chain} -d {cidr} -j RETURN")),
    );
    let reject = "-j REJECT --reject-with icmp-admin-prohibited";
    rules.extend(
        policy
            .deny
            .iter()
            .map(|cidr| format!("-A {chain} -d {cidr} {reject}")),
    );
    if !policy.internet {
        rules.push(format!("-A {chain} {reject}"));
    }
    if add_jump {
        rules.push(format!("-A {POLICIES_CHAIN} -s {address}/32 -j {chain}"));
    }
    rules.push("COMMIT".to_string());
    rules.join("\n") + "\n"
}

/// The jump from `SOCKT-POLICIES` to `address`'s chain, as arguments.
fn jump_rule(address: Ipv4Addr) -> [String; 4] {
    [
        "-s".into(),
        format!("{address}/32"),
        "-j".into(),
        chain_of(address),
    ]
}

/// Whether `SOCKT-POLICIES` jumps to `address`'s chain.
fn has_jump(address: Ipv4Addr) -> bool {
    let rule = jump_rule(address);
    has_rule(POLICIES_CHAIN, &rule.each_ref().map(String::as_str))
}

/// Give the sandbox now at `address` its policy: write its chain (or remove
/// the chain a former holder of the address left, for an open policy).
pub fn apply(address: Ipv4Addr, policy: &ResolvedPolicy) -> anyhow::Result<()> {
    if policy.is_open() {
        return remove(address);
    }
    restore(&ruleset(address, policy, !has_jump(address)))
}

/// Remove the chain of `address`, if any.
pub fn remove(address: Ipv4Addr) -> anyhow::Result<()> {
    let rule = jump_rule(address);
    let delete: Vec<&str> = ["-D", POLICIES_CHAIN]
        .into_iter()
        .chain(rule.iter().map(String::as_str))
        .collect();
    while has_jump(address) {
        iptables(&delete)?;
    }
    let chain = chain_of(address);
    if iptables(&["-L", &chain, "-n"]).is_ok() {
        iptables(&["-F", &chain])?;
        iptables(&["-X", &chain])?;
    }
    Ok(())
}

/// The addresses that have a chain now.
pub fn addresses_with_chains() -> anyhow::Result<BTreeSet<Ipv4Addr>> {
    let output = std::process::Command::new("iptables")
        .args(["-w", "5", "-S"])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "iptables -S: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("-N "))
        .filter_map(address_of)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(internet: bool, allow: &[&str], deny: &[&str]) -> ResolvedPolicy {
        let cidrs = |list: &[&str]| list.iter().map(|c| Cidr::parse(c).unwrap()).collect();
        ResolvedPolicy {
            internet,
            allow: cidrs(allow),
            deny: cidrs(deny),
        }
    }

    #[test]
    fn chains_are_named_after_the_address_and_back() {
        let address = Ipv4Addr::new(172, 18, 0, 5);
        assert_eq!(chain_of(address), "SOCKT-P-AC120005");
        assert!(chain_of(address).len() <= 28);
        assert_eq!(address_of("SOCKT-P-AC120005"), Some(address));
        assert_eq!(address_of("SOCKT-POLICIES"), None);
        assert_eq!(address_of("SOCKT-P-XYZ"), None);
    }

    #[test]
    fn allowed_destinations_pass_before_denied_ones_and_the_internet_switch() {
        let rules = ruleset(
            Ipv4Addr::new(172, 18, 0, 5),
            &policy(false, &["203.0.113.2"], &["203.0.113.0/24"]),
            true,
        );
        let allow = rules.find("-d 203.0.113.2/32 -j RETURN").unwrap();
        let deny = rules.find("-d 203.0.113.0/24 -j REJECT").unwrap();
        let cut = rules
            .find("-A SOCKT-P-AC120005 -j REJECT --reject-with icmp-admin-prohibited")
            .unwrap();
        assert!(allow < deny && deny < cut);
        assert!(rules.starts_with("*filter\n:SOCKT-P-AC120005 - [0:0]\n"));
        assert!(rules.contains("-A SOCKT-POLICIES -s 172.18.0.5/32 -j SOCKT-P-AC120005\n"));
        assert!(rules.ends_with("COMMIT\n"));
    }

    #[test]
    fn with_the_internet_on_only_denied_destinations_are_refused() {
        let rules = ruleset(
            Ipv4Addr::new(172, 18, 0, 5),
            &policy(true, &[], &["203.0.113.3"]),
            false,
        );
        assert!(rules.contains("-d 203.0.113.3/32 -j REJECT"));
        assert!(!rules.contains("SOCKT-P-AC120005 -j REJECT"));
        assert!(!rules.contains("SOCKT-POLICIES"));
    }

    #[tokio::test]
    async fn host_names_resolve_to_their_ipv4_addresses() {
        let policy =
            NetworkPolicy::new(true, &[], &["localhost".into(), "203.0.113.9".into()]).unwrap();
        let resolved = resolve(&policy).await;
        assert!(resolved.deny.contains(&Cidr::parse("127.0.0.1").unwrap()));
        assert!(resolved.deny.contains(&Cidr::parse("203.0.113.9").unwrap()));
    }
}
