//! Commands of a sandbox without an agent (or whose agent does not
//! answer), run through the engine's exec API as the sandbox user: the
//! command itself, and the kill of an execution's processes.

use super::errors::{map_err, PathContext};
use super::kill::KILLED_EXIT;
use super::{DockerRuntime, EXEC_MARKER, SANDBOX_USER};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use domain::ports::{ExecExit, ExecRequest, OutputSink, OutputStream, RuntimeError};
use futures::StreamExt;
use std::sync::Arc;

impl DockerRuntime {
    /// Run the execution's command through the engine and stream its output.
    pub(super) async fn exec_through_engine(
        &self,
        container: &str,
        request: &ExecRequest,
        sink: Arc<dyn OutputSink>,
    ) -> Result<ExecExit, RuntimeError> {
        // The exec's process is a session leader; the marker in its
        // environment (inherited by its children) lets kill_exec find it.
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdin: Some(request.stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    user: Some(SANDBOX_USER.to_string()),
                    working_dir: Some(request.working_dir.clone()),
                    env: Some(
                        request
                            .env
                            .entries()
                            .chain([format!("{EXEC_MARKER}={}", request.execution_id)])
                            .collect(),
                    ),
                    cmd: Some(vec![
                        "/bin/bash".into(),
                        "-lc".into(),
                        request.command.clone(),
                    ]),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        let started = self
            .docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await
            .map_err(|e| map_err(e, PathContext::WorkingDir(&request.working_dir)))?;
        if let StartExecResults::Attached { mut output, input } = started {
            if let Some(mut fed) = request.stdin.as_ref().and_then(|pipe| pipe.take()) {
                let mut input = input;
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    while let Some(bytes) = fed.next().await {
                        if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                            return;
                        }
                    }
                    let _ = input.shutdown().await;
                });
            }
            while let Some(item) = output.next().await {
                match item.map_err(|e| map_err(e, PathContext::WorkingDir(&request.working_dir)))? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        sink.push(OutputStream::Stdout, &message)
                    }
                    LogOutput::StdErr { message } => sink.push(OutputStream::Stderr, &message),
                    LogOutput::StdIn { .. } => {}
                }
            }
        }
        let code = self.exit_code(&exec.id).await?;
        if code == KILLED_EXIT {
            return Ok(ExecExit {
                code,
                out_of_memory: self.memory_ran_out(container).await,
            });
        }
        // runc reports a missing working directory as exit 126/127 with a message on stdout.
        if code == 126 || code == 127 {
            let (exists, _, _) = self
                .run_helper(
                    container,
                    vec!["test".into(), "-d".into(), request.working_dir.clone()],
                )
                .await?;
            if exists != 0 {
                return Err(RuntimeError::FileNotFound(format!(
                    "working_dir {}",
                    request.working_dir
                )));
            }
        }
        Ok(ExecExit::code(code))
    }

    /// Kill every process of the execution (carrying its `marker`).
    pub(super) async fn kill_exec_through_engine(
        &self,
        container: &str,
        marker: String,
    ) -> Result<(), RuntimeError> {
        // Kill every process carrying the execution's marker, and every
        // process of their sessions (children that cleared their environment).
        let script = "for round in 1 2 3; do \
                        for d in /proc/[0-9]*; do \
                          tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null | grep -qx \"$1\" || continue; \
                          pid=${d#/proc/}; sid=$(ps -o sid= -p \"$pid\" 2>/dev/null | tr -d ' '); \
                          [ -n \"$sid\" ] && [ \"$sid\" != 0 ] && pkill -KILL -s \"$sid\" 2>/dev/null; \
                          kill -KILL \"$pid\" 2>/dev/null; \
                        done; \
                      done; exit 0";
        self.run_helper(
            container,
            vec![
                "/bin/sh".into(),
                "-c".into(),
                script.into(),
                "sockt-kill".into(),
                marker,
            ],
        )
        .await
        .map(|_| ())
    }
}
