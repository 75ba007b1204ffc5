//! The site end of a tunnel, when this appliance is a remote site's gateway: packets from the
//! site's inside prefixes to anywhere else go into the tunnel unchanged (but for the TTL), and
//! what comes out of it goes to the inside host it is addressed to. Nothing is tracked: the
//! central end translates and keeps the flows, so this is a kernel GRE device with a route,
//! and any worker can take any packet (no ownership, no handoff).
//!
//! Path MTU as at the central end: SYNs clamped both ways, and a packet with Don't Fragment
//! that does not fit answered with ICMP fragmentation-needed (from the tunnel's local address,
//! which is ours). A packet whose TTL runs out here is answered with time exceeded from the
//! same address, into the tunnel when it came out of it.

use super::{next_hop, Parsed, Pipeline, Result, Verdict};
use crate::counters::DropReason;
use crate::gateway::Tunnel;
use crate::snapshot::Snapshot;
use crate::tunnel;
use crate::wire::Ipv4Packet;

impl Pipeline {
    /// From the inside to the outside: into the site tunnel with `zone`. `p` is a packet right
    /// behind the Ethernet header.
    pub(super) fn enter_site_tunnel(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &Parsed,
        zone: u16,
    ) -> Result<(Verdict, usize)> {
        let Some(t) = snap.gw.tunnel(zone) else {
            return Err(Verdict::Drop(DropReason::NoPool));
        };
        let (mtu, local) = (t.mtu, t.local);
        if p.ttl <= 1 {
            return self.time_exceeded(snap, now, frame, p, local, None);
        }
        if p.total > usize::from(mtu) {
            return self.too_big(snap, now, frame, p, t, local);
        }
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[p.l3..p.l3 + p.total]);
        ip.decrement_ttl();
        self.clamp(&mut ip, zone, mtu);
        self.encapsulate_into(snap, frame, p.total, zone)
    }

    /// Out of site tunnel `t` (the packet's zone): to an inside host, or dropped.
    pub(super) fn leave_site_tunnel(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &Parsed,
        t: &Tunnel,
    ) -> Result<(Verdict, usize)> {
        let dst = p.key.dst;
        if !snap.gw.site_delivers(t.zone, dst) {
            return Err(Verdict::Drop(DropReason::NotInside));
        }
        if p.ttl <= 1 {
            return self.time_exceeded(snap, now, frame, p, t.local, Some(t.zone));
        }
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[p.l3..p.l3 + p.total]);
        ip.decrement_ttl();
        self.clamp(&mut ip, t.zone, t.mtu);
        let len = tunnel::decapsulate(frame, p.l3, p.total);
        let iface = next_hop(snap, &mut self.unresolved, frame, dst)?;
        Ok((Verdict::Tx { iface }, len))
    }
}
