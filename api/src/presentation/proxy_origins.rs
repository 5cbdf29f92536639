//! Where proxied apps live: one origin per sandbox port,
//! `{sandbox_id}-{port}.{SOCKT_PROXY_DOMAIN}` with the public URL's scheme
//! and port — never the API's or the dashboard's origin, so a tenant's page
//! can reach neither their cookies, their storage nor their service-worker
//! scope, and two sandboxes (or two ports) never share an origin.
//! `*.localhost` needs no DNS for local use; a public server points a
//! wildcard record at itself.

use domain::ids::SandboxId;

/// The proxy's origins, derived from the public URL and the proxy domain.
#[derive(Debug, Clone)]
pub struct ProxyOrigins {
    scheme: String,
    /// The proxy domain, lowercase, without dots around it.
    domain: String,
    /// `:port` of the public URL, when it names one.
    port_suffix: String,
}

impl ProxyOrigins {
    pub fn new(public_url: &str, domain: &str) -> anyhow::Result<ProxyOrigins> {
        let url = reqwest::Url::parse(public_url)
            .map_err(|e| anyhow::anyhow!("SOCKT_PUBLIC_URL {public_url:?} is not a URL: {e}"))?;
        let domain = domain.trim().trim_matches('.').to_ascii_lowercase();
        anyhow::ensure!(
            !domain.is_empty()
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
            "SOCKT_PROXY_DOMAIN {domain:?} is not a domain name"
        );
        Ok(ProxyOrigins {
            scheme: url.scheme().to_string(),
            domain,
            port_suffix: url.port().map(|p| format!(":{p}")).unwrap_or_default(),
        })
    }

    /// The origin of `port` (a number, or a `{port}` placeholder) of the sandbox.
    pub fn origin(&self, sandbox_id: &str, port: &str) -> String {
        format!(
            "{}://{sandbox_id}-{port}.{}{}",
            self.scheme, self.domain, self.port_suffix
        )
    }

    /// Whether the origins are served over TLS (cookies are then `Secure`).
    pub fn secure(&self) -> bool {
        self.scheme == "https"
    }

    /// The sandbox and port a request's `Host` names, when it is a proxy
    /// origin.
    pub fn target(&self, host: &str) -> Option<(SandboxId, u16)> {
        let host = host.trim().to_ascii_lowercase();
        // Drop a :port (IPv6 literals are never proxy origins).
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host.as_str(),
        };
        let label = name.strip_suffix(&self.domain)?.strip_suffix('.')?;
        if label.contains('.') {
            return None;
        }
        let (sandbox_id, port) = label.rsplit_once('-')?;
        let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
        Some((SandboxId::parse(sandbox_id).ok()?, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b5e4c1a-8f7e-4d2a-9c31-5a6b7c8d9e0f";

    #[test]
    fn origins_follow_the_public_url() {
        let local = ProxyOrigins::new("http://127.0.0.1:8080", "localhost").unwrap();
        assert_eq!(
            local.origin(ID, "8000"),
            format!("http://{ID}-8000.localhost:8080")
        );
        assert!(!local.secure());
        let public =
            ProxyOrigins::new("https://api.example.com", ".Sandboxes.Example.com.").unwrap();
        assert_eq!(
            public.origin(ID, "{port}"),
            format!("https://{ID}-{{port}}.sandboxes.example.com")
        );
        assert!(public.secure());
        assert!(ProxyOrigins::new("not a url", "localhost").is_err());
        assert!(ProxyOrigins::new("http://x", "bad domain").is_err());
    }

    #[test]
    fn only_a_proxy_origin_names_a_target() {
        let origins = ProxyOrigins::new("http://127.0.0.1:8080", "localhost").unwrap();
        assert_eq!(
            origins.target(&format!("{ID}-8000.localhost:8080")),
            Some((SandboxId::parse(ID).unwrap(), 8000))
        );
        assert_eq!(
            origins.target(&format!("{}-3000.LOCALHOST", ID.to_uppercase())),
            Some((SandboxId::parse(ID).unwrap(), 3000))
        );
        for other in [
            "127.0.0.1:8080",
            "localhost:8080",
            "localhost",
            &format!("{ID}-0.localhost"),
            &format!("{ID}-70000.localhost"),
            &format!("{ID}.localhost"),
            &format!("a.{ID}-8000.localhost"),
            &format!("{ID}-8000.localhost.evil.com"),
            &format!("{ID}-8000.notlocalhost"),
            "zz-8000.localhost",
            "0b6f1c2e7c1a4e8e9d2f3a4b5c6d7e8f-8000.localhost",
            "[::1]:8080",
        ] {
            assert_eq!(origins.target(other), None, "{other}");
        }
    }
}
