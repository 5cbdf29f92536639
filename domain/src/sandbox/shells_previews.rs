//! Ways into a running sandbox besides commands: interactive shells (a
//! ticket opens at most one) and the preview token that opens its proxied
//! ports.

use super::command::SandboxCommand;
use super::error::SandboxError;
use super::event::SandboxEvent;
use super::state::Sandbox;

impl Sandbox {
    /// The events of a shell or preview command (see `Sandbox::decide`).
    pub(super) fn decide_shell_or_preview(
        &self,
        command: SandboxCommand,
    ) -> Result<Vec<SandboxEvent>, SandboxError> {
        match command {
            SandboxCommand::IssuePreviewToken { token_hash, now_ms } => {
                self.ensure_alive()?;
                Ok(vec![SandboxEvent::PreviewTokenIssued {
                    token_hash,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::RevokePreviewToken { now_ms } => {
                if self.preview_token_hash.is_none() {
                    return Ok(vec![]);
                }
                Ok(vec![SandboxEvent::PreviewTokenRevoked { at_ms: now_ms }])
            }
            SandboxCommand::OpenShell {
                shell_id,
                ticket_nonce,
                now_ms,
            } => {
                self.ensure_running("open a shell")?;
                if ticket_nonce
                    .as_ref()
                    .is_some_and(|n| self.used_shell_tickets.contains(n))
                {
                    return Err(SandboxError::TicketUsed);
                }
                Ok(vec![SandboxEvent::ShellOpened {
                    shell_id,
                    ticket_nonce,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::CloseShell {
                shell_id,
                bytes_in,
                bytes_out,
                reason,
                now_ms,
            } => {
                if !self.open_shells.contains(&shell_id) {
                    return Ok(vec![]);
                }
                Ok(vec![SandboxEvent::ShellClosed {
                    shell_id,
                    bytes_in,
                    bytes_out,
                    reason,
                    at_ms: now_ms,
                }])
            }
            // `state::decide` routes each command to its concern; another
            // concern's is refused, never a panic.
            _ => Err(self.invalid("a command routed to the wrong concern")),
        }
    }

    /// The state a shell or preview event leaves (see `Aggregate::apply`).
    pub(super) fn apply_shell_or_preview(&mut self, event: SandboxEvent) {
        match event {
            SandboxEvent::PreviewTokenIssued { token_hash, .. } => {
                self.preview_token_hash = Some(token_hash)
            }
            SandboxEvent::PreviewTokenRevoked { .. } => self.preview_token_hash = None,
            SandboxEvent::ShellOpened {
                shell_id,
                ticket_nonce,
                at_ms,
            } => {
                self.last_active_ms = at_ms;
                self.open_shells.insert(shell_id);
                if let Some(nonce) = ticket_nonce {
                    self.used_shell_tickets.insert(nonce);
                }
            }
            SandboxEvent::ShellClosed {
                shell_id, at_ms, ..
            } => {
                self.last_active_ms = at_ms;
                self.open_shells.remove(&shell_id);
            }
            // `state::apply` routes each event to its concern; another
            // concern's changes nothing here.
            _ => {}
        }
    }
}
