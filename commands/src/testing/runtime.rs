//! A container runtime in memory: containers are entries in a map, commands
//! echo themselves, files live in a map. Like Docker's adapter, `create` is
//! idempotent per sandbox (it adopts the container already made).

use async_trait::async_trait;
use domain::network::NetworkPolicy;
use domain::ports::{
    ContainerStatus, ExecExit, ExecRequest, FileContent, FileEntry, ManagedContainer, OutputSink,
    OutputStream, RuntimeError, SandboxRuntime, SandboxSpec, ShellInput, ShellIo, ShellRequest,
};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The command the fake runtime kills as out of memory.
pub const FAKE_MEMORY_HOG: &str = "fake-memory-hog";
/// The command the fake runtime runs until it is killed.
pub const FAKE_SLEEP: &str = "fake-sleep";
/// The command that ends at once, leaving a process of its own in the
/// background until the sandbox's processes are killed.
pub const FAKE_DAEMON: &str = "fake-daemon";

#[derive(Default)]
pub struct FakeRuntime {
    /// container id → (sandbox id, status)
    containers: Mutex<BTreeMap<String, (String, ContainerStatus)>>,
    files: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    fail_creates: AtomicBool,
    /// sandbox id → the network policy its container was made with
    networks: Mutex<BTreeMap<String, NetworkPolicy>>,
    /// Containers the listing leaves out (as an engine under load may).
    unlisted: Mutex<std::collections::BTreeSet<String>>,
    /// Executions started and killed, by id, in order.
    exec_log: Mutex<Vec<(&'static str, String)>>,
    /// Executions killed so far, and a wake-up for those waiting to be.
    killed: Mutex<std::collections::BTreeSet<String>>,
    kills: tokio::sync::Notify,
    /// Background processes left by `FAKE_DAEMON`, per container.
    daemons: Mutex<BTreeMap<String, u32>>,
    /// Removals wait while a test holds this (as an engine's may take a while).
    removals_gate: tokio::sync::RwLock<()>,
    /// Creates wait while a test holds this (a container still being made).
    creates_gate: tokio::sync::RwLock<()>,
    /// Containers made so far (each create that succeeded).
    made: std::sync::atomic::AtomicUsize,
}

impl FakeRuntime {
    fn containers(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (String, ContainerStatus)>> {
        self.containers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The container id `create` gives a sandbox.
    pub fn container_of(sandbox_id: &str) -> String {
        format!("fake-{sandbox_id}")
    }

    /// The status of the sandbox's container, if it has one.
    pub fn status(&self, sandbox_id: &str) -> Option<ContainerStatus> {
        self.containers()
            .get(&Self::container_of(sandbox_id))
            .map(|(_, status)| *status)
    }

    /// The network policy the sandbox's container was made with.
    pub fn network_of(&self, sandbox_id: &str) -> Option<NetworkPolicy> {
        self.networks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sandbox_id)
            .cloned()
    }

    /// Hold every removal (`destroy`) until the guard is dropped.
    pub async fn hold_removals(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.removals_gate.write().await
    }

    /// Hold every create (the container is still being made) until the
    /// guard is dropped.
    pub async fn hold_creates(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.creates_gate.write().await
    }

    /// How many creates have made (or adopted) a container so far.
    pub fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }

    pub fn count(&self) -> usize {
        self.containers().len()
    }

    /// What happened to executions: ("started" | "killed", execution id),
    /// and sweeps: ("killed processes", container id), in order.
    pub fn exec_log(&self) -> Vec<(&'static str, String)> {
        self.exec_log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn log_exec(&self, what: &'static str, execution_id: &str) {
        self.exec_log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((what, execution_id.to_string()));
    }

    /// Make creates fail (the engine refuses), or work again.
    pub fn fail_creates(&self, fail: bool) {
        self.fail_creates.store(fail, Ordering::SeqCst);
    }

    /// A container for `sandbox_id` made behind the application's back.
    pub fn add(&self, sandbox_id: &str, status: ContainerStatus) -> String {
        let id = Self::container_of(sandbox_id);
        self.containers()
            .insert(id.clone(), (sandbox_id.to_string(), status));
        id
    }

    /// The sandbox's container is missing from listings (but exists).
    pub fn leave_out_of_listings(&self, sandbox_id: &str) {
        self.unlisted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(Self::container_of(sandbox_id));
    }

    /// The sandbox's container is in this state (behind the application's back).
    pub fn force_status(&self, sandbox_id: &str, status: ContainerStatus) {
        let _ = self.set(&Self::container_of(sandbox_id), status);
    }

    /// The container disappears (removed by hand, the host rebooted).
    pub fn vanish(&self, sandbox_id: &str) {
        self.containers().remove(&Self::container_of(sandbox_id));
    }

    /// Wait until `kill_exec` kills the execution; it then exits as killed.
    async fn until_killed(&self, execution_id: &str) -> ExecExit {
        loop {
            let killed = self.kills.notified();
            tokio::pin!(killed);
            // Registered before the look, so a kill in between wakes it.
            killed.as_mut().enable();
            if self
                .killed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(execution_id)
            {
                return ExecExit::code(137);
            }
            killed.await;
        }
    }

    fn set(&self, container: &str, status: ContainerStatus) -> Result<(), RuntimeError> {
        match self.containers().get_mut(container) {
            Some(entry) => {
                entry.1 = status;
                Ok(())
            }
            None => Err(RuntimeError::ContainerGone),
        }
    }
}

#[async_trait]
impl SandboxRuntime for FakeRuntime {
    async fn create(&self, spec: &SandboxSpec) -> Result<String, RuntimeError> {
        let _open = self.creates_gate.read().await;
        if self.fail_creates.load(Ordering::SeqCst) {
            return Err(RuntimeError::Failed("the engine refused".into()));
        }
        let id = Self::container_of(&spec.sandbox_id);
        self.networks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(spec.sandbox_id.clone(), spec.network.clone());
        let mut containers = self.containers();
        let entry = containers
            .entry(id.clone())
            .or_insert((spec.sandbox_id.clone(), ContainerStatus::Running));
        if entry.1 == ContainerStatus::Stopped {
            entry.1 = ContainerStatus::Running;
        }
        self.made.fetch_add(1, Ordering::SeqCst);
        Ok(id)
    }

    async fn pause(&self, container: &str) -> Result<(), RuntimeError> {
        self.set(container, ContainerStatus::Paused)
    }

    /// A shell that echoes what it is sent.
    async fn open_shell(
        &self,
        container: &str,
        _request: &ShellRequest,
    ) -> Result<ShellIo, RuntimeError> {
        if !self.containers().contains_key(container) {
            return Err(RuntimeError::ContainerGone);
        }
        let (input, received) = futures::channel::mpsc::channel(64);
        let output = received
            .filter_map(|message| {
                futures::future::ready(match message {
                    ShellInput::Data(bytes) => Some(bytes),
                    ShellInput::Resize { .. } => None,
                })
            })
            .boxed();
        Ok(ShellIo { output, input })
    }

    async fn resume(&self, container: &str) -> Result<(), RuntimeError> {
        self.set(container, ContainerStatus::Running)
    }

    async fn destroy(&self, container: &str) -> Result<(), RuntimeError> {
        let _open = self.removals_gate.read().await;
        self.containers().remove(container);
        Ok(())
    }

    async fn halt(&self, container: &str) -> Result<(), RuntimeError> {
        self.containers().remove(container);
        Ok(())
    }

    async fn exec(
        &self,
        container: &str,
        request: &ExecRequest,
        sink: Arc<dyn OutputSink>,
    ) -> Result<ExecExit, RuntimeError> {
        if !self.containers().contains_key(container) {
            return Err(RuntimeError::ContainerGone);
        }
        self.log_exec("started", &request.execution_id);
        // The fake echoes the command; this one plays a memory hog.
        if request.command == FAKE_MEMORY_HOG {
            return Ok(ExecExit {
                code: 137,
                out_of_memory: true,
            });
        }
        if request.command == FAKE_SLEEP {
            return Ok(self.until_killed(&request.execution_id).await);
        }
        if request.command == FAKE_DAEMON {
            *self
                .daemons
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(container.to_string())
                .or_default() += 1;
        }
        sink.push(
            OutputStream::Stdout,
            format!("{}\n", request.command).as_bytes(),
        );
        Ok(ExecExit::code(0))
    }

    async fn kill_exec(&self, _container: &str, execution_id: &str) -> Result<(), RuntimeError> {
        self.log_exec("killed", execution_id);
        self.killed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(execution_id.to_string());
        self.kills.notify_waiters();
        Ok(())
    }

    /// Logged as ("killed processes", container); kills what `FAKE_DAEMON`
    /// left (a `FAKE_SLEEP` still running is not tracked by container and
    /// runs on).
    async fn kill_processes(&self, container: &str) -> Result<u32, RuntimeError> {
        if !self.containers().contains_key(container) {
            return Err(RuntimeError::ContainerGone);
        }
        self.log_exec("killed processes", container);
        let mut daemons = self.daemons.lock().unwrap_or_else(|p| p.into_inner());
        Ok(daemons.remove(container).unwrap_or(0))
    }

    async fn write_file(
        &self,
        container: &str,
        path: &str,
        bytes: Vec<u8>,
        _create_dirs: bool,
    ) -> Result<(), RuntimeError> {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((container.to_string(), path.to_string()), bytes);
        Ok(())
    }

    async fn read_file(
        &self,
        container: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<FileContent, RuntimeError> {
        let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = files
            .get(&(container.to_string(), path.to_string()))
            .ok_or_else(|| RuntimeError::FileNotFound(path.to_string()))?;
        let kept = bytes
            .len()
            .min(usize::try_from(max_bytes).unwrap_or(usize::MAX));
        Ok(FileContent {
            bytes: bytes[..kept].to_vec(),
            size: bytes.len() as u64,
        })
    }

    async fn list_files(
        &self,
        _container: &str,
        _path: &str,
        _max_depth: u32,
    ) -> Result<Vec<FileEntry>, RuntimeError> {
        Ok(Vec::new())
    }

    async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError> {
        let unlisted = self
            .unlisted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(self
            .containers()
            .iter()
            .filter(|(container_id, _)| !unlisted.contains(*container_id))
            .map(|(container_id, (sandbox_id, status))| ManagedContainer {
                container_id: container_id.clone(),
                sandbox_id: sandbox_id.clone(),
                status: *status,
            })
            .collect())
    }

    async fn container_status(
        &self,
        container: &str,
    ) -> Result<Option<ContainerStatus>, RuntimeError> {
        Ok(self.containers().get(container).map(|(_, status)| *status))
    }

    async fn endpoint(
        &self,
        _container: &str,
        _port: u16,
    ) -> Result<std::net::SocketAddr, RuntimeError> {
        Err(RuntimeError::NoNetwork(
            "a fake runtime has no network".into(),
        ))
    }
}
