//! An execution's output as Server-Sent Events:
//! `GET /v1/executions/{id}/stream`. Each chunk is an event named after its
//! stream (`stdout` / `stderr`) whose id is the cursor after it, with data
//! `{"chunk", "offset"}`; bytes the output bound left out arrive as one
//! `omitted` event (`{"bytes"}`); the end is an `end` event with the
//! status, exit code and error; a server that stops ends the stream with an
//! `error` event of code `server_stopping`. A client that reconnects with
//! `Last-Event-ID` (or `?offset=`) gets every chunk after the last one it
//! saw, exactly once.

use crate::error::ApiResult;
use crate::presentation::ids::IdPath;
use crate::presentation::Caller;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use commands::{ExecPoll, Principal};
use domain::ids::ExecutionId;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;

/// How long one read waits for news before looking again.
const READ_WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    offset: Option<usize>,
}

pub async fn stream(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<ExecutionId>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resume_from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let offset = resume_from.or(query.offset).unwrap_or(0);
    // Refusals (unknown, not the caller's) are plain HTTP answers.
    state
        .app
        .executions()
        .poll_execution(&caller, &id, Some(offset), Duration::ZERO)
        .await?;
    let events = futures::stream::unfold(
        Some(Reader {
            state,
            caller,
            execution_id: id,
            offset,
            gap_told: false,
        }),
        |reader| async move {
            let mut reader = reader?;
            let (events, done) = reader.next_events().await;
            Some((
                futures::stream::iter(events.into_iter().map(Ok)),
                (!done).then_some(reader),
            ))
        },
    )
    .flatten();
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// The last event of a stream whose server stops: the client reconnects
/// (to this replica or another) with `Last-Event-ID` and misses nothing.
fn stopping() -> Event {
    Event::default()
        .event("error")
        .retry(RECONNECT_AFTER)
        .data(
            json!({ "code": commands::ErrorCode::ServerStopping.as_str(), "message": "the server is restarting: reconnect with Last-Event-ID to resume" })
                .to_string(),
        )
}

/// How soon a client reconnects after `stopping`.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

struct Reader {
    state: AppState,
    caller: Principal,
    execution_id: ExecutionId,
    offset: usize,
    gap_told: bool,
}

impl Reader {
    /// The next events, and whether the stream is over.
    async fn next_events(&mut self) -> (Vec<Event>, bool) {
        let executions = self.state.app.executions();
        let poll = tokio::select! {
            poll = executions.poll_execution(
                &self.caller,
                &self.execution_id,
                Some(self.offset),
                READ_WAIT,
            ) => poll,
            _ = self.state.stopping.cancelled() => return (vec![stopping()], true),
        };
        let poll = match poll {
            Ok(poll) => poll,
            Err(e) => {
                let event = Event::default().event("error").data(
                    json!({ "code": e.code().as_str(), "message": e.to_string() }).to_string(),
                );
                return (vec![event], true);
            }
        };
        let mut events = Vec::new();
        for (i, chunk) in poll.output.chunks.iter().enumerate() {
            if poll.output.gap_at == Some(i) && !self.gap_told {
                self.gap_told = true;
                events.push(
                    Event::default()
                        .event("omitted")
                        .data(json!({ "bytes": poll.output.omitted_bytes }).to_string()),
                );
            }
            events.push(
                Event::default()
                    .event(chunk.stream)
                    .id((chunk.seq + 1).to_string())
                    .data(json!({ "chunk": chunk.chunk, "offset": chunk.seq }).to_string()),
            );
        }
        self.offset = poll.output.next_offset;
        let finished = poll.execution.status.is_finished();
        let done = finished && poll.output.chunks.is_empty();
        if !poll.output.available && !finished {
            // The output is not kept here (another process runs it, or a
            // restart lost it): look again later rather than at once.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if done {
            events.push(end_event(&poll));
        }
        (events, done)
    }
}

fn end_event(poll: &ExecPoll) -> Event {
    let e = &poll.execution;
    Event::default().event("end").data(
        json!({
            "status": e.status.as_str(),
            "exit_code": e.exit_code,
            "error": e.error,
            "duration_ms": e.duration_ms,
            "omitted_bytes": poll.output.omitted_bytes,
            "output_available": poll.output.available,
        })
        .to_string(),
    )
}
