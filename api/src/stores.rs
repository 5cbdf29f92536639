//! Composition of the event store with the read model: the store's feed
//! delivers its whole log to the read model on open, then every later commit
//! of this process or another.

use adapters::store::{self, Checkpoint, Checkpoints, StoreLocation, Subscribers};
use projections::ReadModel;
use std::sync::Arc;

/// The event store (its command buses, identity and feed) and the read
/// model it feeds.
#[derive(Clone)]
pub struct Stores {
    pub events: store::EventStores,
    pub read: ReadModel,
    /// Where the read model is checkpointed (None: a rebuild that writes none).
    pub checkpoints: Option<Arc<Checkpoints>>,
    /// Global position the read model started from (0: the whole log).
    pub started_from: i64,
}

fn subscribers(read: &ReadModel) -> Subscribers {
    Subscribers {
        sandboxes: Arc::new(read.clone()),
        accounts: Arc::new(read.clone()),
    }
}

/// The name of the read model's checkpoint.
const READ_MODEL: &str = "read_model";

/// Open the store at `location`: the read model starts from the latest
/// checkpoint (when there is a usable one) and catches up from its position.
pub async fn open(location: &StoreLocation) -> anyhow::Result<Stores> {
    store::prepare(location).await?;
    let read = ReadModel::new();
    let checkpoints = location.checkpoints().await?;
    let from = match checkpoints.load(READ_MODEL).await? {
        Some(checkpoint) => match read.import(&checkpoint.payload) {
            Ok(()) => checkpoint.position,
            Err(e) => {
                tracing::warn!(error = %e, "rebuilding the read model from the events");
                read.import_empty();
                0
            }
        },
        None => 0,
    };
    open_from(location, read, from, Some(checkpoints)).await
}

/// Open the store and build the read model from every event (no checkpoint).
pub async fn rebuild(location: &StoreLocation) -> anyhow::Result<Stores> {
    open_from(location, ReadModel::new(), 0, None).await
}

async fn open_from(
    location: &StoreLocation,
    read: ReadModel,
    from: i64,
    checkpoints: Option<Checkpoints>,
) -> anyhow::Result<Stores> {
    let events = store::open(location, subscribers(&read), from).await?;
    Ok(Stores {
        events,
        read,
        checkpoints: checkpoints.map(Arc::new),
        started_from: from,
    })
}

impl Stores {
    /// Write a checkpoint of the read model at the feed's position.
    pub async fn checkpoint(&self, now_ms: i64) -> anyhow::Result<()> {
        let Some(checkpoints) = &self.checkpoints else {
            return Ok(());
        };
        // Serialising every view takes a while: on a blocking thread, so
        // the runtime's workers keep answering reads meanwhile.
        let read = self.read.clone();
        let (position, payload) = self
            .events
            .feed
            .at_rest(|position| async move {
                (
                    position,
                    tokio::task::spawn_blocking(move || read.export()).await,
                )
            })
            .await;
        let checkpoint = Checkpoint {
            position,
            payload: payload??,
        };
        checkpoints.save(READ_MODEL, &checkpoint, now_ms).await
    }

    /// Checkpoint the read model every `every` until `shutdown`, and once more then.
    pub async fn keep_checkpointing(
        self,
        clock: Arc<dyn domain::ports::Clock>,
        every: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            let stopping = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = tick.tick() => false,
            };
            if let Err(e) = self.checkpoint(clock.now_ms()).await {
                tracing::warn!(error = %e, "could not checkpoint the read model");
            }
            if stopping {
                return;
            }
        }
    }
}
