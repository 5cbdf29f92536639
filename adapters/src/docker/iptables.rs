//! The kernel's packet filter as Sockt drives it: `iptables` and
//! `ip6tables` run (waiting for the xtables lock), a rule looked for, a
//! chain made idempotently, and `iptables-restore` transactions. What the
//! rules are is `firewall`'s (links and bridge) and `policies`' (each
//! sandbox's own).

use std::process::Command;

/// Run `iptables` with `args`, waiting for the lock.
pub fn iptables(args: &[&str]) -> anyhow::Result<()> {
    run_tables("iptables", args)
}

/// Run `program` (iptables or ip6tables), waiting for the lock.
pub(super) fn run_tables(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(program)
        .args(["-w", "5"])
        .args(args)
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "running {program}: {e} (install iptables, or see SOCKT_SANDBOX_NETWORK)"
            )
        })?;
    if output.status.success() {
        Ok(())
    } else {
        anyhow::bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    }
}

/// Whether a rule exists (`iptables -C`).
pub fn has_rule(chain: &str, rule: &[&str]) -> bool {
    let mut args = vec!["-C", chain];
    args.extend_from_slice(rule);
    iptables(&args).is_ok()
}

/// Create `chain` unless it exists. Made first and looked for after, so
/// that two servers starting at once both succeed (one of them creates it).
pub fn ensure_chain(chain: &str) -> anyhow::Result<()> {
    match iptables(&["-N", chain]) {
        Ok(()) => Ok(()),
        Err(_) if iptables(&["-L", chain, "-n"]).is_ok() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Apply an `iptables-restore` text without flushing the chains it does
/// not declare, as one transaction.
pub fn restore(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut restore = Command::new("iptables-restore")
        .args(["-w", "5", "--noflush"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!(
                "running iptables-restore: {e} (install iptables, or see SOCKT_SANDBOX_NETWORK)"
            )
        })?;
    if let Some(mut stdin) = restore.stdin.take() {
        stdin.write_all(text.as_bytes())?;
    }
    let output = restore.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "iptables-restore: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}
