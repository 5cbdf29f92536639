//! Outbound HTTP to hosts that callers name (Lightning Addresses and the
//! callbacks their servers return): a server-side request forgery guard.
//! Only https (plain http only behind an explicit test switch); the host is
//! resolved once, every address it resolves to must be public (loopback,
//! private, link-local, unique-local and other special ranges are refused
//! unless a second explicit test switch allows them), and the connection goes
//! to the address that was checked; no redirects; bounded time and size.
//! Errors say what was refused, never what a refused host answered.

use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Largest answer read from a Lightning Address server.
const MAX_ANSWER_BYTES: usize = 64 << 10;
const TIMEOUT: Duration = Duration::from_secs(15);

/// What outbound requests may reach.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboundPolicy {
    /// Plain http (a test wallet without TLS).
    pub allow_http: bool,
    /// Loopback and private addresses (a test wallet on this machine).
    pub allow_private: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutboundError {
    #[error("the URL is not valid")]
    BadUrl,
    #[error("only https URLs are allowed")]
    NotHttps,
    #[error("the host does not resolve")]
    Unresolved,
    #[error(
        "the host resolves to an address that may not be reached (loopback, private or link-local)"
    )]
    Forbidden,
    #[error("the host is unreachable or did not answer in time")]
    Unreachable,
    #[error("the host answered with an error or a redirect (status {0})")]
    Status(u16),
    #[error("the answer is too large or not the expected JSON")]
    BadAnswer,
}

impl OutboundPolicy {
    /// GET `url` and parse its JSON answer, within the policy.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, OutboundError> {
        let url = reqwest::Url::parse(url).map_err(|_| OutboundError::BadUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(OutboundError::NotHttps),
        }
        let host = url.host_str().ok_or(OutboundError::BadUrl)?.to_string();
        let port = url.port_or_known_default().ok_or(OutboundError::BadUrl)?;
        let address = self.checked_address(&host, port).await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .no_proxy()
            .resolve(host.trim_matches(|c| c == '[' || c == ']'), address)
            .build()
            .map_err(|_| OutboundError::Unreachable)?;
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|_| OutboundError::Unreachable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(OutboundError::Status(status.as_u16()));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| OutboundError::Unreachable)?;
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(OutboundError::BadAnswer);
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| OutboundError::BadAnswer)
    }

    /// The one address to connect to: every address the host resolves to
    /// must be allowed (a name with one private answer among public ones is
    /// refused, so rebinding between check and connect gains nothing).
    async fn checked_address(&self, host: &str, port: u16) -> Result<SocketAddr, OutboundError> {
        let literal = host.trim_matches(|c| c == '[' || c == ']');
        let addresses: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((literal, port)))
                .await
                .map_err(|_| OutboundError::Unresolved)?
                .map_err(|_| OutboundError::Unresolved)?
                .collect(),
        };
        let first = *addresses.first().ok_or(OutboundError::Unresolved)?;
        if !self.allow_private && addresses.iter().any(|a| !is_public(a.ip())) {
            return Err(OutboundError::Forbidden);
        }
        Ok(first)
    }
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 (reaches IPv4 space)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(ip: &str) -> bool {
        is_public(ip.parse().unwrap_or_else(|_| panic!("{ip}")))
    }

    #[test]
    fn special_ranges_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!public(ip), "{ip} must not be reachable");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(public(ip), "{ip} is public");
        }
    }

    #[tokio::test]
    async fn schemes_and_literal_addresses_are_checked_before_any_connection() {
        let strict = OutboundPolicy::default();
        let get = |policy: OutboundPolicy, url: &'static str| async move {
            policy.get_json::<serde_json::Value>(url).await.unwrap_err()
        };
        assert_eq!(
            get(strict, "http://example.com/x").await,
            OutboundError::NotHttps
        );
        assert_eq!(
            get(strict, "file:///etc/passwd").await,
            OutboundError::NotHttps
        );
        assert_eq!(
            get(strict, "https://127.0.0.1/x").await,
            OutboundError::Forbidden
        );
        assert_eq!(
            get(strict, "https://[::1]:8443/x").await,
            OutboundError::Forbidden
        );
        assert_eq!(
            get(strict, "https://localhost/x").await,
            OutboundError::Forbidden
        );
    }
}
