//! TCP sockets for BGP sessions: source binding, TTL / GTSM (RFC 5082) and the RFC 2385 MD5
//! signature key, set on dial and listen sockets alike before any SYN is exchanged.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

pub const BGP_PORT: u16 = 179;

/// How a session's packets are sent and which are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlPolicy {
    /// Kernel default (1 hop for eBGP is not enforced on receive).
    Default,
    /// eBGP multihop: send with this TTL.
    Multihop(u8),
    /// GTSM: send with 255, drop anything below 254.
    Gtsm,
}

/// Layout of `struct tcp_md5sig` from <linux/tcp.h>; libc does not export it.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; 80],
}

/// Installs (or with `key = None` removes) the MD5 key for segments to and from `peer`.
pub fn set_md5(sock: &impl AsRawFd, peer: IpAddr, key: Option<&[u8]>) -> io::Result<()> {
    let key = key.unwrap_or_default();
    if key.len() > 80 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "MD5 key longer than 80 bytes",
        ));
    }
    let sa: socket2::SockAddr = SocketAddr::new(peer, 0).into();
    // SAFETY: all-zero is a valid bit pattern for this plain C struct.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    // SAFETY: `sa` holds at most a sockaddr_in6, which fits in sockaddr_storage; both are
    // plain bytes and the regions do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr() as *const u8,
            &mut sig.addr as *mut _ as *mut u8,
            sa.len() as usize,
        );
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: the fd is open for the duration of the call and `sig` is a valid, fully
    // initialised tcp_md5sig of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            &sig as *const _ as *const libc::c_void,
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_int(sock: &Socket, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: the fd is open and `v` is a c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            &v as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `min_ttl`: also install the GTSM receive floor. Only on connected sockets: the peer's
/// SYN-ACK may come from a listener that does not send TTL 255 yet (BIRD sets it per session
/// once connected), and a floor during the handshake would drop it.
fn apply_ttl(sock: &Socket, v6: bool, ttl: TtlPolicy, min_ttl: bool) -> io::Result<()> {
    let send = match ttl {
        TtlPolicy::Default => return Ok(()),
        TtlPolicy::Multihop(t) => t as u32,
        TtlPolicy::Gtsm => 255,
    };
    if v6 {
        sock.set_unicast_hops_v6(send)?;
    } else {
        sock.set_ttl(send)?;
    }
    if ttl == TtlPolicy::Gtsm && min_ttl {
        if v6 {
            set_int(sock, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, 254)?;
        } else {
            set_int(sock, libc::IPPROTO_IP, libc::IP_MINTTL, 254)?;
        }
    }
    Ok(())
}

fn new_socket(v6: bool) -> io::Result<Socket> {
    let s = Socket::new(
        if v6 { Domain::IPV6 } else { Domain::IPV4 },
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    s.set_nonblocking(true)?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Dials `peer:179` from `local` (when set) with the session's TTL policy and MD5 key.
pub async fn connect(
    peer: IpAddr,
    local: Option<IpAddr>,
    ttl: TtlPolicy,
    md5: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let v6 = peer.is_ipv6();
    let s = new_socket(v6)?;
    if let Some(l) = local {
        // The address may still be tentative (IPv6 DAD) or not yet added.
        s.set_freebind(true)?;
        s.bind(&SocketAddr::new(l, 0).into())?;
    }
    apply_ttl(&s, v6, ttl, false)?;
    if let Some(k) = md5 {
        set_md5(&s, peer, Some(k))?;
    }
    let sock = tokio::net::TcpSocket::from_std_stream(s.into());
    let stream = tokio::time::timeout(timeout, sock.connect(SocketAddr::new(peer, BGP_PORT)))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    apply_ttl(&socket2::SockRef::from(&stream), v6, ttl, true)?;
    Ok(stream)
}

/// Listens on `local:179`. Keys for every neighbour accepted here must be installed on this
/// socket with [`set_md5`] (the kernel drops unsigned SYNs from a peer that has a key).
pub fn listen(local: IpAddr) -> io::Result<TcpListener> {
    let v6 = local.is_ipv6();
    let s = new_socket(v6)?;
    s.set_reuse_address(true)?;
    s.set_freebind(true)?;
    if v6 {
        s.set_only_v6(true)?;
    }
    s.bind(&SocketAddr::new(local, BGP_PORT).into())?;
    s.listen(16)?;
    TcpListener::from_std(s.into())
}

/// TTL policy on an accepted socket (the listener's MINTTL is inherited, the send TTL is not
/// guaranteed to be).
pub fn apply_accepted(stream: &TcpStream, ttl: TtlPolicy) -> io::Result<()> {
    let s = socket2::SockRef::from(stream);
    let v6 = stream.local_addr()?.is_ipv6();
    apply_ttl(&s, v6, ttl, true)
}

/// TTL 255 on a listener serving a GTSM neighbour, so its SYN-ACK already passes the peer's
/// floor (accepted sockets inherit it; harmless for the other neighbours).
pub fn listener_send_ttl_255(l: &TcpListener, v6: bool) -> io::Result<()> {
    apply_ttl(&socket2::SockRef::from(l), v6, TtlPolicy::Gtsm, false)
}
