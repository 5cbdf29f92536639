//! Files of a sandbox, read and written *as the sandbox user* inside its own
//! view: a small shell script runs through Docker's exec API under uid
//! `sandbox`, so the kernel applies that user's rights. A symlink cannot
//! make a write land outside what the sandbox user may write (its home and
//! /tmp; the root filesystem is read-only), and a file it may not read
//! (`/etc/shadow`) is refused — never served with the engine's root rights.

use super::helper_exec::script;
use super::DockerRuntime;
use domain::ports::{FileContent, FileEntry, RuntimeError, SANDBOX_HOME};

/// Exit codes the scripts use for what they refuse.
const MISSING: i64 = 3;
/// A write's parent directory is missing (and was not to be created).
pub const MISSING_PARENT: i64 = MISSING;
const DIRECTORY: i64 = 4;
const DENIED: i64 = 5;
const NOT_REGULAR: i64 = 6;

/// `$1` path, `$2` how many bytes to send at most. The file's full size goes
/// to stderr (from `find`, which works under every runtime: gVisor's older
/// releases refuse coreutils' `stat`), its first bytes to stdout.
pub const READ_SCRIPT: &str = r#"
[ -e "$1" ] || exit 3
[ -d "$1" ] && exit 4
[ -f "$1" ] || exit 6
[ -r "$1" ] || exit 5
find -L "$1" -maxdepth 0 -printf '%s' >&2 || exit 5
exec head -c "$2" -- "$1"
"#;

/// `$1` path, `$2` 1 to create missing parent directories; the content
/// comes on stdin.
pub const WRITE_SCRIPT: &str = r#"
dir=$(dirname -- "$1")
if [ ! -d "$dir" ]; then
  [ "$2" = 1 ] || exit 3
  mkdir -p -- "$dir" 2>/dev/null || exit 5
fi
[ -d "$1" ] && exit 4
# A FIFO would hold the write until something reads it.
[ -e "$1" ] && [ ! -f "$1" ] && exit 6
( : > "$1" ) 2>/dev/null || exit 5
exec cat > "$1"

"#;

/// What a refused file operation means, from its script's exit code.
pub fn refusal(code: i64, path: &str, stderr: &[u8]) -> RuntimeError {
    match code {
        MISSING => RuntimeError::FileNotFound(path.to_string()),
        DIRECTORY => RuntimeError::IsDirectory(path.to_string()),
        DENIED => RuntimeError::PermissionDenied(path.to_string()),
        NOT_REGULAR => RuntimeError::NotRegularFile(path.to_string()),
        _ => {
            let detail = String::from_utf8_lossy(stderr);
            let detail = detail.trim();
            if detail.contains("No space left on device") || detail.contains("Disk quota exceeded")
            {
                RuntimeError::NoSpace(path.to_string())
            } else {
                RuntimeError::Failed(format!("{path}: {detail}"))
            }
        }
    }
}

/// The size a read script reported on stderr.
pub fn reported_size(stderr: &[u8]) -> Result<u64, RuntimeError> {
    String::from_utf8_lossy(stderr)
        .trim()
        .parse()
        .map_err(|_| RuntimeError::Failed("the sandbox reported no file size".into()))
}

/// Directories the sandbox user may write to; the root filesystem is
/// read-only.
const WRITABLE_ROOTS: [&str; 2] = [SANDBOX_HOME, "/tmp"];

/// The writable root `path` lies strictly inside, and the path relative to it.
pub(super) fn split_writable(path: &str) -> Option<(&'static str, &str)> {
    WRITABLE_ROOTS.iter().find_map(|root| {
        let rest = path.strip_prefix(root)?.strip_prefix('/')?;
        (!rest.is_empty()).then_some((*root, rest))
    })
}

impl DockerRuntime {
    /// Write through the engine: `WRITE_SCRIPT` run as the sandbox user.
    pub(super) async fn write_through_engine(
        &self,
        container: &str,
        path: &str,
        bytes: Vec<u8>,
        create_dirs: bool,
    ) -> Result<(), RuntimeError> {
        let cmd = script(WRITE_SCRIPT, [path, if create_dirs { "1" } else { "0" }]);
        let (code, _, stderr) = self
            .run_as_sandbox_user(container, cmd, Some(bytes), 0)
            .await?;
        match code {
            0 => Ok(()),
            MISSING_PARENT => Err(RuntimeError::FileNotFound(format!(
                "{} (pass create_dirs to create it)",
                path.rsplit_once('/').map_or("/", |(parent, _)| parent)
            ))),
            code => Err(refusal(code, path, &stderr)),
        }
    }

    /// Read through the engine: `READ_SCRIPT` run as the sandbox user.
    pub(super) async fn read_through_engine(
        &self,
        container: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<FileContent, RuntimeError> {
        let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let cmd = script(READ_SCRIPT, [path, &max_bytes.to_string()]);
        let (code, bytes, stderr) = self
            .run_as_sandbox_user(container, cmd, None, limit)
            .await?;
        if code != 0 {
            return Err(refusal(code, path, &stderr));
        }
        Ok(FileContent {
            size: reported_size(&stderr)?,
            bytes,
        })
    }

    /// List through the engine: `find` run as the sandbox user.
    pub(super) async fn list_through_engine(
        &self,
        container: &str,
        path: &str,
        max_depth: u32,
    ) -> Result<Vec<FileEntry>, RuntimeError> {
        // One entry past the limit tells a listing too long.
        let script = "[ -e \"$1\" ] || exit 3; [ -d \"$1\" ] || exit 4; \
                      find \"$1\" -mindepth 1 -maxdepth \"$2\" -printf '%y\\t%s\\t%T@\\t%P\\0' 2>/dev/null \
                      | head -z -n \"$3\"; exit 0";
        let limit = sockt_agent::protocol::MAX_LISTED_ENTRIES;
        let (code, stdout, _) = self
            .run_helper(
                container,
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    script.into(),
                    "sockt-ls".into(),
                    path.into(),
                    max_depth.to_string(),
                    (limit + 1).to_string(),
                ],
            )
            .await?;
        match code {
            3 => return Err(RuntimeError::FileNotFound(path.to_string())),
            4 => return Err(RuntimeError::NotADirectory(path.to_string())),
            _ => {}
        }
        if stdout.split(|b| *b == 0).filter(|r| !r.is_empty()).count() > limit {
            return Err(RuntimeError::TooManyEntries {
                path: path.to_string(),
                limit,
            });
        }
        let mut entries: Vec<FileEntry> = stdout
            .split(|b| *b == 0)
            .filter(|record| !record.is_empty())
            .filter_map(|record| {
                let text = String::from_utf8_lossy(record);
                let mut fields = text.splitn(4, '\t');
                let kind = fields.next()?;
                let size = fields.next()?.parse().ok()?;
                let mod_ts = fields.next()?.split('.').next()?.parse().ok()?;
                let name = fields.next()?.to_string();
                Some(FileEntry {
                    name,
                    size,
                    mod_ts,
                    is_dir: kind == "d",
                })
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_their_reason() {
        assert!(matches!(
            refusal(3, "/x", b""),
            RuntimeError::FileNotFound(_)
        ));
        assert!(matches!(
            refusal(4, "/x", b""),
            RuntimeError::IsDirectory(_)
        ));
        assert!(matches!(
            refusal(5, "/x", b""),
            RuntimeError::PermissionDenied(_)
        ));
        assert!(matches!(
            refusal(1, "/x", b"cat: write error: No space left on device"),
            RuntimeError::NoSpace(_)
        ));
        assert_eq!(reported_size(b"1234\n").ok(), Some(1234));
    }

    #[test]
    fn only_home_and_tmp_are_writable() {
        assert_eq!(
            split_writable("/home/sandbox/a/b"),
            Some((SANDBOX_HOME, "a/b"))
        );
        assert_eq!(split_writable("/tmp/x"), Some(("/tmp", "x")));
        assert_eq!(split_writable("/home/sandbox"), None);
        assert_eq!(split_writable("/home/sandboxed/x"), None);
        assert_eq!(split_writable("/etc/passwd"), None);
    }
}
