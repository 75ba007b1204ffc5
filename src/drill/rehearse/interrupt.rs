//! Ctrl-C (or SIGTERM, SIGHUP) in the middle of a rehearsal: the lab cannot unwind from a
//! signal, so a thread of its own takes these signals and removes what the rehearsal made
//! itself: every process in this process's namespaces (SIGKILL), the namespaces, the nodes'
//! state directories; then the drill exits with 128 + the signal's number. The processes the
//! lab started die with the drill anyway (their parent-death signal).

use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;

/// Where the lab keeps the nodes' state directories (`<namespace>-<node>`).
const STATE_ROOT: &str = "/tmp/nt-appliance";

/// Blocks the signals in the calling thread (and so in every thread it starts later; children
/// start with an empty mask) and starts the thread that waits for them. Call it first, before
/// any other thread exists.
pub fn install() {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    if set.thread_block().is_err() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("drill-signals".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                eprintln!("applianced drill: {sig}; removing the rehearsal's namespaces");
                clean_up();
                std::process::exit(128 + sig as i32);
            }
        });
}

/// Removes every namespace of this process with what runs in it, and their state directories.
fn clean_up() {
    let me = std::process::id();
    for ns in lab::list_netns()
        .into_iter()
        .filter(|n| lab::owner_pid(n) == Some(me))
    {
        if let Ok(out) = std::process::Command::new("ip")
            .args(["netns", "pids", &ns])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .filter(|&p| p != me as i32)
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &ns])
            .output();
        if let Ok(dirs) = std::fs::read_dir(STATE_ROOT) {
            for d in dirs.flatten() {
                if d.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{ns}-"))
                {
                    let _ = std::fs::remove_dir_all(d.path());
                }
            }
        }
    }
}
