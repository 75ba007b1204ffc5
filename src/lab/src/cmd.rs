//! Running helper programs (`ip`, `ethtool`, ...) synchronously.
//!
//! Everything the harness runs goes through here so that a failure message
//! always names the exact command line and its stderr, and so that the lab can
//! keep a command log for post-mortem debugging.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

/// Renders argv as a copy-pasteable shell command line (for messages and logs).
pub(crate) fn render<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| quote(&a.as_ref().to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Runs `args[0] args[1..]` to completion with stdin closed, capturing output.
///
/// Panics when the program cannot be started at all: that is a broken test
/// machine (missing tool), not a test result, and must be loud.
pub(crate) fn run(args: &[&str]) -> Output {
    assert!(!args.is_empty(), "netns-tests: empty command");
    match Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!(
            "netns-tests: cannot start `{}`: {e}{}",
            render(args),
            crate::tools::install_hint(args[0])
        ),
    }
}

/// Like [`run`] but returns `None` instead of panicking when the program cannot
/// start: for teardown paths, where a second panic would abort the process.
pub(crate) fn try_run(args: &[&str]) -> Option<Output> {
    Command::new(args.first()?)
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .ok()
}

/// A one-line summary of a finished command for the lab's command log.
pub(crate) fn summary(args: &[&str], out: &Output) -> String {
    let mut line = format!("$ {}  -> {}", render(args), out.status);
    let err = String::from_utf8_lossy(&out.stderr);
    let err = err.trim();
    if !err.is_empty() {
        line.push_str("\n    stderr: ");
        line.push_str(&err.replace('\n', "\n            "));
    }
    line
}

/// Panic message for a command that was expected to succeed.
pub(crate) fn failure_message(args: &[&str], out: &Output) -> String {
    format!(
        "netns-tests: command failed ({}): {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        render(args),
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_quotes_only_when_needed() {
        assert_eq!(render(&["ip", "-n", "nt-1-2-a"]), "ip -n nt-1-2-a");
        assert_eq!(render(&["sh", "-c", "echo hi"]), "sh -c 'echo hi'");
        assert_eq!(render(&["echo", "it's"]), r"echo 'it'\''s'");
        assert_eq!(render(&["echo", ""]), "echo ''");
    }
}
