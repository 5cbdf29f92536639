//! Test support: fakes of every port the application uses — a container
//! runtime, a Lightning gateway and address resolver, a manual clock, an
//! in-memory event store, a leadership lease — and a harness that wires an
//! `App` over them, so the meter, compensations, reconciliation and the
//! Lightning processes are tested in milliseconds, without Docker, a
//! database or a Lightning node. The integration tests use the real ones.

mod bus;
mod clock;
mod harness;
mod lightning;
mod runtime;

pub use bus::MemBus;
pub use clock::ManualClock;
pub use harness::Harness;
pub use lightning::{FakeGateway, FakePayment, FakeResolver};
pub use runtime::{FakeRuntime, FAKE_DAEMON, FAKE_MEMORY_HOG, FAKE_SLEEP};

/// A lease whose holder the test decides.
#[derive(Clone, Default)]
pub struct FakeLease(pub std::sync::Arc<std::sync::atomic::AtomicBool>);

#[async_trait::async_trait]
impl domain::ports::LeadershipLease for FakeLease {
    async fn hold(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Processes the test declares alive.
pub struct FakeRunners {
    pub me: String,
    pub alive: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

#[async_trait::async_trait]
impl domain::ports::Runners for FakeRunners {
    fn me(&self) -> &str {
        &self.me
    }

    async fn is_alive(&self, runner: &str) -> bool {
        runner == self.me
            || self
                .alive
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(runner)
    }
}

/// The sandbox id a test holds as text (a view's, a response's), typed as a
/// transport's parse types it.
pub fn sid(id: &str) -> domain::ids::SandboxId {
    domain::ids::SandboxId::parse(id).expect("a server-made sandbox id")
}

/// The execution id a test holds as text, typed.
pub fn eid(id: &str) -> domain::ids::ExecutionId {
    domain::ids::ExecutionId::parse(id).expect("a server-made execution id")
}
