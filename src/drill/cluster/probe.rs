//! Checks of the backends, made from a node's namespace before its daemon starts, so that a
//! backend set up wrong fails the build of the cluster with its own message instead of
//! showing up later as broken connections:
//! - [`direct`]: a packet to the VIP handed to the backend's MAC (the kernel routes the VIP via
//!   the backend for a moment: what a node in DR mode does) is answered from the VIP;
//! - [`tunnel`]: an ICMP echo to the VIP inside IP-in-IP to the backend's address (the kernel
//!   builds the outer header of a raw protocol-4 socket) is answered from the VIP, so the
//!   backend's decapsulation works.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use dataplane::wire::checksum::{finish, sum};
use lab::Netns;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::netns;

const IPPROTO_IPIP: i32 = 4;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;

/// DR: routes `vip` via `backend` in `node` for one ping.
pub fn direct(node: &Netns, backend: Ipv4Addr, vip: Ipv4Addr) -> Result<(), String> {
    let route = format!("{vip}/32 via {backend} dev eth0");
    node.add_route(&route);
    let ok = node.ping(&vip.to_string());
    node.del_route(&route);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{backend} does not answer for {vip} when it gets a packet to it (DR)"
        ))
    }
}

/// An IPv4 packet `src` → `dst` carrying an ICMP echo request with identifier `ident`.
pub fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, ident: u16) -> Vec<u8> {
    let mut icmp = vec![ICMP_ECHO_REQUEST, 0, 0, 0];
    icmp.extend_from_slice(&ident.to_be_bytes());
    icmp.extend_from_slice(&1u16.to_be_bytes());
    icmp.extend_from_slice(b"ip-in-ip probe");
    let c = finish(sum(&icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = finish(sum(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

/// Whether `packet` (an IPv4 packet as a raw socket reads it) is an echo reply from `from`
/// with identifier `ident`.
pub fn is_echo_reply(packet: &[u8], from: Ipv4Addr, ident: u16) -> bool {
    let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
    packet.len() >= ihl + 8
        && ihl >= 20
        && packet[9] == 1
        && packet[12..16] == from.octets()
        && packet[ihl] == ICMP_ECHO_REPLY
        && packet[ihl + 4..ihl + 6] == ident.to_be_bytes()
}

/// Tunnel: from namespace `node` (address `src`), an echo request to `vip` inside IP-in-IP to
/// `backend`; waits up to a second for the reply from `vip`.
pub fn tunnel(node: &str, src: Ipv4Addr, backend: Ipv4Addr, vip: Ipv4Addr) -> Result<(), String> {
    netns::run(node, move || {
        let err = |what: &str, e: std::io::Error| format!("{what}: {e}");
        let icmp = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
            .map_err(|e| err("raw ICMP socket", e))?;
        icmp.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| err("timeout", e))?;
        let ipip = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_IPIP)))
            .map_err(|e| err("raw IP-in-IP socket", e))?;
        let ident = (std::process::id() as u16) ^ 0x5a5a;
        let to = SockAddr::from(SocketAddrV4::new(backend, 0));
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut buf = [0u8; 2048];
        // Once more every 100 ms: the first may wait for ARP.
        while Instant::now() < deadline {
            ipip.send_to(&echo_request(src, vip, ident), &to)
                .map_err(|e| err("send", e))?;
            let until = Instant::now() + Duration::from_millis(100);
            while Instant::now() < until {
                match (&icmp).read(&mut buf) {
                    Ok(n) if is_echo_reply(&buf[..n], vip, ident) => return Ok(()),
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => return Err(err("receive", e)),
                }
            }
        }
        Err(format!(
            "{backend} does not answer an echo request to {vip} sent to it in IP-in-IP \
             (its decapsulation)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksums_and_reply_recognition() {
        let src: Ipv4Addr = "198.18.41.2".parse().unwrap();
        let vip: Ipv4Addr = "198.18.42.1".parse().unwrap();
        let p = echo_request(src, vip, 0x1234);
        // A correct checksum sums to zero (all ones before the complement).
        assert_eq!(finish(sum(&p[..20])), 0);
        assert_eq!(finish(sum(&p[20..])), 0);
        let mut reply = p.clone();
        reply[12..16].copy_from_slice(&vip.octets());
        reply[16..20].copy_from_slice(&src.octets());
        reply[20] = ICMP_ECHO_REPLY;
        assert!(is_echo_reply(&reply, vip, 0x1234));
        assert!(!is_echo_reply(&reply, vip, 0x1235));
        assert!(!is_echo_reply(&p, vip, 0x1234));
        assert!(!is_echo_reply(&reply[..10], vip, 0x1234));
    }
}
