//! The client's traffic through the service VIPs, for the whole rehearsal:
//! - HTTP requests at a steady rate, each on a connection of its own (`Connection: close`),
//!   round-robin over the TCP services; one fails when it errs or has no complete 200 answer
//!   within the request timeout;
//! - UDP requests at a steady rate over the UDP services, one datagram each from a port of its
//!   own; one fails without an answer within the timeout;
//! - without services, ICMP echo requests at the HTTP rate to the timed instance's virtual
//!   address (a VRRP-only pair), one socket each;
//! - long-lived TCP connections over the TCP services, each sending an HTTP keep-alive request
//!   every period; one breaks when an exchange errs or has no answer within the connection
//!   timeout (a retransmission that gets through in time is no break).
//!
//! One thread inside the client's namespace drives everything on a current-thread tokio
//! runtime; what happens is recorded with Unix times in microseconds.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::drill::cluster::netns;

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http,
    Udp,
    Icmp,
}

/// One request: sent at `t_us`, done (answered or given up) at `done_us`.
#[derive(Debug, Clone)]
pub struct Req {
    pub t_us: i64,
    pub done_us: i64,
    pub proto: Proto,
    /// `None` when it was answered.
    pub failed: Option<&'static str>,
}

/// A long-lived connection that broke.
#[derive(Debug, Clone)]
pub struct Break {
    pub t_us: i64,
    pub to: SocketAddrV4,
    pub why: &'static str,
}

#[derive(Debug, Default)]
pub struct Log {
    pub reqs: Vec<Req>,
    pub breaks: Vec<Break>,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub http: Vec<SocketAddrV4>,
    pub udp: Vec<SocketAddrV4>,
    /// Echo requests to these addresses at `http_rate` (when there is no service).
    pub icmp: Vec<Ipv4Addr>,
    /// HTTP requests per second (all TCP services together).
    pub http_rate: u32,
    /// UDP requests per second (all UDP services together).
    pub udp_rate: u32,
    pub connections: usize,
    pub period: Duration,
    pub request_timeout: Duration,
    pub connection_timeout: Duration,
}

/// The open connections: id → the time of their last answered exchange (or of opening).
#[derive(Default)]
struct Live(Mutex<std::collections::BTreeMap<u64, i64>>);

impl Live {
    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, i64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

enum Cmd {
    /// Open connections until `connections` run (opening or open).
    Reopen,
}

pub struct Traffic {
    pub spec: Spec,
    log: Arc<Mutex<Log>>,
    /// Connections open now: their number, and the time of the last exchange each answered.
    live: Arc<Live>,
    tx: Option<mpsc::UnboundedSender<Cmd>>,
    thread: Option<JoinHandle<()>>,
}

impl Traffic {
    /// Starts the requests at once (connections are opened by [`Traffic::reopen`]).
    pub fn start(ns: &str, spec: Spec) -> Traffic {
        let log = Arc::new(Mutex::new(Log::default()));
        let live = Arc::new(Live::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let (s, l, a) = (spec.clone(), log.clone(), live.clone());
        let thread = netns::spawn(ns, "client-traffic", move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(drive(s, l, a, rx));
        });
        Traffic {
            spec,
            log,
            live,
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Opens connections up to the spec's number and waits (up to `timeout`) until they are
    /// open; returns how many are.
    pub fn reopen(&self, timeout: Duration) -> usize {
        if self.spec.http.is_empty() {
            return 0;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(Cmd::Reopen);
        }
        let deadline = std::time::Instant::now() + timeout;
        while self.alive() < self.spec.connections && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.alive()
    }

    pub fn alive(&self) -> usize {
        self.live.map().len()
    }

    /// Whether every open connection has had an exchange answered at or after `t_us`: none is
    /// still waiting on one from before (which may yet break, and would be counted later).
    pub fn answered_since(&self, t_us: i64) -> bool {
        self.live.map().values().all(|&last| last >= t_us)
    }

    /// Requests sent in `[from, to)` and breaks in that time.
    pub fn between(&self, from: i64, to: i64) -> (Vec<Req>, Vec<Break>) {
        let l = self.log.lock().unwrap_or_else(|e| e.into_inner());
        (
            l.reqs
                .iter()
                .filter(|r| r.t_us >= from && r.t_us < to)
                .cloned()
                .collect(),
            l.breaks
                .iter()
                .filter(|b| b.t_us >= from && b.t_us < to)
                .cloned()
                .collect(),
        )
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        // The runtime ends with the channel, and every socket with it.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn drive(
    spec: Spec,
    log: Arc<Mutex<Log>>,
    live: Arc<Live>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
) {
    let running = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let timeout = spec.request_timeout;
    if spec.http_rate > 0 {
        stream(
            &mut tasks,
            &log,
            spec.http_rate,
            spec.http.clone(),
            timeout,
            Proto::Http,
            |to, _| http_request(to),
        );
        stream(
            &mut tasks,
            &log,
            spec.http_rate,
            spec.icmp.clone(),
            timeout,
            Proto::Icmp,
            echo,
        );
    }
    if spec.udp_rate > 0 {
        stream(
            &mut tasks,
            &log,
            spec.udp_rate,
            spec.udp.clone(),
            timeout,
            Proto::Udp,
            udp_request,
        );
    }
    let mut next_slot = 0usize;
    while let Some(Cmd::Reopen) = rx.recv().await {
        if spec.http.is_empty() {
            continue;
        }
        while running.load(Ordering::Relaxed) < spec.connections {
            running.fetch_add(1, Ordering::Relaxed);
            let to = spec.http[next_slot % spec.http.len()];
            // Exchanges spread over the period, not all at once.
            let offset = spec.period * (next_slot % 97) as u32 / 97;
            next_slot += 1;
            let id = next_slot as u64;
            let (l, a, r, s) = (log.clone(), live.clone(), running.clone(), spec.clone());
            tasks.spawn(async move {
                connection(id, to, offset, &s, &l, &a).await;
                r.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
    tasks.abort_all();
}

/// Requests at `rate` per second, round robin over `targets` (none: no stream), each on a task
/// of its own so a slow answer never delays the next; each recorded as answered or failed.
fn stream<T, F, Fut>(
    tasks: &mut tokio::task::JoinSet<()>,
    log: &Arc<Mutex<Log>>,
    rate: u32,
    targets: Vec<T>,
    timeout: Duration,
    proto: Proto,
    request: F,
) where
    T: Copy + Send + 'static,
    F: Fn(T, usize) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), &'static str>> + Send + 'static,
{
    if targets.is_empty() {
        return;
    }
    let log = log.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for k in 0usize.. {
            tick.tick().await;
            let (l, r) = (log.clone(), request(targets[k % targets.len()], k));
            tokio::spawn(async move {
                let t = now_us();
                let r = tokio::time::timeout(timeout, r)
                    .await
                    .unwrap_or(Err("timeout"));
                record(&l, t, proto, r.err());
            });
        }
    });
}

fn record(log: &Mutex<Log>, t_us: i64, proto: Proto, failed: Option<&'static str>) {
    let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
    l.reqs.push(Req {
        t_us,
        done_us: now_us(),
        proto,
        failed,
    });
}

fn reason(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset => "reset",
        ConnectionRefused => "refused",
        ConnectionAborted | BrokenPipe | UnexpectedEof => "closed",
        TimedOut => "timeout",
        HostUnreachable | NetworkUnreachable => "unreachable",
        _ => "error",
    }
}

async fn http_request(to: SocketAddrV4) -> Result<(), &'static str> {
    let mut s = TcpStream::connect(to).await.map_err(|e| reason(&e))?;
    let _ = s.set_nodelay(true);
    let req = format!(
        "GET /drill HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        to.ip()
    );
    s.write_all(req.as_bytes()).await.map_err(|e| reason(&e))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.map_err(|e| reason(&e))?;
    if resp.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else if resp.is_empty() {
        Err("closed")
    } else {
        Err("bad answer")
    }
}

async fn udp_request(to: SocketAddrV4, k: usize) -> Result<(), &'static str> {
    let s = UdpSocket::bind("0.0.0.0:0").await.map_err(|e| reason(&e))?;
    s.connect(to).await.map_err(|e| reason(&e))?;
    s.send(format!("drill {k}\n").as_bytes())
        .await
        .map_err(|e| reason(&e))?;
    let mut buf = [0u8; 2048];
    s.recv(&mut buf).await.map(|_| ()).map_err(|e| reason(&e))
}

/// One echo request from a ping socket of its own (the kernel sets the identifier and
/// delivers only the replies to it; the client's namespace allows root's group such sockets).
async fn echo(to: Ipv4Addr, k: usize) -> Result<(), &'static str> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s =
        Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)).map_err(|e| reason(&e))?;
    s.set_nonblocking(true).map_err(|e| reason(&e))?;
    let s = UdpSocket::from_std(std::net::UdpSocket::from(s)).map_err(|e| reason(&e))?;
    s.connect((to, 0)).await.map_err(|e| reason(&e))?;
    let seq = (k & 0xffff) as u16;
    let [hi, lo] = seq.to_be_bytes();
    // Echo request: type 8, code 0; checksum and identifier are the kernel's.
    let req = [
        8, 0, 0, 0, 0, 0, hi, lo, b'd', b'r', b'i', b'l', b'l', 0, 0, 0,
    ];
    s.send(&req).await.map_err(|e| reason(&e))?;
    let mut buf = [0u8; 2048];
    loop {
        let n = s.recv(&mut buf).await.map_err(|e| reason(&e))?;
        if n >= 8 && buf[0] == 0 && buf[6..8] == [hi, lo] {
            return Ok(());
        }
    }
}

/// One long-lived connection: opened, then an exchange every period until one fails.
async fn connection(
    id: u64,
    to: SocketAddrV4,
    offset: Duration,
    spec: &Spec,
    log: &Mutex<Log>,
    live: &Live,
) {
    let open = tokio::time::timeout(spec.connection_timeout, TcpStream::connect(to)).await;
    let Ok(Ok(mut s)) = open else {
        // Not opened: the next reopen tries again; nothing was broken.
        return;
    };
    let _ = s.set_nodelay(true);
    live.map().insert(id, now_us());
    tokio::time::sleep(offset).await;
    let mut tick = tokio::time::interval(spec.period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let why = loop {
        tick.tick().await;
        let r = tokio::time::timeout(spec.connection_timeout, exchange(&mut s, to))
            .await
            .unwrap_or(Err("timeout"));
        match r {
            Ok(()) => {
                live.map().insert(id, now_us());
            }
            Err(why) => break why,
        }
    };
    live.map().remove(&id);
    let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
    l.breaks.push(Break {
        t_us: now_us(),
        to,
        why,
    });
}

/// One keep-alive request and its whole answer (by Content-Length).
async fn exchange(s: &mut TcpStream, to: SocketAddrV4) -> Result<(), &'static str> {
    let req = format!(
        "GET /drill/keep-alive HTTP/1.1\r\nHost: {}\r\n\r\n",
        to.ip()
    );
    s.write_all(req.as_bytes()).await.map_err(|e| reason(&e))?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                return Err("bad answer");
            }
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                match s.read(&mut chunk).await {
                    Ok(0) => return Err("closed"),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) => return Err(reason(&e)),
                }
            }
            return Ok(());
        }
        match s.read(&mut chunk).await {
            Ok(0) => return Err("closed"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(reason(&e)),
        }
        if buf.len() > 64 * 1024 {
            return Err("bad answer");
        }
    }
}
