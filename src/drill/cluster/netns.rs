//! Threads of the drill inside a lab namespace. A socket belongs to the network namespace of
//! the thread that created it, for its whole life: a thread that entered the client's namespace
//! opens the client's connections, one in the router's reads the router's FIB. `setns(2)` with
//! CLONE_NEWNET moves only the calling thread, so the rest of the drill stays where it is, and
//! no helper process is needed.

use std::fs::File;
use std::io;
use std::thread::JoinHandle;

use nix::sched::{setns, CloneFlags};

/// Where `ip netns add` mounts its namespaces.
const NETNS_RUN_DIR: &str = "/run/netns";

/// Moves the calling thread into the namespace `name` (as `ip netns exec` names it).
pub fn enter(name: &str) -> io::Result<()> {
    let f = File::open(format!("{NETNS_RUN_DIR}/{name}"))?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// Runs `f` on a new thread inside namespace `name`; the thread is named `thread` (for panics
/// and debuggers). A thread that cannot enter the namespace panics before it runs `f`.
pub fn spawn<T, F>(name: &str, thread: &str, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let ns = name.to_string();
    std::thread::Builder::new()
        .name(thread.to_string())
        .spawn(move || {
            enter(&ns).unwrap_or_else(|e| panic!("cannot enter namespace {ns}: {e}"));
            f()
        })
        .expect("spawn a thread")
}

/// Runs `f` inside namespace `name` and waits for its result.
pub fn run<T, F>(name: &str, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match spawn(name, "in-netns", f).join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    }
}
