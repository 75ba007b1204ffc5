//! Each node's event log, followed live over its control socket (`appctl events --follow`
//! without the process): VRRP state changes, checks going up and down, BGP sessions and
//! announcements, reloads, each with the daemon's own time. A thread per node reconnects after
//! the daemon restarts, so the record spans every life of the node.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::control::protocol::{Command, Request, Response, PROTOCOL_VERSION};
use crate::events::Event;

/// An event of node `node`.
#[derive(Debug, Clone)]
pub struct NodeEvent {
    pub node: usize,
    pub event: Event,
}

impl NodeEvent {
    pub fn t_us(&self) -> i64 {
        self.event.unix_ms as i64 * 1000
    }

    /// `(from, to)` of a VRRP state change.
    pub fn vrrp_change(&self) -> Option<(&str, &str)> {
        (self.event.subsystem == "vrrp" && self.event.kind == "state_change").then(|| {
            (
                self.event.fields["from"].as_str().unwrap_or(""),
                self.event.fields["to"].as_str().unwrap_or(""),
            )
        })
    }
}

pub struct Follower {
    events: Arc<Mutex<Vec<NodeEvent>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Follower {
    /// Follows the daemons whose control sockets are `sockets` (node 0, 1, ...).
    pub fn start(sockets: Vec<PathBuf>) -> Follower {
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = sockets
            .into_iter()
            .enumerate()
            .map(|(node, path)| {
                let (ev, st) = (events.clone(), stop.clone());
                std::thread::Builder::new()
                    .name(format!("follow-{node}"))
                    .spawn(move || follow(node, &path, &ev, &st))
                    .expect("spawn a thread")
            })
            .collect();
        Follower {
            events,
            stop,
            threads,
        }
    }

    pub fn events(&self) -> Vec<NodeEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Reads events until `stop`; reconnects (after a daemon restart, from the new daemon's first
/// event) whenever the stream ends.
fn follow(node: usize, path: &PathBuf, out: &Mutex<Vec<NodeEvent>>, stop: &AtomicBool) {
    // (daemon pid, last sequence number) of what was read, so a reconnection to the same
    // daemon does not repeat events.
    let mut seen: Option<(u32, u64)> = None;
    while !stop.load(Ordering::Relaxed) {
        let Ok(pid) = daemon_pid(path) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let since = match seen {
            Some((p, seq)) if p == pid => seq,
            _ => 0,
        };
        let Ok(stream) = UnixStream::connect(path) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        // A short timeout lets the loop look at `stop` while the daemon is quiet.
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let Ok(mut w) = stream.try_clone() else {
            continue;
        };
        if send(
            &mut w,
            Command::Events {
                since,
                follow: true,
            },
        )
        .is_err()
        {
            continue;
        }
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while !stop.load(Ordering::Relaxed) {
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {
                    if let Some(ev) = parse(&line) {
                        seen = Some((pid, ev.seq));
                        out.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(NodeEvent { node, event: ev });
                    }
                    line.clear();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
    }
}

fn send(w: &mut UnixStream, command: Command) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(&Request {
        version: PROTOCOL_VERSION,
        command,
    })?;
    line.push(b'\n');
    w.write_all(&line)
}

fn parse(line: &str) -> Option<Event> {
    let r: Response = serde_json::from_str(line).ok()?;
    r.ok.then_some(())?;
    serde_json::from_value(r.data).ok()
}

/// One request, one response, with a deadline (a stopped daemon must not hang the drill).
pub fn call(path: &PathBuf, command: Command) -> Result<serde_json::Value, String> {
    let stream = UnixStream::connect(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut w = stream.try_clone().map_err(|e| e.to_string())?;
    send(&mut w, command).map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let r: Response = serde_json::from_str(&line).map_err(|e| format!("reply: {e}"))?;
    if r.ok {
        Ok(r.data)
    } else {
        Err(r.error.unwrap_or_else(|| "request failed".into()))
    }
}

fn daemon_pid(path: &PathBuf) -> Result<u32, String> {
    let st = call(path, Command::Status)?;
    st["daemon"]["pid"]
        .as_u64()
        .map(|p| p as u32)
        .ok_or_else(|| "no pid in the status".into())
}
