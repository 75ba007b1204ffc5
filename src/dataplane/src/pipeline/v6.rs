//! The IPv6 path of the pipeline: the same stages as IPv4 (parse → conntrack → on a miss,
//! steering, classification, ownership, a new flow → rewrite → next hop) over the IPv6
//! conntrack (`conntrack/v6.rs`) and the IPv6 half of the snapshot.
//!
//! What is parsed: the fixed header (Payload Length must be non-zero and fit the frame: a
//! jumbogram or a short frame is `bad_payload_length`, fewer than 40 bytes `malformed`), then
//! the extension headers `wire::ipv6::upper_layer` skips (Hop-by-Hop first, Destination
//! Options, two at most, left in place); a Fragment header is `fragment`, any other chain
//! `extension_header`. Upper layers: TCP, UDP (a zero checksum is invalid over IPv6, RFC 8200
//! §8.1: `malformed`), ICMPv6 echo (the identifier is the port, RFC 5508) and errors (types 1 to
//! 4, about a tracked flow: translated). Anything else (ND, MLD) is the kernel's.
//!
//! Forwarding modes: NAT, FullNAT (an IPv6 pool), direct routing (`dr`, the MACs only) and
//! tunnel mode (IPv6 in IPv6, `pipeline/tunnel6.rs`). GRE tunnels carry IPv6 untranslated
//! (`pipeline/routed6.rs`). No header checksum: the rewrites update
//! the upper layer's checksum over the pseudo-header (eight words per address). The hop limit
//! is decremented; a packet arriving with 1 or 0 is answered with ICMPv6 time exceeded from
//! the VIP (client side) or the address the backend sent to (reply side), within the worker's
//! ICMP rate limit shared with IPv4. IPv6 flows are never offloaded: nothing here offers a rule.

use std::net::Ipv6Addr;

use super::{owned, Pipeline, Result, Verdict};
use crate::conntrack::v6::{EntryV6, NewFlowV6};
use crate::conntrack::{self, Dir, InsertError, Kind, State};
use crate::counters::{Counter, DropReason};
use crate::flow::{client_hash, FlowKeyV6};
use crate::nat::{self, Side};
use crate::pmtu;
use crate::snapshot::{Direct, Snapshot};
use crate::snat::ports::owner_of_port;
use crate::steering;
use crate::wire::ipv6::{self, ChainError, Ipv6Upper};
use crate::wire::{
    ethernet, icmpv6, proto, EthernetFrame, Icmpv6Packet, IpHeader, Ipv6Packet, TcpSegment,
    UdpDatagram,
};

const MALFORMED: Verdict = Verdict::Drop(DropReason::Malformed);

/// The backend id of a flow that has no backend of a service: a site's NAT64 flow through its
/// tunnel (`pipeline/gateway64.rs`), whose release touches no scheduler count.
pub(super) const NO_BACKEND: u16 = u16::MAX;

/// An IPv6 packet's flow, from its headers.
#[derive(Debug, Clone, Copy)]
pub(super) struct ParsedV6 {
    pub key: FlowKeyV6,
    pub hash: u64,
    pub tcp_flags: Option<u8>,
    /// The upper-layer protocol and its offset behind the fixed header.
    pub upper: u8,
    pub at: u16,
    /// Where the packet ends in the frame (Ethernet + 40 + Payload Length).
    pub end: u16,
    pub hop_limit: u8,
    pub icmp_error: bool,
}

/// Parses the IPv6 packet behind an Ethernet header.
#[inline(always)]
pub(super) fn parse_v6(frame: &[u8]) -> Result<ParsedV6> {
    let l3 = ethernet::HEADER_LEN;
    let b = frame.get(l3..).ok_or(MALFORMED)?;
    if b.len() < ipv6::HEADER_LEN {
        return Err(MALFORMED);
    }
    let ip = Ipv6Packet::new_unchecked(b);
    if ip.version() != 6 {
        return Err(MALFORMED);
    }
    let plen = usize::from(ip.payload_len());
    if plen == 0 || ipv6::HEADER_LEN + plen > b.len() {
        return Err(Verdict::Drop(DropReason::BadPayloadLength));
    }
    let ip = Ipv6Packet::new_unchecked(&b[..ipv6::HEADER_LEN + plen]);
    let payload = ip.payload();
    let (upper, at) = ipv6::upper_layer(ip.next_header(), payload).map_err(|e| match e {
        ChainError::Fragment => Verdict::Drop(DropReason::Fragment),
        ChainError::Refused => Verdict::Drop(DropReason::ExtensionHeader),
    })?;
    let l4 = &payload[at..];
    let mut icmp_error = false;
    let (src_port, dst_port, tcp_flags) = match upper {
        proto::TCP => {
            let t = TcpSegment::new_checked(l4).map_err(|_| MALFORMED)?;
            (t.src_port(), t.dst_port(), Some(t.flags()))
        }
        proto::UDP => {
            let u = UdpDatagram::new_checked(l4).map_err(|_| MALFORMED)?;
            if u.checksum() == 0 {
                return Err(MALFORMED);
            }
            (u.src_port(), u.dst_port(), None)
        }
        proto::ICMPV6 => {
            let m = Icmpv6Packet::new_checked(l4).map_err(|_| MALFORMED)?;
            match m.msg_type() {
                icmpv6::kind::ECHO_REQUEST => (m.echo_ident(), 0, None),
                icmpv6::kind::ECHO_REPLY => (0, m.echo_ident(), None),
                icmpv6::kind::DEST_UNREACHABLE
                | icmpv6::kind::PACKET_TOO_BIG
                | icmpv6::kind::TIME_EXCEEDED
                | icmpv6::kind::PARAMETER_PROBLEM => {
                    icmp_error = true;
                    (0, 0, None)
                }
                _ => return Err(Verdict::Pass),
            }
        }
        // Another upper layer: the kernel's, unless steering gives us what goes to a VIP or a
        // pool address whatever follows (`steering::v6`); then it belongs to no flow.
        _ => return Err(Verdict::Drop(DropReason::NoFlow)),
    };
    Ok(ParsedV6 {
        key: FlowKeyV6::new(ip.src(), src_port, ip.dst(), dst_port, upper),
        hash: 0,
        tcp_flags,
        upper,
        at: at as u16,
        end: (l3 + ipv6::HEADER_LEN + plen) as u16,
        hop_limit: ip.hop_limit(),
        icmp_error,
    })
}

/// The flow key of the packet an ICMPv6 error quotes: a fixed header whose upper layer follows
/// it, with at least 8 bytes of it.
pub(super) fn quoted_key_v6(q: &[u8]) -> Result<FlowKeyV6> {
    if q.len() < ipv6::HEADER_LEN + 8 {
        return Err(MALFORMED);
    }
    let ip = Ipv6Packet::new_unchecked(q);
    if ip.version() != 6 {
        return Err(MALFORMED);
    }
    let l4 = &q[ipv6::HEADER_LEN..];
    let (src_port, dst_port) = match ip.next_header() {
        proto::TCP => {
            let t = TcpSegment::new_quoted(l4).map_err(|_| MALFORMED)?;
            (t.src_port(), t.dst_port())
        }
        proto::UDP => {
            let u = UdpDatagram::new_quoted(l4).map_err(|_| MALFORMED)?;
            (u.src_port(), u.dst_port())
        }
        proto::ICMPV6 => {
            let m = Icmpv6Packet::new_checked(l4).map_err(|_| MALFORMED)?;
            match m.msg_type() {
                icmpv6::kind::ECHO_REQUEST => (m.echo_ident(), 0),
                icmpv6::kind::ECHO_REPLY => (0, m.echo_ident()),
                _ => return Err(Verdict::Pass),
            }
        }
        _ => return Err(Verdict::Pass),
    };
    Ok(FlowKeyV6::new(
        ip.src(),
        src_port,
        ip.dst(),
        dst_port,
        ip.next_header(),
    ))
}

/// Gives back what an IPv6 flow held.
pub(super) fn release_v6(
    sched: &mut crate::sched::SchedState,
    snat: &mut crate::snat::v6::SnatV6,
    snat4: &mut crate::snat::SnatState,
    e: &EntryV6,
) {
    if e.backend_id != NO_BACKEND {
        sched.flow_ended(e.backend_id);
    }
    match e.kind() {
        Kind::FullNat => snat.release(e.proto, e.local, e.local_port),
        Kind::Nat64 => {
            if let Some(a) = e.local.to_ipv4_mapped() {
                snat4.release_port(super::nat64::v4_proto(e.proto), a, e.local_port);
            }
        }
        _ => {}
    }
}

/// Sets the MACs for the hop towards `dst` over the IPv6 routes and neighbours.
#[inline(always)]
pub(super) fn next_hop_v6(
    snap: &Snapshot,
    unresolved: &mut super::Unresolved<Ipv6Addr>,
    frame: &mut [u8],
    dst: Ipv6Addr,
) -> Result<u16> {
    let (iface, nh) = snap
        .v6
        .next_hops
        .route(dst)
        .ok_or(Verdict::Drop(DropReason::NoRoute))?;
    let ifc = snap
        .interfaces
        .get(usize::from(iface))
        .ok_or(Verdict::Drop(DropReason::NoRoute))?;
    let Some(mac) = snap.v6.next_hops.neighbour(nh) else {
        unresolved.note(nh);
        return Err(Verdict::Drop(DropReason::NoNeighbour));
    };
    let mut eth = EthernetFrame::new_unchecked(frame);
    eth.set_dst(mac);
    eth.set_src(ifc.mac);
    Ok(iface)
}

/// Whether a router may answer a packet to `dst` with an error (not multicast, RFC 4443
/// §2.4 (e)).
fn answerable(dst: Ipv6Addr) -> bool {
    !dst.is_multicast() && !dst.is_unspecified()
}

impl Pipeline {
    /// Parses an IPv6 frame and starts fetching its conntrack slot.
    #[inline(always)]
    pub(super) fn stage1_v6(&self, frame: &[u8]) -> Result<ParsedV6> {
        let mut p = parse_v6(frame)?;
        if !p.icmp_error {
            p.hash = self.ct6.prefetch(&p.key);
        }
        Ok(p)
    }

    /// What [`Pipeline::stage1_v6`] gave, to its verdict.
    #[inline(always)]
    pub(super) fn stage2_v6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        len: usize,
        parsed: Result<ParsedV6>,
    ) -> (Verdict, usize) {
        let r = match parsed {
            Err(Verdict::Pass) => Err(Verdict::Pass),
            // Refused before its flow was looked at: ours to count only if steering owns it.
            Err(_) if !steering::owns(snap, &frame[..len]) => Err(Verdict::Pass),
            Err(v) => Err(v),
            Ok(p) if p.icmp_error => {
                if !steering::owns(snap, &frame[..len]) {
                    Err(Verdict::Pass)
                } else {
                    self.icmpv6_error(snap, frame, len, &p).map_err(owned)
                }
            }
            Ok(p) => self.translate_v6(snap, now, frame, len, &p),
        };
        r.unwrap_or_else(|v| (v, len))
    }

    pub(super) fn translate_v6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        len: usize,
        p: &ParsedV6,
    ) -> Result<(Verdict, usize)> {
        let key = p.key;
        let hit = match self.ct6.lookup_hashed(&key, p.hash) {
            Some((i, Dir::Original)) if self.afresh_v6(snap, i, p.tcp_flags) => {
                let (ct, sched, snat, snat4) = (
                    &mut self.ct6,
                    &mut self.sched,
                    &mut self.snat6,
                    &mut self.snat,
                );
                ct.remove(i, &mut |e| release_v6(sched, snat, snat4, e));
                self.counters.add(Counter::Rescheduled, 1);
                None
            }
            hit => hit,
        };
        let (i, dir) = match hit {
            Some((i, dir)) => {
                if p.hop_limit <= 1 {
                    let e = *self.ct6.get(i);
                    let from = match dir {
                        Dir::Original => e.vip,
                        Dir::Reply if e.kind() == Kind::Nat => e.vip,
                        Dir::Reply => e.local,
                    };
                    return self.time_exceeded_v6(snap, now, frame, p, from);
                }
                self.ct6.touch(i, dir, now, p.tcp_flags);
                (i, dir)
            }
            None => {
                if !steering::owns(snap, &frame[..len]) {
                    return Ok((Verdict::Pass, len));
                }
                match self.classify_new_v6(snap, now, p).map_err(owned)? {
                    Ok(i) => (i, Dir::Original),
                    Err(from) => return self.time_exceeded_v6(snap, now, frame, p, from),
                }
            }
        };
        let e = *self.ct6.get(i);
        let end = usize::from(p.end);
        if e.kind() == Kind::Nat64 {
            // Its reply direction is IPv4 (`nat64_reply`): an IPv6 packet with the mapped
            // reply key is nobody's.
            if dir == Dir::Reply {
                return Err(Verdict::Drop(DropReason::NoFlow));
            }
            return self.nat64_original(snap, frame, end, usize::from(p.at), &e);
        }
        let mut ip = Ipv6Upper::new_unchecked(
            &mut frame[ethernet::HEADER_LEN..end],
            p.upper,
            usize::from(p.at),
        );
        let to = match dir {
            Dir::Original if e.kind() == Kind::Tunnel => {
                return self.forward_tunnel_v6(snap, now, frame, p, &e);
            }
            Dir::Original if e.kind() == Kind::Dr => e.backend,
            Dir::Original => {
                if (e.vip, e.vip_port) != (e.backend, e.backend_port) {
                    nat::rewrite(&mut ip, Side::Dst, e.backend, e.backend_port);
                }
                if (e.client, e.client_port) != (e.local, e.local_port) {
                    nat::rewrite(&mut ip, Side::Src, e.local, e.local_port);
                }
                e.backend
            }
            Dir::Reply => {
                if (e.backend, e.backend_port) != (e.vip, e.vip_port) {
                    nat::rewrite(&mut ip, Side::Src, e.vip, e.vip_port);
                }
                if (e.local, e.local_port) != (e.client, e.client_port) {
                    nat::rewrite(&mut ip, Side::Dst, e.client, e.client_port);
                }
                e.client
            }
        };
        ip.decrement_hop_limit();
        let iface = next_hop_v6(snap, &mut self.unresolved6, frame, to)?;
        Ok((Verdict::Tx { iface }, len))
    }

    /// As `schedule_afresh` for IPv4: connectionless flows whose backend is down move, a SYN
    /// on a closed flow or one whose backend is down starts afresh.
    #[inline(always)]
    fn afresh_v6(&self, snap: &Snapshot, i: u32, tcp_flags: Option<u8>) -> bool {
        use crate::wire::tcp::flags::{ACK, SYN};
        let e = self.ct6.get(i);
        if e.backend_id == NO_BACKEND {
            // A site's NAT64 flow: its server has no health to follow.
            return false;
        }
        match tcp_flags {
            None => !snap.backend_up(e.backend_id),
            Some(f) if f & (SYN | ACK) == SYN => {
                matches!(e.state(), State::TimeWait | State::Close)
                    || !snap.backend_up(e.backend_id)
            }
            Some(_) => false,
        }
    }

    /// A packet without a flow: `Ok(Ok(slot))` for a flow just opened, `Ok(Err(from))` when its
    /// hop limit runs out here (answered from `from`), or the verdict.
    fn classify_new_v6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        p: &ParsedV6,
    ) -> Result<std::result::Result<u32, Ipv6Addr>> {
        let key = p.key;
        if let Some(si) = snap.v6.service_for(key.dst, key.dst_port, key.proto) {
            let h = client_hash(key.src, key.src_port, snap.hash_seed);
            self.owned_by(snap, (h % u64::from(snap.workers.max(1))) as u16)?;
            if p.hop_limit <= 1 {
                return Ok(Err(key.dst));
            }
            return self.new_flow_v6(snap, now, si, &key, p.tcp_flags).map(Ok);
        }
        if snap.v6.pool_of_addr(key.dst).is_some() {
            if key.proto == proto::ICMPV6 && key.dst_port == 0 {
                return Err(Verdict::Pass);
            }
            self.owned_by(snap, owner_of_port(key.dst_port, snap.workers))?;
            return Err(Verdict::Drop(DropReason::NoMapping));
        }
        if snap.v6.is_backend(key.src, key.src_port, key.proto) {
            let h = client_hash(key.dst, key.dst_port, snap.hash_seed);
            self.owned_by(snap, (h % u64::from(snap.workers.max(1))) as u16)?;
            return Err(Verdict::Pass);
        }
        Err(Verdict::Pass)
    }

    fn new_flow_v6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        si: u16,
        key: &FlowKeyV6,
        tcp_flags: Option<u8>,
    ) -> Result<u32> {
        let svc = &snap.v6.services[usize::from(si)];
        let state = match (svc.direct, tcp_flags) {
            (Some(_), Some(f)) => conntrack::state::tcp_initial_one_way(f),
            (_, Some(f)) => {
                conntrack::state::tcp_initial(f).ok_or(Verdict::Drop(DropReason::NoFlow))?
            }
            (_, None) if key.proto == proto::UDP => State::Udp,
            (_, None) => State::Icmp,
        };
        let choice = self
            .sched
            .select_v6(snap, si, key.src, key.src_port, now)
            .ok_or(Verdict::Drop(DropReason::NoBackend))?;
        let b = svc.backends[usize::from(choice.index())];
        let (local, local_port, kind) = match (svc.pool, svc.direct) {
            (Some(pool), None) if svc.nat64 => {
                let preferred = client_hash(key.src, key.src_port, snap.hash_seed);
                let (a, port) = self.allocate_nat64(now, pool, key.proto, preferred)?;
                (a, port, Kind::Nat64)
            }
            (_, Some(Direct::Routing)) => (key.src, key.src_port, Kind::Dr),
            // The outer source is fixed now: a route change later cannot move a flow's
            // packets to another source mid-way.
            (_, Some(Direct::Tunnel { source })) => {
                let src = source
                    .or_else(|| snap.v6.next_hops.source(b.addr))
                    .ok_or(Verdict::Drop(DropReason::NoSource))?;
                (src, key.src_port, Kind::Tunnel)
            }
            (None, None) => (key.src, key.src_port, Kind::Nat),
            (Some(pool), None) => {
                let preferred = client_hash(key.src, key.src_port, snap.hash_seed);
                let (a, port) = match self.snat6.allocate(pool, key.proto, preferred) {
                    Some(x) => x,
                    None => {
                        let (ct, sched, snat, snat4) = (
                            &mut self.ct6,
                            &mut self.sched,
                            &mut self.snat6,
                            &mut self.snat,
                        );
                        ct.expire(now, 64, &mut |e| release_v6(sched, snat, snat4, e));
                        self.snat6
                            .allocate(pool, key.proto, preferred)
                            .ok_or(Verdict::Drop(DropReason::PortsExhausted))?
                    }
                };
                (a, port, Kind::FullNat)
            }
        };
        let flow = NewFlowV6 {
            original: *key,
            backend: b.addr,
            backend_port: if key.proto == proto::ICMPV6 {
                0
            } else {
                b.port
            },
            local,
            local_port,
            backend_id: b.id,
            state,
            kind,
        };
        let (ct, sched, snat, snat4) = (
            &mut self.ct6,
            &mut self.sched,
            &mut self.snat6,
            &mut self.snat,
        );
        let i = match ct.insert(now, &flow, &mut |e| release_v6(sched, snat, snat4, e)) {
            Ok(i) => i,
            Err(e) => {
                if kind == Kind::FullNat {
                    self.snat6.release(key.proto, local, local_port);
                }
                if let (Kind::Nat64, Some(a)) = (kind, local.to_ipv4_mapped()) {
                    self.snat
                        .release_port(super::nat64::v4_proto(key.proto), a, local_port);
                }
                return Err(Verdict::Drop(match e {
                    InsertError::Full => DropReason::ConntrackFull,
                    InsertError::Conflict => DropReason::Conflict,
                }));
            }
        };
        self.flow_opened(b.id, choice);
        Ok(i)
    }

    /// Answers a packet whose hop limit runs out here with time exceeded from `from`.
    fn time_exceeded_v6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &ParsedV6,
        from: Ipv6Addr,
    ) -> Result<(Verdict, usize)> {
        let expired = Verdict::Drop(DropReason::TtlExceeded);
        if p.icmp_error || !answerable(p.key.dst) || !self.may_send_icmp_error(now) {
            return Err(expired);
        }
        let len = usize::from(p.end) - ethernet::HEADER_LEN;
        let out = pmtu::v6::time_exceeded(frame, len, from).ok_or(expired)?;
        let iface = next_hop_v6(snap, &mut self.unresolved6, frame, p.key.src)?;
        self.counters.add(Counter::IcmpTimeExceededSent, 1);
        Ok((Verdict::Tx { iface }, out))
    }

    /// An ICMPv6 error quoting a packet of a tracked flow (Packet Too Big above all: path MTU
    /// discovery through the translation): the outer address, the quoted addresses and ports
    /// and every checksum translated as that direction's packets are, then on its way.
    pub(super) fn icmpv6_error(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        len: usize,
        p: &ParsedV6,
    ) -> Result<(Verdict, usize)> {
        let end = usize::from(p.end);
        if p.at != 0 {
            // An error behind extension headers: nothing to translate it with.
            return Err(Verdict::Drop(DropReason::ExtensionHeader));
        }
        let ip = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..end]);
        let (outer_src, outer_dst) = (ip.src(), ip.dst());
        let msg = Icmpv6Packet::new_checked(ip.payload()).map_err(|_| MALFORMED)?;
        if !msg.verify_checksum(outer_src, outer_dst) {
            return Err(Verdict::Drop(DropReason::BadChecksum));
        }
        let quoted = quoted_key_v6(msg.quoted())?;
        let Some((i, dir)) = self.ct6.lookup(&quoted.reversed()) else {
            return Err(self.not_found_v6(snap, &quoted));
        };
        if p.hop_limit <= 1 {
            return Err(Verdict::Drop(DropReason::TtlExceeded));
        }
        let e = *self.ct6.get(i);
        if e.kind() == Kind::Nat64 {
            return self.nat64_icmpv6_error(snap, frame, end, &e, dir);
        }
        let ip = &mut Ipv6Packet::new_unchecked(&mut frame[ethernet::HEADER_LEN..end]);
        let to = match dir {
            Dir::Original => {
                if (e.vip, e.vip_port) != (e.backend, e.backend_port) {
                    let outer = (outer_dst == e.vip).then_some((Side::Dst, e.backend));
                    nat::translate_icmpv6_error(ip, outer, Side::Src, e.backend, e.backend_port);
                }
                if (e.client, e.client_port) != (e.local, e.local_port) {
                    let outer = (outer_src == e.client).then_some((Side::Src, e.local));
                    nat::translate_icmpv6_error(ip, outer, Side::Dst, e.local, e.local_port);
                }
                e.backend
            }
            Dir::Reply => {
                if (e.local, e.local_port) != (e.client, e.client_port) {
                    let outer = (outer_dst == e.local).then_some((Side::Dst, e.client));
                    nat::translate_icmpv6_error(ip, outer, Side::Src, e.client, e.client_port);
                }
                if (e.backend, e.backend_port) != (e.vip, e.vip_port) {
                    let outer = (outer_src == e.backend).then_some((Side::Src, e.vip));
                    nat::translate_icmpv6_error(ip, outer, Side::Dst, e.vip, e.vip_port);
                }
                e.client
            }
        };
        ip.decrement_hop_limit();
        self.counters.add(Counter::IcmpTranslated, 1);
        let iface = next_hop_v6(snap, &mut self.unresolved6, frame, to)?;
        Ok((Verdict::Tx { iface }, len))
    }

    /// No flow here: the owner of the flow the quote names gets the error, if any.
    fn not_found_v6(&self, snap: &Snapshot, q: &FlowKeyV6) -> Verdict {
        let workers = u64::from(snap.workers.max(1));
        let owner = if snap.v6.service_for(q.src, q.src_port, q.proto).is_some() {
            Some((client_hash(q.dst, q.dst_port, snap.hash_seed) % workers) as u16)
        } else if snap.v6.pool_of_addr(q.src).is_some() {
            Some(owner_of_port(q.src_port, snap.workers))
        } else if snap.v6.is_backend(q.dst, q.dst_port, q.proto) {
            Some((client_hash(q.src, q.src_port, snap.hash_seed) % workers) as u16)
        } else {
            None
        };
        match owner {
            Some(w) if snap.workers > 1 && w != self.cfg.worker => Verdict::Handoff { worker: w },
            _ => Verdict::Pass,
        }
    }

    /// Takes the IPv6 pools from a new snapshot (ports live FullNAT flows hold are claimed).
    pub(super) fn sync_v6(&mut self, snap: &Snapshot) {
        if self
            .snat6
            .sync(&snap.v6.pools, snap.workers, self.cfg.worker)
        {
            for e in self.ct6.iter() {
                if e.kind() == Kind::FullNat {
                    self.snat6.claim(e.proto, e.local, e.local_port);
                }
            }
        }
    }

    /// Expires IPv6 flows within the budget.
    pub(super) fn expire_v6(&mut self, now: u32, budget: u32) {
        let (ct, sched, snat, snat4) = (
            &mut self.ct6,
            &mut self.sched,
            &mut self.snat6,
            &mut self.snat,
        );
        ct.expire(now, budget, &mut |e| release_v6(sched, snat, snat4, e));
    }
}
