//! The kernel's part of sandbox isolation: iptables rules for Sockt's
//! sandbox links — the routed ones (`routed`, host ends `sbx+`) and the
//! Docker bridge gVisor sandboxes join. Traffic from a sandbox may not
//! reach private, shared, link-local (the cloud metadata address among
//! them) or other reserved ranges unless the operator allows a range;
//! traffic from a sandbox to the host itself (every address of the host,
//! any port) is refused in `INPUT`. Replies to connections the host opened
//! (the proxy) pass. Into a routed link only replies pass, so no sandbox
//! reaches another; on the bridge, inter-container communication is off.
//! The rules live in chains of their own, rebuilt at every start, so they
//! survive server restarts and never pile up.

use super::iptables::{ensure_chain, has_rule, iptables, restore, run_tables};

/// Ranges a sandbox may not reach unless the operator allows them.
pub const BLOCKED_RANGES: [&str; 10] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/3",
];

/// The chains guarding bridge `bridge`.
struct Chains {
    forward: String,
    input: String,
}

fn chains(bridge: &str) -> Chains {
    let tag = bridge.trim_start_matches("sockt-").to_uppercase();
    // iptables chain names hold at most 28 characters.
    let tag = &tag[..tag.len().min(18)];
    Chains {
        forward: format!("SOCKT-FWD-{tag}"),
        input: format!("SOCKT-IN-{tag}"),
    }
}

/// Refuse every IPv6 packet arriving from the sandbox links named by
/// `interfaces` (`sbx+`, the bridge), to the host or through it:
/// sandboxes speak IPv4 only, and these rules stand even where an
/// interface's own IPv6 switch (`routed::disable_ipv6`) was turned back on
/// (an engine restart remakes its bridge). A kernel without IPv6 has
/// nothing to refuse.
pub fn refuse_ipv6(interfaces: &[&str]) -> anyhow::Result<()> {
    if !std::path::Path::new("/proc/net/if_inet6").exists() {
        return Ok(());
    }
    let _one_at_a_time = GUARDING.lock().unwrap_or_else(|e| e.into_inner());
    for interface in interfaces {
        for chain in ["INPUT", "FORWARD"] {
            let rule = ["-i", interface, "-j", "DROP"];
            let mut check = vec!["-C", chain];
            check.extend_from_slice(&rule);
            if run_tables("ip6tables", &check).is_ok() {
                continue;
            }
            let mut insert = vec!["-I", chain, "1"];
            insert.extend_from_slice(&rule);
            run_tables("ip6tables", &insert)?;
        }
    }
    Ok(())
}

/// Servers of one process (tests run many) install their guards one at a
/// time, so none inserts a jump another has just checked for.
static GUARDING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Put the jump `rule` first in `chain` unless it is there already.
fn ensure_jump(chain: &str, rule: &[&str]) -> anyhow::Result<()> {
    if has_rule(chain, rule) {
        return Ok(());
    }
    let mut args = vec!["-I", chain, "1"];
    args.extend_from_slice(rule);
    iptables(&args)
}

/// The rules of both chains, as one `iptables-restore` transaction: the
/// chains are replaced at once, never seen empty. Name resolution through
/// the host's resolvers stays open (Docker's resolver in each container
/// forwards from the container's own address); then each sandbox's own
/// policy (`policies`) narrows what follows. What passes does `passed`:
/// `RETURN` on a Docker bridge (whose own rules accept it), `ACCEPT` on
/// the routed links (nothing else would).
fn ruleset(chains: &Chains, allowed: &[String], resolvers: &[String], passed: &str) -> String {
    let Chains { forward, input } = chains;
    let mut rules = vec![
        "*filter".to_string(),
        format!(":{forward} - [0:0]"),
        format!(":{input} - [0:0]"),
        format!("-A {forward} -m conntrack --ctstate ESTABLISHED,RELATED -j {passed}"),
    ];
    for resolver in resolvers {
        for protocol in ["udp", "tcp"] {
            rules.push(format!(
                "-A {forward} -d {resolver}/32 -p {protocol} --dport 53 -j {passed}"
            ));
        }
    }
    rules.push(format!(
        "-A {forward} -j {}",
        super::policies::POLICIES_CHAIN
    ));
    rules.extend(
        allowed
            .iter()
            .map(|range| format!("-A {forward} -d {range} -j {passed}")),
    );
    rules.extend(BLOCKED_RANGES.iter().map(|range| {
        format!("-A {forward} -d {range} -j REJECT --reject-with icmp-admin-prohibited")
    }));
    rules.extend([
        format!("-A {forward} -j {passed}"),
        format!("-A {input} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"),
        format!("-A {input} -p tcp -j REJECT --reject-with tcp-reset"),
        format!("-A {input} -j REJECT --reject-with icmp-admin-prohibited"),
        "COMMIT".to_string(),
    ]);
    rules.join("\n") + "\n"
}

/// Install (or rebuild) the rules for sandboxes on `bridge`; `allowed` are
/// ranges the operator lets sandboxes reach after all.
pub fn guard_bridge(bridge: &str, allowed: &[String]) -> anyhow::Result<()> {
    let chains = chains(bridge);
    let _one_at_a_time = GUARDING.lock().unwrap_or_else(|e| e.into_inner());
    ensure_chain(super::policies::POLICIES_CHAIN)?;
    restore(&ruleset(&chains, allowed, &host_resolvers(), "RETURN"))?;
    ensure_chain("DOCKER-USER")?;
    ensure_jump("DOCKER-USER", &["-i", bridge, "-j", &chains.forward])?;
    ensure_jump("INPUT", &["-i", bridge, "-j", &chains.input])?;
    Ok(())
}

/// The chain that lets into the routed links only replies.
const TO_ROUTED: &str = "SOCKT-TO-ROUTED";

/// Install (or rebuild) the rules for the sandboxes' routed links (host
/// ends `sk…`, addresses of `subnet`): their traffic out is checked as on
/// the bridge and then accepted (and masqueraded); into them only replies
/// pass — no sandbox, and no other host, opens a connection to one; to the
/// host itself they reach nothing. Jumps are taken from `FORWARD` and
/// `INPUT` directly, first, so they hold whatever the engine's own rules do.
pub fn guard_routed(subnet: &str, allowed: &[String]) -> anyhow::Result<()> {
    let chains = chains("sockt-routed");
    let ends = super::routed::HOST_ENDS;
    let _one_at_a_time = GUARDING.lock().unwrap_or_else(|e| e.into_inner());
    ensure_chain(super::policies::POLICIES_CHAIN)?;
    let inbound = format!(
        "*filter\n:{TO_ROUTED} - [0:0]\n\
         -A {TO_ROUTED} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n\
         -A {TO_ROUTED} -j REJECT --reject-with icmp-admin-prohibited\n\
         COMMIT\n"
    );
    restore(&inbound)?;
    restore(&ruleset(&chains, allowed, &host_resolvers(), "ACCEPT"))?;
    // Inserted first, each ahead of the one before: into the links, then
    // out of them.
    ensure_jump("FORWARD", &["-i", ends, "-j", &chains.forward])?;
    ensure_jump("FORWARD", &["-o", ends, "-j", TO_ROUTED])?;
    ensure_jump("INPUT", &["-i", ends, "-j", &chains.input])?;
    let masquerade = ["-s", subnet, "!", "-o", ends, "-j", "MASQUERADE"];
    let mut check = vec!["-t", "nat", "-C", "POSTROUTING"];
    check.extend_from_slice(&masquerade);
    if iptables(&check).is_err() {
        let mut add = vec!["-t", "nat", "-A", "POSTROUTING"];
        add.extend_from_slice(&masquerade);
        iptables(&add)?;
    }
    Ok(())
}

/// The IPv4 name servers of the host's /etc/resolv.conf (those Docker's
/// resolver forwards to; loopback ones are reached from the host itself).
fn host_resolvers() -> Vec<String> {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| resolvers_in(&text))
        .unwrap_or_default()
}

fn resolvers_in(resolv_conf: &str) -> Vec<String> {
    resolv_conf
        .lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<std::net::Ipv4Addr>().ok())
        .filter(|ip| !ip.is_loopback())
        .map(|ip| ip.to_string())
        .collect()
}

/// Remove every rule `guard_bridge` installed for `bridge`.
pub fn unguard_bridge(bridge: &str) -> anyhow::Result<()> {
    let Chains { forward, input } = chains(bridge);
    for (chain, jump) in [("DOCKER-USER", &forward), ("INPUT", &input)] {
        while has_rule(chain, &["-i", bridge, "-j", jump]) {
            iptables(&["-D", chain, "-i", bridge, "-j", jump])?;
        }
    }
    for chain in [&forward, &input] {
        if iptables(&["-L", chain, "-n"]).is_ok() {
            iptables(&["-F", chain])?;
            iptables(&["-X", chain])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::chains;

    #[test]
    fn the_ruleset_replaces_both_chains_in_one_transaction() {
        let rules = super::ruleset(
            &chains("sockt-isolated"),
            &["10.1.0.0/16".to_string()],
            &["10.255.255.53".to_string()],
            "RETURN",
        );
        assert!(
            rules.starts_with("*filter\n:SOCKT-FWD-ISOLATED - [0:0]\n:SOCKT-IN-ISOLATED - [0:0]\n")
        );
        assert!(rules.ends_with("COMMIT\n"));
        let allow = rules.find("-d 10.1.0.0/16 -j RETURN").unwrap();
        let block = rules.find("-d 10.0.0.0/8 -j REJECT").unwrap();
        assert!(
            allow < block,
            "an allowed range passes before the private ranges are refused"
        );
        assert!(rules.contains("-d 169.254.0.0/16 -j REJECT"));
        let dns = rules
            .find("-d 10.255.255.53/32 -p udp --dport 53 -j RETURN")
            .unwrap();
        let policies = rules.find("-j SOCKT-POLICIES").unwrap();
        assert!(
            dns < policies && policies < allow,
            "name resolution, then each sandbox's policy, then the operator's ranges"
        );
    }

    #[test]
    fn resolvers_are_the_hosts_ipv4_name_servers_off_loopback() {
        let conf = "# comment\nnameserver 10.255.255.53\nnameserver 127.0.0.53\nnameserver ::1\nsearch x\n";
        assert_eq!(super::resolvers_in(conf), vec!["10.255.255.53"]);
    }

    #[test]
    fn chain_names_fit_iptables() {
        let c = chains("sockt-isolated");
        assert_eq!(c.forward, "SOCKT-FWD-ISOLATED");
        assert!(c.forward.len() <= 28 && c.input.len() <= 28);
    }
}
