//! Frames, messages and the handshake.
//!
//! A frame is one kind byte, a big-endian `u32` length and that many bytes.
//! The agent speaks first (`Reply::Hello` with a fresh nonce); the client
//! answers with `Auth` (an HMAC of the nonce under the sandbox's secret)
//! followed by one request. Output, input and file bytes travel as raw
//! frames of their own kind; everything else is JSON.

use ring::hmac;
use serde::{Deserialize, Serialize};

/// The protocol this build speaks. A server uses an agent of an older
/// version (a container made before an upgrade) through Docker's exec API.
pub const VERSION: u32 = 1;
/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 1 << 20;
/// The most entries one listing answers; a longer one is refused (list a
/// narrower path or fewer levels).
pub const MAX_LISTED_ENTRIES: usize = 10_000;
/// The socket's file name in the agent's directory.
pub const SOCKET_NAME: &str = "s";
/// The file the server leaves the secret in; the agent reads and removes it.
pub const KEY_NAME: &str = "key";
/// Where the agent's directory is mounted inside the sandbox.
pub const MOUNT_POINT: &str = "/run/sockt";
/// Where the agent binary is mounted inside the sandbox (read-only).
pub const BINARY_PATH: &str = "/opt/sockt/agent";

/// A transfer longer than this asks the kernel for a send buffer that holds it.
const ROOM_FROM: usize = 64 * 1024;
/// The most send buffer one connection asks the kernel for.
const MAX_ROOM: usize = 4 << 20;

/// Before sending a file's `bytes` on `socket`, either side asks the kernel
/// to buffer them unread (within the host's `net.core.wmem_max`; best
/// effort; the kernel doubles what it is asked for, room for the frames'
/// headers), so a megabyte goes out in one or two writes rather than in
/// turns with the other side's reads. Each turn is a wake-up on both sides,
/// and on a busy machine one can wait for a scheduler tick.
pub fn make_room(socket: impl std::os::fd::AsFd, bytes: usize) {
    if bytes > ROOM_FROM {
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(socket, bytes.min(MAX_ROOM));
    }
}

/// For tests of `make_room`'s callers: how much of a transfer of `bytes`
/// the kernel holds unread once room was made for it on this host. It
/// doubles what it is asked for, capped at twice `net.core.wmem_max`;
/// without room it holds about one default buffer (~210 KiB), which this
/// exceeds on any host.
#[doc(hidden)]
pub fn room_made_for(bytes: usize) -> usize {
    let host_limit = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
        .unwrap_or(212_992);
    bytes.min(host_limit * 3 / 2)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `Request`, `Auth` or `Reply` as JSON.
    Json = 1,
    Stdout = 2,
    Stderr = 3,
    /// Bytes for the command's standard input (or the terminal).
    Stdin = 4,
    /// The end of a byte sequence: standard input closed, file complete.
    End = 5,
    /// File content.
    Data = 6,
    /// A terminal's new size (`TtySize` as JSON).
    Resize = 7,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Json,
            2 => Kind::Stdout,
            3 => Kind::Stderr,
            4 => Kind::Stdin,
            5 => Kind::End,
            6 => Kind::Data,
            7 => Kind::Resize,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    UnknownKind(u8),
    TooLarge(usize),
    Malformed(String),
    Unexpected(&'static str),
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            ProtocolError::TooLarge(n) => write!(f, "frame of {n} bytes is too large"),
            ProtocolError::Malformed(m) => write!(f, "malformed message: {m}"),
            ProtocolError::Unexpected(what) => write!(f, "unexpected frame: {what}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A frame's five header bytes.
pub fn header(kind: Kind, len: usize) -> [u8; 5] {
    let len = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [kind as u8, len[0], len[1], len[2], len[3]]
}

/// The kind and payload length a header announces.
pub fn parse_header(bytes: [u8; 5]) -> Result<(Kind, usize), ProtocolError> {
    let kind = Kind::from_byte(bytes[0]).ok_or(ProtocolError::UnknownKind(bytes[0]))?;
    let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
    if len > MAX_FRAME {
        return Err(ProtocolError::TooLarge(len));
    }
    Ok((kind, len))
}

/// A whole frame.
pub fn frame(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(5 + payload.len());
    bytes.extend_from_slice(&header(kind, payload.len()));
    bytes.extend_from_slice(payload);
    bytes
}

/// A JSON frame of `message`.
pub fn json_frame<T: Serialize>(message: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail.
    frame(Kind::Json, &serde_json::to_vec(message).unwrap_or_default())
}

pub fn parse_json<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, ProtocolError> {
    serde_json::from_slice(payload).map_err(|e| ProtocolError::Malformed(e.to_string()))
}

/// The client's answer to the agent's challenge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Auth {
    pub proof: String,
}

/// HMAC-SHA256 of `parts` under `key` (any key length).
fn mac(key: &[u8], parts: &[&[u8]]) -> hmac::Tag {
    let mut context = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key));
    for part in parts {
        context.update(part);
    }
    context.sign()
}

/// The proof that the sender holds `secret`, for the agent's `nonce`.
pub fn proof(secret: &[u8], nonce: &str) -> String {
    hex::encode(mac(secret, &[b"sockt-agent-v1:", nonce.as_bytes()]))
}

/// Whether `claimed` proves `secret` for `nonce` (in constant time).
pub fn verify(secret: &[u8], nonce: &str, claimed: &str) -> bool {
    let Ok(claimed) = hex::decode(claimed) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let message = [b"sockt-agent-v1:".as_slice(), nonce.as_bytes()].concat();
    hmac::verify(&key, &message, &claimed).is_ok()
}

/// The secret of one agent slot, from the server's agent key: any server
/// process holding the key can talk to any of its agents, even after a
/// restart, without storing per-sandbox secrets.
pub fn slot_secret(key: &[u8], slot: &str) -> [u8; 32] {
    let tag = mac(key, &[b"sockt-agent-slot:", slot.as_bytes()]);
    // SHA-256 tags are 32 bytes.
    let mut secret = [0u8; 32];
    for (byte, tagged) in secret.iter_mut().zip(tag.as_ref()) {
        *byte = *tagged;
    }
    secret
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct TtySize {
    pub cols: u16,
    pub rows: u16,
}

/// A process to run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecSpec {
    pub argv: Vec<String>,
    pub cwd: String,
    /// Added to the agent's own environment (the sandbox's).
    pub env: Vec<(String, String)>,
    /// Feed `Stdin` frames to it (otherwise it reads end-of-file at once).
    pub stdin: bool,
    /// Run it on a new terminal of this size (a shell).
    pub tty: Option<TtySize>,
    /// Run it in the environment a login shell (`bash -l`) would give it.
    #[serde(default)]
    pub login_env: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Exec(ExecSpec),
    /// Kill every process whose environment holds `marker` (`NAME=value`),
    /// with their process groups and sessions.
    Kill {
        marker: String,
    },
    /// Kill every process of the sandbox but the agent and PID 1; answered
    /// with `Killed`. An agent of an older build closes the connection.
    KillAll,
    /// `Data` frames then `End` follow.
    Write {
        path: String,
        create_dirs: bool,
    },
    Read {
        path: String,
        max_bytes: u64,
    },
    List {
        path: String,
        max_depth: u32,
    },
}

/// Why the agent refused a request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    NotFound,
    /// A write's parent directory is missing.
    MissingParent,
    IsDirectory,
    NotADirectory,
    NotRegular,
    /// A listing longer than `MAX_LISTED_ENTRIES` (or than a frame).
    TooManyEntries,
    PermissionDenied,
    NoSpace,
    WorkingDirMissing,
    Failed,
}

/// One directory entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    pub mod_ts: i64,
    pub is_dir: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The agent's challenge, and the protocol version it speaks.
    Hello {
        nonce: String,
        #[serde(default)]
        version: u32,
    },
    /// The process started; output frames follow, then `Exited`.
    Started,
    Exited {
        code: i64,
    },
    /// A write or kill is complete.
    Done,
    /// A `KillAll` is complete: how many processes it killed.
    Killed {
        count: u32,
    },
    /// A read: the file's whole size; `Data` frames and `End` follow.
    Size {
        size: u64,
    },
    Entries {
        entries: Vec<Entry>,
    },
    Refused {
        refusal: Refusal,
        detail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_transfer_gets_room_within_the_hosts_limit_and_a_small_one_none() {
        let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let buffer = || rustix::net::sockopt::socket_send_buffer_size(&ours).unwrap();
        let before = buffer();
        make_room(&ours, ROOM_FROM);
        assert_eq!(buffer(), before, "a small transfer keeps the default");
        make_room(&ours, 1 << 20);
        let host_limit: usize = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The kernel doubles what it is asked for, capped at twice the host's limit.
        assert_eq!(buffer(), (2 << 20).min(2 * host_limit).max(before));
    }

    #[test]
    fn headers_round_trip_and_refuse_oversized_frames() {
        assert_eq!(
            parse_header(header(Kind::Stderr, 1234)),
            Ok((Kind::Stderr, 1234))
        );
        assert_eq!(
            parse_header(header(Kind::Data, MAX_FRAME + 1)),
            Err(ProtocolError::TooLarge(MAX_FRAME + 1))
        );
        assert_eq!(
            parse_header([9, 0, 0, 0, 0]),
            Err(ProtocolError::UnknownKind(9))
        );
        let bytes = frame(Kind::Stdout, b"hi");
        assert_eq!(bytes, vec![2, 0, 0, 0, 2, b'h', b'i']);
    }

    #[test]
    fn only_the_secret_answers_the_challenge() {
        let secret = slot_secret(b"server key", "slot-1");
        let good = proof(&secret, "n1");
        assert!(verify(&secret, "n1", &good));
        assert!(
            !verify(&secret, "n2", &good),
            "a proof is bound to its nonce"
        );
        let other = slot_secret(b"server key", "slot-2");
        assert!(!verify(&other, "n1", &good), "and to its slot");
        assert!(!verify(&secret, "n1", "zz"));
        assert_ne!(slot_secret(b"other key", "slot-1"), secret);
    }

    #[test]
    fn requests_are_tagged_json() {
        let request = Request::Read {
            path: "/tmp/a".into(),
            max_bytes: 5,
        };
        let text = serde_json::to_string(&request).unwrap_or_default();
        assert_eq!(text, r#"{"op":"read","path":"/tmp/a","max_bytes":5}"#);
        assert_eq!(parse_json::<Request>(text.as_bytes()), Ok(request));
        let text = serde_json::to_string(&Request::KillAll).unwrap_or_default();
        assert_eq!(text, r#"{"op":"kill_all"}"#);
    }
}
