//! What the tools answer: compact JSON that fits a model's context (long
//! text cut to a head and a tail with a note), billing notices, and errors
//! that say what to do next.

use crate::presentation::wire;
use commands::{AppError, ErrorCode, SandboxStatus, WarningLevel};
use projections::SandboxView;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{json, Value};

/// Longest text returned whole; longer text keeps its head and tail.
pub const TEXT_LIMIT: usize = 8 * 1024;

/// `text` cut to `limit` bytes (head and tail), and how many bytes were left out.
pub fn fit(text: &str, limit: usize) -> (String, usize) {
    if text.len() <= limit {
        return (text.to_string(), 0);
    }
    let half = limit / 2;
    let mut head_end = half;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - half;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let omitted = tail_start - head_end;
    (
        format!(
            "{}{}{}",
            &text[..head_end],
            commands::omitted_line(omitted as u64),
            &text[tail_start..]
        ),
        omitted,
    )
}

pub fn ok(value: Value) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(
        serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()),
    )])
}

/// Balance, time left and the invoice to pay, for every Lightning answer.
pub fn billing(view: &SandboxStatus) -> Value {
    let mut notice = json!({
        "billing_method": view.billing.as_str(),
        "balance_msats": view.balance.0,
        "seconds_remaining": view.seconds_remaining,
        "warning_level": view.warning.map(WarningLevel::as_str),
    });
    if view.pending_invoice.is_some() {
        notice["pending_invoice"] = wire::pending_invoice(view);
        notice["action"] = json!(
            "pay pending_invoice.bolt11 with your Lightning wallet to keep the sandbox running"
        );
    }
    if let Some(link) = &view.withdraw {
        notice["refund"] = crate::presentation::refunds::withdraw_json(link);
        notice["action"] =
            json!("claim the unused sats by opening refund.lnurl with your Lightning wallet");
    }
    notice
}

/// A tool error whose text tells the model what to do next.
pub fn error(e: &AppError, sandbox: Option<&SandboxView>) -> CallToolResult {
    let next = match e.code() {
        ErrorCode::PaymentRequired => match sandbox.and_then(|s| s.pending_invoice.as_ref()) {
            Some(invoice) => format!(
                "the sandbox is awaiting_payment: pay the invoice {} ({} sats) with your Lightning wallet, then call sandbox_status until it is running",
                invoice.bolt11,
                invoice.amount.0 / 1000
            ),
            None => "pay the sandbox's pending invoice (see sandbox_status), then retry".to_string(),
        },
        ErrorCode::PodStarting => "the sandbox is still starting: call sandbox_status in a second, then retry".into(),
        ErrorCode::SandboxPaused => "call sandbox_resume first".into(),
        ErrorCode::OutOfBalance => "the balance is used up: call sandbox_extend_balance (sats or credits_cents), pay if asked, then sandbox_resume".into(),
        ErrorCode::InsufficientCredits => "the account lacks credits: ask its owner to add credits, or create the sandbox with billing_method 'lightning'".into(),
        ErrorCode::SandboxNotFound => "check sandbox_id; for a sandbox created in another session pass its sandbox_token".into(),
        ErrorCode::SandboxTerminated => "that sandbox has ended; create a new one with sandbox_create".into(),
        ErrorCode::Unauthorized => "credits billing needs an API key in the MCP client's Authorization header; without one use billing_method 'lightning' with prepaid_sats".into(),
        ErrorCode::LightningUnavailable => "this server has no Lightning wallet configured; use billing_method 'credits' with an API key".into(),
        ErrorCode::FileNotFound => "check the path (relative paths start at /home/sandbox); sandbox_list_files shows what exists".into(),
        ErrorCode::RateLimited => "too many requests: wait a little and retry".into(),
        _ => "fix the arguments as the message says and retry".into(),
    };
    let message = match e {
        AppError::Internal(_) => "an internal error occurred; it has been logged".to_string(),
        other => other.to_string(),
    };
    CallToolResult::error(vec![ContentBlock::text(format!(
        "{} ({}). Next: {next}",
        message,
        e.code()
    ))])
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn long_text_keeps_head_and_tail() {
        let text = format!("{}{}", "a".repeat(10_000), "z".repeat(10_000));
        let (cut, omitted) = fit(&text, 1000);
        assert!(cut.starts_with("aaaa") && cut.ends_with("zzzz"));
        assert_eq!(omitted, 19_000);
        assert!(cut.contains("19000 bytes omitted"));
        assert_eq!(fit("short", 1000), ("short".to_string(), 0));
        let (cut, _) = fit(&"é".repeat(1000), 101);
        assert!(cut.is_char_boundary(cut.len()));
    }
}
