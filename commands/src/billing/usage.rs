//! Charging a sandbox's running time up to now (the meter drives it).

use crate::billing::Billing;
use domain::sandbox::{SandboxCommand, SandboxState};

impl Billing {
    /// Charge one sandbox up to now; whether that left it running with
    /// nothing (so it must pause).
    pub(crate) async fn charge_usage(&self, sandbox_id: &str) -> bool {
        {
            let _guard = self.store.lock(sandbox_id).await;
            let charged = self
                .store
                .execute(
                    sandbox_id,
                    SandboxCommand::ChargeUsage {
                        now_ms: self.store.now_ms(),
                        low_balance_secs: self.config.low_balance_secs,
                    },
                )
                .await;
            if let Err(e) = charged {
                tracing::error!(sandbox_id, error = %e, "could not charge usage");
                return false;
            }
        }
        self.store
            .load(sandbox_id)
            .await
            .is_ok_and(|s| s.state == SandboxState::Running && s.balance.is_zero())
    }
}
