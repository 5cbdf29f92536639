//! Files of a sandbox, read and written *as the sandbox user* inside its own
//! view: a small shell script runs through Docker's exec API under uid
//! `sandbox`, so the kernel applies that user's rights. A symlink cannot
//! make a write land outside what the sandbox user may write (its home and
//! /tmp; the root filesystem is read-only), and a file it may not read
//! (`/etc/shadow`) is refused — never served with the engine's root rights.

use domain::ports::RuntimeError;

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
}
