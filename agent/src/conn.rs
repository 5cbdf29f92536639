//! One connection: the challenge, then one request dispatched to its
//! handler. Frames are written through a shared, locked writer so output
//! threads can interleave whole frames.

use sockt_agent::protocol::{
    self, json_frame, parse_header, parse_json, Auth, Kind, ProtocolError, Reply, Request,
};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

/// The sending half of a connection, shared by the threads of one request.
#[derive(Clone)]
pub struct Sender(Arc<Mutex<UnixStream>>);

impl Sender {
    pub fn send(&self, kind: Kind, payload: &[u8]) -> std::io::Result<()> {
        let mut stream = self.0.lock().unwrap_or_else(|p| p.into_inner());
        stream.write_all(&protocol::header(kind, payload.len()))?;
        stream.write_all(payload)
    }

    pub fn reply(&self, reply: &Reply) -> std::io::Result<()> {
        let mut stream = self.0.lock().unwrap_or_else(|p| p.into_inner());
        stream.write_all(&json_frame(reply))
    }

    pub fn refuse(&self, refusal: protocol::Refusal, detail: String) -> std::io::Result<()> {
        self.reply(&Reply::Refused { refusal, detail })
    }

    /// Ask the kernel to buffer up to `bytes` unread by the server (within
    /// the host's `net.core.wmem_max`; best effort), so a file's frames go
    /// out in a few writes rather than in turns with the server's reads.
    /// Each turn is a wake-up on both sides, and on a busy machine a wake-up
    /// can wait for a scheduler tick: most of a 1 MiB read's slow tail.
    pub fn make_room(&self, bytes: usize) {
        let stream = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&*stream, bytes.min(MAX_ROOM));
    }
}

/// The most a connection asks the kernel to buffer for the server.
const MAX_ROOM: usize = 4 << 20;

/// The receiving half.
pub struct Receiver(UnixStream);

impl Receiver {
    /// The next frame; `None` when the server closed the connection.
    pub fn next(&mut self) -> std::io::Result<Option<(Kind, Vec<u8>)>> {
        let mut header = [0u8; 5];
        match self.0.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let (kind, len) = parse_header(header).map_err(invalid)?;
        let mut payload = vec![0u8; len];
        self.0.read_exact(&mut payload)?;
        Ok(Some((kind, payload)))
    }

    fn json<T: for<'de> serde::Deserialize<'de>>(&mut self) -> std::io::Result<T> {
        match self.next()? {
            Some((Kind::Json, payload)) => parse_json(&payload).map_err(invalid),
            _ => Err(invalid(ProtocolError::Unexpected("expected a JSON frame"))),
        }
    }
}

pub fn invalid(e: ProtocolError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

fn nonce() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

pub fn serve(stream: UnixStream, secret: &[u8]) -> std::io::Result<()> {
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
    match receiver.json::<Request>()? {
        Request::Exec(spec) => crate::exec::run(spec, sender, receiver),
        Request::Kill { marker } => {
            crate::kill::kill_marked(&marker);
            sender.reply(&Reply::Done)
        }
        Request::Write { path, create_dirs } => {
            crate::files::write(&path, create_dirs, &sender, &mut receiver)
        }
        Request::Read { path, max_bytes } => crate::files::read(&path, max_bytes, &sender),
        Request::List { path, max_depth } => crate::files::list(&path, max_depth, &sender),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_read_gets_room_for_its_frames_within_the_hosts_limit() {
        let (ours, _server) = UnixStream::pair().unwrap();
        let buffer = || rustix::net::sockopt::socket_send_buffer_size(&ours).unwrap();
        let before = buffer();
        let sender = Sender(Arc::new(Mutex::new(ours.try_clone().unwrap())));
        sender.make_room(1 << 20);
        let host_limit: usize = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The kernel doubles what it is asked for, capped at twice the host's limit.
        assert_eq!(buffer(), (2 << 20).min(2 * host_limit).max(before));
    }
}
