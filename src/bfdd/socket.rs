//! UDP sockets for single-hop BFD (RFC 5881). Receiving: one socket per local address sessions
//! use (the unspecified address of a family when a neighbour has no `local_address`), bound to
//! port 3784, reporting TTL / Hop Limit and destination of every datagram. Sending:
//! one socket per session, bound to its local address and a source port of 49152-65535, TTL /
//! Hop Limit 255.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{self as nixsock, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

/// DSCP CS6 (network control), as BIRD and FRR mark BFD.
const TOS_NETWORK_CONTROL: u32 = 0xc0;
/// RFC 5881 §5: "If BFD authentication is not in use on a session, all BFD Control packets for
/// the session MUST be sent with a Time to Live (TTL) or Hop Limit value of 255."
const TTL: u32 = 255;

/// One received datagram with what demultiplexing and the §5 check need from its headers.
#[derive(Debug, Clone)]
pub struct Received {
    pub src: IpAddr,
    /// The address it was sent to (ours).
    pub dst: IpAddr,
    pub ttl: u8,
    pub payload: Vec<u8>,
}

pub struct RxSocket {
    fd: AsyncFd<Socket>,
}

impl RxSocket {
    /// Binds `addr`:3784. IP_FREEBIND lets a session's socket exist before its address is
    /// configured (datagrams arrive once it is); SO_REUSEADDR lets a specific address and the
    /// wildcard of its family be bound at once (the kernel delivers to the most specific).
    pub fn open(addr: IpAddr) -> io::Result<RxSocket> {
        let v6 = addr.is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_nonblocking(true)?;
        s.set_reuse_address(true)?;
        // Hundreds of sessions at 50 ms add up; a backlog must not be dropped while the loop
        // is busy.
        s.set_recv_buffer_size(1 << 20)?;
        if v6 {
            s.set_only_v6(true)?;
            s.set_freebind_ipv6(true)?;
            nixsock::setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true).map_err(io::Error::from)?;
            nixsock::setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true).map_err(io::Error::from)?;
        } else {
            s.set_freebind(true)?;
            nixsock::setsockopt(&s, sockopt::Ipv4RecvTtl, &true).map_err(io::Error::from)?;
            nixsock::setsockopt(&s, sockopt::Ipv4PacketInfo, &true).map_err(io::Error::from)?;
        }
        s.bind(&SockAddr::from(SocketAddr::new(
            addr,
            ::bfd::SINGLE_HOP_PORT,
        )))?;
        // SAFETY: `s` owns an open socket and the AsyncFd takes ownership of it: the fd stays
        // open and the same for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register(s) }.map_err(|e| e.into_parts().1)?;
        Ok(RxSocket { fd })
    }

    /// What the socket holds now, without waiting; `None` once empty.
    pub fn try_recv(&self) -> Option<Received> {
        loop {
            match recv(self.fd.get_ref()) {
                Ok(Some(r)) => return Some(r),
                Ok(None) => continue,
                Err(_) => return None,
            }
        }
    }

    pub async fn recv(&self) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            match recv(guard.get_inner()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Ok(Some(r)) => return Ok(r),
                Ok(None) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// One datagram with its TTL / Hop Limit (IP_RECVTTL, IPV6_RECVHOPLIMIT) and destination
/// (IP_PKTINFO, IPV6_RECVPKTINFO). `Ok(None)`: no source address (cannot happen on
/// UDP, but then nothing could be done with it).
fn recv(s: &Socket) -> io::Result<Option<Received>> {
    let mut buf = [0u8; 512];
    let mut cmsg = nix::cmsg_space!(
        libc::in6_pktinfo,
        libc::c_int,
        libc::in_pktinfo,
        libc::c_int
    );
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let msg = nixsock::recvmsg::<SockaddrStorage>(
        s.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let n = msg.bytes;
    let src = match msg.address {
        Some(a) => match (a.as_sockaddr_in(), a.as_sockaddr_in6()) {
            (Some(v4), _) => IpAddr::V4(v4.ip()),
            (_, Some(v6)) => IpAddr::V6(v6.ip()),
            _ => return Ok(None),
        },
        None => return Ok(None),
    };
    // No TTL reported reads as 0, which the session discards (§5): never accepted by default.
    let mut ttl = 0u8;
    let mut dst = match src {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    for c in msg.cmsgs().map_err(io::Error::from)? {
        match c {
            ControlMessageOwned::Ipv4Ttl(t) => ttl = t.clamp(0, 255) as u8,
            ControlMessageOwned::Ipv6HopLimit(h) => ttl = h.clamp(0, 255) as u8,
            ControlMessageOwned::Ipv4PacketInfo(info) => {
                dst = IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
            }
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                dst = IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            _ => {}
        }
    }
    Ok(Some(Received {
        src,
        dst,
        ttl,
        payload: buf[..n].to_vec(),
    }))
}

pub struct TxSocket {
    sock: Socket,
    /// Our source port (RFC 5881 §4: the same for every packet of the session).
    pub port: u16,
}

impl TxSocket {
    /// Binds `local` (or the unspecified address of `peer`'s family: the kernel then picks the
    /// source by route) and a source port from 49152-65535, starting at `first_try`.
    pub fn open(peer: IpAddr, local: Option<IpAddr>, first_try: u16) -> io::Result<TxSocket> {
        let v6 = peer.is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_nonblocking(true)?;
        if v6 {
            s.set_only_v6(true)?;
            s.set_freebind_ipv6(true)?;
            s.set_unicast_hops_v6(TTL)?;
            s.set_tclass_v6(TOS_NETWORK_CONTROL)?;
        } else {
            s.set_freebind(true)?;
            s.set_ttl(TTL)?;
            s.set_tos(TOS_NETWORK_CONTROL)?;
        }
        let addr = local.unwrap_or(if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
        // RFC 5881 §4: "The source port MUST be in the range 49152 through 65535." Linux's
        // ephemeral ports (32768-60999 by default) are not, so the port is chosen here.
        let (lo, hi) = (
            *::bfd::SOURCE_PORTS.start() as u32,
            *::bfd::SOURCE_PORTS.end() as u32,
        );
        let span = hi - lo + 1;
        let start = u32::from(first_try).saturating_sub(lo) % span;
        let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free source port");
        for i in 0..span.min(512) {
            let port = (lo + (start + i) % span) as u16;
            match s.bind(&SockAddr::from(SocketAddr::new(addr, port))) {
                Ok(()) => return Ok(TxSocket { sock: s, port }),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Sends without waiting: a Control packet that cannot leave now is stale by the next.
    pub fn send(&self, bytes: &[u8], peer: IpAddr) -> io::Result<usize> {
        self.sock.send_to(
            bytes,
            &SockAddr::from(SocketAddr::new(peer, ::bfd::SINGLE_HOP_PORT)),
        )
    }
}
