//! The two halves of an agent connection: frames sent whole through a
//! shared, locked writer (so output threads interleave whole frames), and
//! frames received in order.

use sockt_agent::protocol::{
    self, json_frame, parse_header, parse_json, Kind, ProtocolError, Reply,
};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

/// The sending half of a connection, shared by the threads of one request.
#[derive(Clone)]
pub struct Sender(pub(crate) Arc<Mutex<UnixStream>>);

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

    /// Room in the kernel for `bytes` unread by the server (`protocol::make_room`).
    pub fn make_room(&self, bytes: usize) {
        let stream = self.0.lock().unwrap_or_else(|p| p.into_inner());
        protocol::make_room(&*stream, bytes);
    }
}

/// The receiving half.
pub struct Receiver(pub(crate) UnixStream);

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

    pub fn json<T: for<'de> serde::Deserialize<'de>>(&mut self) -> std::io::Result<T> {
        match self.next()? {
            Some((Kind::Json, payload)) => parse_json(&payload).map_err(invalid),
            _ => Err(invalid(ProtocolError::Unexpected("expected a JSON frame"))),
        }
    }
}

pub fn invalid(e: ProtocolError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}
