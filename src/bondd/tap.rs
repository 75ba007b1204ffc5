//! The tap device the kernel sees as the bond: frames the kernel sends on it are read by the
//! bond thread and sent by a member; frames the fast path does not own are written to it by
//! the workers and arrive in the kernel as received on the bond. Not persistent: it disappears
//! with its last descriptor, so a crashed daemon leaves nothing behind.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `_IOW('T', 226, int)` (Linux 5.0).
const TUNSETCARRIER: libc::c_ulong = 0x4004_54e2;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

/// Creates tap `name`; fails if any interface of that name exists (a tap of ours that
/// survived would be persistent, which we never make).
pub fn open(name: &str) -> io::Result<OwnedFd> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: a plain open of a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all-zero is valid and we fill the name and flags.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags = IFF_TAP | IFF_NO_PI;
    // SAFETY: TUNSETIFF reads and writes one ifreq, which lives across the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let got: Vec<u8> = ifr
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    if got != name.as_bytes() {
        return Err(io::Error::other(format!(
            "the kernel named the tap {}",
            String::from_utf8_lossy(&got)
        )));
    }
    Ok(fd)
}

/// Sets the tap's carrier: off while no member carries the bond, so the kernel (and VRRP,
/// BGP, routes) see the bond down as they would a NIC.
pub fn set_carrier(fd: &OwnedFd, on: bool) -> io::Result<()> {
    let v: libc::c_int = on.into();
    // SAFETY: TUNSETCARRIER reads one int, which lives across the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETCARRIER, &v) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads one frame the kernel sent on the tap; `None` when there is none.
pub fn read(fd: &OwnedFd, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: reads at most `buf.len()` bytes into a live buffer from our descriptor.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    (n > 0).then_some(n as usize)
}
