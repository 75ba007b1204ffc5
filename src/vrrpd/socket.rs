//! Raw IP protocol 112 sockets. Receiving: one socket per (interface, family), bound to the
//! device and joined to the VRRP group, shared by every instance there (demultiplexed by VRID).
//! Sending: one socket per instance, bound to its primary address (the advert's source, which
//! the checksum covers) and to the device the adverts must leave from.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{self as nixsock, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

pub const IPPROTO_VRRP: i32 = 112;
const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// DSCP CS6 (network control), as keepalived and FRR mark adverts.
const TOS_NETWORK_CONTROL: u32 = 0xc0;

/// One received advert with what the state machine needs from the IP header.
#[derive(Debug, Clone)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub payload: Vec<u8>,
}

pub struct RxSocket {
    fd: AsyncFd<Socket>,
    v6: bool,
}

impl RxSocket {
    pub fn open(ifname: &str, ifindex: u32, v6: bool) -> io::Result<RxSocket> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let s = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))?;
        s.set_nonblocking(true)?;
        s.bind_device(Some(ifname.as_bytes()))?;
        // A backlog of adverts at 10 ms intervals from many routers must not be dropped.
        s.set_recv_buffer_size(1 << 20)?;
        if v6 {
            s.join_multicast_v6(&GROUP_V6, ifindex)?;
            nixsock::setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true).map_err(io::Error::from)?;
            nixsock::setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true).map_err(io::Error::from)?;
        } else {
            s.join_multicast_v4_n(&GROUP_V4, &InterfaceIndexOrAddress::Index(ifindex))?;
        }
        // SAFETY: `s` owns an open socket and the AsyncFd takes ownership of it: the fd stays
        // open and the same for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register(s) }.map_err(|e| e.into_parts().1)?;
        Ok(RxSocket { fd, v6 })
    }

    /// What the socket holds now, without waiting: `None` once it is empty (or on an error,
    /// which the receive task reports when it meets it).
    pub fn try_recv(&self) -> Option<Received> {
        loop {
            let r = if self.v6 {
                recv_v6(self.fd.get_ref())
            } else {
                recv_v4(self.fd.get_ref())
            };
            match r {
                Ok(Some(r)) => return Some(r),
                Ok(None) => continue,
                Err(_) => return None,
            }
        }
    }

    pub async fn recv(&self) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            let r = if self.v6 {
                recv_v6(guard.get_inner())
            } else {
                recv_v4(guard.get_inner())
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Ok(Some(r)) => return Ok(r),
                // Too short to carry an IP header: nothing the state machine could count.
                Ok(None) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// IPv4 raw sockets deliver the IP header: TTL, source and destination come from it.
fn recv_v4(s: &Socket) -> io::Result<Option<Received>> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    let n = s.recv(&mut buf)?;
    // SAFETY: `recv` initialised the first `n` bytes.
    let pkt: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
    if n < 20 {
        return Ok(None);
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    if ihl < 20 || n < ihl {
        return Ok(None);
    }
    Ok(Some(Received {
        src: IpAddr::V4(Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15])),
        dst: IpAddr::V4(Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19])),
        ttl: pkt[8],
        payload: pkt[ihl..].to_vec(),
    }))
}

/// IPv6 raw sockets deliver only the payload: hop limit and destination come as control
/// messages (IPV6_RECVHOPLIMIT, IPV6_RECVPKTINFO).
fn recv_v6(s: &Socket) -> io::Result<Option<Received>> {
    let mut buf = [0u8; 2048];
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let msg = nixsock::recvmsg::<SockaddrIn6>(
        s.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let n = msg.bytes;
    let Some(src) = msg.address else {
        return Ok(None);
    };
    let mut ttl = 0u8;
    let mut dst = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    for c in msg.cmsgs().map_err(io::Error::from)? {
        match c {
            ControlMessageOwned::Ipv6HopLimit(h) => ttl = h.clamp(0, 255) as u8,
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                dst = IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            _ => {}
        }
    }
    Ok(Some(Received {
        src: IpAddr::V6(src.ip()),
        dst,
        ttl,
        payload: buf[..n].to_vec(),
    }))
}

pub struct TxSocket {
    sock: Socket,
}

impl TxSocket {
    /// `device` is where adverts leave (the interface, or its virtual-MAC macvlan);
    /// `src` the primary address (IPv4) or link-local address (IPv6) of the interface.
    pub fn open(device: &str, ifindex: u32, src: IpAddr) -> io::Result<TxSocket> {
        let v6 = src.is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let s = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))?;
        s.set_nonblocking(true)?;
        s.bind_device(Some(device.as_bytes()))?;
        // RFC 9568 §5.1.1.3 / §5.1.2.3: TTL / hop limit 255, so receivers can tell the advert
        // was not forwarded.
        match src {
            IpAddr::V4(a) => {
                s.bind(&SockAddr::from(SocketAddr::new(IpAddr::V4(a), 0)))?;
                s.set_ttl(255)?;
                s.set_multicast_ttl_v4(255)?;
                s.set_multicast_loop_v4(false)?;
                // No IP_MULTICAST_IF: the device binding already picks the egress, and the
                // address may live on the parent of a virtual-MAC device (EINVAL there).
                s.set_tos(TOS_NETWORK_CONTROL)?;
            }
            IpAddr::V6(a) => {
                s.bind(&SockAddr::from(SocketAddrV6::new(a, 0, 0, ifindex)))?;
                s.set_unicast_hops_v6(255)?;
                s.set_multicast_hops_v6(255)?;
                s.set_multicast_loop_v6(false)?;
                s.set_multicast_if_v6(ifindex)?;
                s.set_tclass_v6(TOS_NETWORK_CONTROL)?;
            }
        }
        Ok(TxSocket { sock: s })
    }

    /// Sends without waiting: an advert that cannot leave now is stale by the next one.
    pub fn send(&self, payload: &[u8], dst: IpAddr, ifindex: u32) -> io::Result<usize> {
        let addr = match dst {
            IpAddr::V4(a) => SockAddr::from(SocketAddr::new(IpAddr::V4(a), 0)),
            IpAddr::V6(a) => SockAddr::from(SocketAddrV6::new(a, 0, 0, ifindex)),
        };
        self.sock.send_to(payload, &addr)
    }
}
