//! Each aggregate's commands waiting to be decided. At most one runner
//! serves a stream at a time: the command that finds no queue starts one,
//! and the runner takes everything queued meanwhile as its next batch,
//! until nothing is left — then the stream has no runner until the next
//! command. Queuing and taking happen under one lock, so a command is never
//! left behind by a runner that just finished.

use std::collections::HashMap;
use std::sync::Mutex;

pub(crate) struct Queues<T> {
    waiting: Mutex<HashMap<String, Vec<T>>>,
}

impl<T> Queues<T> {
    pub(crate) fn new() -> Self {
        Queues {
            waiting: Mutex::new(HashMap::new()),
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<T>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `item` for the stream; true when no runner serves it (the
    /// caller must start one).
    pub(crate) fn push(&self, stream: &str, item: T) -> bool {
        let mut waiting = self.waiting();
        match waiting.get_mut(stream) {
            Some(queue) => {
                queue.push(item);
                false
            }
            None => {
                waiting.insert(stream.to_string(), vec![item]);
                true
            }
        }
    }

    /// The runner's next batch: `carried` (its own leftovers, first) and
    /// everything queued since. An empty batch ends the runner: the stream
    /// has none from then on.
    pub(crate) fn next_batch(&self, stream: &str, carried: Vec<T>) -> Vec<T> {
        let mut waiting = self.waiting();
        let queued = waiting
            .get_mut(stream)
            .map(std::mem::take)
            .unwrap_or_default();
        let mut batch = carried;
        batch.extend(queued);
        if batch.is_empty() {
            waiting.remove(stream);
        }
        batch
    }

    /// The runner stopped without finishing (it panicked): what waits is
    /// dropped (its callers hear so) and the next command starts a runner.
    pub(crate) fn abandon(&self, stream: &str) {
        self.waiting().remove(stream);
    }
}

#[cfg(test)]
mod tests {
    use super::Queues;

    #[test]
    fn one_runner_per_stream_takes_everything_queued_until_none_is_left() {
        let queues = Queues::new();
        assert!(queues.push("a", 1), "the first command starts a runner");
        assert!(!queues.push("a", 2));
        assert!(queues.push("b", 10), "another stream has its own");
        assert_eq!(queues.next_batch("a", vec![]), vec![1, 2]);
        assert!(!queues.push("a", 3), "the runner still serves the stream");
        assert_eq!(
            queues.next_batch("a", vec![0]),
            vec![0, 3],
            "leftovers first"
        );
        assert_eq!(queues.next_batch("a", vec![]), Vec::<i32>::new());
        assert!(queues.push("a", 4), "the runner ended: a new one starts");
        queues.abandon("a");
        assert!(queues.push("a", 5), "an abandoned stream gets a new runner");
        assert_eq!(queues.next_batch("b", vec![]), vec![10]);
    }
}
