//! ICMP errors about tracked flows. The quoted datagram is a packet we forwarded (translated),
//! so its reversed key, in the zone the error came from, is the key of the flow's other
//! direction. The error is translated like the packets of that direction would be (outer
//! addresses, the quoted addresses and ports, every checksum) and goes where they go: on to
//! the backend or outside host, back to the client, or into the client's tunnel.

use super::{next_hop, quoted_key, ttl_expired, Parsed, Pipeline, Result, Verdict};
use crate::conntrack::Dir;
use crate::counters::{Counter, DropReason};
use crate::flow::{client_hash, inside_hash};
use crate::nat::{self, Side};
use crate::snapshot::Snapshot;
use crate::snat::ports::owner_of_port;
use crate::tunnel;
use crate::wire::{IcmpPacket, Ipv4Packet};

impl Pipeline {
    pub(super) fn icmp_error(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        len: usize,
        p: &Parsed,
    ) -> Result<(Verdict, usize)> {
        let malformed = Verdict::Drop(DropReason::Malformed);
        let zone = p.key.zone;
        let ip = Ipv4Packet::new_checked(&frame[p.l3..p.l3 + p.total]).map_err(|_| malformed)?;
        let (outer_src, outer_dst) = (ip.src(), ip.dst());
        let msg = IcmpPacket::new_checked(ip.payload()).map_err(|_| malformed)?;
        let mut quoted = quoted_key(msg.quoted())?;
        quoted.zone = zone;
        let Some((i, dir)) = self.ct.lookup(&quoted.reversed()) else {
            // About a packet a NAT64 flow sent from a pool address: the IPv6 table has it.
            if zone == 0 && snap.gw.pool_of_addr(quoted.src).is_some() {
                if let Some(i) = self.nat64_lookup(&quoted.reversed()) {
                    return self.nat64_icmpv4_error(snap, now, frame, p, i);
                }
            }
            let v = self.not_found(snap, &quoted);
            // No flow anywhere: an inside host's error about a packet that came out of a site
            // tunnel goes back into it, like any of the host's packets.
            if let (Verdict::Pass, Some(t)) = (v, snap.gw.site_egress(outer_src, outer_dst)) {
                let site_zone = t.zone;
                return self.enter_site_tunnel(snap, now, frame, p, site_zone);
            }
            return Err(v);
        };
        // Errors are never answered with errors (RFC 1812 §4.3.2.7).
        if p.ttl <= 1 {
            return Err(ttl_expired());
        }
        let e = *self.ct.get(i);
        let ip = &mut Ipv4Packet::new_unchecked(&mut frame[p.l3..p.l3 + p.total]);
        match dir {
            Dir::Original => {
                // About a reply we delivered (VIP or server → client): it goes the original way.
                if (e.vip, e.vip_port) != (e.backend, e.backend_port) {
                    let outer = (outer_dst == e.vip).then_some((Side::Dst, e.backend));
                    nat::translate_icmp_error(ip, outer, Side::Src, e.backend, e.backend_port);
                }
                if (e.client, e.client_port) != (e.local, e.local_port) {
                    let outer = (outer_src == e.client).then_some((Side::Src, e.local));
                    nat::translate_icmp_error(ip, outer, Side::Dst, e.local, e.local_port);
                }
            }
            Dir::Reply => {
                // About a packet we sent on (from `local` to the backend): back to the client.
                if (e.local, e.local_port) != (e.client, e.client_port) {
                    let outer = (outer_dst == e.local).then_some((Side::Dst, e.client));
                    nat::translate_icmp_error(ip, outer, Side::Src, e.client, e.client_port);
                }
                if (e.backend, e.backend_port) != (e.vip, e.vip_port) {
                    let outer = (outer_src == e.backend).then_some((Side::Src, e.vip));
                    nat::translate_icmp_error(ip, outer, Side::Dst, e.vip, e.vip_port);
                }
            }
        }
        ip.decrement_ttl();
        self.counters.add(Counter::IcmpTranslated, 1);
        match dir {
            Dir::Original => {
                let len = if zone != 0 {
                    tunnel::decapsulate(frame, p.l3, p.total)
                } else {
                    len
                };
                let iface = next_hop(snap, &mut self.unresolved, frame, e.backend)?;
                Ok((Verdict::Tx { iface }, len))
            }
            Dir::Reply if e.zone != 0 => {
                let t = snap
                    .gw
                    .tunnel(e.zone)
                    .ok_or(Verdict::Drop(DropReason::NoPool))?;
                // Errors are never answered with errors (RFC 1812 §4.3.2.7).
                if p.total > usize::from(t.mtu) {
                    self.tunnels.zone(e.zone).drop(DropReason::TooBig);
                    return Err(Verdict::Drop(DropReason::TooBig));
                }
                self.encapsulate_into(snap, frame, p.total, e.zone)
            }
            Dir::Reply => {
                let iface = next_hop(snap, &mut self.unresolved, frame, e.client)?;
                Ok((Verdict::Tx { iface }, len))
            }
        }
    }

    /// No flow here: the owner of the flow the quote names, if the fast path has one, gets the
    /// error; otherwise it is the kernel's.
    fn not_found(&self, snap: &Snapshot, q: &crate::flow::FlowKey) -> Verdict {
        let workers = u64::from(snap.workers.max(1));
        let owner = if q.zone != 0 {
            Some((inside_hash(q.zone, q.dst, q.dst_port, snap.hash_seed) % workers) as u16)
        } else if snap.service_for(q.src, q.src_port, q.proto).is_some() {
            Some((client_hash(q.dst, q.dst_port, snap.hash_seed) % workers) as u16)
        } else if snap.gw.pool_of_addr(q.src).is_some() {
            Some(owner_of_port(q.src_port, snap.workers))
        } else if snap.is_backend(q.dst, q.dst_port, q.proto) {
            Some((client_hash(q.src, q.src_port, snap.hash_seed) % workers) as u16)
        } else if snap.gw.pool_for_source(q.dst).is_some() {
            Some((inside_hash(0, q.dst, q.dst_port, snap.hash_seed) % workers) as u16)
        } else {
            None
        };
        match owner {
            Some(w) if snap.workers > 1 && w != self.cfg.worker => Verdict::Handoff { worker: w },
            _ if q.zone != 0 => Verdict::Drop(DropReason::NoFlow),
            _ => Verdict::Pass,
        }
    }
}
