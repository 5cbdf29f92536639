//! One connection: the challenge, then one request dispatched to its
//! handler. Frames are written through a shared, locked writer so output
//! threads can interleave whole frames.

use crate::frames::{Receiver, Sender};
use sockt_agent::protocol::{self, Auth, Reply, Request};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn nonce() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The challenge, then the request of a client that answered it.
fn open(stream: UnixStream, secret: &[u8]) -> std::io::Result<(Sender, Receiver, Request)> {
    let sender = Sender(Arc::new(Mutex::new(stream.try_clone()?)));
    let mut receiver = Receiver(stream);
    let nonce = nonce()?;
    sender.reply(&Reply::Hello {
        nonce: nonce.clone(),
        version: protocol::VERSION,
    })?;
    let auth: Auth = receiver.json()?;
    if !protocol::verify(secret, &nonce, &auth.proof) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "a client failed the challenge",
        ));
    }
    let request = receiver.json::<Request>()?;
    Ok((sender, receiver, request))
}

pub fn serve(stream: UnixStream, secret: &[u8]) -> std::io::Result<()> {
    let (sender, mut receiver, request) = open(stream, secret)?;
    match request {
        Request::Exec(spec) => crate::exec::run(spec, sender, receiver),
        Request::Write { path, create_dirs } => {
            crate::files::write(&path, create_dirs, &sender, &mut receiver)
        }
        Request::Read { path, max_bytes } => crate::files::read(&path, max_bytes, &sender),
        Request::List { path, max_depth } => crate::files::list(&path, max_depth, &sender),
        kill => serve_kill(kill, &sender),
    }
}

/// How long a connection served without a thread of its own may take.
const SHORT_OF_THREADS_WAIT: Duration = Duration::from_secs(2);

/// A connection for which no thread could be made (the sandbox is at its
/// process limit, a fork bomb say), served on the accepting thread within
/// `SHORT_OF_THREADS_WAIT`: a kill, which makes room, is served; anything
/// else is refused.
pub fn serve_short_of_threads(stream: UnixStream, secret: &[u8]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(SHORT_OF_THREADS_WAIT))?;
    stream.set_write_timeout(Some(SHORT_OF_THREADS_WAIT))?;
    let (sender, _receiver, request) = open(stream, secret)?;
    match request {
        Request::Kill { .. } | Request::KillAll => serve_kill(request, &sender),
        _ => sender.refuse(
            protocol::Refusal::Failed,
            "the sandbox is at its process limit: stop some of its processes first".into(),
        ),
    }
}

fn serve_kill(request: Request, sender: &Sender) -> std::io::Result<()> {
    match request {
        Request::Kill { marker } => {
            crate::kill::kill_marked(&marker);
            sender.reply(&Reply::Done)
        }
        Request::KillAll => sender.reply(&Reply::Killed {
            count: crate::kill_all::kill_all(),
        }),
        _ => sender.refuse(protocol::Refusal::Failed, "not a kill".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockt_agent::protocol::json_frame;

    #[test]
    fn a_files_megabyte_waits_whole_in_the_kernel_before_the_server_reads() {
        let path = std::env::temp_dir().join(format!("sockt-agent-read-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
        let (ours, mut server) = UnixStream::pair().unwrap();
        let sender = Sender(Arc::new(Mutex::new(ours)));
        let file = path.to_string_lossy().into_owned();
        let reading = std::thread::spawn(move || crate::files::read(&file, u64::MAX, &sender));
        // The size, sixteen 64 KiB frames and the end, each with its header.
        let frames = json_frame(&Reply::Size { size: 1 << 20 }).len() + 16 * (5 + (64 << 10)) + 5;
        let room = protocol::room_made_for(frames);
        let queued = || rustix::io::ioctl_fionread(&server).unwrap() as usize;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while queued() < room && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let waiting = queued();
        let mut sent = vec![0u8; frames];
        server.read_exact(&mut sent).unwrap();
        reading.join().unwrap().unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(waiting >= room, "queued {waiting} of {room}");
    }
}
