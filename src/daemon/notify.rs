//! systemd's service notification protocol (sd_notify(3)), without libsystemd: one datagram of
//! newline-separated `KEY=VALUE` lines to the unix socket named by `$NOTIFY_SOCKET` (a path, or
//! an abstract name written with a leading `@`). The unit is `Type=notify` with a watchdog:
//! `READY=1` once the daemon serves, `RELOADING=1`/`READY=1` around a reload, `STOPPING=1` at
//! shutdown, `WATCHDOG=1` from the supervisor's loop, `STATUS=` for `systemctl status`.
//!
//! Outside systemd (no `$NOTIFY_SOCKET`) every call does nothing. A failed send is logged once
//! and otherwise ignored: the daemon's job is the network, not its service manager.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One line of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Ready,
    /// `RELOADING=1`; systemd 253+ wants the `CLOCK_MONOTONIC` time of the request beside it.
    Reloading {
        monotonic_usec: u64,
    },
    Stopping,
    Watchdog,
    /// Free text for `systemctl status`; kept to one line.
    Status(String),
    /// Asks for more time than `TimeoutStopSec=` (or the start/reload timeout) from now.
    ExtendTimeout(Duration),
}

/// The datagram for `states`, one `KEY=VALUE` per line.
pub fn message(states: &[State]) -> String {
    let mut out = String::new();
    for s in states {
        match s {
            State::Ready => out.push_str("READY=1"),
            State::Reloading { monotonic_usec } => {
                out.push_str(&format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}"))
            }
            State::Stopping => out.push_str("STOPPING=1"),
            State::Watchdog => out.push_str("WATCHDOG=1"),
            // A newline would end the value and start a line systemd parses as a key.
            State::Status(text) => {
                out.push_str("STATUS=");
                out.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
            }
            State::ExtendTimeout(d) => {
                out.push_str(&format!("EXTEND_TIMEOUT_USEC={}", d.as_micros()))
            }
        }
        out.push('\n');
    }
    out
}

/// Where `$NOTIFY_SOCKET` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Path(std::path::PathBuf),
    /// The name without the leading `@` (the kernel's leading NUL).
    Abstract(Vec<u8>),
}

/// `$NOTIFY_SOCKET`: an absolute path or `@name`; anything else (systemd 253's `vsock:`, a
/// relative path) is refused with the reason.
pub fn parse_socket(value: &OsStr) -> Result<Target, String> {
    let bytes = value.as_bytes();
    match bytes.first() {
        Some(b'/') => Ok(Target::Path(value.into())),
        Some(b'@') if bytes.len() > 1 => Ok(Target::Abstract(bytes[1..].to_vec())),
        _ => Err(format!(
            "NOTIFY_SOCKET={} is neither an absolute path nor an abstract name (@...)",
            value.to_string_lossy()
        )),
    }
}

/// The watchdog interval systemd asked for: `$WATCHDOG_USEC`, if `$WATCHDOG_PID` is unset or
/// names this process (a child that inherited the variables must not pet its parent's dog).
pub fn parse_watchdog(
    usec: Option<&str>,
    pid: Option<&str>,
    own_pid: u32,
) -> Result<Option<Duration>, String> {
    let Some(usec) = usec else { return Ok(None) };
    if let Some(pid) = pid {
        let pid: u32 = pid
            .trim()
            .parse()
            .map_err(|_| format!("WATCHDOG_PID={pid} is not a process id"))?;
        if pid != own_pid {
            return Ok(None);
        }
    }
    match usec.trim().parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(Duration::from_micros(n))),
        Err(_) => Err(format!(
            "WATCHDOG_USEC={usec} is not a number of microseconds"
        )),
    }
}

/// How often to send `WATCHDOG=1`: half the timeout, as sd_watchdog_enabled(3) advises, so one
/// late tick is not yet a restart.
pub fn watchdog_period(timeout: Duration) -> Duration {
    (timeout / 2).max(Duration::from_millis(1))
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares `MONOTONIC_USEC` with.
pub fn monotonic_usec() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => ts.tv_sec() as u64 * 1_000_000 + ts.tv_nsec() as u64 / 1_000,
        Err(_) => 0,
    }
}

/// The daemon's end of the protocol.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
    warned: AtomicBool,
}

impl Notifier {
    /// From the environment systemd gives a `Type=notify` service; inert when not under it.
    /// The variables stay set: children (check commands, notify scripts) cannot pose as the
    /// daemon because the unit keeps the default `NotifyAccess=main`, and `WATCHDOG_PID` keeps
    /// them off the watchdog.
    pub fn from_env() -> Notifier {
        let watchdog = parse_watchdog(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        )
        .unwrap_or_else(|e| {
            tracing::warn!("systemd watchdog ignored: {e}");
            None
        });
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|v| match Self::open(&v) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("systemd notifications disabled: {e}");
                None
            }
        });
        // Petting a dog nobody listens to would be a timer for nothing.
        let watchdog = watchdog.filter(|_| target.is_some());
        Notifier {
            target,
            watchdog,
            warned: AtomicBool::new(false),
        }
    }

    fn open(value: &OsStr) -> Result<(UnixDatagram, SocketAddr), String> {
        let addr = match parse_socket(value)? {
            Target::Path(p) => SocketAddr::from_pathname(&p),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name)
            }
        }
        .map_err(|e| format!("NOTIFY_SOCKET={}: {e}", value.to_string_lossy()))?;
        let sock = UnixDatagram::unbound().map_err(|e| format!("unix datagram socket: {e}"))?;
        Ok((sock, addr))
    }

    /// Whether a service manager listens (`$NOTIFY_SOCKET` was usable).
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The watchdog timeout, when systemd set one for this process.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    pub fn notify(&self, states: &[State]) {
        let Some((sock, addr)) = &self.target else {
            return;
        };
        if let Err(e) = sock.send_to_addr(message(states).as_bytes(), addr) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!("cannot notify systemd: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_key_value_lines() {
        assert_eq!(message(&[State::Ready]), "READY=1\n");
        assert_eq!(
            message(&[
                State::Reloading {
                    monotonic_usec: 12_345
                },
                State::Status("reloading (SIGHUP)".into())
            ]),
            "RELOADING=1\nMONOTONIC_USEC=12345\nSTATUS=reloading (SIGHUP)\n"
        );
        assert_eq!(
            message(&[
                State::Stopping,
                State::ExtendTimeout(Duration::from_secs(20))
            ]),
            "STOPPING=1\nEXTEND_TIMEOUT_USEC=20000000\n"
        );
        assert_eq!(message(&[State::Watchdog]), "WATCHDOG=1\n");
    }

    #[test]
    fn a_status_stays_on_one_line() {
        // A reload error spans lines; only the STATUS key may come out of it.
        let m = message(&[State::Status("bad file\nREADY=1\tx".into())]);
        assert_eq!(m, "STATUS=bad file READY=1 x\n");
        assert_eq!(m.lines().count(), 1);
    }

    #[test]
    fn notify_socket_paths_and_abstract_names() {
        assert_eq!(
            parse_socket(OsStr::new("/run/systemd/notify")),
            Ok(Target::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            parse_socket(OsStr::new("@/org/freedesktop/systemd1/notify/123")),
            Ok(Target::Abstract(
                b"/org/freedesktop/systemd1/notify/123".to_vec()
            ))
        );
        for bad in ["", "@", "relative/path", "vsock:2:1234"] {
            assert!(parse_socket(OsStr::new(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_watchdog_is_ours_only_when_the_pid_matches() {
        let s = Some(Duration::from_secs(30));
        assert_eq!(parse_watchdog(Some("30000000"), None, 7), Ok(s));
        assert_eq!(parse_watchdog(Some("30000000"), Some("7"), 7), Ok(s));
        assert_eq!(parse_watchdog(Some("30000000"), Some("8"), 7), Ok(None));
        assert_eq!(parse_watchdog(None, Some("7"), 7), Ok(None));
        assert_eq!(parse_watchdog(Some("0"), None, 7), Ok(None));
        assert!(parse_watchdog(Some("30s"), None, 7).is_err());
        assert!(parse_watchdog(Some("1"), Some("x"), 7).is_err());
        assert_eq!(
            watchdog_period(Duration::from_secs(30)),
            Duration::from_secs(15)
        );
    }

    #[test]
    fn datagrams_reach_path_and_abstract_sockets() {
        let dir = std::env::temp_dir().join(format!("appliance-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            target: Some(Notifier::open(path.as_os_str()).unwrap()),
            watchdog: None,
            warned: AtomicBool::new(false),
        };
        n.notify(&[State::Ready, State::Status("up".into())]);
        let mut buf = [0u8; 256];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=up\n");
        std::fs::remove_dir_all(&dir).unwrap();

        use std::os::linux::net::SocketAddrExt;
        let name = format!("appliance-notify-test-{}", std::process::id());
        let abs = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        let n = Notifier {
            target: Some(Notifier::open(OsStr::new(&format!("@{name}"))).unwrap()),
            watchdog: None,
            warned: AtomicBool::new(false),
        };
        n.notify(&[State::Stopping]);
        let len = abs.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1\n");
    }
}
