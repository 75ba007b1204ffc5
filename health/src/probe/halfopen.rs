//! Half-open TCP check (`handshake = "half-open"`, F5's "TCP Half Open" monitor): send a SYN,
//! take a SYN-ACK as up and a RST as refused, and let our kernel answer the SYN-ACK with a RST,
//! so no connection is ever established.
//!
//! Why: a full connect costs a socket, an epoll registration, three segments, a child socket
//! and an accept() on the backend, and a RST. At a thousand checks a second that is most of the
//! checker's CPU, nearly all of it in the kernel. A half-open probe is one `sendto` on a shared
//! raw socket and one datagram read, and the backend application never sees it (no accept, no
//! "connection reset" in its logs). It proves what a full connect proves about a TCP service:
//! the kernel holds a listening socket whose accept queue has room.
//!
//! How: one raw TCP socket per address family, shared by every half-open check of a runner,
//! with `IP_HDRINCL` so each SYN carries its own source address. Our source ports, a block of
//! [`PORTS`], are reserved by bound, never-listening TCP sockets: nothing else can take them,
//! and because no socket accepts on them the kernel resets every SYN-ACK that arrives there.
//! A classic BPF filter on the raw socket passes only segments to that block, so the checker
//! does not wake for the host's other TCP traffic. Replies are matched on (our port, peer,
//! peer port, our ISN + 1).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, SockFilter, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{bind_addr, describe_io, describe_send, random_u32, Deadline, ProbeContext};
use crate::result::ProbeResult;
use crate::spec::TcpCheck;
use crate::wire::tcp::{parse_reply, syn};

/// The kernel's SYN retransmission schedule (RFC 6298 §2: initial RTO 1 s, doubling), so a
/// half-open check with a long timeout survives one lost segment as a connect() would.
const FIRST_RTO: Duration = Duration::from_secs(1);
/// Ports per family reserved as our source ports: a probe takes the next in turn.
const PORTS: u16 = 64;
/// How long a looked-up source address is trusted before asking the routing table again.
const SOURCE_TTL: Duration = Duration::from_secs(10);

pub async fn check(spec: &TcpCheck, engines: &Engines, ctx: ProbeContext) -> ProbeResult {
    let deadline = Deadline::new(ctx.timeout);
    let target = spec.target;
    let engine = match engines.get(target.is_ipv6()) {
        Ok(e) => e,
        Err(e) => return deadline.fail(format!("raw TCP socket: {}", describe_io(&e))),
    };
    let source = match engine.source_for(target, ctx.source) {
        Ok(s) => s,
        Err(e) => return deadline.fail(format!("source: {}", describe_io(&e))),
    };
    let isn = random_u32();
    let port = engine.next_port();
    let Some(segment) = syn(source, port, target.ip(), target.port(), isn) else {
        return deadline.fail("source and target are of different families");
    };
    let (tx, mut rx) = oneshot::channel();
    let _pending = engine.expect(
        Key {
            port,
            peer: target.ip(),
            peer_port: target.port(),
            ack: isn.wrapping_add(1),
        },
        tx,
    );
    let mut rto = FIRST_RTO;
    loop {
        // Raw sockets ignore the port; routing uses the address.
        if let Err(e) = engine
            .socket
            .send_to(&segment, SocketAddr::new(target.ip(), 0))
            .await
        {
            return deadline.fail(format!("send SYN: {}", describe_send(&e)));
        }
        match deadline
            .run("SYN-ACK", tokio::time::timeout(rto, &mut rx))
            .await
        {
            Ok(Ok(Ok(Answer::SynAck))) => return deadline.ok("SYN-ACK"),
            Ok(Ok(Ok(Answer::Reset))) => return deadline.fail("connection refused"),
            Ok(Ok(Err(_))) => return deadline.fail("half-open checker stopped"),
            Ok(Err(_)) => rto *= 2,
            Err(timeout) => return timeout,
        }
    }
}

/// The raw sockets of one runner, opened on first use (inside its runtime) and closed when the
/// last prober holding them is dropped.
#[derive(Debug, Default)]
pub struct Engines {
    v4: Mutex<Option<Arc<Engine>>>,
    v6: Mutex<Option<Arc<Engine>>>,
}

impl Engines {
    fn get(&self, v6: bool) -> io::Result<Arc<Engine>> {
        let slot = if v6 { &self.v6 } else { &self.v4 };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = slot.as_ref() {
            // A receiver that ended (its runtime shut down) cannot be reused.
            if !e.receiver.is_finished() {
                return Ok(e.clone());
            }
        }
        let e = Arc::new(Engine::open(v6)?);
        *slot = Some(e.clone());
        Ok(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    port: u16,
    peer: IpAddr,
    peer_port: u16,
    /// Our ISN + 1: what both a SYN-ACK and a RST to our SYN acknowledge.
    ack: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    SynAck,
    Reset,
}

/// (target, configured source) -> the source address to write into our SYNs.
type SourceKey = (IpAddr, Option<IpAddr>);

type Pending = Arc<Mutex<HashMap<Key, oneshot::Sender<Answer>>>>;

#[derive(Debug)]
struct Engine {
    socket: Arc<UdpSocket>,
    /// Our ports are `base .. base + PORTS`.
    base: u16,
    next: AtomicU16,
    /// Hold our ports: bound, never listening.
    _reservations: Vec<Socket>,
    pending: Pending,
    sources: Mutex<HashMap<SourceKey, (IpAddr, Instant)>>,
    receiver: JoinHandle<()>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

impl Engine {
    fn open(v6: bool) -> io::Result<Self> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let (base, reservations) = reserve_ports(v6)?;
        let raw = Socket::new(domain, Type::RAW, Some(Protocol::TCP))?;
        if v6 {
            raw.set_header_included_v6(true)?;
        } else {
            raw.set_header_included_v4(true)?;
        }
        raw.attach_filter(&destination_port_filter(v6, base, PORTS))?;
        raw.set_nonblocking(true)?;
        // Segments queued before the filter was attached may be anyone's: the reader ignores
        // whatever does not match a pending probe, so no drain is needed.
        // tokio's UdpSocket only needs a datagram-style fd with sendto/recvfrom; wrapping the raw
        // socket in it gives async readiness without an unsafe read into uninitialised memory.
        let std_sock: StdUdpSocket = raw.into();
        let socket = Arc::new(UdpSocket::from_std(std_sock)?);
        let pending: Pending = Arc::default();
        let receiver = tokio::spawn(receive(socket.clone(), pending.clone(), v6));
        Ok(Self {
            socket,
            base,
            next: AtomicU16::new(0),
            _reservations: reservations,
            pending,
            sources: Mutex::default(),
            receiver,
        })
    }

    /// Our ports in turn: a port comes back only after `PORTS` other probes, so two probes of
    /// one target never share a 4-tuple while the first is in flight (the target would take
    /// the second SYN for a bad one on its half-open connection and drop it).
    fn next_port(&self) -> u16 {
        self.base + self.next.fetch_add(1, Ordering::Relaxed) % PORTS
    }

    /// The source address for `target`: the configured one (checked to be local once per TTL),
    /// or the one the routing table picks, learned by connecting a UDP socket (no packet sent).
    fn source_for(&self, target: SocketAddr, configured: Option<IpAddr>) -> io::Result<IpAddr> {
        let now = Instant::now();
        let key = (target.ip(), configured);
        let mut cache = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((src, at)) = cache.get(&key) {
            if now.duration_since(*at) < SOURCE_TTL {
                return Ok(*src);
            }
        }
        let probe = StdUdpSocket::bind(bind_addr(configured, target.ip()))?;
        probe.connect(target)?;
        let src = probe.local_addr()?.ip();
        if cache.len() > 4096 {
            cache.retain(|_, (_, at)| now.duration_since(*at) < SOURCE_TTL);
        }
        cache.insert(key, (src, now));
        Ok(src)
    }

    fn expect(&self, key: Key, tx: oneshot::Sender<Answer>) -> PendingGuard<'_> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, tx);
        PendingGuard { engine: self, key }
    }
}

/// Removes a probe's entry however it ends (answer, timeout, or its task being dropped).
struct PendingGuard<'a> {
    engine: &'a Engine,
    key: Key,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.engine
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// Read every segment the filter passes and complete the probe it answers.
async fn receive(socket: Arc<UdpSocket>, pending: Pending, v6: bool) {
    let mut buf = [0u8; 256];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "half-open check socket read failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // A segment longer than the buffer is truncated, which the header parse tolerates.
        let Some(reply) = parse_reply(v6, &buf[..n.min(buf.len())]) else {
            continue;
        };
        let answer = if reply.is_syn_ack() {
            Answer::SynAck
        } else if reply.is_reset() {
            Answer::Reset
        } else {
            continue;
        };
        let key = Key {
            port: reply.destination_port,
            peer: from.ip(),
            peer_port: reply.source_port,
            ack: reply.ack,
        };
        let waiter = pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        if let Some(tx) = waiter {
            let _ = tx.send(answer);
        }
    }
}

/// Reserve `PORTS` consecutive ports by binding a TCP socket to each (never listening): a
/// block, so the socket filter is a range test. Tried at random places in the ephemeral range.
fn reserve_ports(v6: bool) -> io::Result<(u16, Vec<Socket>)> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let wildcard: IpAddr = if v6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let (low, high) = ephemeral_range();
    let span = high.saturating_sub(low).saturating_sub(PORTS);
    let mut last = io::Error::other("no free block of ports");
    for _ in 0..32 {
        let base = low + (random_u32() % u32::from(span.max(1))) as u16;
        let mut held = Vec::with_capacity(usize::from(PORTS));
        let block = (0..PORTS).try_for_each(|i| {
            let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
            if v6 {
                s.set_only_v6(true)?;
            }
            s.bind(&SockAddr::from(SocketAddr::new(wildcard, base + i)))?;
            held.push(s);
            Ok::<_, io::Error>(())
        });
        match block {
            Ok(()) => return Ok((base, held)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// `net.ipv4.ip_local_port_range` (shared by IPv6): ports no service is configured on.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(l, h)| h > l && h - l > PORTS * 4)
        .unwrap_or((32768, 60999))
}

/// Classic BPF: accept a TCP segment only if its destination port is in `base .. base + n`.
/// IPv4 raw sockets see the IP header (variable length: `ldxb 4*([0]&0xf)`), IPv6 raw sockets
/// the segment alone.
fn destination_port_filter(v6: bool, base: u16, n: u16) -> Vec<SockFilter> {
    const LD_H_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const LD_H_IND: u16 = 0x48; // BPF_LD | BPF_H | BPF_IND
    const LDX_B_MSH: u16 = 0xb1; // BPF_LDX | BPF_B | BPF_MSH
    const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let (lo, hi) = (u32::from(base), u32::from(base) + u32::from(n) - 1);
    let mut f = if v6 {
        vec![SockFilter::new(LD_H_ABS, 0, 0, 2)]
    } else {
        vec![
            SockFilter::new(LDX_B_MSH, 0, 0, 0),
            SockFilter::new(LD_H_IND, 0, 0, 2),
        ]
    };
    f.extend([
        SockFilter::new(JGE_K, 0, 2, lo), // below the block: drop
        SockFilter::new(JGT_K, 1, 0, hi), // above the block: drop
        SockFilter::new(RET_K, 0, 0, 0xFFFF),
        SockFilter::new(RET_K, 0, 0, 0),
    ]);
    f
}
