//! The bounded output store: what running and recent executions printed.
//! Output never enters events (it can be huge); events carry sizes and digests.

use domain::execution::OutputDigest;
use domain::ports::{OutputSink, OutputStream};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputChunk {
    pub stream: &'static str,
    pub chunk: String,
}

/// Output from a cursor on, and whether more can come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSnapshot {
    pub chunks: Vec<OutputChunk>,
    /// Cursor to pass next time to read only newer output.
    pub next_offset: usize,
    pub truncated: bool,
    /// False when the output is no longer kept (evicted or lost in a restart).
    pub available: bool,
}

struct StreamState {
    /// Bytes of an incomplete UTF-8 sequence waiting for the rest.
    pending: Vec<u8>,
    total: u64,
    hasher: Sha256,
}

impl StreamState {
    fn new() -> Self {
        StreamState {
            pending: Vec::new(),
            total: 0,
            hasher: Sha256::new(),
        }
    }
}

struct BufferState {
    chunks: Vec<OutputChunk>,
    kept_bytes: usize,
    truncated: bool,
    finished: bool,
    streams: [StreamState; 2],
}

/// One execution's output, filled by the runtime and read by polls.
pub(crate) struct ExecBuffer {
    state: Mutex<BufferState>,
    changed: Notify,
    limit: usize,
}

fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}

impl ExecBuffer {
    fn new(limit: usize) -> Self {
        ExecBuffer {
            state: Mutex::new(BufferState {
                chunks: Vec::new(),
                kept_bytes: 0,
                truncated: false,
                finished: false,
                streams: [StreamState::new(), StreamState::new()],
            }),
            changed: Notify::new(),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BufferState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn keep(state: &mut BufferState, limit: usize, stream: OutputStream, text: String) {
        if text.is_empty() {
            return;
        }
        let room = limit.saturating_sub(state.kept_bytes);
        let text = if text.len() > room {
            state.truncated = true;
            let mut cut = room;
            while cut > 0 && !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_string()
        } else {
            text
        };
        if text.is_empty() {
            return;
        }
        state.kept_bytes += text.len();
        // Chunks are never merged: cursors count them.
        state.chunks.push(OutputChunk {
            stream: stream.as_str(),
            chunk: text,
        });
    }

    /// Flush incomplete UTF-8 (as replacement characters) and describe the
    /// whole output. Call once the command has ended.
    pub(crate) fn digest(&self) -> OutputDigest {
        let mut state = self.lock();
        for stream in [OutputStream::Stdout, OutputStream::Stderr] {
            let rest = std::mem::take(&mut state.streams[index(stream)].pending);
            let text = String::from_utf8_lossy(&rest).into_owned();
            Self::keep(&mut state, self.limit, stream, text);
        }
        let [out, err] = &state.streams;
        OutputDigest {
            stdout_bytes: out.total,
            stderr_bytes: err.total,
            stdout_sha256: hex::encode(out.hasher.clone().finalize()),
            stderr_sha256: hex::encode(err.hasher.clone().finalize()),
            truncated: state.truncated,
        }
    }

    /// Wake every waiting poll: the end is recorded, nothing more will come.
    pub(crate) fn mark_finished(&self) {
        self.lock().finished = true;
        self.changed.notify_waiters();
    }

    #[cfg(test)]
    fn finish(&self) -> OutputDigest {
        let digest = self.digest();
        self.mark_finished();
        digest
    }

    fn snapshot(&self, offset: usize) -> (OutputSnapshot, bool) {
        let state = self.lock();
        let start = offset.min(state.chunks.len());
        (
            OutputSnapshot {
                chunks: state.chunks[start..].to_vec(),
                next_offset: state.chunks.len(),
                truncated: state.truncated,
                available: true,
            },
            state.finished,
        )
    }

    fn kept_bytes(&self) -> usize {
        self.lock().kept_bytes
    }

    fn is_finished(&self) -> bool {
        self.lock().finished
    }
}

impl OutputSink for ExecBuffer {
    fn push(&self, stream: OutputStream, bytes: &[u8]) {
        {
            let mut state = self.lock();
            let limit = self.limit;
            let s = &mut state.streams[index(stream)];
            s.total += bytes.len() as u64;
            s.hasher.update(bytes);
            s.pending.extend_from_slice(bytes);
            let mut pending = std::mem::take(&mut s.pending);
            let mut text = String::new();
            loop {
                match std::str::from_utf8(&pending) {
                    Ok(valid) => {
                        text.push_str(valid);
                        pending.clear();
                        break;
                    }
                    Err(e) => {
                        let valid_up_to = e.valid_up_to();
                        text.push_str(&String::from_utf8_lossy(&pending[..valid_up_to]));
                        match e.error_len() {
                            // An incomplete sequence at the end: wait for more bytes.
                            None => {
                                pending.drain(..valid_up_to);
                                break;
                            }
                            Some(bad) => {
                                text.push(char::REPLACEMENT_CHARACTER);
                                pending.drain(..valid_up_to + bad);
                            }
                        }
                    }
                }
            }
            state.streams[index(stream)].pending = pending;
            Self::keep(&mut state, limit, stream, text);
        }
        self.changed.notify_waiters();
    }
}

/// Buffers by execution id, and the ids oldest first.
type Buffers = (HashMap<String, Arc<ExecBuffer>>, VecDeque<String>);

/// Every kept execution's output, bounded in total.
pub(crate) struct OutputStore {
    buffers: Mutex<Buffers>,
    per_execution: usize,
    total: usize,
}

impl OutputStore {
    pub(crate) fn new(per_execution: usize, total: usize) -> Self {
        OutputStore {
            buffers: Mutex::new((HashMap::new(), VecDeque::new())),
            per_execution,
            total,
        }
    }

    pub(crate) fn open(&self, execution_id: &str) -> Arc<ExecBuffer> {
        let buffer = Arc::new(ExecBuffer::new(self.per_execution));
        let mut guard = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        map.insert(execution_id.to_string(), buffer.clone());
        order.push_back(execution_id.to_string());
        // Evict the oldest finished outputs while over the total budget.
        let mut used: usize = map.values().map(|b| b.kept_bytes()).sum();
        let mut index = 0;
        while used > self.total && index < order.len() {
            let id = order[index].clone();
            match map.get(&id) {
                Some(b) if b.is_finished() => {
                    used = used.saturating_sub(b.kept_bytes());
                    map.remove(&id);
                    order.remove(index);
                }
                Some(_) => index += 1,
                None => {
                    order.remove(index);
                }
            }
        }
        buffer
    }

    fn get(&self, execution_id: &str) -> Option<Arc<ExecBuffer>> {
        let guard = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.get(execution_id).cloned()
    }

    /// Output after `offset` (all of it without one). While the execution
    /// runs, waits up to `wait` for news: output past `offset`, or, without
    /// an offset, any output that arrives during the wait; or the end.
    pub(crate) async fn read(
        &self,
        execution_id: &str,
        offset: Option<usize>,
        wait: Duration,
    ) -> OutputSnapshot {
        let from = offset.unwrap_or(0);
        let Some(buffer) = self.get(execution_id) else {
            return OutputSnapshot {
                chunks: vec![],
                next_offset: from,
                truncated: false,
                available: false,
            };
        };
        let deadline = tokio::time::Instant::now() + wait;
        let seen = offset.unwrap_or_else(|| buffer.snapshot(0).0.next_offset);
        loop {
            let notified = buffer.changed.notified();
            let (snapshot, finished) = buffer.snapshot(from);
            if finished || snapshot.next_offset > seen || tokio::time::Instant::now() >= deadline {
                return snapshot;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return buffer.snapshot(from).0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(buffer: &ExecBuffer, stream: &str) -> String {
        buffer
            .snapshot(0)
            .0
            .chunks
            .iter()
            .filter(|c| c.stream == stream)
            .map(|c| c.chunk.as_str())
            .collect()
    }

    #[test]
    fn utf8_split_across_pushes_is_joined() {
        let b = ExecBuffer::new(1024);
        let bytes = "héllo".as_bytes();
        b.push(OutputStream::Stdout, &bytes[..2]);
        b.push(OutputStream::Stdout, &bytes[2..]);
        b.finish();
        assert_eq!(text(&b, "stdout"), "héllo");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let b = ExecBuffer::new(1024);
        b.push(OutputStream::Stderr, b"a\xffb\xc3");
        let digest = b.finish();
        assert_eq!(text(&b, "stderr"), "a\u{fffd}b\u{fffd}");
        assert_eq!(digest.stderr_bytes, 4);
        assert_eq!(digest.stdout_bytes, 0);
    }

    #[test]
    fn output_beyond_the_limit_is_dropped_but_counted() {
        let b = ExecBuffer::new(4);
        b.push(OutputStream::Stdout, b"abcdef");
        b.push(OutputStream::Stdout, b"gh");
        let digest = b.finish();
        assert_eq!(text(&b, "stdout"), "abcd");
        assert!(digest.truncated);
        assert_eq!(digest.stdout_bytes, 8);
        assert_eq!(
            digest.stdout_sha256,
            hex::encode(Sha256::digest(b"abcdefgh"))
        );
    }

    #[tokio::test]
    async fn a_cursor_returns_only_newer_chunks() {
        let store = OutputStore::new(1024, 4096);
        let b = store.open("e");
        b.push(OutputStream::Stdout, b"one");
        let first = store.read("e", Some(0), Duration::ZERO).await;
        b.push(OutputStream::Stderr, b"two");
        let second = store
            .read("e", Some(first.next_offset), Duration::ZERO)
            .await;
        assert_eq!(
            second.chunks,
            vec![OutputChunk {
                stream: "stderr",
                chunk: "two".into()
            }]
        );
        let missing = store.read("other", None, Duration::ZERO).await;
        assert!(!missing.available);
    }

    #[tokio::test]
    async fn a_long_poll_wakes_on_output() {
        let store = Arc::new(OutputStore::new(1024, 4096));
        let b = store.open("e");
        let reader = {
            let store = store.clone();
            tokio::spawn(async move { store.read("e", None, Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.push(OutputStream::Stdout, b"hi");
        let snapshot = tokio::time::timeout(Duration::from_secs(2), reader).await;
        assert!(matches!(snapshot, Ok(Ok(s)) if s.chunks.len() == 1));
    }

    #[tokio::test]
    async fn without_a_cursor_a_long_poll_waits_for_new_output() {
        let store = Arc::new(OutputStore::new(1024, 4096));
        let b = store.open("e");
        b.push(OutputStream::Stdout, b"old");
        let waited = store.read("e", None, Duration::from_millis(100)).await;
        assert_eq!(waited.chunks.len(), 1, "all output so far, after the wait");
        let immediate = tokio::time::timeout(
            Duration::from_millis(50),
            store.read("e", Some(0), Duration::from_secs(10)),
        )
        .await;
        assert!(immediate.is_ok(), "output past the cursor answers at once");
    }
}
