//! The daemon's side of systemd's notification protocol (sd_notify(3)) against a socket the test
//! binds itself, with no systemd and no namespace (the configuration declares no interface, so
//! the daemon touches nothing in the kernel): `READY=1` once `appctl` gets an answer,
//! `RELOADING=1` with `MONOTONIC_USEC` and `READY=1` around a reload by SIGHUP and by
//! `appctl reload`, `WATCHDOG=1` at half of `WATCHDOG_USEC` with a status line, `STOPPING=1`
//! with room for the shutdown grace. The package test runs the same daemon under a real systemd.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A scratch directory and the daemon running in it; both go on every path.
struct Run {
    dir: PathBuf,
    child: Option<Child>,
}

impl Run {
    fn dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("appl-notify-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `applianced run` on a file with nothing but its own state directory and socket.
    fn start(dir: PathBuf, env: &[(&str, String)]) -> Run {
        let config = dir.join("appliance.toml");
        std::fs::write(
            &config,
            format!(
                "[daemon]\nnode_name = \"notify\"\nstate_dir = \"{0}/state\"\n\
                 shutdown_grace = \"1s\"\n\n[control]\nsocket = \"{0}/state/appctl.sock\"\n",
                dir.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("applianced.log")).unwrap();
        let mut cmd = Command::new(netns_tests::bin_path("applianced"));
        cmd.args(["run", "-c"])
            .arg(&config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start applianced");
        Run {
            dir,
            child: Some(child),
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().unwrap().id() as i32)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("state/appctl.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("applianced.log")).unwrap_or_default()
    }

    fn appctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(netns_tests::bin_path("appctl"))
            .arg("-s")
            .arg(self.socket())
            .args(args)
            .output()
            .unwrap()
    }

    /// SIGTERM and the exit status, within `limit`.
    fn stop(&mut self, limit: Duration) -> std::process::ExitStatus {
        kill(self.pid(), Signal::SIGTERM).unwrap();
        let child = self.child.as_mut().unwrap();
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < until,
                "applianced did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("applianced's log:\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The next datagram as `KEY=VALUE` lines, or `None` after `within`.
fn next(sock: &UnixDatagram, within: Duration) -> Option<Vec<String>> {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    match sock.recv(&mut buf) {
        Ok(n) => Some(
            String::from_utf8(buf[..n].to_vec())
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect(),
        ),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("recv: {e}"),
    }
}

/// Datagrams until one has `key` (those before it are returned too); panics after `within`.
fn until(sock: &UnixDatagram, key: &str, within: Duration, run: &Run) -> Vec<Vec<String>> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(msg) = next(sock, left.max(Duration::from_millis(1))) else {
            panic!("no {key} within {within:?}; got {seen:?}\n{}", run.log());
        };
        let done = msg.iter().any(|l| l == key);
        seen.push(msg);
        if done {
            return seen;
        }
    }
}

fn value<'m>(msg: &'m [String], key: &str) -> Option<&'m str> {
    msg.iter()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn monotonic_usec() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    ts.tv_sec() as u64 * 1_000_000 + ts.tv_nsec() as u64 / 1_000
}

fn bind(path: &Path) -> UnixDatagram {
    UnixDatagram::bind(path).unwrap()
}

#[test]
fn ready_reload_watchdog_and_stop_reach_a_path_socket() {
    let dir = Run::dir("path");
    let sock = bind(&dir.join("notify"));
    let mut run = Run::start(
        dir.clone(),
        &[
            ("NOTIFY_SOCKET", dir.join("notify").display().to_string()),
            // 400 ms: a ping every 200 ms.
            ("WATCHDOG_USEC", "400000".into()),
        ],
    );

    // READY=1 comes once the control socket has answered: appctl works at once.
    let ready = until(&sock, "READY=1", Duration::from_secs(20), &run);
    let ready = ready.last().unwrap();
    assert_eq!(value(ready, "STATUS"), Some("generation 1"), "{ready:?}");
    let st = run.appctl(&["status", "--json"]);
    assert!(st.status.success(), "{st:?}");

    // The watchdog: about every 200 ms, each with the status line.
    let t0 = Instant::now();
    let mut pings = 0;
    while t0.elapsed() < Duration::from_millis(1000) {
        if let Some(msg) = next(&sock, Duration::from_millis(500)) {
            if msg.iter().any(|l| l == "WATCHDOG=1") {
                pings += 1;
                assert_eq!(value(&msg, "STATUS"), Some("generation 1"), "{msg:?}");
            }
        }
    }
    assert!(
        (2..=8).contains(&pings),
        "{pings} pings in 1 s at a 200 ms period"
    );

    // SIGHUP: RELOADING=1 stamped with the monotonic clock of the request, then READY=1.
    let before = monotonic_usec();
    kill(run.pid(), Signal::SIGHUP).unwrap();
    let msgs = until(&sock, "READY=1", Duration::from_secs(10), &run);
    let after = monotonic_usec();
    let reloading = msgs
        .iter()
        .find(|m| m.iter().any(|l| l == "RELOADING=1"))
        .unwrap_or_else(|| panic!("no RELOADING=1 before READY=1: {msgs:?}"));
    let stamp: u64 = value(reloading, "MONOTONIC_USEC").unwrap().parse().unwrap();
    assert!(
        before <= stamp && stamp <= after,
        "{before} <= {stamp} <= {after}"
    );
    assert_eq!(value(reloading, "STATUS"), Some("reloading (SIGHUP)"));
    let done = msgs.last().unwrap();
    assert_eq!(
        value(done, "STATUS"),
        Some("reloaded: generation 2, 0 change(s)"),
        "{done:?}"
    );

    // appctl reload with a broken file: the same pair, READY=1 saying it was rejected.
    std::fs::write(dir.join("appliance.toml"), "[daemon\n").unwrap();
    let out = run.appctl(&["reload"]);
    assert!(!out.status.success(), "{out:?}");
    let msgs = until(&sock, "READY=1", Duration::from_secs(10), &run);
    assert!(
        msgs.iter()
            .any(|m| value(m, "STATUS") == Some("reloading (appctl reload)")),
        "{msgs:?}"
    );
    let done = msgs.last().unwrap();
    let status = value(done, "STATUS").unwrap();
    assert!(
        status.starts_with("reload rejected, configuration unchanged: ")
            && status.contains("appliance.toml:1:"),
        "{status}"
    );

    // SIGTERM: STOPPING=1 asking for the grace (1 s) plus 30 s, then a clean exit.
    let status = run.stop(Duration::from_secs(15));
    let msgs = until(&sock, "STOPPING=1", Duration::from_secs(1), &run);
    let stopping = msgs.last().unwrap();
    assert_eq!(value(stopping, "EXTEND_TIMEOUT_USEC"), Some("31000000"));
    assert_eq!(value(stopping, "STATUS"), Some("stopping (SIGTERM)"));
    assert!(status.success(), "{status:?}\n{}", run.log());
}

#[test]
fn an_abstract_socket_name_works_too() {
    let dir = Run::dir("abstract");
    let name = format!("appliance-notify-test-{}", std::process::id());
    let sock = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
    let mut run = Run::start(dir, &[("NOTIFY_SOCKET", format!("@{name}"))]);
    until(&sock, "READY=1", Duration::from_secs(20), &run);
    // No watchdog asked for: nothing more until the stop.
    assert_eq!(next(&sock, Duration::from_millis(300)), None);
    assert!(run.stop(Duration::from_secs(15)).success());
    until(&sock, "STOPPING=1", Duration::from_secs(1), &run);
}

#[test]
fn a_watchdog_meant_for_another_process_is_left_alone() {
    // WATCHDOG_PID names another process (as for a child that inherited the variables).
    let dir = Run::dir("otherpid");
    let sock = bind(&dir.join("notify"));
    let mut run = Run::start(
        dir.clone(),
        &[
            ("NOTIFY_SOCKET", dir.join("notify").display().to_string()),
            ("WATCHDOG_USEC", "200000".into()),
            ("WATCHDOG_PID", "1".into()),
        ],
    );
    until(&sock, "READY=1", Duration::from_secs(20), &run);
    assert_eq!(next(&sock, Duration::from_millis(500)), None);
    assert!(run.stop(Duration::from_secs(15)).success());
}
