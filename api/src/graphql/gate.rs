//! The limits on GraphQL over WebSocket. Every operation a connection
//! starts (a `subscribe`/`start` message: subscription, query or mutation)
//! draws one request from its caller's rate-limit bucket — the bucket its
//! HTTP requests draw from (`rate_limit::bucket_of`; anonymous connections
//! draw from their address's) — and a connection runs at most
//! `MAX_LIVE_OPERATIONS` at once (live subscriptions and unfinished
//! queries). A refused operation gets one GraphQL error whose
//! `extensions.code` is `rate_limited` (with `retryAfterSecs` when the rate
//! is the cause) and is completed; the connection stays open.

use super::SocktSchema;
use crate::error::graphql_error;
use crate::rate_limit::{bucket_of, retry_after_secs, CallerLimiter};
use async_graphql::{Data, ErrorExtensions, Executor, Pos, Request, Response};
use commands::{AppError, Principal};
use futures::stream::{self, BoxStream, StreamExt};
use std::any::TypeId;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The most operations one connection runs at once.
pub const MAX_LIVE_OPERATIONS: usize = 100;

/// The schema as one WebSocket connection may use it.
#[derive(Clone)]
pub struct Gated {
    schema: SocktSchema,
    limiter: Arc<CallerLimiter>,
    client: Option<IpAddr>,
    live: Arc<AtomicUsize>,
}

impl Gated {
    /// The gate of a new connection from `client`.
    pub fn new(schema: SocktSchema, limiter: Arc<CallerLimiter>, client: Option<IpAddr>) -> Gated {
        Gated {
            schema,
            limiter,
            client,
            live: Arc::default(),
        }
    }

    /// A place for one more operation of `principal`, or why not.
    fn admit(&self, principal: &Principal) -> Result<Slot, async_graphql::Error> {
        let slot = Slot::take(&self.live).ok_or_else(|| {
            graphql_error(AppError::RateLimited(format!(
                "at most {MAX_LIVE_OPERATIONS} operations run at once on one connection; complete one first"
            )))
        })?;
        self.limiter
            .check(&bucket_of(Some(principal), self.client))
            .map_err(|wait| {
                let secs = retry_after_secs(wait);
                graphql_error(AppError::RateLimited(format!(
                    "rate limit exceeded; retry in {secs} s"
                )))
                .extend_with(|_, extensions| extensions.set("retryAfterSecs", secs))
            })?;
        Ok(slot)
    }
}

/// The principal the connection authenticated as (at connection_init).
fn principal_of(session: Option<&Data>) -> Principal {
    session
        .and_then(|data| data.get(&TypeId::of::<Principal>()))
        .and_then(|value| value.downcast_ref::<Principal>())
        .cloned()
        .unwrap_or(Principal::Anonymous)
}

impl Executor for Gated {
    async fn execute(&self, request: Request) -> Response {
        self.execute_stream(request, None)
            .next()
            .await
            .unwrap_or_default()
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match self.admit(&principal_of(session_data.as_deref())) {
            Err(refusal) => stream::once(async move {
                Response::from_errors(vec![refusal.into_server_error(Pos::default())])
            })
            .boxed(),
            Ok(slot) => {
                let responses = match session_data {
                    Some(data) => self.schema.execute_stream_with_session_data(request, data),
                    None => self.schema.execute_stream(request),
                };
                // The slot is given back when the operation ends: completed
                // by the client, finished, or its connection gone.
                responses
                    .map(move |response| {
                        let _held = &slot;
                        response
                    })
                    .boxed()
            }
        }
    }
}

/// One of a connection's places for a running operation, given back on drop.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(live: &Arc<AtomicUsize>) -> Option<Slot> {
        live.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < MAX_LIVE_OPERATIONS).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(live.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_holds_at_most_its_live_operations() {
        let live = Arc::new(AtomicUsize::new(0));
        let mut held: Vec<Slot> = (0..MAX_LIVE_OPERATIONS)
            .map(|_| Slot::take(&live).unwrap())
            .collect();
        assert!(Slot::take(&live).is_none());
        held.pop();
        assert_eq!(live.load(Ordering::SeqCst), MAX_LIVE_OPERATIONS - 1);
        assert!(
            Slot::take(&live).is_some(),
            "a completed one frees its place"
        );
    }

    #[test]
    fn the_principal_comes_from_the_connection_data() {
        let mut data = Data::default();
        data.insert(Principal::Account("acc_1".into()));
        assert_eq!(
            principal_of(Some(&data)),
            Principal::Account("acc_1".into())
        );
        assert_eq!(principal_of(None), Principal::Anonymous);
    }
}
