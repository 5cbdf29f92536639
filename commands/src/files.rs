//! Files inside a sandbox: write, read and list, with paths relative to the
//! sandbox home and sizes bounded.

use crate::aggregates::{running_container_of, SandboxStore};
use crate::auth::Principal;
use crate::config::AppConfig;
use crate::error::AppError;
use domain::ids::SandboxId;
use domain::ports::{resolve_sandbox_path, FileEntry, SharedRuntime};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileReadEncoding {
    Utf8,
    Base64,
}

/// What a read returns: the bytes read and the file's whole size.
#[derive(Debug, Clone)]
pub struct FileRead {
    pub path: String,
    pub bytes: Vec<u8>,
    pub size: u64,
    pub truncated: bool,
}

/// The files' service: the runtime that reaches into a sandbox's
/// filesystem, the sandbox streams (who may), the size limits.
pub struct Files {
    pub(crate) store: SandboxStore,
    pub(crate) runtime: SharedRuntime,
    pub(crate) config: Arc<AppConfig>,
}

/// Deepest recursive listing served.
const MAX_LIST_DEPTH: u32 = 32;

impl Files {
    /// The running sandbox's container, or why there is none.
    async fn running_container(
        &self,
        principal: &Principal,
        sandbox_id: &str,
        action: &str,
    ) -> Result<String, AppError> {
        let sandbox = self.store.authorized(principal, sandbox_id).await?;
        running_container_of(&sandbox, action)
    }

    pub async fn write_file(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
        path: &str,
        bytes: Vec<u8>,
        create_dirs: bool,
    ) -> Result<(String, u64), AppError> {
        if path.trim().is_empty() {
            return Err(AppError::invalid("path must not be empty"));
        }
        if bytes.len() as u64 > self.config.max_file_bytes {
            return Err(AppError::TooLarge(format!(
                "files are limited to {} bytes",
                self.config.max_file_bytes
            )));
        }
        let path = resolve_sandbox_path(path).map_err(AppError::invalid)?;
        if path == "/" || path.ends_with('/') {
            return Err(AppError::invalid("path must name a file"));
        }
        let container = self
            .running_container(principal, sandbox_id, "write files")
            .await?;
        let size = bytes.len() as u64;
        self.runtime
            .write_file(&container, &path, bytes, create_dirs)
            .await?;
        Ok((path, size))
    }

    pub async fn read_file(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
        path: &str,
        max_bytes: Option<u64>,
    ) -> Result<FileRead, AppError> {
        if path.trim().is_empty() {
            return Err(AppError::invalid("path must not be empty"));
        }
        let path = resolve_sandbox_path(path).map_err(AppError::invalid)?;
        let container = self
            .running_container(principal, sandbox_id, "read files")
            .await?;
        let limit = self.config.max_file_bytes;
        let wanted = max_bytes.unwrap_or(limit);
        if wanted > limit {
            return Err(AppError::TooLarge(format!(
                "max_bytes is limited to {limit}"
            )));
        }
        // Read one byte past the limit to tell "exactly the limit" from "larger".
        let content = self
            .runtime
            .read_file(&container, &path, wanted.min(limit))
            .await?;
        if max_bytes.is_none() && content.size > limit {
            return Err(AppError::TooLarge(format!(
                "{path} is {} bytes, more than the {limit} bytes a read returns; pass max_bytes to read its start",
                content.size
            )));
        }
        Ok(FileRead {
            truncated: (content.bytes.len() as u64) < content.size,
            path,
            size: content.size,
            bytes: content.bytes,
        })
    }

    pub async fn list_files(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
        path: &str,
        recursive: bool,
        max_depth: Option<u32>,
    ) -> Result<(String, Vec<FileEntry>), AppError> {
        let path = resolve_sandbox_path(path).map_err(AppError::invalid)?;
        let depth = match (recursive, max_depth) {
            (false, _) => 1,
            (true, None) => MAX_LIST_DEPTH,
            (true, Some(d)) if (1..=MAX_LIST_DEPTH).contains(&d) => d,
            (true, Some(_)) => {
                return Err(AppError::invalid(format!(
                    "max_depth must be between 1 and {MAX_LIST_DEPTH}"
                )))
            }
        };
        let container = self
            .running_container(principal, sandbox_id, "list files")
            .await?;
        let entries = self.runtime.list_files(&container, &path, depth).await?;
        Ok((path, entries))
    }
}
