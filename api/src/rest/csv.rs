//! CSV exports of the ledgers, for spreadsheets and accountants.

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use projections::{AccountEntry, LedgerEntry};
use std::fmt::Write;

fn field(value: impl ToString) -> String {
    let text = value.to_string();
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| field(v)).unwrap_or_default()
}

pub fn sandbox_ledger(entries: &[LedgerEntry]) -> String {
    let mut out = String::from("sequence,kind,from_ms,to_ms,duration_ms,msats_per_second,amount_msats,balance_after_msats,total_paid_in_msats,total_charged_msats,total_refunded_msats,at_ms\n");
    for e in entries {
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            e.sequence,
            field(kind),
            opt(e.from_ms),
            opt(e.to_ms),
            opt(e.duration_ms),
            opt(e.msats_per_second),
            e.amount_msats.0,
            e.balance_after_msats.0,
            e.total_paid_in_msats.0,
            e.total_charged_msats.0,
            e.total_refunded_msats.0,
            e.at_ms
        );
    }
    out
}

pub fn account_statement(entries: &[AccountEntry]) -> String {
    let mut out = String::from("sequence,kind,sandbox_id,amount_msats,balance_after_msats,at_ms\n");
    for e in entries {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{}",
            e.sequence,
            e.kind.as_str(),
            opt(e.sandbox_id.as_deref()),
            e.amount_msats.0,
            e.balance_after_msats.0,
            e.at_ms
        );
    }
    out
}

pub fn attachment(body: String, filename: &str) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
