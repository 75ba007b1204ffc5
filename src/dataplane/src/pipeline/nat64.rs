//! NAT64 flows in the pipeline (RFC 6146's stateful translation for FullNAT services whose VIP
//! is IPv6 and backends IPv4). A flow is an IPv6 conntrack entry of kind `Nat64` whose backend
//! and pool address are IPv4-mapped (`::ffff:a.b.c.d`): the entry keeps its size, and its reply
//! key is the IPv4 reply's key written in IPv6.
//!
//! - Original direction (IPv6 client → VIP): opened by `new_flow_v6` with a port of an IPv4
//!   pool from the IPv4 allocator (the worker's share, as IPv4 FullNAT: the reply's port says
//!   which worker owns it), then translated to IPv4 (`nat64::translate::v6_to_v4`) and routed.
//! - Reply (IPv4 backend → pool address:port): the IPv4 conntrack misses, and classification
//!   of a packet to a pool address looks the mapped key up in the IPv6 table (the cost is on
//!   the IPv4 miss path only). The packet grows by 20 bytes; above the MTU towards the client
//!   it is answered with fragmentation needed (MTU less 20) when Don't Fragment is set, and
//!   dropped (`too_big`) when not, since the fast path does not fragment.
//! - ICMP errors about a flow are translated with their quote (`nat64::icmp`): from the IPv4
//!   side to the client (outer source the VIP when the backend itself complains, else the
//!   router's address under `nat64_prefix`), from the client to the backend from the pool
//!   address. What has no translation is dropped as `nat64_untranslatable`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::v6::next_hop_v6;
use super::{next_hop, Parsed, Pipeline, Result, Verdict};
use crate::conntrack::v6::EntryV6;
use crate::conntrack::{Dir, Kind};
use crate::counters::{Counter, DropReason};
use crate::flow::{FlowKey, FlowKeyV6};
use crate::nat64::icmp::{self as icmp64, ToV4, ToV6};
use crate::nat64::translate::{self, Endpoints, Refused};
use crate::pmtu;
use crate::snapshot::Snapshot;
use crate::wire::{ethernet, proto, EtherType, EthernetFrame, IcmpPacket, Ipv4Packet};

/// The IPv4 protocol of an IPv6 flow's packets (the pool allocator keys ports by it).
pub(super) fn v4_proto(p: u8) -> u8 {
    if p == proto::ICMPV6 {
        proto::ICMP
    } else {
        p
    }
}

/// The IPv6 table's key for an IPv4 packet of a NAT64 flow.
pub(super) fn mapped_key(k: &FlowKey) -> FlowKeyV6 {
    let p = if k.proto == proto::ICMP {
        proto::ICMPV6
    } else {
        k.proto
    };
    FlowKeyV6::new(
        k.src.to_ipv6_mapped(),
        k.src_port,
        k.dst.to_ipv6_mapped(),
        k.dst_port,
        p,
    )
}

fn v4(a: Ipv6Addr) -> Ipv4Addr {
    a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn refused(r: Refused) -> Verdict {
    Verdict::Drop(match r {
        Refused::Truncated => DropReason::Malformed,
        Refused::Untranslatable => DropReason::Nat64Untranslatable,
        Refused::Fragment => DropReason::Fragment,
        Refused::NoRoom => DropReason::NoRoom,
        Refused::TooLong => DropReason::TooBig,
    })
}

fn set_ethertype(frame: &mut [u8], t: EtherType) {
    EthernetFrame::new_unchecked(frame).set_ethertype(t);
}

/// Where a packet translated to IPv6 goes: out of a data interface, or into a site's tunnel.
#[derive(Debug, Clone, Copy)]
enum Out {
    Iface(u16, u16),
    /// The tunnel's zone and MTU.
    Tunnel(u16, u16),
}

impl Out {
    fn mtu(self) -> u16 {
        match self {
            Out::Iface(_, m) | Out::Tunnel(_, m) => m,
        }
    }
}

impl Pipeline {
    /// Where the packets translated for `client` go: a site's flow goes back down its tunnel
    /// (`pipeline/gateway64.rs`), anything else to the next hop (whose MACs are set now).
    fn out_to(&mut self, snap: &Snapshot, frame: &mut [u8], client: Ipv6Addr) -> Result<Out> {
        Ok(match snap.gw.nat64_tunnel(client) {
            Some(t) => Out::Tunnel(t.zone, t.mtu),
            None => {
                let iface = next_hop_v6(snap, &mut self.unresolved6, frame, client)?;
                Out::Iface(iface, snap.mtu(iface))
            }
        })
    }

    /// The IPv6 packet behind the Ethernet header (`n` bytes) on its way.
    fn send_v6(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        n: usize,
        out: Out,
    ) -> Result<(Verdict, usize)> {
        match out {
            Out::Iface(iface, _) => Ok((Verdict::Tx { iface }, ethernet::HEADER_LEN + n)),
            Out::Tunnel(zone, _) => self.tunnel6(snap, now, frame, n, zone),
        }
    }

    /// The IPv4 FullNAT allocator's address and port for a new NAT64 flow, IPv4-mapped.
    pub(super) fn allocate_nat64(
        &mut self,
        now: u32,
        pool: u16,
        protocol: u8,
        preferred: u64,
    ) -> Result<(Ipv6Addr, u16)> {
        let p = v4_proto(protocol);
        let (a, port) = match self.snat.allocate(pool, p, preferred) {
            Some(x) => x,
            None => {
                self.expire_v6(now, 64);
                self.reclaim(now);
                self.snat
                    .allocate(pool, p, preferred)
                    .ok_or(Verdict::Drop(DropReason::PortsExhausted))?
            }
        };
        Ok((a.to_ipv6_mapped(), port))
    }

    /// The client's packet of NAT64 flow `e`, translated to IPv4 and sent to the backend.
    pub(super) fn nat64_original(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        end: usize,
        at: usize,
        e: &EntryV6,
    ) -> Result<(Verdict, usize)> {
        let to = Endpoints {
            src: v4(e.local),
            src_port: e.local_port,
            dst: v4(e.backend),
            dst_port: e.backend_port,
        };
        self.ident = self.ident.wrapping_add(1);
        let l3 = ethernet::HEADER_LEN;
        let n = translate::v6_to_v4(&mut frame[l3..], end - l3, at, &to, self.ident)
            .map_err(refused)?;
        set_ethertype(frame, EtherType::Ipv4);
        let iface = next_hop(snap, &mut self.unresolved, frame, to.dst)?;
        self.counters.add(Counter::Nat64ToIpv4, 1);
        Ok((Verdict::Tx { iface }, l3 + n))
    }

    /// An IPv4 packet to a pool address that no IPv4 flow knows: the reply of a NAT64 flow
    /// if the IPv6 table has it (slot `i`).
    pub(super) fn nat64_lookup(&self, key: &FlowKey) -> Option<u32> {
        match self.ct6.lookup(&mapped_key(key)) {
            Some((i, Dir::Reply)) if self.ct6.get(i).kind() == Kind::Nat64 => Some(i),
            _ => None,
        }
    }

    /// The backend's reply of NAT64 flow `i`, translated to IPv6 and sent to the client.
    pub(super) fn nat64_reply(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &Parsed,
        i: u32,
    ) -> Result<(Verdict, usize)> {
        let e = *self.ct6.get(i);
        if p.ttl <= 1 {
            return self.time_exceeded(snap, now, frame, p, v4(e.local), None);
        }
        self.ct6.touch(i, Dir::Reply, now, p.tcp_flags);
        let out = self.out_to(snap, frame, e.client)?;
        let mtu = usize::from(out.mtu());
        if p.total + translate::GROWTH > mtu {
            return self.nat64_too_big(snap, now, frame, p, v4(e.local), mtu);
        }
        let to = Endpoints {
            src: e.vip,
            src_port: e.vip_port,
            dst: e.client,
            dst_port: e.client_port,
        };
        let n = translate::v4_to_v6(&mut frame[p.l3..], p.total, &to).map_err(refused)?;
        set_ethertype(frame, EtherType::Ipv6);
        self.counters.add(Counter::Nat64ToIpv6, 1);
        self.send_v6(snap, now, frame, n, out)
    }

    /// A reply that would exceed the MTU towards the client once translated: with Don't
    /// Fragment, fragmentation needed with the MTU less the 20 bytes translation adds (within
    /// the ICMP rate limit); without, a counted drop, since the fast path does not fragment.
    fn nat64_too_big(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &Parsed,
        from: Ipv4Addr,
        mtu: usize,
    ) -> Result<(Verdict, usize)> {
        let ip = Ipv4Packet::new_unchecked(&frame[p.l3..p.l3 + p.total]);
        let sender = ip.src();
        if !ip.dont_frag() || !self.may_send_icmp_error(now) {
            return Err(Verdict::Drop(DropReason::TooBig));
        }
        let room = (mtu - translate::GROWTH) as u16;
        let len = pmtu::frag_needed(frame, p.total, from, room)
            .ok_or(Verdict::Drop(DropReason::NoRoom))?;
        let iface = next_hop(snap, &mut self.unresolved, frame, sender)?;
        self.counters.add(Counter::FragNeededSent, 1);
        Ok((Verdict::Tx { iface }, len))
    }

    /// An ICMPv4 error at a pool address quoting a packet of NAT64 flow `i` (which we sent
    /// the backend): to the client as ICMPv6, about the packet the client sent.
    pub(super) fn nat64_icmpv4_error(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &Parsed,
        i: u32,
    ) -> Result<(Verdict, usize)> {
        let ip = Ipv4Packet::new_unchecked(&frame[p.l3..p.l3 + p.total]);
        let router = ip.src();
        let msg = IcmpPacket::new_checked(ip.payload())
            .map_err(|_| Verdict::Drop(DropReason::Malformed))?;
        // The checksum is recomputed whole: one that did not verify must not be laundered.
        if !msg.verify_checksum() {
            return Err(Verdict::Drop(DropReason::BadChecksum));
        }
        if p.ttl <= 1 {
            return Err(Verdict::Drop(DropReason::TtlExceeded));
        }
        let e = *self.ct6.get(i);
        let prefix = snap.v6.nat64_prefix;
        // The backend's own complaint comes from the VIP the client talks to; a router's from
        // its address under the NAT64 prefix, unless the Well-Known Prefix may not carry it
        // (RFC 6052 §3.1): then from the VIP too, an address of ours (as RFC 6791 suggests).
        let src = if router == v4(e.backend) || !prefix.may_embed(router) {
            e.vip
        } else {
            prefix.embed(router)
        };
        let out = self.out_to(snap, frame, e.client)?;
        let mtu = out.mtu();
        let to = ToV6 {
            src,
            dst: e.client,
            quoted: Endpoints {
                src: e.client,
                src_port: e.client_port,
                dst: e.vip,
                dst_port: e.vip_port,
            },
            mtu,
        };
        let n = icmp64::error_v4_to_v6(&mut frame[p.l3..], p.total, &to).map_err(refused)?;
        set_ethertype(frame, EtherType::Ipv6);
        self.counters.add(Counter::IcmpTranslated, 1);
        self.send_v6(snap, now, frame, n, out)
    }

    /// An ICMPv6 error from the client's side quoting a packet of NAT64 flow `e` (which we
    /// sent the client): to the backend as ICMPv4 from the pool address, about the packet the
    /// backend sent.
    pub(super) fn nat64_icmpv6_error(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        end: usize,
        e: &EntryV6,
        dir: Dir,
    ) -> Result<(Verdict, usize)> {
        if dir != Dir::Original {
            return Err(Verdict::Drop(DropReason::NoFlow));
        }
        let (pool, backend) = (v4(e.local), v4(e.backend));
        self.ident = self.ident.wrapping_add(1);
        let to = ToV4 {
            src: pool,
            dst: backend,
            quoted: Endpoints {
                src: backend,
                src_port: e.backend_port,
                dst: pool,
                dst_port: e.local_port,
            },
            ident: self.ident,
        };
        let l3 = ethernet::HEADER_LEN;
        let n = icmp64::error_v6_to_v4(&mut frame[l3..], end - l3, &to).map_err(refused)?;
        set_ethertype(frame, EtherType::Ipv4);
        let iface = next_hop(snap, &mut self.unresolved, frame, backend)?;
        self.counters.add(Counter::IcmpTranslated, 1);
        Ok((Verdict::Tx { iface }, l3 + n))
    }
}
