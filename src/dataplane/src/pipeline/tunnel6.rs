//! Tunnel mode over IPv6: direct server return to a backend anywhere, the client's packets
//! wrapped in IPv6 (RFC 2473) from the flow's outer source to the backend, which holds the VIP
//! and answers the client itself. As for IP in IP over IPv4 (`pipeline/direct.rs`): one-way
//! flows, the inner hop limit lowered (the packet is forwarded), and a packet that would not fit
//! the egress link once wrapped answered with Packet Too Big (MTU less the 40 bytes of the
//! outer header) from the VIP, so the client's path MTU accounts for the tunnel.

use super::v6::{next_hop_v6, ParsedV6};
use super::{Pipeline, Result, Verdict};
use crate::conntrack::v6::EntryV6;
use crate::counters::{Counter, DropReason};
use crate::flow::client_hash;
use crate::pmtu;
use crate::snapshot::Snapshot;
use crate::tunnel::{self, IP6IP6_OVERHEAD};
use crate::wire::{ethernet, Icmpv6Repr, IpHeader, Ipv6Packet};

impl Pipeline {
    pub(super) fn forward_tunnel_v6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &ParsedV6,
        e: &EntryV6,
    ) -> Result<(Verdict, usize)> {
        let l3 = ethernet::HEADER_LEN;
        let total = usize::from(p.end) - l3;
        let (iface, _) = snap
            .v6
            .next_hops
            .route(e.backend)
            .ok_or(Verdict::Drop(DropReason::NoRoute))?;
        let mtu = usize::from(snap.mtu(iface));
        if total + IP6IP6_OVERHEAD > mtu {
            return self.tunnel_too_big_v6(snap, now, frame, p, e, mtu - IP6IP6_OVERHEAD);
        }
        Ipv6Packet::new_unchecked(&mut frame[l3..l3 + total]).decrement_hop_limit();
        let label = client_hash(p.key.src, p.key.src_port, snap.hash_seed) as u32;
        let len = tunnel::encapsulate_ip6ip6(frame, total, e.local, e.backend, label)
            .ok_or(Verdict::Drop(DropReason::NoRoom))?;
        let iface = next_hop_v6(snap, &mut self.unresolved6, frame, e.backend)?;
        self.counters.add(Counter::IpipEncapsulated, 1);
        Ok((Verdict::Tx { iface }, len))
    }

    /// Packet Too Big from the VIP to the client, with the room the tunnel leaves (never below
    /// the IPv6 minimum: a link of 1280 cannot carry a tunnel of full-sized packets, and
    /// RFC 8201 §4 has the client ignore a smaller MTU anyway).
    fn tunnel_too_big_v6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &ParsedV6,
        e: &EntryV6,
        room: usize,
    ) -> Result<(Verdict, usize)> {
        let too_big = Verdict::Drop(DropReason::TooBig);
        if !self.may_send_icmp_error(now) {
            return Err(too_big);
        }
        let total = usize::from(p.end) - ethernet::HEADER_LEN;
        let mtu = room.max(1280) as u32;
        let len = pmtu::v6::icmpv6_error(frame, total, e.vip, &Icmpv6Repr::PacketTooBig { mtu })
            .ok_or(too_big)?;
        let iface = next_hop_v6(snap, &mut self.unresolved6, frame, p.key.src)?;
        self.counters.add(Counter::FragNeededSent, 1);
        Ok((Verdict::Tx { iface }, len))
    }
}
