//! Simple commands, run without a shell: for `bash -c "prog arg ..."` where
//! every word is plain (no quoting, expansion, redirection, operator or
//! assignment) and `prog` is an executable found on PATH that is not a bash
//! builtin or keyword, bash itself would only look `prog` up and exec it.
//! The agent does the same and saves bash's start-up (~3 ms of CPU here),
//! giving the program the environment bash would (`PWD`, `SHLVL`, `_`).
//! Anything else goes to bash.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// Characters a plain word may hold.
fn plain(word: &str) -> bool {
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./,:@%+=".contains(&b))
}

/// Bash builtins and keywords: these must run in bash (except `true` and
/// `false`, whose programs behave exactly like them).
const IN_BASH: &[&str] = &[
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "declare",
    "dirs",
    "disown",
    "echo",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "fc",
    "fg",
    "getopts",
    "hash",
    "help",
    "history",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "times",
    "trap",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
    ".",
    ":",
    "[",
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "case",
    "esac",
    "for",
    "select",
    "while",
    "until",
    "do",
    "done",
    "in",
    "function",
    "time",
    "coproc",
];

/// The program and arguments of a simple command, if it is one.
pub fn split(command: &str) -> Option<(&str, Vec<&str>)> {
    let mut words = command.split([' ', '\t']).filter(|w| !w.is_empty());
    let program = words.next()?;
    let args: Vec<&str> = words.collect();
    let simple = plain(program)
        && !program.contains('=')
        && !IN_BASH.contains(&program)
        && args.iter().all(|a| plain(a));
    simple.then_some((program, args))
}

/// Where PATH finds `program` (as bash would: the first executable file),
/// if the kernel can run it itself (a binary or a `#!` script; bash runs
/// other files as shell scripts). Paths with a slash are left to bash.
pub fn resolve(program: &str, path: &str) -> Option<PathBuf> {
    let executable = |candidate: &PathBuf| {
        std::fs::metadata(candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let runnable = |candidate: &PathBuf| {
        let mut magic = [0u8; 4];
        std::fs::File::open(candidate)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok_and(|()| magic == *b"\x7fELF" || magic.starts_with(b"#!"))
    };
    if program.contains('/') {
        return None;
    }
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| PathBuf::from(dir).join(program))
        .find(executable)
        .filter(runnable)
}

/// The shell level bash would give its child, from the one it inherited.
pub fn next_shell_level(inherited: Option<&str>) -> String {
    let level: i64 = inherited.and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    (level.max(0) + 1).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_words_of_a_program_are_simple() {
        assert_eq!(split("true"), Some(("true", vec![])));
        assert_eq!(
            split("python3  -m pip --version"),
            Some(("python3", vec!["-m", "pip", "--version"]))
        );
        assert_eq!(
            split("ls -la /tmp/a_b.c"),
            Some(("ls", vec!["-la", "/tmp/a_b.c"]))
        );
        for shell in [
            "echo hi",
            "cd /tmp",
            "ls *.txt",
            "ls ~",
            "cat a > b",
            "a && b",
            "a; b",
            "echo $HOME",
            "grep 'x y' f",
            "FOO=1 env",
            "ls\nrm x",
            "[ -f x ]",
            "sleep 1 &",
            "",
            "   ",
        ] {
            assert_eq!(split(shell), None, "{shell:?} needs bash");
        }
    }

    #[test]
    fn programs_resolve_on_path_like_bash() {
        assert!(resolve("sh", "/nonexistent:/bin:/usr/bin").is_some());
        assert_eq!(resolve("no-such-program-x", "/bin:/usr/bin"), None);
        assert_eq!(resolve("passwd", "/etc"), None, "not executable");
        assert_eq!(resolve("/bin/sh", "/bin"), None, "paths go to bash");
    }

    #[test]
    fn the_shell_level_goes_up_by_one() {
        assert_eq!(next_shell_level(None), "1");
        assert_eq!(next_shell_level(Some("2")), "3");
        assert_eq!(next_shell_level(Some("junk")), "1");
    }
}
