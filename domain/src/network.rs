//! A sandbox's outbound network policy, chosen at create: whether the
//! internet is open, and destinations (IPv4 CIDRs or host names) allowed or
//! denied on top. It only ever narrows what the operator lets sandboxes
//! reach: private, link-local and host addresses stay closed whatever a
//! sandbox asks for. Rule order: an allowed destination passes (to the
//! operator's rules), then a denied one is refused, then everything else
//! passes only when `internet` is on.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Most destinations in each of `allow` and `deny`.
pub const MAX_DESTINATIONS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicy {
    pub internet: bool,
    pub allow: Vec<Destination>,
    pub deny: Vec<Destination>,
}

impl Default for NetworkPolicy {
    /// The internet open, nothing listed: what a sandbox gets unless it asks.
    fn default() -> Self {
        NetworkPolicy {
            internet: true,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

impl NetworkPolicy {
    /// Whether the policy adds nothing to the operator's rules.
    pub fn is_open(&self) -> bool {
        self.internet && self.allow.is_empty() && self.deny.is_empty()
    }

    /// Check a client's lists: every entry a CIDR, an address or a host
    /// name, at most `MAX_DESTINATIONS` in each.
    pub fn new(
        internet: bool,
        allow: &[String],
        deny: &[String],
    ) -> Result<NetworkPolicy, InvalidDestination> {
        let parse = |list: &[String]| -> Result<Vec<Destination>, InvalidDestination> {
            if list.len() > MAX_DESTINATIONS {
                return Err(InvalidDestination(format!(
                    "at most {MAX_DESTINATIONS} destinations per list"
                )));
            }
            list.iter().map(|entry| Destination::parse(entry)).collect()
        };
        Ok(NetworkPolicy {
            internet,
            allow: parse(allow)?,
            deny: parse(deny)?,
        })
    }
}

/// One destination of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Destination {
    /// `address/prefix` (IPv4).
    Cidr(Cidr),
    /// A DNS name, resolved to its IPv4 addresses when the rules are installed.
    Host(String),
}

/// An IPv4 range, kept in canonical form (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl From<Cidr> for String {
    fn from(cidr: Cidr) -> String {
        cidr.to_string()
    }
}

impl TryFrom<String> for Cidr {
    type Error = InvalidDestination;
    fn try_from(text: String) -> Result<Cidr, InvalidDestination> {
        Cidr::parse(&text)
            .ok_or_else(|| InvalidDestination(format!("'{text}' is not an IPv4 CIDR")))
    }
}

impl Cidr {
    /// `a.b.c.d/n` or a bare address (a /32).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, prefix.parse::<u8>().ok()?),
            None => (text, 32),
        };
        if prefix > 32 {
            return None;
        }
        let address: Ipv4Addr = address.parse().ok()?;
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Some(Cidr {
            network: Ipv4Addr::from(u32::from(address) & mask),
            prefix,
        })
    }

    /// One address.
    pub fn host(address: Ipv4Addr) -> Cidr {
        Cidr {
            network: address,
            prefix: 32,
        }
    }
}

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidDestination(pub String);

impl Destination {
    pub fn parse(text: &str) -> Result<Destination, InvalidDestination> {
        let text = text.trim();
        if let Some(cidr) = Cidr::parse(text) {
            return Ok(Destination::Cidr(cidr));
        }
        let looks_numeric = text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '/');
        if looks_numeric || text.contains(':') {
            return Err(InvalidDestination(format!(
                "'{text}' is neither an IPv4 CIDR nor a host name (IPv6 is not offered)"
            )));
        }
        let name = text.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(InvalidDestination(format!(
                "'{text}' is neither an IPv4 CIDR nor a host name"
            )));
        }
        Ok(Destination::Host(name))
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Cidr(cidr) => cidr.fmt(f),
            Destination::Host(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_cidrs_addresses_or_host_names() {
        assert_eq!(
            Destination::parse("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            Destination::parse("203.0.113.7").unwrap().to_string(),
            "203.0.113.7/32"
        );
        assert_eq!(
            Destination::parse("PyPI.org.").unwrap(),
            Destination::Host("pypi.org".into())
        );
        for bad in [
            "10.0.0.0/33",
            "300.1.1.1",
            "::1",
            "2001:db8::/32",
            "-bad.example",
            "a..b",
            "",
            "ex ample.com",
            "1.2.3",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_policy_round_trips_through_json_as_strings() {
        let policy = NetworkPolicy::new(
            false,
            &["203.0.113.0/24".into(), "pypi.org".into()],
            &["203.0.113.9".into()],
        )
        .unwrap();
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"internet": false, "allow": ["203.0.113.0/24", "pypi.org"], "deny": ["203.0.113.9/32"]})
        );
        assert_eq!(
            serde_json::from_value::<NetworkPolicy>(json).unwrap(),
            policy
        );
        assert!(!policy.is_open());
        assert!(NetworkPolicy::default().is_open());
    }

    #[test]
    fn lists_are_bounded() {
        let many: Vec<String> = (0..=MAX_DESTINATIONS)
            .map(|i| format!("10.0.{i}.0/24"))
            .collect();
        assert!(NetworkPolicy::new(true, &many, &[]).is_err());
    }
}
