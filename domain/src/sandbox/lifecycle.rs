//! The sandbox's lifecycle: creation, queueing for room, start, pause,
//! resume, termination and failure, and the state each of their events
//! leaves behind.

use super::command::SandboxCommand;
use super::error::SandboxError;
use super::event::{BillingMethod, SandboxEvent};
use super::funding::check_funding;
use super::state::{Sandbox, SandboxState};

impl Sandbox {
    /// The events of a lifecycle command (see `Sandbox::decide`).
    pub(super) fn decide_lifecycle(
        &self,
        command: SandboxCommand,
    ) -> Result<Vec<SandboxEvent>, SandboxError> {
        match command {
            SandboxCommand::CreateSandbox {
                owner,
                tier,
                billing,
                label,
                image,
                token_hash,
                initial_funding,
                network,
                runtime,
                lifetime,
                env,
                now_ms,
            } => {
                if self.state != SandboxState::Unknown {
                    return Err(SandboxError::AlreadyExists);
                }
                let mut events = vec![SandboxEvent::SandboxCreated {
                    owner,
                    tier,
                    msats_per_second: crate::Tier::of(tier).msats_per_second,
                    billing,
                    label,
                    image,
                    token_hash,
                    network,
                    runtime,
                    lifetime,
                    env,
                    at_ms: now_ms,
                }];
                if let Some(funding) = initial_funding {
                    check_funding(billing, &funding)?;
                    self.check_transfer(&funding.source)?;
                    events.push(SandboxEvent::BalanceExtended {
                        balance_after: funding.amount,
                        amount: funding.amount,
                        source: funding.source,
                        at_ms: now_ms,
                    });
                }
                Ok(events)
            }
            SandboxCommand::QueueSandbox { now_ms } => {
                if self.state != SandboxState::Creating || self.container_id.is_some() {
                    return Err(self.invalid("queue"));
                }
                Ok(vec![SandboxEvent::SandboxQueued { at_ms: now_ms }])
            }
            SandboxCommand::DequeueSandbox { now_ms } => {
                if self.state != SandboxState::Queued {
                    return Err(self.invalid("start"));
                }
                Ok(vec![SandboxEvent::SandboxDequeued { at_ms: now_ms }])
            }
            SandboxCommand::RecordStarted {
                container_id,
                now_ms,
            } => {
                self.ensure_alive()?;
                if !matches!(self.state, SandboxState::Creating | SandboxState::Starting) {
                    return Err(self.invalid("start"));
                }
                Ok(vec![SandboxEvent::SandboxStarted {
                    container_id,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::PauseSandbox { reason, now_ms } => {
                self.ensure_alive()?;
                match self.state {
                    SandboxState::Paused => Ok(vec![]),
                    SandboxState::Running => {
                        let mut events = self.charge_until(now_ms);
                        events.push(SandboxEvent::SandboxPaused {
                            reason,
                            at_ms: now_ms,
                        });
                        Ok(events)
                    }
                    _ => Err(self.invalid("pause")),
                }
            }
            SandboxCommand::ResumeSandbox { now_ms } => {
                self.ensure_alive()?;
                match self.state {
                    SandboxState::Running => Ok(vec![]),
                    SandboxState::Paused if self.balance.is_zero() => {
                        Err(SandboxError::OutOfBalance)
                    }
                    SandboxState::Paused => {
                        Ok(vec![SandboxEvent::SandboxResumed { at_ms: now_ms }])
                    }
                    _ => Err(self.invalid("resume")),
                }
            }
            SandboxCommand::TerminateSandbox { now_ms } => {
                self.ensure_alive()?;
                let mut events = self.charge_until(now_ms);
                events.push(SandboxEvent::SandboxTerminated { at_ms: now_ms });
                events.extend(self.refund_to_account(&events, now_ms));
                Ok(events)
            }
            SandboxCommand::FailSandbox { reason, now_ms } => {
                self.ensure_alive()?;
                let mut events = vec![SandboxEvent::SandboxFailed {
                    reason,
                    at_ms: now_ms,
                }];
                events.extend(self.refund_to_account(&events, now_ms));
                Ok(events)
            }
            // `state::decide` routes each command to its concern; another
            // concern's is refused, never a panic.
            _ => Err(self.invalid("a command routed to the wrong concern")),
        }
    }

    /// The state a lifecycle event leaves (see `Aggregate::apply`).
    pub(super) fn apply_lifecycle(&mut self, event: SandboxEvent) {
        match event {
            SandboxEvent::SandboxCreated {
                owner,
                tier,
                msats_per_second,
                billing,
                token_hash,
                network,
                runtime,
                lifetime,
                env,
                ..
            } => {
                self.network = network;
                self.runtime = runtime;
                self.lifetime = lifetime;
                self.env = env;
                self.owner = owner;
                self.token_hash = token_hash;
                self.tier = Some(tier);
                self.msats_per_second = msats_per_second;
                self.billing = Some(billing);
                self.state = match billing {
                    BillingMethod::Credits => SandboxState::Creating,
                    BillingMethod::Lightning => SandboxState::AwaitingPayment,
                };
            }
            SandboxEvent::SandboxQueued { at_ms } => {
                self.state = SandboxState::Queued;
                self.queued_at_ms = Some(at_ms);
            }
            SandboxEvent::SandboxDequeued { .. } => {
                self.state = SandboxState::Creating;
                self.queued_at_ms = None;
            }
            SandboxEvent::SandboxStarted {
                container_id,
                at_ms,
            } => {
                self.container_id = Some(container_id);
                self.state = SandboxState::Running;
                self.charged_until_ms = Some(at_ms);
                self.started_at_ms.get_or_insert(at_ms);
                self.last_active_ms = at_ms;
            }
            SandboxEvent::SandboxPaused { reason, at_ms } => {
                self.state = SandboxState::Paused;
                self.pause_reason = Some(reason);
                self.paused_at_ms = Some(at_ms);
                self.charged_until_ms = None;
            }
            SandboxEvent::SandboxResumed { at_ms } => {
                self.state = SandboxState::Running;
                self.pause_reason = None;
                self.paused_at_ms = None;
                self.charged_until_ms = Some(at_ms);
                self.last_active_ms = at_ms;
            }
            SandboxEvent::SandboxTerminated { .. } => {
                self.state = SandboxState::Terminated;
                self.charged_until_ms = None;
                self.running_executions.clear();
                self.pending_invoice = None;
            }
            SandboxEvent::SandboxFailed { .. } => {
                self.state = SandboxState::Failed;
                self.charged_until_ms = None;
                self.running_executions.clear();
                self.pending_invoice = None;
            }
            SandboxEvent::SandboxExpired { .. } => {
                self.state = SandboxState::Expired;
                self.pending_invoice = None;
            }
            // `state::apply` routes each event to its concern; another
            // concern's changes nothing here.
            _ => {}
        }
    }
}
