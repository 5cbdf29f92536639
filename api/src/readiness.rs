//! Liveness and readiness, for a load balancer or a supervisor: a process
//! is live while it answers at all; it is ready while what it serves from
//! answers too (the store, the engine) and it is not stopping. Each check
//! is a probe with a name; a probe that takes longer than `PROBE_WAIT`
//! counts as not answering.

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// How long one probe may take.
pub const PROBE_WAIT: Duration = Duration::from_secs(2);

/// One thing the server needs in order to serve.
#[async_trait]
pub trait Probe: Send + Sync {
    /// Ok while it answers; else why not (no secret in it).
    async fn check(&self) -> Result<(), String>;
}

/// The probes of a server, by name.
#[derive(Clone)]
pub struct Readiness {
    probes: Vec<(&'static str, Arc<dyn Probe>)>,
    wait: Duration,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            probes: Vec::new(),
            wait: PROBE_WAIT,
        }
    }
}

impl Readiness {
    /// How long each probe may take (`PROBE_WAIT` unless set).
    pub fn waiting_at_most(mut self, wait: Duration) -> Readiness {
        self.wait = wait;
        self
    }

    pub fn with(mut self, name: &'static str, probe: Arc<dyn Probe>) -> Readiness {
        self.probes.push((name, probe));
        self
    }

    /// Every probe's answer, run together, in the order they were added.
    pub async fn check(&self) -> Vec<(&'static str, Result<(), String>)> {
        let wait = self.wait;
        let checks = self.probes.iter().map(|(name, probe)| async move {
            let answer = match tokio::time::timeout(wait, probe.check()).await {
                Ok(answer) => answer,
                Err(_) => Err(format!("no answer within {} ms", wait.as_millis())),
            };
            (*name, answer)
        });
        futures::future::join_all(checks).await
    }
}

#[async_trait]
impl Probe for adapters::store::StoreDirectory {
    async fn check(&self) -> Result<(), String> {
        self.answers().await.map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Probe for adapters::docker::DockerRuntime {
    async fn check(&self) -> Result<(), String> {
        self.answers().await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Result<(), String>);

    #[async_trait]
    impl Probe for Fixed {
        async fn check(&self) -> Result<(), String> {
            self.0.clone()
        }
    }

    struct Stuck;

    #[async_trait]
    impl Probe for Stuck {
        async fn check(&self) -> Result<(), String> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn every_probe_answers_and_a_stuck_one_counts_as_down() {
        let readiness = Readiness::default()
            .waiting_at_most(Duration::from_millis(50))
            .with("store", Arc::new(Fixed(Ok(()))))
            .with("engine", Arc::new(Fixed(Err("refused".into()))))
            .with("stuck", Arc::new(Stuck));
        let answers = readiness.check().await;
        assert_eq!(answers[0], ("store", Ok(())));
        assert_eq!(answers[1], ("engine", Err("refused".into())));
        assert_eq!(answers[2].0, "stuck");
        assert!(answers[2]
            .1
            .as_ref()
            .is_err_and(|e| e.contains("no answer")));
    }
}
