//! The client of `sockt-agent`, the agent inside each sandbox: commands,
//! files and terminals over a Unix socket in a per-sandbox host directory
//! (a "slot", mounted at `/run/sockt`), with no Docker round trips. Each
//! slot has its own secret, derived from the server's agent key, that the
//! agent takes from the slot when it starts; every connection answers the
//! agent's challenge with it. Where a sandbox has no agent (another OCI
//! runtime, an older container, an agent its tenant killed) the Docker
//! adapter falls back to the engine's exec API.

use domain::ports::{
    ExecExit, ExecRequest, FileContent, FileEntry, OutputSink, OutputStream, RuntimeError,
    ShellInput, ShellIo,
};
use futures::StreamExt;
use sockt_agent::protocol::{
    self, json_frame, parse_header, parse_json, Auth, ExecSpec, Kind, Refusal, Reply, Request,
    TtySize, KEY_NAME, SOCKET_NAME,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// The label naming a container's agent slot.
pub const LABEL_AGENT: &str = "sockt.agent";
/// The label naming the build of the agent a container was made with.
pub const LABEL_AGENT_BUILD: &str = "sockt.agent_build";
/// The sandbox user's uid in the image (its home tmpfs uses the same).
const SANDBOX_UID: u32 = 1000;
/// How long an agent may take to greet: a frozen (paused) sandbox never does.
const HELLO_WAIT: Duration = Duration::from_secs(2);
/// How long a file operation or a kill may take before the agent counts as
/// stuck (a command's own time is bounded by its timeout instead).
const REPLY_WAIT: Duration = Duration::from_secs(60);
/// How long a new container's agent may take to start listening.
const START_WAIT: Duration = Duration::from_secs(5);
/// How long a slot stays open for an agent that missed `START_WAIT`.
const LATE_START_WAIT: Duration = Duration::from_secs(120);
/// A sealed slot: root's, read-only to everyone else.
const SEALED_MODE: u32 = 0o755;
/// Longest socket path the kernel takes, with room to spare.
const MAX_SOCKET_PATH: usize = 100;

/// Where the agent comes from and where its slots live.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The static `sockt-agent` binary on the host, mounted read-only.
    pub binary: PathBuf,
    /// The host directory holding one directory per sandbox.
    pub dir: PathBuf,
    /// The server's agent key (from the store's secret); never leaves the server.
    pub key: Vec<u8>,
}

/// Whether an ELF executable needs no program interpreter (no dynamic
/// loader, so no C library of the image's).
fn is_statically_linked(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |at: usize| {
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    // A 64-bit little-endian ELF file.
    if elf.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return false;
    }
    let (Some(table), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    let Ok(table) = usize::try_from(table) else {
        return false;
    };
    (0..count).all(|i| u32_at(table + i * size).is_some_and(|kind| kind != PT_INTERP))
}

/// The agents of this server's sandboxes.
pub struct Agents {
    config: AgentConfig,
    /// The binary's digest (a prefix): containers made with another build
    /// are not taken from the pool.
    build: String,
    /// Container id → its slot (None: it has no agent).
    slots: std::sync::Mutex<HashMap<String, Option<String>>>,
}

impl Agents {
    pub fn new(mut config: AgentConfig) -> anyhow::Result<Agents> {
        anyhow::ensure!(
            config.binary.is_file(),
            "the sandbox agent {} does not exist (build it with scripts/build-agent.sh, or unset SOCKT_AGENT_BINARY to use Docker's exec API)",
            config.binary.display()
        );
        let binary = std::fs::read(&config.binary)?;
        anyhow::ensure!(
            is_statically_linked(&binary),
            "the sandbox agent {} is dynamically linked: sandbox images may lack its C library; build it with scripts/build-agent.sh",
            config.binary.display()
        );
        // The engine mounts host paths: they must be absolute.
        config.binary = config.binary.canonicalize()?;
        std::fs::create_dir_all(&config.dir)?;
        config.dir = config.dir.canonicalize()?;
        let longest = config.dir.join("0123456789abcdef").join(SOCKET_NAME);
        anyhow::ensure!(
            longest.as_os_str().len() <= MAX_SOCKET_PATH,
            "SOCKT_AGENT_DIR {} is too long for a Unix socket path",
            config.dir.display()
        );
        use std::os::unix::fs::PermissionsExt;
        // Others may pass through to a slot they know, never list them.
        std::fs::set_permissions(&config.dir, std::fs::Permissions::from_mode(0o711))?;
        use sha2::Digest;
        let build = hex::encode(&sha2::Sha256::digest(&binary)[..8]);
        Ok(Agents {
            config,
            build,
            slots: std::sync::Mutex::default(),
        })
    }

    /// Which build of the agent new containers get.
    pub fn build(&self) -> &str {
        &self.build
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<String>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slot_dir(&self, slot: &str) -> PathBuf {
        self.config.dir.join(slot)
    }

    /// A fresh slot for a container about to be made: its directory (owned
    /// by the sandbox user) with the secret the agent will take.
    pub fn prepare_slot(&self) -> Result<String, RuntimeError> {
        let slot = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
        let dir = self.slot_dir(&slot);
        let failed = |e: std::io::Error| {
            RuntimeError::Failed(format!("preparing the agent's directory: {e}"))
        };
        std::fs::create_dir_all(&dir).map_err(failed)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
        let secret = protocol::slot_secret(&self.config.key, &slot);
        let key_file = dir.join(KEY_NAME);
        std::fs::write(&key_file, hex::encode(secret)).map_err(failed)?;
        std::os::unix::fs::chown(&key_file, Some(SANDBOX_UID), Some(SANDBOX_UID))
            .map_err(failed)?;
        std::os::unix::fs::chown(&dir, Some(SANDBOX_UID), Some(SANDBOX_UID)).map_err(failed)?;
        Ok(slot)
    }

    /// The bind mounts that give a container its agent.
    pub fn binds(&self, slot: &str) -> Vec<String> {
        vec![
            format!(
                "{}:{}:ro",
                self.config.binary.display(),
                protocol::BINARY_PATH
            ),
            format!(
                "{}:{}",
                self.slot_dir(slot).display(),
                protocol::MOUNT_POINT
            ),
        ]
    }

    /// Forget a slot and remove its directory (its container is gone).
    pub fn remove_slot(&self, container: &str, slot: &str) {
        self.slots().remove(container);
        if let Err(e) = std::fs::remove_dir_all(self.slot_dir(slot)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(slot, error = %e, "could not remove an agent's directory");
            }
        }
    }

    /// Remove slot directories older than `age` that no listed container
    /// uses (left by containers removed behind the server's back); seal
    /// those in use whose agent is up (an older server left them open).
    pub fn sweep(&self, in_use: &std::collections::HashSet<String>, age: Duration) {
        let Ok(entries) = std::fs::read_dir(&self.config.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if in_use.contains(&name) && entry.path().join(SOCKET_NAME).exists() {
                seal_logged(&entry.path());
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|elapsed| elapsed > age);
            if old && !in_use.contains(&name) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    pub fn remember(&self, container: &str, slot: Option<String>) {
        self.slots().insert(container.to_string(), slot);
    }

    /// The container's slot, if known (None: unknown yet).
    pub fn known(&self, container: &str) -> Option<Option<String>> {
        self.slots().get(container).cloned()
    }

    /// Wait until a new container's agent listens (or give up: the
    /// container is then served through the engine's exec API), then seal
    /// its slot either way.
    pub async fn wait_ready(&self, slot: &str) -> bool {
        let socket = self.slot_dir(slot).join(SOCKET_NAME);
        let deadline = tokio::time::Instant::now() + START_WAIT;
        while tokio::time::Instant::now() < deadline {
            if socket.exists() {
                seal_logged(&self.slot_dir(slot));
                return true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // A late agent still needs its slot open to take its secret and
        // bind: sealed as soon as it did.
        let dir = self.slot_dir(slot);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + LATE_START_WAIT;
            while tokio::time::Instant::now() < deadline {
                if dir.join(SOCKET_NAME).exists() || !dir.exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if dir.exists() {
                seal_logged(&dir);
            }
        });
        false
    }

    /// Open an authenticated connection to the slot's agent and send
    /// `request`; None when no agent answers there (use the fallback).
    pub async fn open(&self, slot: &str, request: &Request) -> Option<Connection> {
        let socket = self.slot_dir(slot).join(SOCKET_NAME);
        let stream = UnixStream::connect(&socket).await.ok()?;
        let (read, write) = stream.into_split();
        let mut connection = Connection { read, write };
        let hello = tokio::time::timeout(HELLO_WAIT, connection.reply()).await;
        let Ok(Ok(Reply::Hello { nonce, version })) = hello else {
            return None;
        };
        if version != protocol::VERSION {
            return None;
        }
        let secret = protocol::slot_secret(&self.config.key, slot);
        let mut opening = json_frame(&Auth {
            proof: protocol::proof(&secret, &nonce),
        });
        opening.extend_from_slice(&json_frame(request));
        connection.write.write_all(&opening).await.ok()?;
        Some(connection)
    }
}

/// Give a slot back to root once its agent took its secret and bound its
/// socket: the sandbox (whose user the agent is) can then neither write
/// there — the slot lies on the host's disk, outside every quota — nor
/// remove or replace the socket. The server (root) still connects.
pub fn seal(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::chown(dir, Some(0), Some(0))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(SEALED_MODE))
}

fn seal_logged(dir: &Path) {
    if let Err(e) = seal(dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "could not seal an agent's directory");
    }
}

/// One request's connection to an agent.
pub struct Connection {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
}

fn broken(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Failed(format!("the sandbox's agent: {e}"))
}

impl Connection {
    async fn frame(&mut self) -> Result<(Kind, Vec<u8>), RuntimeError> {
        read_frame(&mut self.read).await
    }

    async fn reply(&mut self) -> Result<Reply, RuntimeError> {
        match self.frame().await? {
            (Kind::Json, payload) => parse_json(&payload).map_err(broken),
            _ => Err(broken("expected a reply")),
        }
    }

    async fn send(&mut self, kind: Kind, payload: &[u8]) -> Result<(), RuntimeError> {
        send_frame(&mut self.write, kind, payload).await
    }
}

/// A frame's kind and payload length, its payload still unread.
async fn read_header(read: &mut OwnedReadHalf) -> Result<(Kind, usize), RuntimeError> {
    let mut header = [0u8; 5];
    read.read_exact(&mut header).await.map_err(broken)?;
    parse_header(header).map_err(broken)
}

async fn read_frame(read: &mut OwnedReadHalf) -> Result<(Kind, Vec<u8>), RuntimeError> {
    let (kind, len) = read_header(read).await?;
    let mut payload = vec![0u8; len];
    read.read_exact(&mut payload).await.map_err(broken)?;
    Ok((kind, payload))
}

/// Header and payload go out in one vectored write, the payload uncopied
/// (a file's megabyte travels as it is).
async fn send_frame(
    write: &mut OwnedWriteHalf,
    kind: Kind,
    payload: &[u8],
) -> Result<(), RuntimeError> {
    let header = protocol::header(kind, payload.len());
    let mut frame = bytes::Buf::chain(header.as_slice(), payload);
    write.write_all_buf(&mut frame).await.map_err(broken)
}

/// The port's error for a refusal about `path`.
fn refused(refusal: Refusal, path: &str, detail: String) -> RuntimeError {
    match refusal {
        Refusal::NotFound => RuntimeError::FileNotFound(path.to_string()),
        Refusal::MissingParent => RuntimeError::FileNotFound(format!(
            "{} (pass create_dirs to create it)",
            path.rsplit_once('/').map_or("/", |(parent, _)| parent)
        )),
        Refusal::IsDirectory => RuntimeError::IsDirectory(path.to_string()),
        Refusal::NotADirectory => RuntimeError::NotADirectory(path.to_string()),
        Refusal::NotRegular => RuntimeError::NotRegularFile(path.to_string()),
        Refusal::TooManyEntries => RuntimeError::TooManyEntries {
            path: path.to_string(),
            limit: protocol::MAX_LISTED_ENTRIES,
        },
        Refusal::PermissionDenied => RuntimeError::PermissionDenied(path.to_string()),
        Refusal::NoSpace => RuntimeError::NoSpace(path.to_string()),
        Refusal::WorkingDirMissing => RuntimeError::FileNotFound(format!("working_dir {path}")),
        Refusal::Failed => RuntimeError::Failed(detail),
    }
}

/// The spec of a command as the port describes it.
pub fn exec_spec(request: &ExecRequest, marker: (&str, &str)) -> ExecSpec {
    ExecSpec {
        // `bash -c` in the login shell's environment (captured by the
        // agent, refreshed when a profile changes): what `bash -lc` gives,
        // without re-reading the profiles for every command.
        argv: vec!["/bin/bash".into(), "-c".into(), request.command.clone()],
        cwd: request.working_dir.clone(),
        env: request
            .env
            .pairs()
            .chain([(marker.0.to_string(), marker.1.to_string())])
            .collect(),
        stdin: request.stdin.is_some(),
        tty: None,
        login_env: true,
    }
}

/// Run a command the connection was opened for; output goes to `sink`.
pub async fn exec(
    mut connection: Connection,
    request: &ExecRequest,
    sink: Arc<dyn OutputSink>,
) -> Result<ExecExit, RuntimeError> {
    match connection.reply().await? {
        Reply::Started => {}
        Reply::Refused { refusal, detail } => {
            return Err(refused(refusal, &request.working_dir, detail))
        }
        other => return Err(broken(format!("unexpected reply {other:?}"))),
    }
    let Connection {
        mut read,
        mut write,
    } = connection;
    if let Some(mut fed) = request.stdin.as_ref().and_then(|pipe| pipe.take()) {
        tokio::spawn(async move {
            while let Some(bytes) = fed.next().await {
                for chunk in bytes.chunks(protocol::MAX_FRAME) {
                    if send_frame(&mut write, Kind::Stdin, chunk).await.is_err() {
                        return;
                    }
                }
            }
            let _ = send_frame(&mut write, Kind::End, &[]).await;
        });
    }
    loop {
        match read_frame(&mut read).await? {
            (Kind::Stdout, bytes) => sink.push(OutputStream::Stdout, &bytes),
            (Kind::Stderr, bytes) => sink.push(OutputStream::Stderr, &bytes),
            (Kind::Json, payload) => match parse_json::<Reply>(&payload).map_err(broken)? {
                Reply::Exited { code } => return Ok(ExecExit::code(code)),
                other => return Err(broken(format!("unexpected reply {other:?}"))),
            },
            _ => {}
        }
    }
}

/// An interactive shell on a terminal, over a connection opened for it.
pub async fn shell(mut connection: Connection) -> Result<ShellIo, RuntimeError> {
    match connection.reply().await? {
        Reply::Started => {}
        Reply::Refused { detail, .. } => return Err(RuntimeError::Failed(detail)),
        other => return Err(broken(format!("unexpected reply {other:?}"))),
    }
    let Connection { read, mut write } = connection;
    let (input, mut inputs) = futures::channel::mpsc::channel::<ShellInput>(64);
    tokio::spawn(async move {
        while let Some(message) = inputs.next().await {
            let sent = match message {
                ShellInput::Data(bytes) => send_frame(&mut write, Kind::Stdin, &bytes).await,
                ShellInput::Resize { cols, rows } => {
                    let size = serde_json::to_vec(&TtySize { cols, rows }).unwrap_or_default();
                    send_frame(&mut write, Kind::Resize, &size).await
                }
            };
            if sent.is_err() {
                return;
            }
        }
        let _ = send_frame(&mut write, Kind::End, &[]).await;
    });
    let output = futures::stream::unfold(read, |mut read| async move {
        loop {
            match read_frame(&mut read).await {
                Ok((Kind::Stdout, bytes)) => return Some((bytes, read)),
                Ok((Kind::Json, _)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    })
    .boxed();
    Ok(ShellIo { output, input })
}

/// The shell's request.
pub fn shell_spec(cwd: &str, env: Vec<(String, String)>, size: TtySize) -> ExecSpec {
    ExecSpec {
        argv: vec!["/bin/bash".into(), "-l".into()],
        cwd: cwd.to_string(),
        env,
        stdin: true,
        tty: Some(size),
        login_env: false,
    }
}

/// Wait for a kill or write to be acknowledged.
async fn done_unbounded(mut connection: Connection, path: &str) -> Result<(), RuntimeError> {
    match connection.reply().await? {
        Reply::Done => Ok(()),
        Reply::Refused { refusal, detail } => Err(refused(refusal, path, detail)),
        other => Err(broken(format!("unexpected reply {other:?}"))),
    }
}

/// Send a file's bytes after a write request, then wait for the verdict.
async fn write_unbounded(
    mut connection: Connection,
    path: &str,
    bytes: &[u8],
) -> Result<(), RuntimeError> {
    let socket: &UnixStream = connection.write.as_ref();
    protocol::make_room(socket, bytes.len());
    // The agent may refuse before reading everything; its reply says why.
    let mut sent = Ok(());
    for chunk in bytes.chunks(protocol::MAX_FRAME) {
        sent = connection.send(Kind::Data, chunk).await;
        if sent.is_err() {
            break;
        }
    }
    if sent.is_ok() {
        sent = connection.send(Kind::End, &[]).await;
    }
    match (done_unbounded(connection, path).await, sent) {
        (Ok(()), Err(e)) => Err(e),
        (verdict, _) => verdict,
    }
}

/// Receive a file after a read request for at most `max_bytes`. Each
/// frame is read straight into the file's buffer. The sandbox may have put
/// an impostor behind the agent's socket: more than was asked for is
/// refused, not held.
async fn read_unbounded(
    mut connection: Connection,
    path: &str,
    max_bytes: u64,
) -> Result<FileContent, RuntimeError> {
    let size = match connection.reply().await? {
        Reply::Size { size } => size,
        Reply::Refused { refusal, detail } => return Err(refused(refusal, path, detail)),
        other => return Err(broken(format!("unexpected reply {other:?}"))),
    };
    let most = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    let expected = usize::try_from(size).unwrap_or(usize::MAX).min(most);
    let mut bytes = Vec::with_capacity(expected);
    loop {
        match read_header(&mut connection.read).await? {
            (Kind::Data, len) if len <= most - bytes.len() => {
                let filled = bytes.len();
                bytes.resize(filled + len, 0);
                connection
                    .read
                    .read_exact(&mut bytes[filled..])
                    .await
                    .map_err(broken)?;
            }
            (Kind::Data, _) => return Err(broken("sent more of the file than was asked for")),
            (Kind::End, 0) => return Ok(FileContent { bytes, size }),
            _ => return Err(broken("unexpected frame in a file")),
        }
    }
}

/// Receive a listing after a list request.
async fn list_unbounded(
    mut connection: Connection,
    path: &str,
) -> Result<Vec<FileEntry>, RuntimeError> {
    match connection.reply().await? {
        Reply::Entries { entries } => Ok(entries
            .into_iter()
            .map(|e| FileEntry {
                name: e.name,
                size: e.size,
                mod_ts: e.mod_ts,
                is_dir: e.is_dir,
            })
            .collect()),
        Reply::Refused { refusal, detail } => Err(refused(refusal, path, detail)),
        other => Err(broken(format!("unexpected reply {other:?}"))),
    }
}

/// Bound an agent's answer in time.
async fn bounded<T>(
    work: impl std::future::Future<Output = Result<T, RuntimeError>>,
) -> Result<T, RuntimeError> {
    tokio::time::timeout(REPLY_WAIT, work)
        .await
        .map_err(|_| broken("no answer in time"))?
}

/// Wait for a kill or write to be acknowledged.
pub async fn done(connection: Connection, path: &str) -> Result<(), RuntimeError> {
    bounded(done_unbounded(connection, path)).await
}

/// Wait for a kill-all to be done: how many processes it killed.
pub async fn killed(mut connection: Connection) -> Result<u32, RuntimeError> {
    bounded(async move {
        match connection.reply().await? {
            Reply::Killed { count } => Ok(count),
            Reply::Refused { detail, .. } => Err(RuntimeError::Failed(detail)),
            other => Err(broken(format!("unexpected reply {other:?}"))),
        }
    })
    .await
}

/// Send a file's bytes after a write request, then wait for the verdict.
pub async fn write(connection: Connection, path: &str, bytes: &[u8]) -> Result<(), RuntimeError> {
    bounded(write_unbounded(connection, path, bytes)).await
}

/// Receive a file after a read request.
pub async fn read(
    connection: Connection,
    path: &str,
    max_bytes: u64,
) -> Result<FileContent, RuntimeError> {
    bounded(read_unbounded(connection, path, max_bytes)).await
}

/// Receive a listing after a list request.
pub async fn list(connection: Connection, path: &str) -> Result<Vec<FileEntry>, RuntimeError> {
    bounded(list_unbounded(connection, path)).await
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
