//! Packets whose TTL runs out here, answered as a router answers them: ICMP time exceeded in
//! transit (RFC 792 type 11 code 0, RFC 1812 §5.3.1), quoting the packet as fragmentation
//! needed does, within the worker's ICMP rate limit (RFC 1812 §4.3.2.8).
//!
//! The answer comes from an address of ours that a traceroute should show for this hop:
//! - a packet that came out of a GRE tunnel: the tunnel's local address, and the answer goes
//!   back into the tunnel (the sender's addresses may be private to the site);
//! - a packet a site's inside host sends towards its tunnel: the tunnel's local address;
//! - a client's packet to a service: the VIP it was sent to;
//! - an inside host's packet through the SNAT gateway: the pool address its flows leave from;
//! - a backend's or outside server's reply: the address it was sent to when that is ours (a
//!   pool address, for SNAT and FullNAT), else the VIP it appears to come from (NAT mode).
//!
//! No answer (a counted `ttl_exceeded` drop) for an ICMP error (RFC 1812 §4.3.2.7), for a
//! destination no router forwards to (multicast, broadcast, RFC 1812 §4.3.2.7) and over the
//! rate limit (counted `icmp_rate_limited` too). Fragments and martian sources never get here:
//! the parser drops them.

use std::net::Ipv4Addr;

use super::{next_hop, ttl_expired, Parsed, Pipeline, Result, Verdict};
use crate::conntrack::{Dir, Entry, Kind};
use crate::counters::Counter;
use crate::gateway::forwardable;
use crate::pmtu;
use crate::snapshot::Snapshot;
use crate::tunnel;
use crate::wire::ethernet;

impl Pipeline {
    /// Where the answer to a packet of flow `e` in direction `dir` comes from, and the tunnel it
    /// goes back into.
    pub(super) fn error_source(
        &self,
        snap: &Snapshot,
        e: &Entry,
        dir: Dir,
    ) -> Result<(Ipv4Addr, Option<u16>)> {
        Ok(match dir {
            Dir::Original if e.zone != 0 => {
                let t = snap.gw.tunnel(e.zone).ok_or(ttl_expired())?;
                (t.local, Some(e.zone))
            }
            Dir::Original if e.kind() == Kind::Snat => (e.local, None),
            Dir::Original => (e.vip, None),
            Dir::Reply if e.kind() == Kind::Nat => (e.vip, None),
            Dir::Reply => (e.local, None),
        })
    }

    /// Answers packet `p`, whose TTL runs out here, with time exceeded from `from`, into tunnel
    /// `back` if given, else towards its sender; or drops it (see the module's documentation).
    /// `frame` is the whole buffer: an error about a short packet is longer than the packet.
    pub(super) fn time_exceeded(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &Parsed,
        from: Ipv4Addr,
        back: Option<u16>,
    ) -> Result<(Verdict, usize)> {
        if p.icmp_error || !forwardable(p.key.dst) {
            return Err(ttl_expired());
        }
        if !self.may_send_icmp_error(now) {
            return Err(ttl_expired());
        }
        let sender = p.key.src;
        if p.l3 != ethernet::HEADER_LEN {
            // Out of a tunnel: the inner packet is what the error quotes.
            tunnel::decapsulate(frame, p.l3, p.total);
        }
        let len = pmtu::time_exceeded(frame, p.total, from).ok_or(ttl_expired())?;
        let v = match back {
            Some(zone) => self.encapsulate_into(snap, frame, len - ethernet::HEADER_LEN, zone),
            None => next_hop(snap, &mut self.unresolved, frame, sender)
                .map(|iface| (Verdict::Tx { iface }, len)),
        }?;
        self.counters.add(Counter::IcmpTimeExceededSent, 1);
        if let Some(zone) = back {
            self.tunnels.zone(zone).time_exceeded_sent += 1;
        }
        Ok(v)
    }

    /// Takes a token for an ICMP error this worker originates; counts the refusal.
    pub(super) fn may_send_icmp_error(&mut self, now: u32) -> bool {
        let ok = self.icmp_bucket.take(now);
        if !ok {
            self.counters.add(Counter::IcmpRateLimited, 1);
        }
        ok
    }
}
