//! The JSON shapes the Sockt clients read, built from the projections.

use commands::{ExecPoll, SandboxStatus, WarningLevel};
use domain::Tier;
use projections::{LedgerEntry, SandboxView};
use rmcp::schemars;
use serde::Deserialize;
use serde_json::{json, Value};

/// The `network` of a create request (REST and MCP): outbound internet on
/// or off, and destinations allowed or denied on top (IPv4 CIDRs or host
/// names). `allow_out` / `deny_out` are accepted as E2B names them.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkParams {
    #[schemars(description = "Whether destinations not listed are reachable (default true).")]
    pub internet: Option<bool>,
    #[schemars(
        description = "IPv4 CIDRs or host names reachable even with internet off (private and host addresses stay closed)."
    )]
    #[serde(default, alias = "allow_out")]
    pub allow: Vec<String>,
    #[schemars(description = "IPv4 CIDRs or host names never reachable.")]
    #[serde(default, alias = "deny_out")]
    pub deny: Vec<String>,
}

impl From<NetworkParams> for commands::NetworkRequest {
    fn from(p: NetworkParams) -> Self {
        commands::NetworkRequest {
            internet: p.internet,
            allow: p.allow,
            deny: p.deny,
        }
    }
}

/// RFC 3339 UTC time of a millisecond timestamp.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The invoice to pay now, as the clients read it.
pub fn pending_invoice(view: &SandboxView) -> Value {
    match &view.pending_invoice {
        Some(invoice) => json!({
            "bolt11": invoice.bolt11,
            "payment_hash": invoice.payment_hash,
            "amount_msats": invoice.amount.0,
            "amount_sats": invoice.amount.0 / 1000,
            "expires_at": rfc3339(invoice.expires_at_ms),
            "expires_at_ms": invoice.expires_at_ms,
        }),
        None => Value::Null,
    }
}

/// The sandbox status object, written straight to JSON (the status read
/// is the busiest path: no map of values is built for it).
pub struct SandboxStatusJson<'a> {
    pub view: &'a SandboxStatus,
    pub public_url: &'a str,
    pub proxy: &'a super::proxy_origins::ProxyOrigins,
    pub token: Option<&'a str>,
}

impl serde::Serialize for SandboxStatusJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let view = self.view;
        let id = &view.sandbox_id;
        let mut map = serializer.serialize_map(Some(31))?;
        map.serialize_entry("sandbox_id", id)?;
        map.serialize_entry("status", view.state.as_str())?;
        map.serialize_entry("tier", view.tier.as_str())?;
        map.serialize_entry("runtime", view.runtime.as_deref().unwrap_or("docker"))?;
        map.serialize_entry("billing_method", view.billing.as_str())?;
        map.serialize_entry("template", &view.image)?;
        map.serialize_entry("label", &view.label)?;
        map.serialize_entry("consumed_msats", &view.consumed.0)?;
        map.serialize_entry("msats_per_second", &view.msats_per_second)?;
        map.serialize_entry("sats_per_second", &(view.msats_per_second as f64 / 1000.0))?;
        map.serialize_entry("prepaid_balance_msats", &view.balance.0)?;
        map.serialize_entry("seconds_remaining", &view.seconds_remaining)?;
        map.serialize_entry("warning_level", &view.warning.map(WarningLevel::as_str))?;
        map.serialize_entry("next_poll_secs", &view.next_poll_secs)?;
        map.serialize_entry("pending_invoice", &pending_invoice(view))?;
        map.serialize_entry("sandbox_token", &self.token)?;
        map.serialize_entry(
            "proxy_url",
            &format_args!("{}/v1/sandboxes/{id}/proxy/", self.public_url),
        )?;
        // The app itself lives on an origin of its own (proxy_url redirects there).
        map.serialize_entry(
            "proxy_url_template",
            &format_args!("{}/{{path}}", self.proxy.origin(id, "{port}")),
        )?;
        map.serialize_entry("paid_in_msats", &view.paid_in.0)?;
        map.serialize_entry("refunded_msats", &view.refunded.0)?;
        map.serialize_entry("refund_attempts", &view.refund_attempts)?;
        map.serialize_entry(
            "refund",
            &view.withdraw.as_ref().map(super::refunds::withdraw_json),
        )?;
        map.serialize_entry("pause_reason", &view.pause_reason)?;
        let no_env: &[String] = &[];
        map.serialize_entry(
            "env_names",
            view.env.as_ref().map_or(no_env, |e| e.names.as_slice()),
        )?;
        map.serialize_entry("timeout_secs", &view.lifetime.timeout_secs)?;
        map.serialize_entry("idle_pause_secs", &view.lifetime.idle_pause_secs)?;
        map.serialize_entry(
            "ends_at_ms",
            &view
                .started_at_ms
                .and_then(|at| view.lifetime.ends_at_ms(at)),
        )?;
        map.serialize_entry("network", &view.network)?;
        map.serialize_entry("error", &view.failure)?;
        map.serialize_entry("created_at_ms", &view.created_at_ms)?;
        map.end()
    }
}

/// The sandbox status object, as a value to embed or extend.
pub fn sandbox_status(
    view: &SandboxStatus,
    public_url: &str,
    proxy: &super::proxy_origins::ProxyOrigins,
    token: Option<&str>,
) -> Value {
    serde_json::to_value(SandboxStatusJson {
        view,
        public_url,
        proxy,
        token,
    })
    .unwrap_or(Value::Null)
}

pub fn tiers() -> Value {
    let tiers: Vec<Value> = Tier::all()
        .iter()
        .map(|t| {
            let sats = t.msats_per_second as f64 / 1000.0;
            let cents = t.msats_per_second as f64 / domain::money::MSATS_PER_CENT as f64;
            json!({
                "tier": t.name.as_str(),
                // The Go CLI prints `name` and its checks look for the id.
                "name": t.name.as_str(),
                "display_name": t.display_name,
                "msats_per_second": t.msats_per_second,
                "sats_per_second": sats,
                "usd_cents_per_second": cents,
                "cost_per_minute_sats": sats * 60.0,
                "cost_per_hour_sats": sats * 3600.0,
                "cost_per_day_sats": sats * 86400.0,
                "cost_per_hour_usd": cents * 3600.0 / 100.0,
                "vcpus": t.millicpus as f64 / 1000.0,
                "memory_mib": t.memory_mib,
                "disk_mib": t.disk_mib,
                "gpu": t.needs_gpu,
            })
        })
        .collect();
    json!({ "tiers": tiers })
}

pub fn execution(poll: &ExecPoll) -> Value {
    let e = &poll.execution;
    json!({
        "execution_id": e.execution_id,
        "sandbox_id": e.sandbox_id,
        "command": e.command,
        "working_dir": e.working_dir,
        "status": e.status.as_str(),
        "output": poll.output.chunks,
        "next_offset": poll.output.next_offset,
        "truncated": poll.output.truncated || e.output.as_ref().is_some_and(|o| o.truncated),
        // The bound keeps the head and the tail: how many bytes fell between
        // them, and before which chunk of `output` (null: no gap in it).
        "omitted_bytes": poll.output.omitted_bytes,
        "omitted_before_chunk": poll.output.gap_at,
        "output_available": poll.output.available,
        "exit_code": e.exit_code,
        "error": e.error,
        "duration_ms": e.duration_ms,
        "stdout_bytes": e.output.as_ref().map(|o| o.stdout_bytes),
        "stderr_bytes": e.output.as_ref().map(|o| o.stderr_bytes),
        "pending_invoice": pending_invoice(&poll.sandbox),
        "warning_level": poll.sandbox.warning.map(WarningLevel::as_str),
    })
}

pub fn ledger(view: &SandboxView, entries: &[LedgerEntry]) -> Value {
    json!({
        "sandbox_id": view.sandbox_id,
        "billing_method": view.billing.as_str(),
        "rounding": "amount = min(floor(msats_per_second × duration_ms / 1000), balance before)",
        "entries": entries,
        "totals": {
            "paid_in_msats": view.paid_in.0,
            "charged_msats": view.charged.0,
            "refunded_msats": view.refunded.0,
            "reserved_msats": view.reserved.0,
            "balance_msats": view.balance.0,
        },
    })
}

/// What stopping a sandbox's processes did.
pub fn processes_killed(sandbox_id: &str, stopped: &commands::ProcessesKilled) -> Value {
    json!({
        "sandbox_id": sandbox_id,
        "killed": stopped.killed,
        "cancelled_executions": stopped.cancelled,
    })
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_681_513_627), "2026-11-26T08:25:13Z");
    }
}
