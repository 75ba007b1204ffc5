//! Gratuitous ARP (IPv4) and unsolicited Neighbor Advertisements (IPv6) that tell the LAN a
//! virtual address now lives at this router's MAC (RFC 9568 §6.4.1 and §6.4.2).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

const ETH_P_ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// An ARP request for the address itself ("who has VIP, tell VIP"), broadcast: the form every
/// host and switch updates its cache and forwarding table from.
pub fn arp_frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[32..38].copy_from_slice(&[0; 6]);
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// ICMPv6 Neighbor Advertisement with the Override flag and the target link-layer address
/// option; the kernel fills the checksum of raw ICMPv6 sockets.
pub fn na_message(mac: [u8; 6], target: Ipv6Addr) -> [u8; 32] {
    let mut m = [0u8; 32];
    m[0] = 136; // Neighbor Advertisement
    m[4] = 0x20; // Override
    m[8..24].copy_from_slice(&target.octets());
    m[24] = 2; // Target Link-Layer Address
    m[25] = 1; // length in units of 8 octets
    m[26..32].copy_from_slice(&mac);
    m
}

pub struct Announcer {
    packet: Socket,
    icmp6: Option<Socket>,
    ifindex: u32,
    mac: [u8; 6],
}

impl Announcer {
    pub fn open(device: &str, ifindex: u32, mac: [u8; 6], v6: bool) -> io::Result<Announcer> {
        // Protocol 0: a send-only packet socket that receives nothing.
        let packet = Socket::new(Domain::PACKET, Type::RAW, None)?;
        let icmp6 = if v6 {
            let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
            s.bind_device(Some(device.as_bytes()))?;
            // RFC 4861 §7.1.2: receivers drop NAs whose hop limit is not 255.
            s.set_multicast_hops_v6(255)?;
            s.set_unicast_hops_v6(255)?;
            s.set_multicast_if_v6(ifindex)?;
            s.set_multicast_loop_v6(false)?;
            Some(s)
        } else {
            None
        };
        Ok(Announcer {
            packet,
            icmp6,
            ifindex,
            mac,
        })
    }

    pub fn announce(&self, ip: IpAddr) -> io::Result<()> {
        match ip {
            IpAddr::V4(a) => self.send_frame(&arp_frame(self.mac, a)),
            IpAddr::V6(a) => match &self.icmp6 {
                Some(s) => {
                    let dst = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, self.ifindex));
                    s.send_to(&na_message(self.mac, a), &dst).map(|_| ())
                }
                None => Err(io::Error::other("no ICMPv6 socket for an IPv6 address")),
            },
        }
    }

    fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value that we then fill in.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ARP.to_be();
        sll.sll_ifindex = self.ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&BROADCAST);
        // SAFETY: the fd is a valid packet socket owned by self; `frame` and `sll` are valid
        // for the lengths passed and outlive the call.
        let n = unsafe {
            libc::sendto(
                self.packet.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
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

/// Sends `count` rounds for every address, the first at once, then `spacing` apart.
pub async fn burst(announcer: Announcer, addrs: Vec<IpAddr>, count: u32, spacing: Duration) {
    for round in 0..count {
        if round > 0 {
            tokio::time::sleep(spacing).await;
        }
        for a in &addrs {
            if let Err(e) = announcer.announce(*a) {
                tracing::warn!("gratuitous announcement of {a} failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_layout() {
        let f = arp_frame([0, 0, 0x5e, 0, 1, 51], Ipv4Addr::new(198, 18, 0, 100));
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[28..32], &[198, 18, 0, 100]);
        assert_eq!(&f[38..42], &[198, 18, 0, 100]);
        assert_eq!(&f[22..28], &[0, 0, 0x5e, 0, 1, 51]);
    }

    #[test]
    fn na_layout() {
        let m = na_message([2, 0, 0, 0, 0, 1], "2001:db8::100".parse().unwrap());
        assert_eq!(m[0], 136);
        assert_eq!(m[4] & 0x20, 0x20);
        assert_eq!(m[25], 1);
    }
}
