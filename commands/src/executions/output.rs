//! The bounded output store: what running and recent executions printed.
//! Output never enters events (it can be huge); events carry sizes and digests.
//! Each execution keeps the first half of its bound (the head) and the last
//! half (a ring: the tail, where errors and summaries are), and counts the
//! bytes left out between them exactly.

use crate::executions::utf8_stream::Utf8Stream;
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
    /// Its cursor position (the offset that returns it first).
    #[serde(skip)]
    pub seq: usize,
}

/// Output from a cursor on, and whether more can come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSnapshot {
    pub chunks: Vec<OutputChunk>,
    /// Cursor to pass next time to read only newer output.
    pub next_offset: usize,
    pub truncated: bool,
    /// Bytes of output left out between the head and the tail (so far).
    pub omitted_bytes: u64,
    /// Where in `chunks` the left-out bytes were (None: no gap in them).
    pub gap_at: Option<usize>,
    /// False when the output is no longer kept (evicted or lost in a restart).
    pub available: bool,
}

impl OutputSnapshot {
    /// One stream's text, with a line saying how many bytes were left out
    /// where the gap is (in the stream that was printing after it).
    pub fn text_of(&self, stream: &str) -> String {
        let mut text = String::new();
        for (i, chunk) in self.chunks.iter().enumerate() {
            if self.gap_at == Some(i) && chunk.stream == stream {
                text.push_str(&omitted_line(self.omitted_bytes));
            }
            if chunk.stream == stream {
                text.push_str(&chunk.chunk);
            }
        }
        text
    }

    /// No output: not kept (`available` false), nothing before `offset`.
    pub(crate) fn missing(offset: usize) -> OutputSnapshot {
        OutputSnapshot {
            chunks: vec![],
            next_offset: offset,
            truncated: false,
            omitted_bytes: 0,
            gap_at: None,
            available: false,
        }
    }
}

struct StreamState {
    text: Utf8Stream,
    total: u64,
    hasher: Sha256,
}

impl StreamState {
    fn new() -> Self {
        StreamState {
            text: Utf8Stream::default(),
            total: 0,
            hasher: Sha256::new(),
        }
    }
}

struct BufferState {
    /// The first chunks (cursor positions 0..head.len()).
    head: Vec<OutputChunk>,
    head_bytes: usize,
    /// Once the head is full, output goes to the tail.
    head_full: bool,
    /// The latest chunks; the front one is at cursor position `tail_start`.
    tail: VecDeque<OutputChunk>,
    tail_start: usize,
    tail_bytes: usize,
    /// Cursor position of the next chunk (every chunk ever made).
    next_seq: usize,
    /// Text bytes dropped between head and tail.
    omitted_bytes: u64,
    finished: bool,
    streams: [StreamState; 2],
}

impl BufferState {
    /// A new chunk at the next cursor position.
    fn next_chunk(&mut self, stream: OutputStream, text: String) -> OutputChunk {
        let seq = self.next_seq;
        self.next_seq += 1;
        OutputChunk {
            stream: stream.as_str(),
            chunk: text,
            seq,
        }
    }
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
                head: Vec::new(),
                head_bytes: 0,
                head_full: false,
                tail: VecDeque::new(),
                tail_start: 0,
                tail_bytes: 0,
                next_seq: 0,
                omitted_bytes: 0,
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

    /// Keep `text`: in the head while it has room (half the bound), then
    /// in the tail, dropping (and counting) its oldest bytes beyond the
    /// other half. Chunks are never merged: cursors count them.
    fn keep(state: &mut BufferState, limit: usize, stream: OutputStream, mut text: String) {
        let head_budget = limit / 2;
        let tail_budget = limit - head_budget;
        if !state.head_full && !text.is_empty() {
            let room = head_budget.saturating_sub(state.head_bytes);
            let cut = floor_char_boundary(&text, room.min(text.len()));
            let rest = text.split_off(cut);
            if !text.is_empty() {
                state.head_bytes += text.len();
                let chunk = state.next_chunk(stream, text);
                state.head.push(chunk);
            }
            text = rest;
            if !text.is_empty() {
                state.head_full = true;
                state.tail_start = state.next_seq;
            }
        }
        if text.is_empty() {
            return;
        }
        state.tail_bytes += text.len();
        let chunk = state.next_chunk(stream, text);
        state.tail.push_back(chunk);
        while state.tail_bytes > tail_budget {
            let excess = state.tail_bytes - tail_budget;
            let Some(front) = state.tail.front_mut() else {
                break;
            };
            let cut = ceil_char_boundary(&front.chunk, excess);
            if cut >= front.chunk.len() {
                let dropped = front.chunk.len();
                state.tail.pop_front();
                state.tail_start += 1;
                state.tail_bytes -= dropped;
                state.omitted_bytes += dropped as u64;
            } else {
                front.chunk.drain(..cut);
                state.tail_bytes -= cut;
                state.omitted_bytes += cut as u64;
            }
        }
    }

    /// Flush incomplete UTF-8 (as replacement characters) and describe the
    /// whole output. Call once the command has ended.
    pub(crate) fn digest(&self) -> OutputDigest {
        let mut state = self.lock();
        for stream in [OutputStream::Stdout, OutputStream::Stderr] {
            let text = state.streams[index(stream)].text.finish();
            Self::keep(&mut state, self.limit, stream, text);
        }
        let [out, err] = &state.streams;
        OutputDigest {
            stdout_bytes: out.total,
            stderr_bytes: err.total,
            stdout_sha256: hex::encode(out.hasher.clone().finalize()),
            stderr_sha256: hex::encode(err.hasher.clone().finalize()),
            truncated: state.omitted_bytes > 0,
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
        let mut chunks: Vec<OutputChunk> = state.head.iter().skip(offset).cloned().collect();
        let from_tail = offset.saturating_sub(state.tail_start);
        let gap = state.omitted_bytes > 0 && offset < state.tail_start;
        let gap_at = gap.then_some(chunks.len());
        chunks.extend(state.tail.iter().skip(from_tail).cloned());
        (
            OutputSnapshot {
                chunks,
                next_offset: state.next_seq,
                truncated: state.omitted_bytes > 0,
                omitted_bytes: state.omitted_bytes,
                gap_at,
                available: true,
            },
            state.finished,
        )
    }

    fn kept_bytes(&self) -> usize {
        let state = self.lock();
        state.head_bytes + state.tail_bytes
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
            let text = s.text.push(bytes);
            Self::keep(&mut state, limit, stream, text);
        }
        self.changed.notify_waiters();
    }
}

/// The line that stands where `bytes` of output were left out.
pub fn omitted_line(bytes: u64) -> String {
    format!("\n[... {bytes} bytes omitted ...]\n")
}

/// The largest char boundary at or below `index`.
fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut cut = index.min(text.len());
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

/// The smallest char boundary at or above `index`.
fn ceil_char_boundary(text: &str, index: usize) -> usize {
    let mut cut = index.min(text.len());
    while cut < text.len() && !text.is_char_boundary(cut) {
        cut += 1;
    }
    cut
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
            return OutputSnapshot::missing(from);
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
    fn beyond_the_bound_the_head_and_the_tail_are_kept_and_the_gap_counted() {
        let b = ExecBuffer::new(4);
        b.push(OutputStream::Stdout, b"abcdef");
        b.push(OutputStream::Stdout, b"gh");
        let digest = b.finish();
        assert_eq!(text(&b, "stdout"), "abgh");
        assert!(digest.truncated);
        assert_eq!(digest.stdout_bytes, 8);
        assert_eq!(
            digest.stdout_sha256,
            hex::encode(Sha256::digest(b"abcdefgh"))
        );
        let (snapshot, _) = b.snapshot(0);
        assert_eq!(snapshot.omitted_bytes, 4);
        assert_eq!(
            snapshot.gap_at,
            Some(1),
            "between the head chunk and the tail"
        );
    }

    #[test]
    fn a_long_output_keeps_its_first_and_last_lines_exactly() {
        let b = ExecBuffer::new(1000);
        let mut all = String::new();
        for i in 1..=20_000 {
            let line = format!("{i}\n");
            all.push_str(&line);
            b.push(OutputStream::Stdout, line.as_bytes());
        }
        b.push(OutputStream::Stderr, "résumé: 1 failed\n".as_bytes());
        all.push_str("résumé: 1 failed\n");
        b.finish();
        let (snapshot, _) = b.snapshot(0);
        let kept: String = snapshot.chunks.iter().map(|c| c.chunk.as_str()).collect();
        assert!(kept.starts_with("1\n2\n3\n"));
        assert!(
            kept.ends_with("20000\nrésumé: 1 failed\n"),
            "{}",
            &kept[kept.len() - 40..]
        );
        assert_eq!(kept.len(), 1000);
        assert_eq!(snapshot.omitted_bytes as usize, all.len() - kept.len());
        let gap = snapshot.gap_at.unwrap();
        let head: String = snapshot.chunks[..gap]
            .iter()
            .map(|c| c.chunk.as_str())
            .collect();
        let tail: String = snapshot.chunks[gap..]
            .iter()
            .map(|c| c.chunk.as_str())
            .collect();
        assert!(all.starts_with(&head) && all.ends_with(&tail));
        // A cursor past the gap reads only newer chunks, with no gap in them.
        let (later, _) = b.snapshot(snapshot.next_offset - 1);
        assert_eq!(later.chunks.len(), 1);
        assert_eq!(later.gap_at, None);
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
                chunk: "two".into(),
                seq: 1,
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
