//! External command check (keepalived `MISC_CHECK` / `vrrp_script`): exit 0 is up.
//!
//! The command runs in its own process group so that at the timeout the whole group is killed:
//! `sh -c 'curl ...'` would otherwise leave the grandchild running after the shell dies. The
//! tail of stdout/stderr becomes the detail text, so an operator sees why a script failed.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;

use super::{push_tail, Deadline, ProbeContext};
use crate::result::ProbeResult;
use crate::spec::ExecCheck;

/// Bytes of output kept per stream.
const TAIL: usize = 256;
/// After the command exits, how long to wait for its pipes to drain. A background grandchild
/// may hold them open for ever; its output is not worth delaying the verdict.
const DRAIN: Duration = Duration::from_millis(50);

pub async fn check(spec: &ExecCheck, ctx: ProbeContext) -> ProbeResult {
    let deadline = Deadline::new(ctx.timeout);
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // Belt and braces with `GroupGuard`: the direct child at least dies on drop.
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return deadline.fail(format!("cannot run {}: {e}", spec.program.display()));
        }
    };
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    // If this future is dropped mid-run (shutdown, runner backstop), kill the whole group.
    let mut guard = GroupGuard(pgid);
    let out = Tail::default();
    let err = Tail::default();
    let readers = [
        out.spawn(child.stdout.take()),
        err.spawn(child.stderr.take()),
    ];

    let status = match deadline.run("command", child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return deadline.fail(format!("wait: {e}")),
        Err(mut timeout) => {
            guard.kill();
            let _ = child.wait().await; // reap, no zombie
            guard.0 = None;
            finish(readers).await;
            timeout.detail = join_detail(
                &format!("{}, process group killed", timeout.detail),
                &out,
                &err,
            );
            return timeout;
        }
    };
    // Reaped: the pid may be reused from now on, so never signal its group again.
    guard.0 = None;
    finish(readers).await;

    let code = status.code();
    let result = match (code, spec.dynamic) {
        (Some(0), _) => deadline.ok(join_detail("exit 0", &out, &err)),
        (Some(c @ 2..=255), true) => deadline
            .ok(join_detail(&format!("exit {c}"), &out, &err))
            .with_weight(c - 2),
        (Some(c), _) => deadline.fail(join_detail(&format!("exit status {c}"), &out, &err)),
        (None, _) => {
            use std::os::unix::process::ExitStatusExt;
            let sig = status.signal().unwrap_or_default();
            deadline.fail(join_detail(&format!("killed by signal {sig}"), &out, &err))
        }
    };
    result
}

/// Kills the command's process group when dropped, unless disarmed (`.0 = None`) after the
/// leader was reaped.
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0 {
            // ESRCH just means everything already exited.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn finish(readers: [JoinHandle<()>; 2]) {
    for r in readers {
        let abort = r.abort_handle();
        if tokio::time::timeout(DRAIN, r).await.is_err() {
            abort.abort();
        }
    }
}

fn join_detail(head: &str, out: &Tail, err: &Tail) -> String {
    let mut s = head.to_string();
    for (name, t) in [("stderr", err), ("stdout", out)] {
        let text = t.text();
        if !text.is_empty() {
            s.push_str(&format!("; {name}: {text}"));
        }
    }
    s
}

/// The last [`TAIL`] bytes of one output stream, shared with its reader task so that what was
/// read survives the task being aborted.
#[derive(Default, Clone)]
struct Tail(Arc<Mutex<Vec<u8>>>);

impl Tail {
    fn spawn<R: AsyncRead + Unpin + Send + 'static>(&self, pipe: Option<R>) -> JoinHandle<()> {
        let tail = self.clone();
        tokio::spawn(async move {
            let Some(mut pipe) = pipe else { return };
            let mut chunk = [0u8; 1024];
            while let Ok(n) = pipe.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut buf) = tail.0.lock() {
                    push_tail(&mut buf, &chunk[..n], TAIL);
                }
            }
        })
    }

    fn text(&self) -> String {
        let buf = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&buf)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}
