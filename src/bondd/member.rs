//! A member's packet socket, used by the bond thread alone: it receives the Slow Protocols
//! frames (LACPDUs, Markers) that the member's XDP program passes to the kernel, and sends
//! LACPDUs, the kernel's frames from the tap and the announcements of a new active member.
//! It also holds the member in promiscuous mode (frames to the bond's MAC, which is not the
//! member's own, must reach it); the kernel drops that with the socket, however the daemon
//! ends.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// IEEE 802.3 Slow Protocols.
pub const ETH_P_SLOW: u16 = 0x8809;

pub struct MemberSocket {
    fd: OwnedFd,
    ifindex: u32,
}

fn sockaddr(ifindex: u32, protocol: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is valid and we fill what bind/sendto read.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as i32;
    sll
}

impl MemberSocket {
    pub fn open(ifindex: u32) -> io::Result<MemberSocket> {
        // SAFETY: plain socket creation.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_SLOW.to_be()),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let sll = sockaddr(ifindex, ETH_P_SLOW);
        // SAFETY: binds our socket to a sockaddr_ll that lives across the call.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: packet_mreq is plain data; all-zero is valid and we fill index and type.
        let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
        mr.mr_ifindex = ifindex as i32;
        mr.mr_type = libc::PACKET_MR_PROMISC as u16;
        // SAFETY: PACKET_ADD_MEMBERSHIP reads one packet_mreq, which lives across the call.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                (&mr as *const libc::packet_mreq).cast(),
                std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(MemberSocket { fd, ifindex })
    }

    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// One received Slow Protocols frame; `None` when there is none.
    pub fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: receives at most `buf.len()` bytes into a live buffer.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        (n > 0).then_some(n as usize)
    }

    /// Sends a whole Ethernet frame by the member.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let ethertype = frame
            .get(12..14)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let sll = sockaddr(self.ifindex, ethertype);
        // SAFETY: sends `frame.len()` bytes from a live slice to a sockaddr_ll that lives
        // across the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}
