//! When a terminal must close for billing, and what its user is told
//! before: the one rule every transport's shell follows. The watch looks
//! at the sandbox's status now and then; it says each notice once (a low
//! balance again only after it was topped up in between, an invoice once
//! per invoice).

use crate::queries::sandbox_status::{SandboxStatus, WarningLevel};
use crate::queries::Queries;
use domain::ids::SandboxId;
use domain::sandbox::{PauseReason, SandboxState};

/// What the user of a shell is told of its sandbox's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellNotice {
    /// Paused out of balance: the shell closes after this.
    OutOfBalance,
    /// A few seconds of balance left.
    LowBalance,
    /// An invoice waits to be paid.
    DepositRequired,
}

impl ShellNotice {
    /// The notice's name on the wire.
    pub fn kind(self) -> &'static str {
        match self {
            ShellNotice::OutOfBalance => "out_of_balance",
            ShellNotice::LowBalance => "low_balance",
            ShellNotice::DepositRequired => "deposit_required",
        }
    }

    /// What the user reads.
    pub fn message(self, status: &SandboxStatus) -> String {
        match self {
            ShellNotice::OutOfBalance => {
                "the sandbox ran out of balance and was paused; extend its balance and resume it"
                    .into()
            }
            ShellNotice::LowBalance => {
                format!("balance low: about {} s left", status.seconds_remaining)
            }
            ShellNotice::DepositRequired => {
                "pay the pending invoice to keep the sandbox running".into()
            }
        }
    }
}

/// What one look found: notices (with the status they speak of) and why
/// the shell must close, if it must.
#[derive(Debug, Default)]
pub struct ShellLook {
    pub notices: Vec<(ShellNotice, SandboxStatus)>,
    pub close: Option<String>,
}

/// The billing watch of one shell.
#[derive(Debug)]
pub struct ShellBillingWatch {
    sandbox_id: String,
    warned_low: bool,
    invoice_sent: Option<String>,
}

impl ShellBillingWatch {
    pub fn new(sandbox_id: &SandboxId) -> ShellBillingWatch {
        ShellBillingWatch {
            sandbox_id: sandbox_id.to_string(),
            warned_low: false,
            invoice_sent: None,
        }
    }

    /// What changed since the last look, and whether the shell must close.
    pub fn look(&mut self, queries: &Queries) -> ShellLook {
        let Some(view) = queries.view_of(&self.sandbox_id) else {
            return ShellLook {
                close: Some("the sandbox is gone".into()),
                ..ShellLook::default()
            };
        };
        let status = queries.present(view);
        let closing = |why: String| ShellLook {
            close: Some(why),
            ..ShellLook::default()
        };
        match status.state {
            SandboxState::Running => {}
            SandboxState::Paused if status.pause_reason == Some(PauseReason::OutOfBalance) => {
                return ShellLook {
                    notices: vec![(ShellNotice::OutOfBalance, status)],
                    close: Some("out of balance".into()),
                };
            }
            SandboxState::Paused => {
                return closing("the sandbox was paused; resume it and open a new shell".into())
            }
            other => return closing(format!("the sandbox is {other}")),
        }
        let mut notices = Vec::new();
        if status.warning == Some(WarningLevel::LowBalance) && !self.warned_low {
            self.warned_low = true;
            notices.push((ShellNotice::LowBalance, status.clone()));
        } else if status.warning.is_none() {
            self.warned_low = false;
        }
        let invoice = status
            .pending_invoice
            .as_ref()
            .map(|i| i.payment_hash.clone());
        if invoice.is_some() && invoice != self.invoice_sent {
            notices.push((ShellNotice::DepositRequired, status.clone()));
        }
        self.invoice_sent = invoice;
        ShellLook {
            notices,
            close: None,
        }
    }
}
