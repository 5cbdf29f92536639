//! Standard input of running commands: a command started with `stdin`
//! gets a pipe; the client writes to it (`write_stdin`) and closes it (the
//! command then reads end-of-file). The pipe lives in the process that runs
//! the command.

use crate::auth::Principal;
use crate::error::{AppError, ErrorCode};
use crate::executions::Executions;
use domain::ids::ExecutionId;
use futures::SinkExt;

/// Largest write to a command's input at once.
pub const MAX_STDIN_WRITE: usize = 1 << 20;

impl Executions {
    /// Write `bytes` to the running command's input, then close it when
    /// `close`; the number of bytes written.
    pub async fn write_stdin(
        &self,
        principal: &Principal,
        execution_id: &ExecutionId,
        bytes: Vec<u8>,
        close: bool,
    ) -> Result<usize, AppError> {
        let execution = self.authorized_execution(principal, execution_id)?;
        if bytes.len() > MAX_STDIN_WRITE {
            return Err(AppError::TooLarge(format!(
                "write at most {MAX_STDIN_WRITE} bytes at once"
            )));
        }
        if execution.status.is_finished() {
            return Err(AppError::Conflict {
                code: ErrorCode::InvalidState,
                message: format!("the command has ended ({})", execution.status.as_str()),
            });
        }
        let Some(mut sender) = self.stdins.sender(execution_id) else {
            return Err(AppError::Conflict {
                code: ErrorCode::InvalidState,
                message: "this command's input is not open here: start it with \"stdin\": true (and write before closing it)".into(),
            });
        };
        let written = bytes.len();
        if !bytes.is_empty() && sender.send(bytes).await.is_err() {
            self.stdins.close(execution_id);
            return Err(AppError::Conflict {
                code: ErrorCode::InvalidState,
                message: "the command stopped reading its input".into(),
            });
        }
        if close {
            self.stdins.close(execution_id);
        }
        Ok(written)
    }
}
