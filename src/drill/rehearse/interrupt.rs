//! Ctrl-C (or SIGTERM, SIGHUP) in the middle of a rehearsal: the lab cannot unwind from a
//! signal, so a thread of its own takes these signals (tokio's handlers: the signals are
//! neither blocked nor ignored, so the processes the drill starts get them as usual) and
//! removes what the rehearsal made itself: every process in this process's namespaces
//! (SIGKILL), the namespaces, the nodes' state directories; then the drill exits with 128 + the
//! signal's number. The processes the lab started die with the drill anyway (their
//! parent-death signal).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};

/// Where the lab keeps the nodes' state directories (`<namespace>-<node>`).
const STATE_ROOT: &str = "/tmp/nt-appliance";

/// Starts the thread that waits for the signals; returns once their handlers are in place.
pub fn install() {
    let (ready, wait) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("drill-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = ready.send(());
                return;
            };
            rt.block_on(async move {
                let kinds = [
                    (SignalKind::interrupt(), Signal::SIGINT),
                    (SignalKind::terminate(), Signal::SIGTERM),
                    (SignalKind::hangup(), Signal::SIGHUP),
                ];
                let mut streams = Vec::new();
                for (kind, sig) in kinds {
                    if let Ok(s) = signal(kind) {
                        streams.push((s, sig));
                    }
                }
                let _ = ready.send(());
                let waits = streams.iter_mut().map(|(s, sig)| {
                    let sig = *sig;
                    Box::pin(async move {
                        s.recv().await;
                        sig
                    })
                });
                let (sig, _, _) = futures::future::select_all(waits).await;
                eprintln!("applianced drill: {sig}; removing the rehearsal's namespaces");
                clean_up();
                std::process::exit(128 + sig as i32);
            });
        });
    if spawned.is_ok() {
        let _ = wait.recv_timeout(std::time::Duration::from_secs(5));
    }
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
