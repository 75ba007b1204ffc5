//! Long-running processes inside a namespace, with captured output.
//!
//! A [`Proc`] is a handle; the [`crate::Lab`] that spawned it owns the process
//! and stops it in its `Drop`, so dropping a `Proc` handle does not kill it
//! (this keeps `let _ = ns.spawn(..)` from silently killing a daemon).

use std::fs::{File, OpenOptions};
use std::io;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cmd;
use crate::lab::lock;
use crate::netns::Netns;

enum State {
    /// Not yet reaped: while we hold the un-waited `Child`, its PID cannot be
    /// reused, so signalling it by PID is safe.
    Running(Child),
    Exited(ExitStatus),
}

pub(crate) struct ProcInner {
    name: String,
    pid: u32,
    netns: String,
    cmdline: String,
    log_path: PathBuf,
    state: Mutex<State>,
    /// The write end of its stdin when spawned with [`ProcBuilder::stdin_piped`].
    stdin: Mutex<Option<ChildStdin>>,
}

impl ProcInner {
    pub(crate) fn try_status(&self) -> Option<ExitStatus> {
        let mut st = lock(&self.state);
        match &mut *st {
            State::Exited(s) => Some(*s),
            State::Running(child) => match child.try_wait() {
                Ok(Some(s)) => {
                    *st = State::Exited(s);
                    Some(s)
                }
                Ok(None) => None,
                // ECHILD: someone else reaped it; treat as gone.
                Err(_) => {
                    let s = ExitStatus::from_raw(0xff << 8);
                    *st = State::Exited(s);
                    Some(s)
                }
            },
        }
    }

    pub(crate) fn signal(&self, sig: Signal) -> nix::Result<()> {
        // Holding the lock across check-and-kill means the child cannot be
        // reaped (and its PID recycled) in between.
        let mut st = lock(&self.state);
        if let State::Running(child) = &mut *st {
            match child.try_wait() {
                Ok(None) => return kill(Pid::from_raw(self.pid as i32), sig),
                Ok(Some(s)) => *st = State::Exited(s),
                Err(_) => {}
            }
        }
        Err(Errno::ESRCH)
    }

    /// Blocks until the process is reaped (call after SIGKILL).
    pub(crate) fn reap(&self) -> ExitStatus {
        let mut st = lock(&self.state);
        match &mut *st {
            State::Exited(s) => *s,
            State::Running(child) => {
                let s = child
                    .wait()
                    .unwrap_or_else(|_| ExitStatus::from_raw(0xff << 8));
                *st = State::Exited(s);
                s
            }
        }
    }

    pub(crate) fn wait_timeout(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; always reaps.
    pub(crate) fn stop(&self, grace: Duration) -> ExitStatus {
        if self.signal(Signal::SIGTERM).is_ok() {
            if let Some(s) = self.wait_timeout(grace) {
                return s;
            }
        }
        let _ = self.signal(Signal::SIGKILL);
        self.reap()
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }
}

/// Handle to a process spawned inside a namespace by [`Netns::spawn`].
///
/// Cloning is cheap; all clones refer to the same process.
#[derive(Clone)]
pub struct Proc {
    inner: Arc<ProcInner>,
}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proc")
            .field("name", &self.inner.name)
            .field("pid", &self.inner.pid)
            .field("netns", &self.inner.netns)
            .finish()
    }
}

impl Proc {
    /// The name given at spawn (also the log file's stem).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// PID of the command itself: `ip netns exec` exec()s into it, so the
    /// child we forked *is* the command (no wrapper process in between).
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The namespace it runs in.
    pub fn netns_name(&self) -> &str {
        &self.inner.netns
    }

    /// The command line, as run.
    pub fn cmdline(&self) -> &str {
        &self.inner.cmdline
    }

    /// File receiving the process's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.inner.log_path
    }

    /// Everything the process has written to stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.inner.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Sends `sig`. Fails with `ESRCH` once the process has exited, never
    /// signalling a recycled PID.
    pub fn signal(&self, sig: Signal) -> nix::Result<()> {
        self.inner.signal(sig)
    }

    /// Exit status if it has exited (reaps it), `None` while running.
    pub fn try_status(&self) -> Option<ExitStatus> {
        self.inner.try_status()
    }

    /// True while the process has not exited.
    pub fn is_running(&self) -> bool {
        self.try_status().is_none()
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<ExitStatus> {
        self.inner.wait_timeout(timeout)
    }

    /// SIGKILL and reap; returns the exit status (of an earlier exit, if any).
    pub fn kill(&self) -> ExitStatus {
        let _ = self.inner.signal(Signal::SIGKILL);
        self.inner.reap()
    }

    /// Graceful stop: SIGTERM, wait up to `grace`, then SIGKILL; reaps.
    pub fn stop(&self, grace: Duration) -> ExitStatus {
        self.inner.stop(grace)
    }

    /// Writes `text` to the process's stdin (an interactive program driven by the
    /// test, such as testpmd's command line). Fails unless it was spawned with
    /// [`ProcBuilder::stdin_piped`] and is still reading.
    pub fn write_stdin(&self, text: &str) -> io::Result<()> {
        let mut stdin = lock(&self.inner.stdin);
        let w = stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("stdin is not piped"))?;
        w.write_all(text.as_bytes())?;
        w.flush()
    }
}

/// Builder for a process with extra environment or working directory; see
/// [`Netns::process`]. [`Netns::spawn`] is the plain shortcut.
#[must_use = "call .spawn() to start the process"]
pub struct ProcBuilder {
    ns: Netns,
    name: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    stdin_piped: bool,
}

impl ProcBuilder {
    pub(crate) fn new(ns: &Netns, name: &str, args: &[&str]) -> Self {
        assert!(
            !args.is_empty(),
            "netns-tests: spawn `{name}` with an empty command"
        );
        assert!(
            !name.is_empty() && !name.contains('/') && !name.starts_with('.'),
            "netns-tests: process name {name:?} must be a plain file-name stem"
        );
        ProcBuilder {
            ns: ns.clone(),
            name: name.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            envs: Vec::new(),
            cwd: None,
            stdin_piped: false,
        }
    }

    /// Sets an environment variable for the process (e.g. `RUST_LOG`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets the working directory (default: the test's current directory).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Gives the process a pipe as stdin (default: /dev/null), written with
    /// [`Proc::write_stdin`]; the pipe closes when the lab is dropped.
    pub fn stdin_piped(mut self) -> Self {
        self.stdin_piped = true;
        self
    }

    /// Starts the process; panics if it cannot be started.
    pub fn spawn(self) -> Proc {
        let lab = self.ns.lab();
        let log_path = lab.new_log_path(&self.name);
        let log = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("netns-tests: cannot create {}: {e}", log_path.display()));
        let argv: Vec<&str> = ["ip", "netns", "exec", self.ns.name()]
            .into_iter()
            .chain(self.args.iter().map(String::as_str))
            .collect();
        let cmdline = cmd::render(&argv);

        let mut command = Command::new("ip");
        command.args(&argv[1..]).stdin(if self.stdin_piped {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        set_output(&mut command, &log);
        command.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        set_parent_death_signal(&mut command);

        let mut child = spawn_from_long_lived_thread(command).unwrap_or_else(|e| {
            panic!(
                "netns-tests: cannot start `{cmdline}`: {e}{}",
                crate::tools::install_hint("ip")
            )
        });
        let pid = child.id();
        lab.log_command(&format!(
            "$ {cmdline} &  -> pid {pid}, output in {}",
            log_path.display()
        ));
        let inner = Arc::new(ProcInner {
            name: self.name,
            pid,
            netns: self.ns.name().to_string(),
            cmdline,
            log_path,
            stdin: Mutex::new(child.stdin.take()),
            state: Mutex::new(State::Running(child)),
        });
        lab.register_proc(inner.clone());
        Proc { inner }
    }
}

fn set_output(command: &mut Command, log: &File) {
    // stdout and stderr share one O_APPEND file, so lines interleave in the
    // order written and neither stream clobbers the other.
    let err = log
        .try_clone()
        .unwrap_or_else(|e| panic!("netns-tests: cannot dup log fd: {e}"));
    let out = log
        .try_clone()
        .unwrap_or_else(|e| panic!("netns-tests: cannot dup log fd: {e}"));
    command.stdout(out).stderr(err);
}

/// Makes the child receive SIGKILL when the test process dies, so a test
/// binary killed mid-run (no `Drop`) does not leave daemons behind.
fn set_parent_death_signal(command: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe functions may be called; it calls only prctl(2),
    // getppid(2) and _exit(2), which are, and touches no locks or heap.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then the
            // signal was never armed and we were re-parented. Die now.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

struct SpawnRequest {
    command: Command,
    reply: mpsc::Sender<io::Result<Child>>,
}

/// Forks `command` from a dedicated thread that lives as long as the process.
///
/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not
/// the process (prctl(2)). Tests spawn from short-lived threads (cargo test
/// runs each test on its own thread; tokio recycles blocking threads), which
/// would kill daemons mid-test. Forking from one thread that never exits makes
/// the signal fire only when the whole test process dies.
fn spawn_from_long_lived_thread(command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("netns-tests-spawner".into())
            .spawn(move || {
                for mut req in rx {
                    let _ = req.reply.send(req.command.spawn());
                }
            })
            .expect("netns-tests: cannot start spawner thread");
        tx
    });
    let (reply, rx) = mpsc::channel();
    tx.send(SpawnRequest { command, reply })
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("spawner thread is gone"))?
}
