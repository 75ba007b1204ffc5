//! Namespace naming, teardown primitives and removal of stale namespaces.
//!
//! Names are `nt-<pid>-<counter>-<short>`: the pid makes names unique across
//! concurrently running test binaries, the counter across Labs/threads of one
//! binary. The embedded pid also lets a later run recognise namespaces left by
//! a test binary that was killed (SIGKILL, Ctrl-C, abort) before its `Drop`
//! ran, and remove them.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cmd;

/// Prefix of every namespace the harness creates.
pub const NETNS_PREFIX: &str = "nt-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new process-unique namespace name embedding our pid.
pub(crate) fn unique_netns_name(short: &str) -> String {
    let short: String = short
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{NETNS_PREFIX}{}-{n}-{short}", std::process::id())
}

/// The pid embedded in a harness namespace name, if `name` is one.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NETNS_PREFIX)?;
    let mut parts = rest.splitn(3, '-');
    let pid = parts.next()?.parse().ok()?;
    let _counter: u64 = parts.next()?.parse().ok()?;
    parts.next()?;
    Some(pid)
}

/// All named network namespaces (`ip netns list`).
pub fn list_netns() -> Vec<String> {
    let out = cmd::run(&["ip", "netns", "list"]);
    // Lines look like "name (id: 3)" or just "name".
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The harness namespaces owned by this process (useful for leak checks).
pub fn own_namespaces() -> Vec<String> {
    let me = std::process::id();
    list_netns()
        .into_iter()
        .filter(|n| owner_pid(n) == Some(me))
        .collect()
}

/// PIDs of processes inside namespace `name` (`ip netns pids`).
pub(crate) fn netns_pids(name: &str) -> Vec<i32> {
    let Some(out) = cmd::try_run(&["ip", "netns", "pids", name]) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// SIGKILLs every process inside namespace `name`, returning how many.
///
/// Only ever called on harness-created namespaces: everything running in one
/// was started by a test (possibly a daemon that forked away from the PID we
/// track), and a live process would keep the namespace alive after `ip netns
/// del`.
pub(crate) fn kill_netns_pids(name: &str) -> usize {
    let me = std::process::id() as i32;
    let pids: Vec<i32> = netns_pids(name).into_iter().filter(|&p| p != me).collect();
    for &p in &pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    pids.len()
}

/// Creates namespace `name` with `run` (`ip netns add`), serialising the
/// first creation in this process with other processes.
///
/// The first `ip netns add` on a machine turns /run/netns into a shared bind
/// mount; two processes doing that at once (nextest starts one process per
/// test) can stack two mounts and hide each other's namespaces. A file lock
/// around creation until it has worked once in this process avoids that.
pub(crate) fn add_netns<T>(run: impl FnOnce() -> T) -> T {
    static READY: AtomicBool = AtomicBool::new(false);
    if READY.load(Ordering::Acquire) {
        return run();
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("/run/netns-tests.lock");
    if let Ok(f) = &lock {
        // SAFETY: flock(2) on a file descriptor we own for the duration of the
        // call; it has no memory-safety preconditions. The lock is released
        // when `f` is closed at the end of this function.
        unsafe {
            libc::flock(f.as_raw_fd(), libc::LOCK_EX);
        }
    }
    let out = run();
    READY.store(true, Ordering::Release);
    out
}

/// `ip netns del NAME`; returns the error text on failure. Never panics
/// (called from `Drop`).
pub(crate) fn delete_netns(name: &str) -> Result<(), String> {
    match cmd::try_run(&["ip", "netns", "del", name]) {
        Some(out) if out.status.success() => Ok(()),
        Some(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        None => Err("cannot run `ip`".to_string()),
    }
}

/// True if `pid` is a live (non-zombie) process. A killed test binary stays a
/// zombie until its parent or init reaps it, which can take a while; its
/// namespaces are already orphaned then.
fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": comm may contain spaces and ')', so take the
        // state after the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Removes harness namespaces whose owning test process is gone, killing any
/// process still running inside them first. Returns the removed names.
///
/// Namespaces of live processes (including other test binaries running right
/// now) are left alone. A reused pid only delays cleanup to a later run.
pub fn remove_stale_namespaces() -> Vec<String> {
    let me = std::process::id();
    let mut removed = Vec::new();
    for name in list_netns() {
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid == me || pid_alive(pid) {
            continue;
        }
        let killed = kill_netns_pids(&name);
        // Another test binary may be cleaning the same leftovers concurrently;
        // losing that race is fine.
        if delete_netns(&name).is_ok() {
            eprintln!(
                "netns-tests: removed stale namespace {name} (owner pid {pid} is gone; \
                 killed {killed} process(es) inside)"
            );
            removed.push(name);
        }
    }
    removed
}

/// Runs [`remove_stale_namespaces`] once per test process.
pub(crate) fn remove_stale_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        remove_stale_namespaces();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        let n = unique_netns_name("a b/c");
        assert!(n.starts_with(&format!("nt-{}-", std::process::id())), "{n}");
        assert!(n.ends_with("-a_b_c"), "{n}");
        assert_eq!(owner_pid(&n), Some(std::process::id()));
        assert_eq!(owner_pid("nt-123-4-x-y"), Some(123));
        assert_eq!(owner_pid("nt-123-x"), None);
        assert_eq!(owner_pid("other-1-2-x"), None);
        assert_ne!(unique_netns_name("a"), unique_netns_name("a"));
    }

    #[test]
    fn liveness() {
        assert!(pid_alive(std::process::id()));
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        // Wait (without reaping) until it is a zombie: that counts as dead.
        let zombie = crate::wait::wait_until(
            "child to become a zombie",
            std::time::Duration::from_secs(5),
            std::time::Duration::from_millis(5),
            || !pid_alive(pid),
        );
        c.wait().unwrap();
        zombie.unwrap();
    }
}
