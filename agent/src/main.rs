//! `sockt-agent`: started as the sandbox's main process (as the sandbox
//! user), it takes its secret from the directory the server mounted at
//! `/run/sockt`, removes it, makes itself undumpable (so the sandbox's own
//! processes cannot read its memory), and serves the server on a Unix socket
//! there: one connection per request, each opened with the challenge only
//! the server can answer.

mod conn;
mod exec;
mod files;
mod frames;
mod home;
mod kill;
mod kill_all;
mod login_env;
mod simple;

use sockt_agent::protocol::{KEY_NAME, MOUNT_POINT, SOCKET_NAME};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| MOUNT_POINT.into());
    match serve(Path::new(&dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockt-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(dir: &Path) -> std::io::Result<()> {
    // Before the socket exists: a server that can connect finds the home ready.
    if let Some(home) = std::env::var_os("HOME") {
        let _ = home::furnish(Path::new("/etc/skel"), Path::new(&home));
    }
    let key_file = dir.join(KEY_NAME);
    let secret = hex::decode(std::fs::read_to_string(&key_file)?.trim())
        .map_err(|_| std::io::Error::other("the key file does not hold hex"))?;
    std::fs::remove_file(&key_file)?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    let socket = dir.join(SOCKET_NAME);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    let secret: &'static [u8] = Vec::leak(secret);
    // Capture the login environment now, while the sandbox waits (in the
    // pool, say), rather than on its first command.
    let _ = exec::background(|| {
        let _ = login_env::current();
    });
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // Without a thread for it (the sandbox is at its process limit)
        // the connection is served here, for kills only.
        let waiting = std::sync::Arc::new(std::sync::Mutex::new(Some(stream)));
        let taken = waiting.clone();
        let served = exec::background(move || {
            if let Some(stream) = take(&taken) {
                log_failure(conn::serve(stream, secret));
            }
        });
        if served.is_err() {
            if let Some(stream) = take(&waiting) {
                log_failure(conn::serve_short_of_threads(stream, secret));
            }
        }
    }
    Ok(())
}

fn take(
    waiting: &std::sync::Mutex<Option<std::os::unix::net::UnixStream>>,
) -> Option<std::os::unix::net::UnixStream> {
    waiting.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The server reads the outcome from the replies; a broken connection is
/// only worth a line on the container's log.
fn log_failure(served: std::io::Result<()>) {
    if let Err(e) = served {
        eprintln!("sockt-agent: {e}");
    }
}
