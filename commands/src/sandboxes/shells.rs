//! Interactive shells. A client that cannot send headers (the Python SDK)
//! opens one with a ticket: short-lived (a minute), bound to the sandbox and
//! the caller, signed with the store's secret (so any process can check it)
//! and single-use (its nonce is recorded when a shell opens, and the
//! sandbox refuses it twice). Opening and closing are events, with the
//! bytes that went in and came out — never what was typed. When the client
//! goes, every process the shell started is killed.

use crate::aggregates::running_container_of;
use crate::auth::{same_secret, Principal};
use crate::error::AppError;
use crate::sandboxes::Sandboxes;
use domain::ids::SandboxId;
use domain::ports::{ShellIo, ShellRequest};
use domain::sandbox::SandboxCommand;

/// What every shell ticket starts with.
pub const SHELL_TICKET_PREFIX: &str = "sst_";
/// How long a ticket may wait before it opens its shell.
const TICKET_TTL_MS: i64 = 60_000;
/// The MAC's purpose, kept apart from the store secret's other uses.
const TICKET_PURPOSE: &str = "shell-ticket";

/// An open shell, for a transport to connect to its client.
pub struct OpenShell {
    pub shell_id: String,
    pub container: String,
    pub io: ShellIo,
}

/// A checked ticket: who it stands for and the nonce that opens one shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedTicket {
    pub principal: Principal,
    pub nonce: String,
}

/// A terminal's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    pub cols: u16,
    pub rows: u16,
}

impl Default for TerminalSize {
    fn default() -> Self {
        TerminalSize { cols: 80, rows: 24 }
    }
}

impl Sandboxes {
    /// A ticket opening one shell on the running sandbox for `principal`,
    /// within a minute.
    pub async fn shell_ticket(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
    ) -> Result<String, AppError> {
        let sandbox = self.store.authorized(principal, sandbox_id).await?;
        running_container_of(&sandbox, "open a shell")?;
        let caller = match principal {
            Principal::Account(id) => format!("account:{id}"),
            Principal::SandboxToken(_) => "sandbox".to_string(),
            Principal::Admin => "admin".to_string(),
            Principal::Anonymous => return Err(AppError::sandbox_not_found()),
        };
        let expires_ms = self.store.now_ms() + TICKET_TTL_MS;
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let payload = format!("{sandbox_id}|{caller}|{expires_ms}|{nonce}");
        let mac = self
            .config
            .link_secret
            .mac(TICKET_PURPOSE, &payload)
            .ok_or_else(|| AppError::Internal("could not sign a shell ticket".into()))?;
        Ok(format!(
            "{SHELL_TICKET_PREFIX}{}.{mac}",
            hex::encode(payload.as_bytes())
        ))
    }

    /// Check a ticket for `sandbox_id`: made by this store, for this
    /// sandbox, not expired. (Single use is checked when the shell opens.)
    pub async fn redeem_shell_ticket(
        &self,
        sandbox_id: &SandboxId,
        ticket: &str,
    ) -> Result<RedeemedTicket, AppError> {
        let invalid = || {
            AppError::Unauthorized(
                "invalid or expired shell ticket; ask for a new shell URL".into(),
            )
        };
        let (payload_hex, mac) = ticket
            .strip_prefix(SHELL_TICKET_PREFIX)
            .and_then(|t| t.split_once('.'))
            .ok_or_else(invalid)?;
        let payload = hex::decode(payload_hex)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(invalid)?;
        let expected = self
            .config
            .link_secret
            .mac(TICKET_PURPOSE, &payload)
            .ok_or_else(invalid)?;
        if !same_secret(&expected, mac) {
            return Err(invalid());
        }
        let fields: Vec<&str> = payload.split('|').collect();
        let [for_sandbox, caller, expires_ms, nonce] = fields[..] else {
            return Err(invalid());
        };
        let expires_ms: i64 = expires_ms.parse().map_err(|_| invalid())?;
        if for_sandbox != sandbox_id.as_str() || self.store.now_ms() > expires_ms {
            return Err(invalid());
        }
        let principal = match caller.split_once(':') {
            Some(("account", id)) => Principal::Account(id.to_string()),
            None if caller == "admin" => Principal::Admin,
            None if caller == "sandbox" => {
                let sandbox = self.store.load(sandbox_id).await?;
                Principal::SandboxToken(sandbox.token_hash.ok_or_else(invalid)?)
            }
            _ => return Err(invalid()),
        };
        Ok(RedeemedTicket {
            principal,
            nonce: nonce.to_string(),
        })
    }

    /// Open a shell (recorded), with the ticket's nonce when one opened it.
    pub async fn open_shell(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
        ticket_nonce: Option<String>,
        size: TerminalSize,
    ) -> Result<OpenShell, AppError> {
        let sandbox = self.store.authorized(principal, sandbox_id).await?;
        let container = running_container_of(&sandbox, "open a shell")?;
        let shell_id = format!("sh_{}", uuid::Uuid::new_v4().simple());
        {
            let _guard = self.store.lock(sandbox_id).await;
            self.store
                .execute(
                    sandbox_id,
                    SandboxCommand::OpenShell {
                        shell_id: shell_id.clone(),
                        ticket_nonce,
                        now_ms: self.store.now_ms(),
                    },
                )
                .await?;
        }
        let request = ShellRequest {
            shell_id: shell_id.clone(),
            cols: size.cols,
            rows: size.rows,
        };
        match self.runtime.open_shell(&container, &request).await {
            Ok(io) => Ok(OpenShell {
                shell_id,
                container,
                io,
            }),
            Err(e) => {
                self.close_shell(sandbox_id, &shell_id, &container, (0, 0), "could not start")
                    .await;
                Err(e.into())
            }
        }
    }

    /// End the shell: kill every process it started and record the close
    /// with the bytes `(in, out)`.
    pub async fn close_shell(
        &self,
        sandbox_id: &SandboxId,
        shell_id: &str,
        container: &str,
        (bytes_in, bytes_out): (u64, u64),
        reason: &str,
    ) {
        if let Err(e) = self.runtime.kill_exec(container, shell_id).await {
            tracing::warn!(%sandbox_id, shell_id, error = %e, "could not end a closed shell's processes");
        }
        let _guard = self.store.lock(sandbox_id).await;
        let closed = self
            .store
            .execute(
                sandbox_id,
                SandboxCommand::CloseShell {
                    shell_id: shell_id.to_string(),
                    bytes_in,
                    bytes_out,
                    reason: reason.to_string(),
                    now_ms: self.store.now_ms(),
                },
            )
            .await;
        if let Err(e) = closed {
            tracing::error!(%sandbox_id, shell_id, error = %e, "could not record a shell's close");
        }
    }
}
