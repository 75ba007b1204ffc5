//! Forwarding a packet of a known flow: the rewrites of each direction, GRE decapsulation and
//! encapsulation, path MTU (fragmentation-needed, MSS clamping), next hop.

use std::net::Ipv4Addr;

use super::{next_hop, Parsed, Pipeline, Result, Verdict};
use crate::conntrack::Entry;
use crate::counters::{Counter, DropReason};
use crate::gateway::Tunnel;
use crate::nat::{self, Side};
use crate::pmtu;
use crate::snapshot::Snapshot;
use crate::tunnel;
use crate::wire::{ethernet, ipv4, proto, tcp, Ipv4Packet};

impl Pipeline {
    /// Client to service, or inside to outside: rewrite, clamp, decapsulate, next hop.
    pub(super) fn forward_original(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        len: usize,
        p: &Parsed,
        e: &Entry,
    ) -> Result<(Verdict, usize)> {
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[p.l3..p.l3 + p.total]);
        if (e.vip, e.vip_port) != (e.backend, e.backend_port) {
            nat::rewrite(&mut ip, Side::Dst, e.backend, e.backend_port);
        }
        if (e.client, e.client_port) != (e.local, e.local_port) {
            nat::rewrite(&mut ip, Side::Src, e.local, e.local_port);
        }
        ip.decrement_ttl();
        let mut len = len;
        if e.zone != 0 {
            if let Some(t) = snap.gw.tunnel(e.zone) {
                self.clamp(&mut ip, e.zone, t.mtu);
            }
            len = tunnel::decapsulate(frame, p.l3, p.total);
        }
        let iface = next_hop(snap, &mut self.unresolved, frame, e.backend)?;
        Ok((Verdict::Tx { iface }, len))
    }

    /// Backend (or outside server) back to the client: rewrite, and into the client's tunnel if
    /// it came through one, answering packets too large for it.
    pub(super) fn forward_reply(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        len: usize,
        p: &Parsed,
        e: &Entry,
    ) -> Result<(Verdict, usize)> {
        let t = match e.zone {
            0 => None,
            // The tunnel went away in a reload: its flows have nowhere to go.
            z => Some(snap.gw.tunnel(z).ok_or(Verdict::Drop(DropReason::NoPool))?),
        };
        if let Some(t) = t.filter(|t| p.total > usize::from(t.mtu)) {
            return self.too_big(snap, now, frame, p, t, e.local);
        }
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[p.l3..p.l3 + p.total]);
        if (e.backend, e.backend_port) != (e.vip, e.vip_port) {
            nat::rewrite(&mut ip, Side::Src, e.vip, e.vip_port);
        }
        if (e.local, e.local_port) != (e.client, e.client_port) {
            nat::rewrite(&mut ip, Side::Dst, e.client, e.client_port);
        }
        ip.decrement_ttl();
        let Some(t) = t else {
            let iface = next_hop(snap, &mut self.unresolved, frame, e.client)?;
            return Ok((Verdict::Tx { iface }, len));
        };
        self.clamp(&mut ip, e.zone, t.mtu);
        self.encapsulate_into(snap, frame, p.total, e.zone)
    }

    /// Encapsulates the IPv4 packet behind the Ethernet header into tunnel `zone`.
    pub(super) fn encapsulate_into(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        total: usize,
        zone: u16,
    ) -> Result<(Verdict, usize)> {
        let t = snap
            .gw
            .tunnel(zone)
            .ok_or(Verdict::Drop(DropReason::NoPool))?;
        let ident = self.outer_ident(frame);
        // Drops here are the tunnel's, whichever way the packet came in.
        let Some(len) = tunnel::encapsulate(frame, total, t, ident) else {
            self.tunnels.zone(zone).drop(DropReason::NoRoom);
            return Err(Verdict::Drop(DropReason::NoRoom));
        };
        let iface = self.tunnel_hop(snap, frame, zone, t.remote, total)?;
        Ok((Verdict::Tx { iface }, len))
    }

    /// An encapsulated frame on its way to tunnel `zone`'s `remote`: the next hop's MACs and
    /// the tunnel's counters (`inner` bytes went in), or the drop counted against the tunnel.
    pub(super) fn tunnel_hop(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        zone: u16,
        remote: std::net::Ipv4Addr,
        inner: usize,
    ) -> Result<u16> {
        let iface = next_hop(snap, &mut self.unresolved, frame, remote).inspect_err(|v| {
            if let Verdict::Drop(r) = v {
                self.tunnels.zone(zone).drop(*r);
            }
        })?;
        let c = self.tunnels.zone(zone);
        c.tx_packets += 1;
        c.tx_bytes += inner as u64;
        self.counters.add(Counter::GreEncapsulated, 1);
        Ok(iface)
    }

    /// The Identification of an outer header for the IPv4 packet behind the Ethernet header:
    /// with Don't Fragment (copied to the outer header) the datagram is atomic and its
    /// Identification means nothing (RFC 6864 §4.1), so it is 0, as Linux sends it for such
    /// packets without a socket, and the XDP program, which numbers nothing, does the same;
    /// without, the worker numbers them for a reassembler.
    pub(super) fn outer_ident(&mut self, frame: &[u8]) -> u16 {
        let inner = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        if inner.dont_frag() {
            return 0;
        }
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// A packet for tunnel `t` larger than its MTU: with Don't Fragment, ICMP
    /// fragmentation-needed goes back to its sender from `from`, an address of ours (the pool
    /// address a reply was sent to; the tunnel's own for a site's packet); without, it is
    /// dropped, since the fast path does not fragment. Errors share the worker's ICMP rate
    /// limit: over it, the packet is dropped as without Don't Fragment.
    pub(super) fn too_big(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &Parsed,
        t: &Tunnel,
        from: Ipv4Addr,
    ) -> Result<(Verdict, usize)> {
        let (zone, mtu) = (t.zone, t.mtu);
        let ip = Ipv4Packet::new_unchecked(&frame[p.l3..]);
        if !ip.dont_frag() {
            self.tunnels.zone(zone).drop(DropReason::TooBig);
            return Err(Verdict::Drop(DropReason::TooBig));
        }
        let sender = ip.src();
        if !self.may_send_icmp_error(now) {
            self.tunnels.zone(zone).drop(DropReason::TooBig);
            return Err(Verdict::Drop(DropReason::TooBig));
        }
        let len = pmtu::frag_needed(frame, p.total, from, mtu)
            .ok_or(Verdict::Drop(DropReason::NoRoom))?;
        let iface = next_hop(snap, &mut self.unresolved, frame, sender)?;
        self.tunnels.zone(zone).frag_needed_sent += 1;
        self.counters.add(Counter::FragNeededSent, 1);
        Ok((Verdict::Tx { iface }, len))
    }

    /// MSS clamping on SYNs of a tunnel's flows, both ways: the MSS that fits the tunnel is its
    /// MTU less the IPv4 and TCP headers.
    pub(super) fn clamp(&mut self, ip: &mut Ipv4Packet<&mut [u8]>, zone: u16, mtu: u16) {
        if ip.protocol() != proto::TCP {
            return;
        }
        let headers = ipv4::MIN_HEADER_LEN + tcp::MIN_HEADER_LEN;
        if pmtu::clamp_mss(ip.rest_mut(), mtu.saturating_sub(headers as u16)) {
            self.tunnels.zone(zone).mss_clamped += 1;
            self.counters.add(Counter::MssClamped, 1);
        }
    }
}
