//! Stopping every process of a sandbox without an agent to ask (another OCI
//! runtime, a container of an older agent, an agent its tenant cut off)
//! through Docker's exec API: a script run as the sandbox user SIGKILLs
//! every process but PID 1 (the init), PID 1's eldest child (the container's
//! main process — the agent, or the idle `sleep`; the container stops when
//! it ends) and itself, sweep after sweep until none is left to signal, and
//! prints how many it killed. It forks nothing (shell built-ins only), so
//! one free slot under the sandbox's process limit is all it needs.

use domain::ports::RuntimeError;

/// The script; its output is the count.
const SCRIPT: &str = r#"
main= eldest=
for d in /proc/[0-9]*; do
  read -r stat 2>/dev/null < "$d/stat" || continue
  set -- ${stat##*) }
  [ "$2" = 1 ] || continue
  if [ -z "$eldest" ] || [ "${20}" -lt "$eldest" ]; then eldest=${20}; main=${d#/proc/}; fi
done
killed=0 seen=' '
for round in 1 2 3 4 5 6 7 8 9 10; do
  signalled=0
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    case "$pid" in 1|"$$"|"$main") continue ;; esac
    read -r stat 2>/dev/null < "$d/stat" || continue
    set -- ${stat##*) }
    case "$1" in Z|X) continue ;; esac
    kill -KILL "$pid" 2>/dev/null || continue
    signalled=1
    case "$seen" in *" $pid "*) ;; *) seen="$seen$pid " killed=$((killed + 1)) ;; esac
  done
  [ "$signalled" = 0 ] && break
done
echo "$killed"
"#;

/// The command to run as the sandbox user.
pub(super) fn command() -> Vec<String> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        SCRIPT.into(),
        "sockt-kill-all".into(),
    ]
}

/// How many processes the script killed, from its exit code and output.
pub(super) fn killed(code: i64, stdout: &[u8], stderr: &[u8]) -> Result<u32, RuntimeError> {
    let printed = String::from_utf8_lossy(stdout);
    match printed.trim().parse() {
        Ok(count) if code == 0 => Ok(count),
        _ => Err(RuntimeError::Failed(format!(
            "stopping the sandbox's processes failed (exit {code}): {}",
            String::from_utf8_lossy(stderr).trim()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script under the host's `sh` as PID 1 of a PID namespace of its
    /// own (skipped where `unshare` is refused: no privilege for one).
    #[test]
    fn the_script_spares_the_init_and_its_eldest_child() {
        // The "init" (sh, refusing to go on unless it is PID 1 of its own
        // namespace) starts its eldest child (the "main process"), then
        // runaways: a subshell and two children of it.
        let scenario = format!(
            "[ $$ = 1 ] || exit 99; sleep 30 & sleep 0.1; (sleep 30 & sleep 30; :) & sleep 0.1; \
             sh -c '{}' sockt-kill-all; sleep 0.2; \
             ps -e -o stat=,comm= | grep -v '^Z' | awk '{{print $2}}' | sort | tr '\\n' ' '",
            SCRIPT.replace('\'', "'\\''")
        );
        let output = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .args(["sh", "-c", &scenario])
            .output();
        let Ok(output) = output else { return };
        if !output.status.success() {
            eprintln!("skipped: {}", String::from_utf8_lossy(&output.stderr));
            return;
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("3"), "{text}");
        // Alive: the init, its eldest sleep, and the pipeline that looks.
        assert_eq!(
            lines.next(),
            Some("awk grep ps sh sleep sort tr "),
            "{text}"
        );
    }

    #[test]
    fn the_count_comes_from_the_output_and_a_failure_says_why() {
        assert_eq!(killed(0, b"17\n", b""), Ok(17));
        let failed = killed(126, b"", b"exec failed: resource temporarily unavailable");
        assert!(
            matches!(&failed, Err(RuntimeError::Failed(m)) if m.contains("resource temporarily")),
            "{failed:?}"
        );
    }
}
