//! ICMP / ICMPv6 echo check (keepalived `PING_CHECK`).
//!
//! An unprivileged ping socket (`SOCK_DGRAM`, `IPPROTO_ICMP`) is tried first: the kernel then
//! owns the identifier and only hands us replies to it. Without permission
//! (`net.ipv4.ping_group_range`), fall back to a raw socket, which the daemon can open as root;
//! then we pick the identifier and must filter other processes' replies ourselves. Either way
//! the socket is connected to the target, so the kernel drops datagrams from anyone else, and
//! the reply's identifier, sequence number and payload must all match the request.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::UdpSocket;

use super::{bind_addr, describe_io, describe_send, random_u16, Deadline, ProbeContext};
use crate::result::ProbeResult;
use crate::spec::{IcmpCheck, IcmpMode};
use crate::wire::icmp::{echo_request, parse_echo_reply, strip_ipv4_header};

pub async fn check(spec: &IcmpCheck, ctx: ProbeContext) -> ProbeResult {
    let deadline = Deadline::new(ctx.timeout);
    let v6 = spec.target.is_ipv6();
    let (sock, raw) = match open(spec.target, spec.mode, ctx.source) {
        Ok(s) => s,
        Err(e) => return deadline.fail(format!("ICMP socket: {}", describe_io(&e))),
    };
    // For ping sockets the kernel overwrites the identifier with the socket's "port".
    let id = if raw {
        random_u16()
    } else {
        sock.local_addr().map(|a| a.port()).unwrap_or(0)
    };
    static SEQ: AtomicU16 = AtomicU16::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let token = random_u16().to_be_bytes();
    let payload: Vec<u8> = (0..spec.payload_len)
        .map(|i| token[i % 2] ^ (i as u8))
        .collect();
    let request = echo_request(v6, id, seq, &payload);
    if let Err(e) = sock.send(&request).await {
        return deadline.fail(describe_send(&e));
    }
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match deadline.run("echo reply", sock.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return deadline.fail(describe_send(&e)),
            Err(timeout) => return timeout,
        };
        let msg = if raw && !v6 {
            match strip_ipv4_header(&buf[..n]) {
                Some(m) => m,
                None => continue,
            }
        } else {
            &buf[..n]
        };
        // Raw sockets see every ICMP message, our own request on loopback included.
        let Some((rid, rseq, rpayload)) = parse_echo_reply(v6, msg) else {
            continue;
        };
        if (raw && rid != id) || rseq != seq || rpayload != payload.as_slice() {
            continue;
        }
        return deadline.ok(format!("echo reply from {}", spec.target));
    }
}

static DGRAM_DENIED_V4: AtomicBool = AtomicBool::new(false);
static DGRAM_DENIED_V6: AtomicBool = AtomicBool::new(false);

/// Open, bind and connect the ICMP socket; returns whether it is raw.
fn open(target: IpAddr, mode: IcmpMode, source: Option<IpAddr>) -> io::Result<(UdpSocket, bool)> {
    let (domain, proto) = match target {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let (socket, raw) = match mode {
        IcmpMode::Datagram => (Socket::new(domain, Type::DGRAM, Some(proto))?, false),
        IcmpMode::Raw => (Socket::new(domain, Type::RAW, Some(proto))?, true),
        IcmpMode::Auto => {
            // Remember a refusal: ping_group_range rarely changes, and trying a socket that
            // will be refused on every probe of every check is wasted syscalls.
            let denied = if target.is_ipv6() {
                &DGRAM_DENIED_V6
            } else {
                &DGRAM_DENIED_V4
            };
            if denied.load(Ordering::Relaxed) {
                (Socket::new(domain, Type::RAW, Some(proto))?, true)
            } else {
                match Socket::new(domain, Type::DGRAM, Some(proto)) {
                    Ok(s) => (s, false),
                    Err(e) if is_permission(&e) => {
                        denied.store(true, Ordering::Relaxed);
                        (Socket::new(domain, Type::RAW, Some(proto))?, true)
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    };
    socket.set_nonblocking(true)?;
    if source.is_some() {
        socket.bind(&SockAddr::from(bind_addr(source, target)))?;
    }
    socket.connect(&SockAddr::from(SocketAddr::new(target, 0)))?;
    // tokio's UdpSocket only needs a datagram-style fd with send/recv; wrapping the ICMP socket
    // in it gives async readiness without an unsafe AsyncFd read into uninitialised memory.
    let std_sock: std::net::UdpSocket = socket.into();
    Ok((UdpSocket::from_std(std_sock)?, raw))
}

fn is_permission(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied
        || matches!(e.raw_os_error(), Some(code) if code == nix::errno::Errno::EACCES as i32
            || code == nix::errno::Errno::EPERM as i32
            || code == nix::errno::Errno::EPROTONOSUPPORT as i32)
}

/// Whether this process may open any ICMP socket for `target`'s family (tests use this to skip
/// loudly instead of failing where the sandbox forbids ICMP).
pub fn icmp_permitted(v6: bool) -> bool {
    let (domain, proto) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    Socket::new(domain, Type::DGRAM, Some(proto)).is_ok()
        || Socket::new(domain, Type::RAW, Some(proto)).is_ok()
}
