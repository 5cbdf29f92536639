//! The latest state of each aggregate this process knows, kept in memory so
//! that a command loads it without reading the snapshot and the events
//! after it. Where this process is the only writer of the aggregate type (a
//! SQLite store's sandboxes: see `lease`) it is the stream's state; where
//! others write too it may be stale, which the store catches (see
//! `chained` and `bus`). A state enters on load and on commit, only ever
//! replaced by a newer one (a load racing a commit cannot put an older
//! state back); a failed commit forgets the stream.

use cqrs_es::persist::EventStoreAggregateContext;
use cqrs_es::Aggregate;
use std::collections::HashMap;
use std::sync::Mutex;

/// More streams than this and the cache starts over (each state is small;
/// this bounds the memory of a store with a long history).
const MOST_STREAMS: usize = 20_000;

type Context<A> = EventStoreAggregateContext<A>;

pub(crate) struct States<A: Aggregate> {
    known: Mutex<HashMap<String, Context<A>>>,
}

/// A copy of a loaded state (cqrs-es's context is not `Clone`).
fn copy<A: Aggregate + Clone>(state: &Context<A>) -> Context<A> {
    EventStoreAggregateContext {
        aggregate_id: state.aggregate_id.clone(),
        aggregate: state.aggregate.clone(),
        current_sequence: state.current_sequence,
        current_snapshot: state.current_snapshot,
    }
}

impl<A: Aggregate + Clone> States<A> {
    pub(crate) fn new() -> Self {
        States {
            known: Mutex::new(HashMap::new()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, Context<A>>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stream's latest state, as a load would give it.
    pub(crate) fn get(&self, aggregate_id: &str) -> Option<Context<A>> {
        self.known().get(aggregate_id).map(copy)
    }

    /// A state just loaded from the store.
    pub(crate) fn loaded(&self, state: &Context<A>) {
        self.remember(copy(state));
    }

    /// The stream is in this state now (loaded, or left by a commit); kept
    /// unless a newer one is already known.
    pub(crate) fn remember(&self, state: Context<A>) {
        let mut known = self.known();
        if known
            .get(&state.aggregate_id)
            .is_some_and(|held| held.current_sequence >= state.current_sequence)
        {
            return;
        }
        if known.len() >= MOST_STREAMS && !known.contains_key(&state.aggregate_id) {
            known.clear();
        }
        known.insert(state.aggregate_id.clone(), state);
    }

    /// A commit to the stream failed: what is known of it may be stale.
    pub(crate) fn forget(&self, aggregate_id: &str) {
        self.known().remove(aggregate_id);
    }
}

#[cfg(test)]
mod tests {
    use super::super::chained::ChainedStore;
    use super::super::group_commit::{GroupCommitRepository, GroupCommitter};
    use super::super::{migrate, Pool, StoreLocation};
    use cqrs_es::event_sink::EventSink;
    use cqrs_es::{Aggregate, CqrsFramework, DomainEvent, EventStore};
    use serde::{Deserialize, Serialize};

    /// `total` follows the events' "after" values (re-applying one changes
    /// nothing); `applied` counts applications, so an event applied twice
    /// shows.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    struct Tally {
        total: i64,
        applied: u64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Counted {
        total_after: i64,
    }

    impl DomainEvent for Counted {
        fn event_type(&self) -> String {
            "Counted".into()
        }
        fn event_version(&self) -> String {
            "1.0".into()
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("refused")]
    struct Refused;

    impl Aggregate for Tally {
        const TYPE: &'static str = "Tally";
        /// Add each number, one event each; a negative one is refused.
        type Command = Vec<i64>;
        type Event = Counted;
        type Error = Refused;
        type Services = ();

        async fn handle(
            &mut self,
            numbers: Vec<i64>,
            _services: &(),
            sink: &EventSink<Self>,
        ) -> Result<(), Refused> {
            if numbers.iter().any(|n| *n < 0) {
                return Err(Refused);
            }
            for n in numbers {
                let total_after = self.total + n;
                sink.write(Counted { total_after }, self).await;
            }
            Ok(())
        }

        fn apply(&mut self, event: Counted) {
            self.total = event.total_after;
            self.applied += 1;
        }
    }

    async fn sqlite() -> (sqlx::SqlitePool, GroupCommitter) {
        let dir = std::env::temp_dir().join(format!("sockt-states-{}", uuid::Uuid::new_v4()));
        let location = StoreLocation::Sqlite(dir.join("events.db"));
        let Ok(Pool::Sqlite(pool)) = location.connect(4).await else {
            panic!("a SQLite pool");
        };
        migrate(&Pool::Sqlite(pool.clone()))
            .await
            .expect("migrated");
        let writer = GroupCommitter::start(pool.clone());
        (pool, writer)
    }

    /// Commands of 1 to 4 events through the framework over a remembering
    /// store; after each, what it remembers equals what the store gives a
    /// process that remembers nothing: the state, the sequence and the
    /// snapshot version (which decides the next snapshot's write).
    async fn remembered_matches_stored(snapshot_every: usize) {
        let (pool, writer) = sqlite().await;
        let repo = || GroupCommitRepository::new(pool.clone(), writer.clone());
        let remembering = ChainedStore::<_, Tally>::new(repo, snapshot_every).remembering_states();
        let plain = ChainedStore::<_, Tally>::new(repo, snapshot_every);
        let cqrs = CqrsFramework::new(remembering.clone(), Vec::new(), ());
        for round in 0..30 {
            let numbers: Vec<i64> = (0..(round % 4 + 1)).map(|i| round * 10 + i).collect();
            cqrs.execute("t", numbers).await.expect("committed");
            // A refused command changes nothing.
            assert!(cqrs.execute("t", vec![-1]).await.is_err());
            let known = remembering.load_aggregate("t").await.expect("remembered");
            let stored = plain.load_aggregate("t").await.expect("loaded");
            assert_eq!(
                known.current_sequence, stored.current_sequence,
                "round {round}"
            );
            assert_eq!(
                known.current_snapshot, stored.current_snapshot,
                "round {round}"
            );
            assert_eq!(known.aggregate, stored.aggregate, "round {round}");
            // Every event applied exactly once, snapshot or not.
            assert_eq!(stored.aggregate.applied as usize, stored.current_sequence);
            let sum: i64 = (0..=round)
                .flat_map(|r| (0..(r % 4 + 1)).map(move |i| r * 10 + i))
                .sum();
            assert_eq!(stored.aggregate.total, sum, "round {round}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn remembered_states_equal_the_stored_ones_without_snapshots() {
        remembered_matches_stored(1_000).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn remembered_states_and_snapshot_versions_follow_snapshots() {
        // Commits of 1 to 4 events reach or cross a snapshot every 3 events
        // in every way; a snapshot holds the whole commit (cqrs-es's own
        // snapshot store lost the events after the boundary).
        remembered_matches_stored(3).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_race_forgets_and_an_older_load_never_replaces_a_newer_state() {
        let (pool, writer) = sqlite().await;
        let repo = || GroupCommitRepository::new(pool.clone(), writer.clone());
        let remembering = ChainedStore::<_, Tally>::new(repo, 100).remembering_states();
        let cqrs = CqrsFramework::new(remembering.clone(), Vec::new(), ());
        cqrs.execute("t", vec![1]).await.expect("committed");
        // Two commits from the same loaded state: the second loses the race.
        let mut first = remembering.load_aggregate("t").await.expect("loaded");
        let second = remembering.load_aggregate("t").await.expect("loaded");
        let event = |total_after| vec![Counted { total_after }];
        // As handling does: the decided event applied to the loaded state.
        first.aggregate.apply(Counted { total_after: 5 });
        remembering
            .commit(event(5), first, Default::default())
            .await
            .expect("the first commit");
        assert!(remembering
            .commit(event(7), second, Default::default())
            .await
            .is_err());
        let now = remembering.load_aggregate("t").await.expect("loaded");
        assert_eq!((now.current_sequence, now.aggregate.total), (2, 5));

        // A load that read the store before a commit arrives after it.
        let states = super::States::<Tally>::new();
        let mut old = now;
        old.aggregate.total = 99;
        old.current_sequence = 3;
        states.loaded(&old);
        old.aggregate.total = 1;
        old.current_sequence = 2;
        states.loaded(&old);
        assert_eq!(states.get("t").map(|s| s.aggregate.total), Some(99));
    }
}
