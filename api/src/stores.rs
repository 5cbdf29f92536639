//! Composition of the event store with the read model: the store's feed
//! delivers its whole log to the read model on open, then every later commit
//! of this process or another.

use adapters::store::{self, EventFeed, StoreDirectory, StoreLocation, Subscribers};
use domain::account::Account;
use domain::ports::SharedBus;
use domain::sandbox::Sandbox;
use projections::ReadModel;
use std::sync::Arc;

/// The command buses, the read model they feed, and the store's identity.
#[derive(Clone)]
pub struct Stores {
    pub sandboxes: SharedBus<Sandbox>,
    pub accounts: SharedBus<Account>,
    pub read: ReadModel,
    pub backend: &'static str,
    /// Events delivered to the read model on open.
    pub replayed: usize,
    pub instance_id: String,
    pub directory: Arc<StoreDirectory>,
    /// Run it to follow other processes' commits.
    pub feed: Arc<EventFeed>,
}

fn subscribers(read: &ReadModel) -> Subscribers {
    Subscribers {
        sandboxes: Arc::new(read.clone()),
        accounts: Arc::new(read.clone()),
    }
}

/// Open the store at `location` and build a fresh read model from it.
pub async fn open(location: &StoreLocation) -> anyhow::Result<Stores> {
    let read = ReadModel::new();
    let opened = store::open(location, subscribers(&read)).await?;
    Ok(Stores {
        sandboxes: opened.sandboxes,
        accounts: opened.accounts,
        read,
        backend: opened.backend,
        replayed: opened.replayed,
        instance_id: opened.instance_id,
        directory: opened.directory,
        feed: opened.feed,
    })
}
