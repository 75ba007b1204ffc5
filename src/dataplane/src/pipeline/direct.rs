//! Direct server return: the backend holds the VIP and answers the client itself, so only the
//! client's direction crosses us and its addresses never change. `dr` rewrites the MACs towards
//! a backend on a directly connected segment; `tunnel` wraps the packet in IP in IP (RFC 2003)
//! to a backend anywhere. A flow's backend comes from the service's scheduler; with Maglev every
//! node with the same configuration picks the same one, which is what lets a flow that an ECMP
//! router moves to another node carry on (`conntrack::state::tcp_initial_one_way`).

use std::net::Ipv4Addr;

use super::{insert_error, next_hop, Parsed, Pipeline, Result, Verdict};
use crate::conntrack::{Entry, Kind, NewFlow, State};
use crate::counters::{Counter, DropReason};
use crate::flow::FlowKey;
use crate::pmtu;
use crate::sched::Choice;
use crate::snapshot::{Backend, Direct, Snapshot};
use crate::tunnel::{self, IPIP_OVERHEAD};
use crate::wire::Ipv4Packet;

/// Direct routing changes only the MACs: a backend behind a router would get the packet back
/// to whoever announces the VIP.
fn on_link(snap: &Snapshot, backend: Ipv4Addr) -> Result<()> {
    match snap.next_hops.route(backend) {
        None => Err(Verdict::Drop(DropReason::NoRoute)),
        Some((_, nh)) if nh != backend => Err(Verdict::Drop(DropReason::NotOnLink)),
        Some(_) => Ok(()),
    }
}

impl Pipeline {
    /// Records a direct-return flow to backend `b`. For a tunnel the outer source is fixed now,
    /// so a route change later cannot move a flow's packets to another source mid-way.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new_direct_flow(
        &mut self,
        snap: &Snapshot,
        now: u32,
        si: u16,
        key: &FlowKey,
        state: State,
        b: Backend,
        direct: Direct,
        choice: Choice,
    ) -> Result<u32> {
        let (kind, local) = match direct {
            Direct::Routing => {
                on_link(snap, b.addr)?;
                (Kind::Dr, key.src)
            }
            Direct::Tunnel { source } => {
                let src = source
                    .or_else(|| snap.next_hops.source(b.addr))
                    .ok_or(Verdict::Drop(DropReason::NoSource))?;
                (Kind::Tunnel, src)
            }
        };
        let flow = NewFlow {
            original: *key,
            backend: b.addr,
            // The packet keeps its destination port: the backend listens on the VIP's.
            backend_port: key.dst_port,
            local,
            local_port: 0,
            service: si,
            backend_id: b.id,
            state,
            kind,
            profile: 0,
        };
        let i = self
            .ct
            .insert(now, &flow, &mut |e: &Entry| {
                super::release(&mut self.sched, &mut self.snat, e)
            })
            .map_err(insert_error)?;
        self.flow_opened(b.id, choice);
        Ok(i)
    }

    /// A packet of a direct-return flow, on to its backend.
    pub(super) fn forward_direct(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        len: usize,
        p: &Parsed,
        e: &Entry,
    ) -> Result<(Verdict, usize)> {
        if e.kind() == Kind::Dr {
            on_link(snap, e.backend)?;
            Ipv4Packet::new_unchecked(&mut frame[p.l3..p.l3 + p.total]).decrement_ttl();
            let iface = next_hop(snap, &mut self.unresolved, frame, e.backend)?;
            self.counters.add(Counter::DirectRouted, 1);
            return Ok((Verdict::Tx { iface }, len));
        }
        let (iface, _) = snap
            .next_hops
            .route(e.backend)
            .ok_or(Verdict::Drop(DropReason::NoRoute))?;
        let mtu = usize::from(snap.mtu(iface));
        if p.total + IPIP_OVERHEAD > mtu {
            let room = (mtu.saturating_sub(IPIP_OVERHEAD)).min(usize::from(u16::MAX)) as u16;
            return self.direct_too_big(snap, now, frame, p, e.vip, room);
        }
        // The inner packet is forwarded, so its TTL drops (RFC 2003 §3.1).
        Ipv4Packet::new_unchecked(&mut frame[p.l3..p.l3 + p.total]).decrement_ttl();
        let ident = self.outer_ident(frame);
        let len = tunnel::encapsulate_ipip(frame, p.total, e.local, e.backend, ident)
            .ok_or(Verdict::Drop(DropReason::NoRoom))?;
        let iface = next_hop(snap, &mut self.unresolved, frame, e.backend)?;
        self.counters.add(Counter::IpipEncapsulated, 1);
        Ok((Verdict::Tx { iface }, len))
    }

    /// A packet that would exceed the link MTU once wrapped: with Don't Fragment the client
    /// learns the tunnel's path MTU from an ICMP fragmentation-needed sent from the VIP (RFC
    /// 1191); without, it is dropped, since the fast path does not fragment.
    fn direct_too_big(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &Parsed,
        vip: Ipv4Addr,
        mtu: u16,
    ) -> Result<(Verdict, usize)> {
        let ip = Ipv4Packet::new_unchecked(&frame[p.l3..]);
        if !ip.dont_frag() || !self.may_send_icmp_error(now) {
            return Err(Verdict::Drop(DropReason::TooBig));
        }
        let sender = ip.src();
        let len =
            pmtu::frag_needed(frame, p.total, vip, mtu).ok_or(Verdict::Drop(DropReason::NoRoom))?;
        let iface = next_hop(snap, &mut self.unresolved, frame, sender)?;
        self.counters.add(Counter::FragNeededSent, 1);
        Ok((Verdict::Tx { iface }, len))
    }
}
