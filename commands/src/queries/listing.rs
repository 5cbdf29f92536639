//! Listing the caller's sandboxes, filtered and paginated — one rule for
//! every transport (REST `GET /v1/sandboxes`, GraphQL `sandboxes`). Newest
//! first; the cursor is the last sandbox id of the previous page.

use crate::auth::Principal;
use crate::error::AppError;
use crate::queries::Queries;
use projections::SandboxView;

/// Most sandboxes one page holds.
pub const MAX_PAGE: usize = 100;

/// Which sandboxes to list; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct SandboxQuery {
    /// Any of these states (`running`, `paused`, ...); all when empty.
    pub states: Vec<String>,
    pub tier: Option<String>,
    pub billing_method: Option<String>,
    pub label: Option<String>,
}

impl SandboxQuery {
    fn matches(&self, v: &SandboxView) -> bool {
        (self.states.is_empty() || self.states.iter().any(|s| s == v.state.as_str()))
            && self.tier.as_deref().is_none_or(|t| v.tier.as_str() == t)
            && self
                .billing_method
                .as_deref()
                .is_none_or(|b| v.billing.as_str() == b)
            && self
                .label
                .as_deref()
                .is_none_or(|l| v.label.as_deref() == Some(l))
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct SandboxPage {
    pub sandboxes: Vec<SandboxView>,
    /// Pass as the cursor for the next page; None on the last page.
    pub next_cursor: Option<String>,
    /// How many sandboxes match, over every page.
    pub total: usize,
}

impl Queries {
    /// The caller's sandboxes matching `query`, after the `cursor` one, at
    /// most `limit` (1..=MAX_PAGE); refused (401) to an anonymous caller, in
    /// every transport.
    pub fn list_sandboxes(
        &self,
        principal: &Principal,
        query: &SandboxQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SandboxPage, AppError> {
        if *principal == Principal::Anonymous {
            return Err(AppError::Unauthorized(
                "listing sandboxes needs an API key or a sandbox token: send Authorization: Bearer"
                    .into(),
            ));
        }
        let matching: Vec<SandboxView> = self
            .visible_sandboxes(principal)
            .into_iter()
            .filter(|v| query.matches(v))
            .collect();
        let start = match cursor.filter(|c| !c.is_empty()) {
            Some(cursor) => matching
                .iter()
                .position(|v| v.sandbox_id == cursor)
                .map(|i| i + 1)
                .ok_or_else(|| {
                    AppError::invalid("unknown cursor: pass the next_cursor of the previous page")
                })?,
            None => 0,
        };
        let limit = limit.clamp(1, MAX_PAGE);
        let sandboxes: Vec<SandboxView> =
            matching.iter().skip(start).take(limit).cloned().collect();
        let more = start + sandboxes.len() < matching.len();
        Ok(SandboxPage {
            next_cursor: sandboxes
                .last()
                .filter(|_| more)
                .map(|v| v.sandbox_id.clone()),
            sandboxes,
            total: matching.len(),
        })
    }
}
