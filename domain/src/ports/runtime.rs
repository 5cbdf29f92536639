//! The sandbox runtime port: sandbox operations (create, pause, exec, files,
//! ...) that an isolation technology implements, never in the vocabulary of
//! one runtime.

use crate::network::NetworkPolicy;
use crate::Tier;
use async_trait::async_trait;
use std::sync::Arc;

/// The home directory of the sandbox user; relative paths start here.
pub const SANDBOX_HOME: &str = "/home/sandbox";

/// What the runtime needs to make one sandbox.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    pub sandbox_id: String,
    pub image: String,
    pub tier: Tier,
    /// Where the sandbox may connect to, on top of the operator's rules.
    pub network: NetworkPolicy,
    /// The OCI runtime to run it under (None: the engine's default), as
    /// recorded at create.
    pub runtime: Option<String>,
    /// Variables every command in it gets.
    pub env: crate::env::EnvVars,
}

#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub execution_id: String,
    pub command: String,
    /// Absolute path inside the sandbox.
    pub working_dir: String,
    /// Variables added to the command's environment.
    pub env: crate::env::EnvVars,
    /// Its standard input, when the client asked to write to it (none: the
    /// command reads end-of-file at once).
    pub stdin: Option<StdinPipe>,
}

/// A running command's standard input: the application sends bytes; once
/// every sender is gone the command reads end-of-file.
#[derive(Clone)]
pub struct StdinPipe(Arc<std::sync::Mutex<Option<futures::channel::mpsc::Receiver<Vec<u8>>>>>);

impl std::fmt::Debug for StdinPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StdinPipe")
    }
}

impl StdinPipe {
    /// Where to send bytes, and the pipe the runtime reads them from.
    pub fn open() -> (futures::channel::mpsc::Sender<Vec<u8>>, StdinPipe) {
        let (sender, receiver) = futures::channel::mpsc::channel(16);
        (
            sender,
            StdinPipe(Arc::new(std::sync::Mutex::new(Some(receiver)))),
        )
    }

    /// The bytes to feed the command (once).
    pub fn take(&self) -> Option<futures::channel::mpsc::Receiver<Vec<u8>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }
}

/// Receives an execution's output as it is produced.
pub trait OutputSink: Send + Sync {
    fn push(&self, stream: OutputStream, bytes: &[u8]);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the listed directory.
    pub name: String,
    pub size: u64,
    /// Modification time, seconds since the Unix epoch.
    pub mod_ts: i64,
    pub is_dir: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub bytes: Vec<u8>,
    /// The file's whole size, even when `bytes` holds less.
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerStatus {
    /// Made but not (yet) running: being started, or restarting.
    Starting,
    Running,
    Paused,
    Stopped,
}

/// A container this server made, found by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedContainer {
    pub container_id: String,
    pub sandbox_id: String,
    pub status: ContainerStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("no such file or directory: {0}")]
    FileNotFound(String),
    #[error("{0} is a directory")]
    IsDirectory(String),
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error("{path} is not writable: files can be written under {SANDBOX_HOME} and /tmp")]
    NotWritable { path: String },
    /// A FIFO, socket or device: the files API serves regular files only.
    #[error("{0} is not a regular file (a FIFO, socket or device): files are read and written only when regular")]
    NotRegularFile(String),
    /// A listing longer than one answer may be.
    #[error("listing {path} finds more than {limit} entries: list a narrower path or fewer levels (max_depth)")]
    TooManyEntries { path: String, limit: usize },
    /// The sandbox user may not read or write it.
    #[error("permission denied: the sandbox user may not access {0}")]
    PermissionDenied(String),
    /// The sandbox's disk is full.
    #[error("no space left on the sandbox's disk writing {0}")]
    NoSpace(String),
    #[error("the sandbox's container no longer exists")]
    ContainerGone,
    #[error("the sandbox image {0} is not available")]
    ImageMissing(String),
    #[error("the sandbox has no network address: {0}")]
    NoNetwork(String),
    #[error("the container runtime is unreachable: {0}")]
    Unavailable(String),
    #[error("the container runtime failed: {0}")]
    Failed(String),
}

/// What a client sends to an interactive shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellInput {
    Data(Vec<u8>),
    Resize { cols: u16, rows: u16 },
}

/// What the runtime needs to open a shell.
#[derive(Debug, Clone)]
pub struct ShellRequest {
    /// Marks every process of the shell, so `kill_exec(container,
    /// shell_id)` ends them all.
    pub shell_id: String,
    pub cols: u16,
    pub rows: u16,
}

/// An open shell: a login shell as the sandbox user on a terminal. Its
/// output ends when the shell exits; closing `input` closes the terminal's
/// input (the caller kills what is left with `kill_exec`).
pub struct ShellIo {
    pub output: futures::stream::BoxStream<'static, Vec<u8>>,
    pub input: futures::channel::mpsc::Sender<ShellInput>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecExit {
    pub code: i64,
    /// The kernel killed it because the sandbox ran out of memory.
    pub out_of_memory: bool,
}

impl ExecExit {
    pub fn code(code: i64) -> ExecExit {
        ExecExit {
            code,
            out_of_memory: false,
        }
    }
}

/// Runs sandboxes. One implementation per isolation technology.
#[async_trait]
pub trait SandboxRuntime: Send + Sync {
    /// The OCI runtime the operator chose for sandboxes of `tier` (None:
    /// the engine's default); recorded at create.
    fn runtime_for(&self, _tier: &Tier) -> Option<String> {
        None
    }

    /// Containers ready in the warm pool, per tier id (empty: no pool).
    fn warm_pool(&self) -> std::collections::BTreeMap<String, usize> {
        std::collections::BTreeMap::new()
    }

    /// Open an interactive login shell on a terminal in the running sandbox.
    async fn open_shell(
        &self,
        container: &str,
        request: &ShellRequest,
    ) -> Result<ShellIo, RuntimeError>;

    /// Create and start a sandbox; returns the runtime's id for it.
    async fn create(&self, spec: &SandboxSpec) -> Result<String, RuntimeError>;
    async fn pause(&self, container: &str) -> Result<(), RuntimeError>;
    async fn resume(&self, container: &str) -> Result<(), RuntimeError>;
    /// Remove the sandbox and everything it held. Removing a missing one succeeds.
    async fn destroy(&self, container: &str) -> Result<(), RuntimeError>;
    /// Stop every process of the sandbox at once (the removal may follow
    /// later, with `destroy`). Halting a missing one succeeds.
    async fn halt(&self, container: &str) -> Result<(), RuntimeError> {
        self.destroy(container).await
    }
    /// Run `/bin/bash -lc command` as the sandbox user, streaming output to
    /// `sink`; returns how it exited.
    async fn exec(
        &self,
        container: &str,
        request: &ExecRequest,
        sink: Arc<dyn OutputSink>,
    ) -> Result<ExecExit, RuntimeError>;
    /// Kill the whole process tree of a running execution.
    async fn kill_exec(&self, container: &str, execution_id: &str) -> Result<(), RuntimeError>;
    /// Kill every process of the running sandbox but its agent (and its
    /// init): what commands left running in the background, whatever
    /// started them. Returns how many were killed.
    async fn kill_processes(&self, container: &str) -> Result<u32, RuntimeError>;
    /// Write a file (absolute path), owned by the sandbox user.
    async fn write_file(
        &self,
        container: &str,
        path: &str,
        bytes: Vec<u8>,
        create_dirs: bool,
    ) -> Result<(), RuntimeError>;
    /// Read at most `max_bytes` of a file (absolute path).
    async fn read_file(
        &self,
        container: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<FileContent, RuntimeError>;
    /// List a directory (absolute path) down to `max_depth` levels.
    async fn list_files(
        &self,
        container: &str,
        path: &str,
        max_depth: u32,
    ) -> Result<Vec<FileEntry>, RuntimeError>;
    /// Every container this server made, whatever its state.
    async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError>;
    /// One container's state, asked of the runtime directly (None: it does
    /// not exist). Used to confirm a death before acting on it.
    async fn container_status(
        &self,
        container: &str,
    ) -> Result<Option<ContainerStatus>, RuntimeError> {
        Ok(self
            .list_managed()
            .await?
            .into_iter()
            .find(|c| c.container_id == container)
            .map(|c| c.status))
    }
    /// Where the server reaches `port` of a sandbox (for the HTTP proxy).
    async fn endpoint(
        &self,
        container: &str,
        port: u16,
    ) -> Result<std::net::SocketAddr, RuntimeError>;
}

/// Resolve a client path against the sandbox home, lexically removing `.`
/// and `..` (never above `/`). Refuses empty paths and NUL bytes.
pub fn resolve_sandbox_path(path: &str) -> Result<String, String> {
    if path.contains('\0') {
        return Err("path must not contain NUL bytes".into());
    }
    let joined = if path.starts_with('/') {
        path.to_string()
    } else if path.is_empty() || path == "." {
        SANDBOX_HOME.to_string()
    } else {
        format!("{SANDBOX_HOME}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// A shared runtime handle.
pub type SharedRuntime = Arc<dyn SandboxRuntime>;

#[cfg(test)]
mod tests {
    use super::resolve_sandbox_path as r;

    #[test]
    fn relative_paths_start_at_home() {
        assert_eq!(r("a.txt").as_deref(), Ok("/home/sandbox/a.txt"));
        assert_eq!(r("").as_deref(), Ok("/home/sandbox"));
        assert_eq!(r(".").as_deref(), Ok("/home/sandbox"));
        assert_eq!(r("d/../e").as_deref(), Ok("/home/sandbox/e"));
    }

    #[test]
    fn absolute_paths_are_normalised_and_never_climb_above_root() {
        assert_eq!(r("/tmp//x/./y").as_deref(), Ok("/tmp/x/y"));
        assert_eq!(r("/../../etc").as_deref(), Ok("/etc"));
        assert_eq!(r("/").as_deref(), Ok("/"));
        assert!(r("a\0b").is_err());
    }

    #[test]
    fn odd_names_survive() {
        assert_eq!(
            r("with space/ünï\ncode").as_deref(),
            Ok("/home/sandbox/with space/ünï\ncode")
        );
    }
}
