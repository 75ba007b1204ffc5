//! Notify commands: run in the order the state changes happened, one at a time, each killed
//! (with its process group) at its timeout, so a hung script can neither reorder nor block
//! later notifications forever.

use std::time::Duration;

use tokio::process::Command;
use tokio::sync::mpsc;

pub struct Job {
    pub argv: Vec<String>,
    pub timeout: Duration,
}

#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Job>,
}

impl Notifier {
    /// Starts the runner; it ends when every `Notifier` clone is dropped and the queue is empty.
    pub fn start() -> Notifier {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                run(job).await;
            }
        });
        Notifier { tx }
    }

    pub fn enqueue(&self, job: Job) {
        let _ = self.tx.send(job);
    }
}

async fn run(job: Job) {
    let Some((prog, args)) = job.argv.split_first() else {
        return;
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("notify {prog}: cannot start: {e}");
            return;
        }
    };
    match tokio::time::timeout(job.timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => tracing::warn!("notify {}: {status}", job.argv.join(" ")),
        Ok(Err(e)) => tracing::warn!("notify {prog}: {e}"),
        Err(_) => {
            if let Some(pid) = child.id() {
                // The whole group: a shell script's children must not outlive it.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait().await;
            tracing::warn!(
                "notify {}: killed after {} ms",
                job.argv.join(" "),
                job.timeout.as_millis()
            );
        }
    }
}
