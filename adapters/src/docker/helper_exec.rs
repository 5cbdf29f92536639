//! Commands Sockt itself runs in a sandbox through the engine's exec API,
//! as the sandbox user (file scripts, listings, kills where there is no
//! agent): their exit code and output.

use super::errors::{map_err, PathContext};
use super::{DockerRuntime, SANDBOX_USER};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use domain::ports::RuntimeError;
use futures::StreamExt;

/// Cap on what an internal helper command (listing) may print.
const MAX_HELPER_OUTPUT: usize = 16 << 20;

/// `sh -c script` with `args` as `$1`, `$2`, ...
pub(super) fn script<const N: usize>(script: &str, args: [&str; N]) -> Vec<String> {
    let mut cmd = vec![
        "/bin/sh".into(),
        "-c".into(),
        script.into(),
        "sockt-files".into(),
    ];
    cmd.extend(args.iter().map(|a| a.to_string()));
    cmd
}

impl DockerRuntime {
    /// Run a helper command as the sandbox user and collect its output.
    pub(super) async fn run_helper(
        &self,
        container: &str,
        cmd: Vec<String>,
    ) -> Result<(i64, Vec<u8>, Vec<u8>), RuntimeError> {
        self.run_as_sandbox_user(container, cmd, None, MAX_HELPER_OUTPUT)
            .await
    }

    /// Run `cmd` as the sandbox user with `stdin` fed to it (then closed);
    /// its exit code, stdout (up to `max_stdout` bytes) and stderr.
    pub(super) async fn run_as_sandbox_user(
        &self,
        container: &str,
        cmd: Vec<String>,
        stdin: Option<Vec<u8>>,
        max_stdout: usize,
    ) -> Result<(i64, Vec<u8>, Vec<u8>), RuntimeError> {
        use tokio::io::AsyncWriteExt;
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdin: Some(stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    user: Some(SANDBOX_USER.to_string()),
                    cmd: Some(cmd),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = self
            .docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await
            .map_err(|e| map_err(e, PathContext::None))?
        {
            let feed = async move {
                if let Some(bytes) = stdin {
                    input.write_all(&bytes).await?;
                    input.flush().await?;
                }
                input.shutdown().await
            };
            let collect = async {
                while let Some(item) = output.next().await {
                    match item.map_err(|e| map_err(e, PathContext::None))? {
                        LogOutput::StdOut { message } if stdout.len() < max_stdout => {
                            let room = max_stdout - stdout.len();
                            stdout.extend_from_slice(&message[..message.len().min(room)]);
                        }
                        LogOutput::StdErr { message } if stderr.len() < MAX_HELPER_OUTPUT => {
                            stderr.extend_from_slice(&message)
                        }
                        _ => {}
                    }
                }
                Ok::<(), RuntimeError>(())
            };
            let (fed, collected) = tokio::join!(feed, collect);
            collected?;
            // A script that stops reading early closes its stdin: not an error.
            let _ = fed;
        }
        let code = self.exit_code(&exec.id).await?;
        Ok((code, stdout, stderr))
    }

    pub(super) async fn exit_code(&self, exec_id: &str) -> Result<i64, RuntimeError> {
        let inspect = self
            .docker
            .inspect_exec(exec_id)
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        inspect
            .exit_code
            .ok_or_else(|| RuntimeError::Failed("the engine reported no exit code".into()))
    }
}
