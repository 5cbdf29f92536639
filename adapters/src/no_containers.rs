//! A runtime with no containers, for the command-line tools that work on
//! accounts alone (`sockt accounts create`, `deposit`). They need the
//! application, not the engine: connecting a Docker runtime would set up
//! what a running server owns (its sandboxes' network rules, its cgroup
//! weight) with the defaults instead of the server's configuration. Every
//! sandbox operation is refused.

use async_trait::async_trait;
use domain::ports::{
    ExecExit, ExecRequest, FileContent, FileEntry, ManagedContainer, OutputSink, RuntimeError,
    SandboxRuntime, SandboxSpec, ShellIo, ShellRequest,
};
use std::sync::Arc;

pub struct NoContainers;

fn refused() -> RuntimeError {
    RuntimeError::Unavailable("this command works on accounts only and runs no sandbox".into())
}

#[async_trait]
impl SandboxRuntime for NoContainers {
    async fn open_shell(&self, _: &str, _: &ShellRequest) -> Result<ShellIo, RuntimeError> {
        Err(refused())
    }
    async fn create(&self, _: &SandboxSpec) -> Result<String, RuntimeError> {
        Err(refused())
    }
    async fn pause(&self, _: &str) -> Result<(), RuntimeError> {
        Err(refused())
    }
    async fn resume(&self, _: &str) -> Result<(), RuntimeError> {
        Err(refused())
    }
    async fn destroy(&self, _: &str) -> Result<(), RuntimeError> {
        Err(refused())
    }
    async fn exec(
        &self,
        _: &str,
        _: &ExecRequest,
        _: Arc<dyn OutputSink>,
    ) -> Result<ExecExit, RuntimeError> {
        Err(refused())
    }
    async fn kill_exec(&self, _: &str, _: &str) -> Result<(), RuntimeError> {
        Err(refused())
    }
    async fn kill_processes(&self, _: &str) -> Result<u32, RuntimeError> {
        Err(refused())
    }
    async fn write_file(&self, _: &str, _: &str, _: Vec<u8>, _: bool) -> Result<(), RuntimeError> {
        Err(refused())
    }
    async fn read_file(&self, _: &str, _: &str, _: u64) -> Result<FileContent, RuntimeError> {
        Err(refused())
    }
    async fn list_files(&self, _: &str, _: &str, _: u32) -> Result<Vec<FileEntry>, RuntimeError> {
        Err(refused())
    }
    async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError> {
        Err(refused())
    }
    async fn endpoint(&self, _: &str, _: u16) -> Result<std::net::SocketAddr, RuntimeError> {
        Err(refused())
    }
}
