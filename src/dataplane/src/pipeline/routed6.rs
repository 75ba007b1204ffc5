//! IPv6 through a tunnel untranslated (`gateway::routed6`): IPv6 in GRE over the IPv4
//! underlay for sites with global prefixes. Stateless, like a kernel GRE device with a route:
//! nothing is tracked, any worker carries any packet, nothing is handed off.
//!
//! Only the fixed header is read (version, Payload Length, addresses, hop limit): what follows
//! (extension headers, fragments, any upper layer) is the end hosts' business, as for any
//! router. A Payload Length of 0 (a jumbogram) or one longer than the frame is refused
//! (`bad_payload_length`). The hop limit is decremented; a packet arriving with 1 or 0 is
//! answered with time exceeded, and one larger than the tunnel's MTU with Packet Too Big
//! (IPv6 routers never fragment, RFC 8200 §5), both from the host's first forwardable IPv6
//! address and within the worker's ICMP rate limit, and sent back the way the packet came
//! (into the tunnel when it came out of one).

use std::net::Ipv6Addr;

use super::v6::next_hop_v6;
use super::{Pipeline, Result, Verdict};
use crate::counters::{Counter, DropReason};
use crate::gateway::forwardable6;
use crate::pmtu;
use crate::snapshot::Snapshot;
use crate::tunnel;
use crate::wire::{ethernet, ipv6, Icmpv6Repr, IpHeader, Ipv6Packet};

const L3: usize = ethernet::HEADER_LEN;

/// The zone of the tunnel an IPv6 frame enters untranslated, if any: the steering program's
/// IPv6 trie says the same (`steering::v6`).
#[inline(always)]
pub(super) fn routed6_zone(snap: &Snapshot, frame: &[u8]) -> Option<u16> {
    if !snap.gw.routes6() {
        return None;
    }
    let b = frame.get(L3..)?;
    if b.len() < ipv6::HEADER_LEN {
        return None;
    }
    let ip = Ipv6Packet::new_unchecked(b);
    let dst = ip.dst();
    if snap.v6.is_local(dst) {
        return None;
    }
    snap.gw.routed6_egress(ip.src(), dst).map(|t| t.zone)
}

/// The IPv6 packet at `at` in `frame`, `avail` bytes there: its length by Payload Length.
fn packet_len(frame: &[u8], at: usize, avail: usize) -> Result<usize> {
    let b = frame
        .get(at..at + avail)
        .ok_or(Verdict::Drop(DropReason::Malformed))?;
    if b.len() < ipv6::HEADER_LEN || Ipv6Packet::new_unchecked(b).version() != 6 {
        return Err(Verdict::Drop(DropReason::Malformed));
    }
    let plen = usize::from(Ipv6Packet::new_unchecked(b).payload_len());
    if plen == 0 || ipv6::HEADER_LEN + plen > b.len() {
        return Err(Verdict::Drop(DropReason::BadPayloadLength));
    }
    Ok(ipv6::HEADER_LEN + plen)
}

impl Pipeline {
    /// An IPv6 frame for a tunnel's prefix (or, at a site end, from the site to elsewhere).
    pub(super) fn enter_tunnel6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        len: usize,
        zone: u16,
    ) -> Result<(Verdict, usize)> {
        let total = packet_len(frame, L3, len - L3)?;
        let ip = Ipv6Packet::new_unchecked(&frame[L3..L3 + total]);
        if ip.hop_limit() <= 1 {
            return self.error6(
                snap,
                now,
                frame,
                total,
                Icmpv6Repr::TimeExceeded { code: 0 },
            );
        }
        Ipv6Packet::new_unchecked(&mut frame[L3..L3 + total]).decrement_hop_limit();
        self.tunnel6(snap, now, frame, total, zone)
    }

    /// Out of the tunnel with `zone`: the IPv6 packet at `at` (`avail` bytes to the end of
    /// the outer packet), to where it is addressed if the tunnel may carry it.
    pub(super) fn leave_tunnel6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        zone: u16,
        at: usize,
        avail: usize,
    ) -> Result<(Verdict, usize)> {
        let c = self.tunnels.zone(zone);
        c.rx_packets += 1;
        c.rx_bytes += avail as u64;
        self.counters.add(Counter::GreDecapsulated, 1);
        let t = snap
            .gw
            .tunnel(zone)
            .ok_or(Verdict::Drop(DropReason::GreUnsupported))?;
        let total = packet_len(frame, at, avail)?;
        let ip = Ipv6Packet::new_unchecked(&frame[at..at + total]);
        let (src, dst, hops) = (ip.src(), ip.dst(), ip.hop_limit());
        // From the site's NAT64 sources to the NAT64 prefix: translated to the tunnel's pool.
        if let Some(pool) = t.pool {
            if snap.gw.nat64_tunnel(src).is_some_and(|n| n.zone == zone) {
                if let Some(server) = snap.v6.nat64_prefix.extract(dst) {
                    return self.leave_tunnel_nat64(snap, now, frame, pool, at, total, server);
                }
            }
        }
        if !snap.gw.routed6_delivers(t, src, dst) || !forwardable6(dst) {
            return Err(Verdict::Drop(DropReason::NotInside));
        }
        let len = tunnel::decapsulate_v6(frame, at, total);
        if hops <= 1 {
            let expired = Icmpv6Repr::TimeExceeded { code: 0 };
            let r = self.error6(snap, now, frame, total, expired);
            if r.is_ok() {
                self.tunnels.zone(zone).time_exceeded_sent += 1;
            }
            return r;
        }
        Ipv6Packet::new_unchecked(&mut frame[L3..len]).decrement_hop_limit();
        self.forward6(snap, now, frame, len, src, dst)
    }

    /// The IPv6 packet behind the Ethernet header (`len` bytes of frame) on to `dst`: into the
    /// tunnel that carries it, else by the IPv6 routes.
    fn forward6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        len: usize,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<(Verdict, usize)> {
        if !snap.v6.is_local(dst) {
            // A site's routed prefix, or (for what we send, an ICMPv6 error) a NAT64 source.
            let t = snap
                .gw
                .routed6_egress(src, dst)
                .or_else(|| snap.gw.nat64_tunnel(dst));
            if let Some(zone) = t.map(|t| t.zone) {
                return self.tunnel6(snap, now, frame, len - L3, zone);
            }
        }
        let iface = next_hop_v6(snap, &mut self.unresolved6, frame, dst)?;
        Ok((Verdict::Tx { iface }, len))
    }

    /// Encapsulates the IPv6 packet behind the Ethernet header (`total` bytes) into the tunnel
    /// with `zone`, or answers Packet Too Big when it does not fit.
    pub(super) fn tunnel6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        total: usize,
        zone: u16,
    ) -> Result<(Verdict, usize)> {
        let t = snap
            .gw
            .tunnel(zone)
            .ok_or(Verdict::Drop(DropReason::NoPool))?;
        if total > usize::from(t.mtu) {
            let mtu = u32::from(t.mtu);
            let r = self.error6(snap, now, frame, total, Icmpv6Repr::PacketTooBig { mtu });
            let c = self.tunnels.zone(zone);
            match r {
                Ok(_) => c.frag_needed_sent += 1,
                Err(_) => c.drop(DropReason::TooBig),
            }
            return r;
        }
        let Some(len) = tunnel::encapsulate_v6(frame, total, t) else {
            self.tunnels.zone(zone).drop(DropReason::NoRoom);
            return Err(Verdict::Drop(DropReason::NoRoom));
        };
        let remote = t.remote;
        let iface = self.tunnel_hop(snap, frame, zone, remote, total)?;
        Ok((Verdict::Tx { iface }, len))
    }

    /// Answers the IPv6 packet behind the Ethernet header (`total` bytes) with the error `m`
    /// from the host's first forwardable IPv6 address, sent back the way the packet came.
    pub(super) fn error6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        total: usize,
        m: Icmpv6Repr,
    ) -> Result<(Verdict, usize)> {
        let dropped = Verdict::Drop(match m {
            Icmpv6Repr::PacketTooBig { .. } => DropReason::TooBig,
            _ => DropReason::TtlExceeded,
        });
        let ip = Ipv6Packet::new_unchecked(&frame[L3..L3 + total]);
        let to = ip.src();
        // Never about an error, nor to an address no error may go to (RFC 4443 §2.4 (e)).
        let about_error = ip.next_header() == crate::wire::proto::ICMPV6
            && frame
                .get(L3 + ipv6::HEADER_LEN)
                .is_some_and(|&t| t < crate::wire::icmpv6::kind::ECHO_REQUEST);
        let Some(from) = snap.v6.error_source() else {
            return Err(dropped);
        };
        if about_error || !forwardable6(to) || !self.may_send_icmp_error(now) {
            return Err(dropped);
        }
        let len = pmtu::v6::icmpv6_error(frame, total, from, &m).ok_or(dropped)?;
        self.counters.add(
            match m {
                Icmpv6Repr::PacketTooBig { .. } => Counter::FragNeededSent,
                _ => Counter::IcmpTimeExceededSent,
            },
            1,
        );
        self.forward6(snap, now, frame, len, from, to)
    }
}
