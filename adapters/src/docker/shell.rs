//! Interactive shells: `bash -l` as the sandbox user on a pseudo-terminal
//! that Docker's exec API allocates, in the home directory, with `TERM` set.
//! Input and resizes arrive on a channel; the terminal's output is one byte
//! stream (a terminal merges stdout and stderr). Every process of the shell
//! carries the shell's id as its execution marker, so `kill_exec` ends them
//! all when the client goes.

use super::errors::{map_err, PathContext};
use super::{EXEC_MARKER, SANDBOX_USER};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::Docker;
use domain::ports::{RuntimeError, ShellInput, ShellIo, ShellRequest, SANDBOX_HOME};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

/// How many input messages may wait for the terminal.
const INPUT_QUEUE: usize = 64;

pub(super) async fn open(
    docker: &Docker,
    container: &str,
    request: &ShellRequest,
) -> Result<ShellIo, RuntimeError> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(true),
                user: Some(SANDBOX_USER.to_string()),
                working_dir: Some(SANDBOX_HOME.to_string()),
                env: Some(vec![
                    "TERM=xterm-256color".to_string(),
                    format!("HOME={SANDBOX_HOME}"),
                    format!("USER={SANDBOX_USER}"),
                    "LANG=C.UTF-8".to_string(),
                    format!("{EXEC_MARKER}={}", request.shell_id),
                ]),
                cmd: Some(vec!["/bin/bash".to_string(), "-l".to_string()]),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| map_err(e, PathContext::None))?;
    let started = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: true,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| map_err(e, PathContext::None))?;
    let StartExecResults::Attached { output, mut input } = started else {
        return Err(RuntimeError::Failed(
            "the engine did not attach to the shell".into(),
        ));
    };
    let size = |cols: u16, rows: u16| ResizeExecOptions {
        height: rows.max(1),
        width: cols.max(1),
    };
    // The terminal may not exist yet for the first resize: a failed one is
    // harmless (the client resizes again).
    let _ = docker
        .resize_exec(&exec.id, size(request.cols, request.rows))
        .await;
    let (sender, mut receiver) = futures::channel::mpsc::channel::<ShellInput>(INPUT_QUEUE);
    let (engine, exec_id) = (docker.clone(), exec.id.clone());
    tokio::spawn(async move {
        while let Some(message) = receiver.next().await {
            match message {
                ShellInput::Data(bytes) => {
                    if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                        break;
                    }
                }
                ShellInput::Resize { cols, rows } => {
                    let _ = engine.resize_exec(&exec_id, size(cols, rows)).await;
                }
            }
        }
        let _ = input.shutdown().await;
    });
    let output = output
        .take_while(|item| futures::future::ready(item.is_ok()))
        .filter_map(|item| {
            futures::future::ready(match item {
                Ok(LogOutput::Console { message })
                | Ok(LogOutput::StdOut { message })
                | Ok(LogOutput::StdErr { message }) => Some(message.to_vec()),
                _ => None,
            })
        })
        .boxed();
    Ok(ShellIo {
        output,
        input: sender,
    })
}
