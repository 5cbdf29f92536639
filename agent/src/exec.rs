//! Processes: a command with piped output (and optionally input), or a shell
//! on a new pseudo-terminal. Output is streamed as frames while it comes;
//! the exit code follows once the process ended and its output drained
//! (a background child still holding the pipes gets a short grace, as
//! Docker's exec gives it).

use crate::frames::{Receiver, Sender};
use sockt_agent::protocol::{parse_json, ExecSpec, Kind, Refusal, Reply, TtySize};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long output may keep flowing after the process exited.
const DRAIN_GRACE: Duration = Duration::from_millis(200);
const CHUNK: usize = 64 * 1024;

pub fn run(spec: ExecSpec, sender: Sender, receiver: Receiver) -> std::io::Result<()> {
    if !std::path::Path::new(&spec.cwd).is_dir() {
        return sender.refuse(Refusal::WorkingDirMissing, spec.cwd);
    }
    let Some((program, args)) = spec.argv.split_first() else {
        return sender.refuse(Refusal::Failed, "empty command".into());
    };
    let mut command = Command::new(program);
    command.args(args).current_dir(&spec.cwd);
    if spec.login_env {
        match crate::login_env::current() {
            Some(environment) => match direct_if_simple(&spec, &environment) {
                Some(direct) => command = direct,
                None => {
                    command.env_clear().envs(environment);
                }
            },
            // Without a captured environment, let bash read the profiles.
            None if program.as_str() == "/bin/bash" => {
                command.arg0("-bash");
            }
            None => {}
        }
    }
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    match spec.tty {
        Some(size) => run_on_terminal(command, size, sender, receiver),
        None => run_piped(command, spec.stdin, sender, receiver),
    }
}

/// The value of `name` for the command: its own variables first, then the
/// login environment.
fn lookup(spec: &ExecSpec, environment: &[(OsString, OsString)], name: &str) -> Option<String> {
    spec.env
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .or_else(|| {
            environment
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_string_lossy().to_string())
        })
}

/// For `bash -c "<simple command>"`, the program itself in the login
/// environment, as bash would exec it (see `simple`); the caller adds the
/// command's own variables.
fn direct_if_simple(spec: &ExecSpec, environment: &[(OsString, OsString)]) -> Option<Command> {
    let [bash, dash_c, line] = spec.argv.as_slice() else {
        return None;
    };
    if bash != "/bin/bash" || dash_c != "-c" {
        return None;
    }
    let (program, args) = crate::simple::split(line)?;
    let path = crate::simple::resolve(program, &lookup(spec, environment, "PATH")?)?;
    let level = crate::simple::next_shell_level(lookup(spec, environment, "SHLVL").as_deref());
    let mut command = Command::new(&path);
    command
        .arg0(program)
        .args(args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(environment.iter().map(|(k, v)| (k, v)))
        .env("PWD", &spec.cwd)
        .env("SHLVL", level)
        .env("_", &path);
    Some(command)
}

fn exit_code(status: std::process::ExitStatus) -> i64 {
    match (status.code(), status.signal()) {
        (Some(code), _) => i64::from(code),
        (None, Some(signal)) => 128 + i64::from(signal),
        (None, None) => -1,
    }
}

/// Send what `source` produces as `kind` frames until it ends; then say so.
fn pump(
    mut source: impl Read + Send + 'static,
    kind: Kind,
    sender: Sender,
    done: mpsc::Sender<()>,
) -> std::io::Result<()> {
    background(move || {
        let mut buffer = vec![0u8; CHUNK];
        loop {
            match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    if sender.send(kind, &buffer[..n]).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = done.send(());
    })
}

/// Run `work` on a thread of its own. Creating one can fail (the sandbox
/// is at its process limit): that is an error for the request, never a
/// panic of the agent.
pub fn background(work: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new().spawn(work).map(|_| ())
}

/// Wait for the process, then for its output to drain (bounded), then
/// report how it exited.
fn finish(
    mut child: Child,
    pumps: usize,
    drained: mpsc::Receiver<()>,
    sender: &Sender,
) -> std::io::Result<()> {
    let status = child.wait()?;
    let deadline = std::time::Instant::now() + DRAIN_GRACE;
    for _ in 0..pumps {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if drained.recv_timeout(left).is_err() {
            break;
        }
    }
    sender.reply(&Reply::Exited {
        code: exit_code(status),
    })
}

fn run_piped(
    mut command: Command,
    with_stdin: bool,
    sender: Sender,
    mut receiver: Receiver,
) -> std::io::Result<()> {
    command
        .process_group(0)
        .stdin(if with_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return sender.refuse(Refusal::Failed, format!("could not start: {e}")),
    };
    sender.reply(&Reply::Started)?;
    let (done, drained) = mpsc::channel();
    let mut pumps = 0;
    if let Some(stdout) = child.stdout.take() {
        pump(stdout, Kind::Stdout, sender.clone(), done.clone())?;
        pumps += 1;
    }
    if let Some(stderr) = child.stderr.take() {
        pump(stderr, Kind::Stderr, sender.clone(), done.clone())?;
        pumps += 1;
    }
    let mut stdin = child.stdin.take();
    background(move || {
        // Input until the server closes it (or the connection ends).
        while let Ok(Some((kind, bytes))) = receiver.next() {
            let failed = match (kind, stdin.as_mut()) {
                (Kind::Stdin, Some(pipe)) => pipe.write_all(&bytes).is_err(),
                (Kind::End, _) => true,
                _ => false,
            };
            if failed {
                // Dropping the pipe closes the command's standard input.
                stdin = None;
            }
        }
    })?;
    finish(child, pumps, drained, &sender)
}

fn run_on_terminal(
    command: Command,
    size: TtySize,
    sender: Sender,
    mut receiver: Receiver,
) -> std::io::Result<()> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    resize(&master, size);
    let name = ptsname(&master, Vec::new())?;
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(std::ffi::OsStr::from_bytes(name.as_bytes()))?;
    // `setsid -c` gives the shell a session of its own with this terminal
    // as its controlling terminal (job control, Ctrl-C).
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut shell = Command::new("setsid");
    shell
        .arg("-c")
        .arg(program)
        .args(args)
        .current_dir(
            command
                .get_current_dir()
                .unwrap_or(std::path::Path::new("/")),
        )
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(terminal.try_clone()?)
        .stdout(terminal.try_clone()?)
        .stderr(terminal);
    let child = match shell.spawn() {
        Ok(child) => child,
        Err(e) => return sender.refuse(Refusal::Failed, format!("could not start: {e}")),
    };
    // The child holds the terminal now; our copies closed with `shell`.
    drop(shell);
    sender.reply(&Reply::Started)?;
    let master = std::fs::File::from(master);
    let (done, drained) = mpsc::channel();
    pump(master.try_clone()?, Kind::Stdout, sender.clone(), done)?;
    let mut input = master;
    background(move || {
        while let Ok(Some((kind, bytes))) = receiver.next() {
            let written = match kind {
                Kind::Stdin => input.write_all(&bytes).is_ok(),
                Kind::Resize => {
                    if let Ok(size) = parse_json::<TtySize>(&bytes) {
                        resize(&input, size);
                    }
                    true
                }
                _ => true,
            };
            if !written {
                break;
            }
        }
    })?;
    finish(child, 1, drained, &sender)
}

fn resize(terminal: &impl std::os::fd::AsFd, size: TtySize) {
    let winsize = rustix::termios::Winsize {
        ws_row: size.rows.max(1),
        ws_col: size.cols.max(1),
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // A failed resize leaves the old size: the client resizes again.
    let _ = rustix::termios::tcsetwinsize(terminal, winsize);
}
