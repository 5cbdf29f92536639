//! Name resolution for sandboxes on routed links. Their containers have
//! networking disabled in the engine (a namespace of their own, no
//! endpoint: the engine's network code stays out of every start and exit),
//! so the engine writes no `/etc/hosts` or `/etc/resolv.conf` for them:
//! Sockt writes both once, for every such sandbox, and mounts them
//! read-only. The resolvers are the host's, as the engine would give them:
//! those on the host's loopback are unreachable from a sandbox and left
//! out, and public ones stand in when none is left.

use std::path::{Path, PathBuf};

/// The sandbox's host name (every sandbox has the same one).
pub const HOSTNAME: &str = "sandbox";

/// What a sandbox's `/etc/hosts` says.
fn hosts() -> String {
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{HOSTNAME}\n"
    )
}

/// The engine's choice when a host has only loopback resolvers.
const FALLBACK_RESOLVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// A sandbox's `resolv.conf` from the host's: every line but those naming
/// a loopback resolver (which would be the sandbox's own loopback).
fn resolv_conf(host: &str) -> String {
    let mut kept = String::new();
    let mut resolvers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let loopback = words
                .next()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                .is_none_or(|a| a.is_loopback());
            if loopback {
                continue;
            }
            resolvers += 1;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    if resolvers == 0 {
        for resolver in FALLBACK_RESOLVERS {
            kept.push_str(&format!("nameserver {resolver}\n"));
        }
    }
    kept
}

/// The two files, written into a directory of the host.
pub struct NameFiles {
    dir: PathBuf,
}

impl NameFiles {
    /// Write both files into `dir` (made if needed) from the host's resolver
    /// configuration; each replaces an older one at once (written aside,
    /// then renamed), so a sandbox starting meanwhile mounts a whole file.
    pub fn write(dir: &Path, host_resolv_conf: &Path) -> anyhow::Result<NameFiles> {
        use anyhow::Context;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {} for sandboxes' name files", dir.display()))?;
        // The engine mounts host paths: they must be absolute (a relative
        // data directory, as `scripts/serve.sh` uses, is not).
        let dir = &dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        let host = std::fs::read_to_string(host_resolv_conf).unwrap_or_default();
        let resolv = resolv_conf(&host);
        if resolv.contains(FALLBACK_RESOLVERS[0]) && !host.contains(FALLBACK_RESOLVERS[0]) {
            tracing::warn!(
                host = %host_resolv_conf.display(),
                "the host names no resolver a sandbox can reach; sandboxes use public ones"
            );
        }
        for (name, text) in [("hosts", hosts()), ("resolv.conf", resolv)] {
            let aside = dir.join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
            std::fs::write(&aside, text)
                .and_then(|()| std::fs::rename(&aside, dir.join(name)))
                .with_context(|| format!("writing {}", dir.join(name).display()))?;
        }
        Ok(NameFiles {
            dir: dir.to_path_buf(),
        })
    }

    /// The read-only mounts of both files.
    pub fn binds(&self) -> Vec<String> {
        ["hosts", "resolv.conf"]
            .into_iter()
            .map(|name| format!("{}:/etc/{name}:ro", self.dir.join(name).display()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_are_left_out_and_the_rest_kept() {
        let host = "# from the host\nsearch example.internal\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.255.255.53\noptions edns0\n";
        assert_eq!(
            resolv_conf(host),
            "# from the host\nsearch example.internal\nnameserver 10.255.255.53\noptions edns0\n"
        );
    }

    #[test]
    fn a_host_with_only_loopback_resolvers_gives_public_ones() {
        let resolv = resolv_conf("nameserver 127.0.0.53\noptions edns0\n");
        assert_eq!(
            resolv,
            "options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(resolv_conf(""), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }

    #[test]
    fn localhost_and_the_sandbox_resolve_locally() {
        let hosts = hosts();
        assert!(hosts.contains("127.0.0.1\tlocalhost\n"));
        assert!(hosts.contains("::1\tlocalhost"));
        assert!(hosts.contains(&format!("127.0.1.1\t{HOSTNAME}\n")));
    }

    #[test]
    fn both_files_are_written_and_mounted_read_only() {
        let dir = std::env::temp_dir().join(format!("sockt-names-{}", uuid::Uuid::new_v4()));
        let host = dir.join("host-resolv.conf");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&host, "nameserver 198.51.100.53\n").unwrap();
        let files = NameFiles::write(&dir.join("names"), &host).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("names/resolv.conf")).unwrap(),
            "nameserver 198.51.100.53\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("names/hosts")).unwrap(),
            hosts()
        );
        assert_eq!(
            files.binds(),
            vec![
                format!("{}:/etc/hosts:ro", dir.join("names/hosts").display()),
                format!(
                    "{}:/etc/resolv.conf:ro",
                    dir.join("names/resolv.conf").display()
                ),
            ]
        );
        // Written again (a restart): replaced whole, nothing left aside.
        NameFiles::write(&dir.join("names"), &host).unwrap();
        assert_eq!(std::fs::read_dir(dir.join("names")).unwrap().count(), 2);
        // A relative directory is mounted by its absolute path.
        let cwd = std::env::current_dir().unwrap();
        let relative = format!("target-names-{}", uuid::Uuid::new_v4().simple());
        let files = NameFiles::write(std::path::Path::new(&relative), &host).unwrap();
        let absolute = cwd.join(&relative).canonicalize().unwrap();
        assert_eq!(
            files.binds()[0],
            format!("{}:/etc/hosts:ro", absolute.join("hosts").display())
        );
        std::fs::remove_dir_all(&absolute).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
