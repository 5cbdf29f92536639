//! Executions: start a command, run it to its end (exit, timeout or cancel),
//! record how it ended, and serve polls of its output.

use crate::aggregates::running_container_of;
use crate::auth::Principal;
use crate::error::{AppError, ErrorCode};
use crate::executions::output::{ExecBuffer, OutputSnapshot};
use crate::executions::Executions;
use crate::queries::sandbox_status::SandboxStatus;
use domain::env::EnvVars;
use domain::execution::{ExecutionStatus, KILLED_EXIT_CODE, TIMEOUT_EXIT_CODE};
use domain::ids::{ExecutionId, SandboxId};
use domain::ports::StdinPipe;
use domain::ports::{resolve_sandbox_path, ExecRequest};
use domain::sandbox::SandboxCommand;
use projections::ExecutionView;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Longest one request holds its caller waiting for an execution: a
/// poll's wait for new output, an exec request's `wait_ms`.
const MAX_POLL_WAIT: Duration = Duration::from_secs(30);
/// How long a killed command gets to report its end.
const KILL_GRACE: Duration = Duration::from_secs(5);
const MAX_COMMAND_BYTES: usize = 256 * 1024;

/// An execution as a poll sees it.
#[derive(Debug, Clone)]
pub struct ExecPoll {
    pub execution: ExecutionView,
    pub output: OutputSnapshot,
    pub sandbox: SandboxStatus,
}

/// How to run a command, beyond the command itself.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Variables for this command.
    pub env: EnvVars,
    /// Open its standard input for `write_stdin` (otherwise it reads
    /// end-of-file at once).
    pub stdin: bool,
}

enum Ending {
    Exited(Result<domain::ports::ExecExit, domain::ports::RuntimeError>),
    TimedOut,
    Cancelled,
}

impl Executions {
    /// Start `/bin/bash -lc command` in the sandbox; returns at once with the
    /// running execution.
    pub async fn exec(
        self: &Arc<Self>,
        principal: &Principal,
        sandbox_id: &SandboxId,
        command: &str,
        working_dir: Option<&str>,
        timeout_ms: Option<u64>,
        options: ExecOptions,
    ) -> Result<ExecutionView, AppError> {
        if command.trim().is_empty() {
            return Err(AppError::invalid("command must not be empty"));
        }
        if command.len() > MAX_COMMAND_BYTES || command.contains('\0') {
            return Err(AppError::invalid(format!(
                "command must be at most {MAX_COMMAND_BYTES} bytes with no NUL bytes"
            )));
        }
        let max_ms = self.config.max_exec_timeout.as_millis() as u64;
        let timeout_ms = timeout_ms.unwrap_or(self.config.default_exec_timeout.as_millis() as u64);
        if timeout_ms == 0 || timeout_ms > max_ms {
            return Err(AppError::invalid(format!(
                "timeout_ms must be between 1 and {max_ms}"
            )));
        }
        let working_dir =
            resolve_sandbox_path(working_dir.unwrap_or("")).map_err(AppError::invalid)?;
        self.store.authorized(principal, sandbox_id).await?;
        if self.running.count_for(sandbox_id) >= self.config.max_running_execs {
            return Err(AppError::RateLimited(format!(
                "{} commands are already running in this sandbox; wait for one to finish",
                self.config.max_running_execs
            )));
        }
        let guard = self.store.lock(sandbox_id).await;
        // Not cancelled with the request: a caller that goes away midway
        // leaves a command both started and recorded (its end too), or neither.
        let executions = self.clone();
        let (sandbox_id, command) = (sandbox_id.to_string(), command.to_string());
        tokio::spawn(async move {
            let _guard = guard;
            executions
                .start_execution(&sandbox_id, command, working_dir, timeout_ms, options)
                .await
        })
        .await
        .map_err(|e| AppError::Internal(format!("starting the command: {e}")))?
    }

    /// Start the command and record its start, under the sandbox's lock.
    /// The process starts while its start is being recorded (the store's
    /// sync costs as much as starting a short command); its end is recorded
    /// only after its start, and not at all if the start could not be (the
    /// process is then killed).
    async fn start_execution(
        self: &Arc<Self>,
        sandbox_id: &str,
        command: String,
        working_dir: String,
        timeout_ms: u64,
        options: ExecOptions,
    ) -> Result<ExecutionView, AppError> {
        // Decided on the sandbox as it is now: the record of the start can
        // then only fail for the store's sake.
        let container = running_container_of(&self.store.load(sandbox_id).await?, "run a command")?;
        let execution_id = uuid::Uuid::new_v4().to_string();
        let buffer = self.outputs.open(&execution_id);
        let cancel = self.running.insert(&execution_id, sandbox_id);
        let stdin = options.stdin.then(|| {
            let (sender, pipe) = StdinPipe::open();
            self.stdins.insert(&execution_id, sender);
            pipe
        });
        let request = ExecRequest {
            execution_id: execution_id.clone(),
            command: command.clone(),
            working_dir: working_dir.clone(),
            env: options.env,
            stdin,
        };
        let (recorded, start_recorded) = tokio::sync::oneshot::channel();
        let executions = self.clone();
        let sandbox = sandbox_id.to_string();
        tokio::spawn(async move {
            executions
                .run_exec(
                    &sandbox,
                    &container,
                    request,
                    buffer,
                    (cancel, start_recorded),
                    Duration::from_millis(timeout_ms),
                )
                .await;
        });
        let started = self
            .store
            .execute(
                sandbox_id,
                SandboxCommand::StartExecution {
                    runner: Some(self.runners.me().to_string()),
                    execution_id: execution_id.clone(),
                    command,
                    working_dir,
                    timeout_ms,
                    now_ms: self.store.now_ms(),
                },
            )
            .await;
        if started.is_err() {
            self.running.cancel(&execution_id);
        }
        let _ = recorded.send(started.is_ok());
        started?;
        self.queries
            .execution_view(&execution_id)
            .ok_or_else(|| AppError::Internal("execution view missing after start".into()))
    }

    /// Run the command until it exits, times out or is cancelled; a
    /// command that did not exit is killed with its whole tree.
    async fn run_to_its_end(
        &self,
        container: &str,
        request: &ExecRequest,
        buffer: Arc<ExecBuffer>,
        cancel: &CancellationToken,
        timeout: Duration,
    ) -> Ending {
        let run = self.runtime.exec(container, request, buffer);
        tokio::pin!(run);
        let ending = tokio::select! {
            result = &mut run => Ending::Exited(result),
            _ = tokio::time::sleep(timeout) => Ending::TimedOut,
            _ = cancel.cancelled() => Ending::Cancelled,
        };
        if matches!(ending, Ending::Exited(_)) {
            return ending;
        }
        let kill = || async {
            if let Err(e) = self
                .runtime
                .kill_exec(container, &request.execution_id)
                .await
            {
                tracing::warn!(execution_id = %request.execution_id, error = %e, "could not kill the process tree");
            }
        };
        kill().await;
        if tokio::time::timeout(KILL_GRACE, &mut run).await.is_err() {
            // Still not ended: a process that started only after the kill
            // (cancelled while starting) dies now.
            kill().await;
        }
        ending
    }

    async fn run_exec(
        &self,
        sandbox_id: &str,
        container: &str,
        request: ExecRequest,
        buffer: Arc<ExecBuffer>,
        (cancel, start_recorded): (CancellationToken, tokio::sync::oneshot::Receiver<bool>),
        timeout: Duration,
    ) {
        let started = Instant::now();
        let ending = if cancel.is_cancelled() {
            // Cancelled before it started (its start could not be recorded).
            Ending::Cancelled
        } else {
            self.run_to_its_end(container, &request, buffer.clone(), &cancel, timeout)
                .await
        };
        let (status, exit_code, error) = match ending {
            Ending::Exited(Ok(exit)) if exit.out_of_memory => (
                ExecutionStatus::Failed,
                Some(exit.code),
                Some("killed: out of memory (the sandbox's tier memory limit was reached)".into()),
            ),
            Ending::Exited(Ok(exit)) => (ExecutionStatus::Completed, Some(exit.code), None),
            Ending::Exited(Err(e)) => (ExecutionStatus::Failed, None, Some(e.to_string())),
            Ending::TimedOut => (
                ExecutionStatus::Failed,
                Some(TIMEOUT_EXIT_CODE),
                Some(format!(
                    "timed out after {} ms; the command and its children were killed",
                    timeout.as_millis()
                )),
            ),
            Ending::Cancelled => (
                ExecutionStatus::Cancelled,
                Some(KILLED_EXIT_CODE),
                Some("cancelled; the command and its children were killed".into()),
            ),
        };
        let output = buffer.digest();
        if start_recorded.await == Ok(true) {
            let _guard = self.store.lock(sandbox_id).await;
            let finished = self
                .store
                .execute(
                    sandbox_id,
                    SandboxCommand::FinishExecution {
                        execution_id: request.execution_id.clone(),
                        status,
                        exit_code,
                        error,
                        duration_ms: started.elapsed().as_millis() as u64,
                        output,
                        now_ms: self.store.now_ms(),
                    },
                )
                .await;
            if let Err(e) = finished {
                tracing::error!(execution_id = %request.execution_id, error = %e, "could not record the end of an execution");
            }
        }
        self.running.remove(&request.execution_id);
        self.stdins.close(&request.execution_id);
        buffer.mark_finished();
    }

    /// The execution, if it exists and the caller may see its sandbox; otherwise 404.
    pub(crate) fn authorized_execution(
        &self,
        principal: &Principal,
        execution_id: &str,
    ) -> Result<ExecutionView, AppError> {
        let execution = self
            .queries
            .execution_view(execution_id)
            .ok_or_else(AppError::execution_not_found)?;
        self.queries
            .authorized_sandbox(principal, &execution.sandbox_id)
            .map_err(|_| AppError::execution_not_found())?;
        Ok(execution)
    }

    /// The execution with its output after `offset`, waiting up to `wait`
    /// for news while it runs.
    pub async fn poll_execution(
        &self,
        principal: &Principal,
        execution_id: &ExecutionId,
        offset: Option<usize>,
        wait: Duration,
    ) -> Result<ExecPoll, AppError> {
        let execution = self.authorized_execution(principal, execution_id)?;
        let wait = if execution.status.is_finished() {
            Duration::ZERO
        } else {
            wait.min(MAX_POLL_WAIT)
        };
        let output = self.outputs.read(execution_id, offset, wait).await;
        let execution = self
            .queries
            .execution_view(execution_id)
            .ok_or_else(AppError::execution_not_found)?;
        let sandbox = self
            .queries
            .view_of(&execution.sandbox_id)
            .ok_or_else(AppError::sandbox_not_found)?;
        Ok(ExecPoll {
            execution,
            output,
            sandbox: self.queries.present(sandbox),
        })
    }

    /// The timeout of a background command that names none: the longest
    /// allowed (a background command is meant to outlive its request).
    pub fn background_timeout_ms(&self) -> u64 {
        u64::try_from(self.config.max_exec_timeout.as_millis()).unwrap_or(u64::MAX)
    }

    /// Start a command and wait until it ends (or its timeout, plus a grace
    /// for the kill, has passed): for callers that want the result in one call.
    pub async fn exec_and_wait(
        self: &Arc<Self>,
        principal: &Principal,
        sandbox_id: &SandboxId,
        command: &str,
        working_dir: Option<&str>,
        timeout_ms: Option<u64>,
        options: ExecOptions,
    ) -> Result<ExecPoll, AppError> {
        let started = self
            .exec(
                principal,
                sandbox_id,
                command,
                working_dir,
                timeout_ms,
                options,
            )
            .await?;
        let wait = Duration::from_millis(started.timeout_ms) + Duration::from_secs(10);
        self.wait_for_execution(
            principal,
            &ExecutionId::recorded(started.execution_id.as_str()),
            wait,
        )
        .await
    }

    /// The execution once it has ended, or as it is after the wait a
    /// caller's request asks for (an exec request's `wait_ms`): at most
    /// `MAX_POLL_WAIT`, as every request that holds its caller waiting.
    pub async fn wait_as_asked(
        &self,
        principal: &Principal,
        execution_id: &ExecutionId,
        asked: Duration,
    ) -> Result<ExecPoll, AppError> {
        self.wait_for_execution(principal, execution_id, asked.min(MAX_POLL_WAIT))
            .await
    }

    /// The execution once it has ended, or as it is after `wait`.
    pub async fn wait_for_execution(
        &self,
        principal: &Principal,
        execution_id: &ExecutionId,
        wait: Duration,
    ) -> Result<ExecPoll, AppError> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let poll = self
                .poll_execution(principal, execution_id, None, left.min(MAX_POLL_WAIT))
                .await?;
            if poll.execution.status.is_finished() || left.is_zero() {
                return Ok(poll);
            }
        }
    }

    /// Kill a running execution's process tree; it ends `cancelled`.
    pub async fn cancel_execution(
        &self,
        principal: &Principal,
        execution_id: &ExecutionId,
    ) -> Result<ExecPoll, AppError> {
        let execution = self.authorized_execution(principal, execution_id)?;
        if execution.status.is_finished() {
            return Err(AppError::Conflict {
                code: ErrorCode::ExecutionFinished,
                message: format!("execution already {}", execution.status.as_str()),
            });
        }
        if self.running.cancel(execution_id) {
            self.wait_until_recorded_ended(&[execution_id.to_string()])
                .await;
        }
        self.poll_execution(principal, execution_id, None, Duration::ZERO)
            .await
    }

    /// Wait (at most twice the kill grace) until the end of each cancelled
    /// execution is recorded.
    pub(crate) async fn wait_until_recorded_ended(&self, execution_ids: &[String]) {
        let deadline = Instant::now() + KILL_GRACE * 2;
        while Instant::now() < deadline {
            let ended = execution_ids.iter().all(|id| {
                self.queries
                    .execution_view(id)
                    .is_none_or(|e| e.status.is_finished())
            });
            if ended {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
