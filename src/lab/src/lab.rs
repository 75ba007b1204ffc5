//! [`Lab`]: the per-test context that owns and tears down everything.
//!
//! Every namespace, link and process a test creates is registered with its
//! Lab *before* it is created, so `Drop` removes it on every path — normal
//! return, failed assertion, or a panic half-way through setting it up.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::bins::workspace_root;
use crate::cleanup;
use crate::cmd;
use crate::netns::Netns;
use crate::process::ProcInner;
use crate::tools::{require_root, require_tool};

/// Default time processes get between SIGTERM and SIGKILL at teardown.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(2);

/// Largest tail of one log printed to stderr when a test fails.
const DUMP_LIMIT: usize = 256 * 1024;

/// Locks a mutex, ignoring poisoning: teardown must still run after a panic
/// on another thread that held the lock.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct State {
    namespaces: Vec<String>,
    /// (namespace, interface) of links and bridges, in creation order.
    links: Vec<(String, String)>,
    procs: Vec<Arc<ProcInner>>,
    log_names: HashSet<String>,
    keep: bool,
    grace: Option<Duration>,
}

/// Shared by the [`Lab`] and every handle ([`Netns`], [`crate::Proc`]) made from it.
pub(crate) struct LabInner {
    test_name: String,
    artifacts: PathBuf,
    cmd_log: Mutex<Option<File>>,
    state: Mutex<State>,
}

impl LabInner {
    /// Appends a line to `<artifacts>/lab-commands.log`.
    pub(crate) fn log_command(&self, line: &str) {
        if let Some(f) = lock(&self.cmd_log).as_mut() {
            let _ = writeln!(f, "{line}");
        }
    }

    /// Runs a command, recording it and its result in the command log.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let out = cmd::run(args);
        self.log_command(&cmd::summary(args, &out));
        out
    }

    /// Runs a command that must succeed; panics with command and stderr otherwise.
    pub(crate) fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        if !out.status.success() {
            panic!("{}", cmd::failure_message(args, &out));
        }
        out
    }

    pub(crate) fn register_netns(&self, name: &str) {
        lock(&self.state).namespaces.push(name.to_string());
    }

    pub(crate) fn register_link(&self, netns: &str, ifname: &str) {
        lock(&self.state)
            .links
            .push((netns.to_string(), ifname.to_string()));
    }

    pub(crate) fn register_proc(&self, p: Arc<ProcInner>) {
        lock(&self.state).procs.push(p);
    }

    /// A fresh `<artifacts>/<name>.log` path; a repeated name (a daemon
    /// restarted by the test) gets `<name>-2.log`, ... so logs never mix.
    pub(crate) fn new_log_path(&self, name: &str) -> PathBuf {
        let mut st = lock(&self.state);
        let mut stem = name.to_string();
        let mut k = 1;
        while !st.log_names.insert(stem.clone()) {
            k += 1;
            stem = format!("{name}-{k}");
        }
        self.artifacts.join(format!("{stem}.log"))
    }
}

/// The per-test context. Create one at the top of each test; everything it
/// creates is removed when it is dropped (including on panic).
///
/// On drop it: stops its processes (SIGTERM, grace, SIGKILL, reap); if the
/// test is panicking, prints each namespace's addresses/routes and every
/// captured log to stderr; kills anything left inside its namespaces; deletes
/// its links, bridges and namespaces; and removes the artifacts directory
/// unless the test failed, [`Lab::keep_artifacts`] was called, or
/// `NETNS_KEEP=1` is set.
pub struct Lab {
    inner: Arc<LabInner>,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("test_name", &self.inner.test_name)
            .field("artifacts", &self.inner.artifacts)
            .finish()
    }
}

impl Lab {
    /// Starts a lab for `test_name` (used for the artifacts directory
    /// `netns-tests/artifacts/<test_name>-<pid>/` of the source tree: the
    /// tests' and the benchmarks' labs keep their logs beside the tests).
    ///
    /// Panics (failing the test) if not root or `ip` is missing. The first Lab
    /// of a process also removes stale namespaces left by killed earlier runs.
    pub fn new(test_name: &str) -> Lab {
        Lab::new_in(
            &workspace_root().join("netns-tests").join("artifacts"),
            test_name,
        )
    }

    /// Like [`Lab::new`], with the artifacts directory `<base>/<test_name>-<pid>/`: for a
    /// program that runs outside the source tree (the failover drill of an installed
    /// `applianced`).
    pub fn new_in(base: &Path, test_name: &str) -> Lab {
        require_root();
        require_tool("ip");
        cleanup::remove_stale_once();

        let artifacts = create_artifacts_dir(base, test_name);
        let cmd_log = File::create(artifacts.join("lab-commands.log")).ok();
        Lab {
            inner: Arc::new(LabInner {
                test_name: test_name.to_string(),
                artifacts,
                cmd_log: Mutex::new(cmd_log),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Like [`Lab::new`], named after the running test: libtest names each
    /// test's thread after the test path (e.g. `vrrp::failover`).
    pub fn for_current_test() -> Lab {
        let name = std::thread::current()
            .name()
            .filter(|n| *n != "main")
            .unwrap_or("lab")
            .to_string();
        Lab::new(&name)
    }

    /// The name given to [`Lab::new`].
    pub fn test_name(&self) -> &str {
        &self.inner.test_name
    }

    /// This test's artifacts directory (logs, configs).
    pub fn artifacts(&self) -> &Path {
        &self.inner.artifacts
    }

    /// Path of `file` inside the artifacts directory (e.g. a daemon config).
    pub fn artifact_path(&self, file: &str) -> PathBuf {
        self.inner.artifacts.join(file)
    }

    /// Writes `contents` to `file` in the artifacts directory, returning its path.
    pub fn write_artifact(&self, file: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.artifact_path(file);
        fs::write(&p, contents)
            .unwrap_or_else(|e| panic!("netns-tests: cannot write {}: {e}", p.display()));
        p
    }

    /// Keep the artifacts directory even if the test passes.
    pub fn keep_artifacts(&self) {
        lock(&self.inner.state).keep = true;
    }

    /// Time processes get between SIGTERM and SIGKILL at teardown
    /// (default [`DEFAULT_STOP_GRACE`]).
    pub fn set_stop_grace(&self, grace: Duration) {
        lock(&self.inner.state).grace = Some(grace);
    }

    /// Creates a namespace `nt-<pid>-<n>-<short>` with `lo` up.
    ///
    /// IPv6 duplicate address detection is turned off in it (`accept_dad=0`
    /// for all/default, set before any interface exists) so addresses —
    /// including the kernel's link-local ones that VRRPv3 and NDP send from —
    /// are usable at once instead of "tentative" for a second or more.
    pub fn netns(&self, short: &str) -> Netns {
        let name = cleanup::unique_netns_name(short);
        // Registered first: if creation fails half-way, Drop still tries.
        self.inner.register_netns(&name);
        cleanup::add_netns(|| self.inner.run_ok(&["ip", "netns", "add", &name]));
        let ns = Netns::new(&name, short, self.inner.clone());
        ns.ip_ok(&["link", "set", "lo", "up"]);
        // One process for both writes: namespace creation is on every test's path.
        ns.run_ok(&[
            "sh",
            "-c",
            "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad && \
             echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad",
        ]);
        ns
    }

    /// Names of all namespaces this lab created.
    pub fn namespaces(&self) -> Vec<String> {
        lock(&self.inner.state).namespaces.clone()
    }

    pub(crate) fn inner(&self) -> &Arc<LabInner> {
        &self.inner
    }
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "lab".to_string()
    } else {
        s
    }
}

/// Creates `<base>/<test>-<pid>[-k]/`; `create_dir` (not `_all`) on the
/// leaf makes two Labs with the same name in one process get distinct
/// directories instead of sharing one.
fn create_artifacts_dir(base: &Path, test_name: &str) -> PathBuf {
    fs::create_dir_all(base)
        .unwrap_or_else(|e| panic!("netns-tests: cannot create {}: {e}", base.display()));
    let stem = format!("{}-{}", sanitize(test_name), std::process::id());
    for k in 1.. {
        let dir = if k == 1 {
            base.join(&stem)
        } else {
            base.join(format!("{stem}-{k}"))
        };
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("netns-tests: cannot create {}: {e}", dir.display()),
        }
    }
    unreachable!()
}

impl Drop for Lab {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let inner = &self.inner;
        let (procs, links, namespaces, keep, grace) = {
            let mut st = lock(&inner.state);
            (
                std::mem::take(&mut st.procs),
                std::mem::take(&mut st.links),
                std::mem::take(&mut st.namespaces),
                st.keep,
                st.grace.unwrap_or(DEFAULT_STOP_GRACE),
            )
        };

        stop_all(&procs, grace);

        if panicking {
            dump(inner, &procs, &namespaces);
        }

        // Anything still inside (e.g. a daemon that forked into the
        // background) would keep a deleted namespace alive.
        for ns in &namespaces {
            cleanup::kill_netns_pids(ns);
        }
        // Deleting one veth end also removes its peer, so errors here are
        // expected and ignored; the namespace deletion below is what counts.
        for (ns, ifname) in links.iter().rev() {
            let _ = cmd::try_run(&["ip", "-n", ns, "link", "del", ifname]);
        }
        for ns in &namespaces {
            if let Err(e) = cleanup::delete_netns(ns) {
                // A namespace that never got created is not a leak.
                if !e.contains("No such file") {
                    eprintln!("netns-tests: WARNING: could not delete namespace {ns}: {e}");
                }
            }
        }

        *lock(&inner.cmd_log) = None;
        let env_keep = std::env::var("NETNS_KEEP").is_ok_and(|v| v == "1");
        if panicking || keep || env_keep {
            eprintln!(
                "netns-tests: artifacts of `{}` kept in {}",
                inner.test_name,
                inner.artifacts.display()
            );
        } else {
            let _ = fs::remove_dir_all(&inner.artifacts);
        }
    }
}

/// SIGTERM everything first, give all of them one shared grace period, then
/// SIGKILL the rest and reap all, so teardown takes at most ~`grace` total.
fn stop_all(procs: &[Arc<ProcInner>], grace: Duration) {
    for p in procs {
        let _ = p.signal(Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && procs.iter().any(|p| p.try_status().is_none()) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for p in procs {
        let _ = p.signal(Signal::SIGKILL);
        p.reap();
    }
}

/// Prints the network state and every log to stderr. libtest captures
/// stderr per test and shows it only for failing tests, which is exactly
/// when this runs.
fn dump(inner: &LabInner, procs: &[Arc<ProcInner>], namespaces: &[String]) {
    let mut out = String::new();
    out.push_str(&format!(
        "\n======== netns-tests: `{}` failed; artifacts in {} ========\n",
        inner.test_name,
        inner.artifacts.display()
    ));
    for ns in namespaces {
        for args in [
            &["-br", "link"][..],
            &["-br", "addr"][..],
            &["route"][..],
            &["-6", "route"][..],
        ] {
            let mut argv = vec!["ip", "-n", ns.as_str()];
            argv.extend_from_slice(args);
            if let Some(o) = cmd::try_run(&argv) {
                out.push_str(&format!("-------- {} --------\n", cmd::render(&argv)));
                out.push_str(&String::from_utf8_lossy(&o.stdout));
                out.push_str(&String::from_utf8_lossy(&o.stderr));
            }
        }
    }
    let mut shown = HashSet::new();
    for p in procs {
        let header = format!(
            "{} (`{}`, exit: {})",
            p.log_path().display(),
            p.name(),
            p.try_status()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "still running".into())
        );
        append_file(&mut out, &header, p.log_path());
        shown.insert(p.log_path().to_path_buf());
    }
    // Other logs the test wrote itself; the command log last.
    let cmd_log = inner.artifacts.join("lab-commands.log");
    let mut others: Vec<PathBuf> = fs::read_dir(&inner.artifacts)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    others.sort();
    for p in others {
        let is_log = p.extension().is_some_and(|e| e == "log");
        if is_log && !shown.contains(&p) && p != cmd_log {
            append_file(&mut out, &p.display().to_string(), &p);
        }
    }
    append_file(&mut out, &cmd_log.display().to_string(), &cmd_log);
    out.push_str("======== end of netns-tests dump ========\n");
    eprint!("{out}");
}

fn append_file(out: &mut String, header: &str, path: &Path) {
    out.push_str(&format!("======== log: {header} ========\n"));
    let bytes = fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(DUMP_LIMIT);
    if start > 0 {
        out.push_str(&format!("[... first {start} bytes omitted ...]\n"));
    }
    let text = String::from_utf8_lossy(&bytes[start..]);
    out.push_str(&text);
    if !text.is_empty() && !text.ends_with('\n') {
        out.push('\n');
    }
}
