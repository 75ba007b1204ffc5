//! NAT64 for a site's IPv6 through its GRE tunnel (RFC 6146 at the central gateway): IPv6 out
//! of the tunnel from one of the site's `nat64_sources` to an address under `nat64_prefix`
//! (RFC 6052) is translated to IPv4 from the tunnel's pool, and the replies are translated
//! back and sent down the same tunnel.
//!
//! The flows are NAT64 flows of the IPv6 table (`pipeline/nat64.rs`), with the server's
//! address as the "backend" and no service ([`NO_BACKEND`]): the replies (IPv4 to the pool
//! address and port) find them from the IPv4 miss path as a service's NAT64 replies do, and
//! go into the tunnel whose `nat64_sources` hold the client (the sources of two tunnels never
//! overlap, so the client's address names its tunnel and no zone is kept). The pool port comes
//! from the owner worker's share of the IPv4 allocator; the owner is the client's hash, as for
//! the IPv4 gateway's inside endpoints, and the tunnel's worker hands the packet to it before
//! anything is changed.
//!
//! Mappings are per flow (address and port dependent), not endpoint-independent as RFC 6146
//! §3.5.1 and §3.5.2 ask of a NAT64: the endpoint-independent table (`snat::mapping`) keys
//! IPv4 inside endpoints. A site's IPv6 host talking to two IPv4 servers gets two external
//! ports, which breaks peer-to-peer applications that rely on one; client-server traffic does
//! not notice.

use std::net::Ipv4Addr;

use super::v6::{quoted_key_v6, NO_BACKEND};
use super::{initial_state, owned, Pipeline, Result, Verdict};
use crate::conntrack::v6::NewFlowV6;
use crate::conntrack::{Dir, InsertError, Kind};
use crate::counters::{Counter, DropReason};
use crate::flow::client_hash;
use crate::gateway::forwardable;
use crate::snapshot::Snapshot;
use crate::tunnel;
use crate::wire::{ethernet, proto, Icmpv6Packet, Icmpv6Repr, Ipv6Packet};

const L3: usize = ethernet::HEADER_LEN;

impl Pipeline {
    /// Out of a tunnel: the IPv6 packet at `at` (`total` bytes, Payload Length checked) from
    /// a NAT64 source of the tunnel, to `server` under the NAT64 prefix, through `pool`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn leave_tunnel_nat64(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        pool: u16,
        at: usize,
        total: usize,
        server: Ipv4Addr,
    ) -> Result<(Verdict, usize)> {
        // Parsed where it is (the parser reads behind an Ethernet header's worth of bytes), so
        // its offsets hold once the packet has moved behind the frame's Ethernet header.
        let mut p = super::v6::parse_v6(&frame[at - L3..at + total])?;
        // The owner: the client's worker; for an ICMPv6 error, the worker of the client whose
        // flow it quotes (our translated reply went to it).
        let (who, port) = if p.icmp_error {
            let ip = Ipv6Packet::new_unchecked(&frame[at..at + total]);
            let m = Icmpv6Packet::new_checked(ip.payload())
                .map_err(|_| Verdict::Drop(DropReason::Malformed))?;
            // The quote is our translated answer: to the client.
            let q = quoted_key_v6(m.quoted())?;
            (q.dst, q.dst_port)
        } else {
            (p.key.src, p.key.src_port)
        };
        let h = client_hash(who, port, snap.hash_seed);
        self.owned_by(snap, (h % u64::from(snap.workers.max(1))) as u16)?;
        if !snap.v6.nat64_prefix.may_embed(server) || !forwardable(server) {
            return Err(Verdict::Drop(DropReason::Nat64Untranslatable));
        }
        let len = tunnel::decapsulate_v6(frame, at, total);
        if !p.icmp_error {
            p.hash = self.ct6.prefetch(&p.key);
        }
        if p.icmp_error {
            // About no flow: the kernel has no use for what came out of a tunnel.
            return self
                .icmpv6_error(snap, frame, len, &p)
                .map_err(|v| match v {
                    Verdict::Pass | Verdict::Handoff { .. } => Verdict::Drop(DropReason::NoFlow),
                    v => owned(v),
                });
        }
        if p.hop_limit <= 1 {
            return self.error6(
                snap,
                now,
                frame,
                total,
                Icmpv6Repr::TimeExceeded { code: 0 },
            );
        }
        match self.ct6.lookup_hashed(&p.key, p.hash) {
            Some((_, Dir::Original)) => {}
            Some((_, Dir::Reply)) => return Err(Verdict::Drop(DropReason::NoFlow)),
            None => {
                self.new_gateway64_flow(snap, now, pool, &p, server)?;
            }
        }
        self.translate_v6(snap, now, frame, len, &p)
    }

    fn new_gateway64_flow(
        &mut self,
        snap: &Snapshot,
        now: u32,
        pool: u16,
        p: &super::v6::ParsedV6,
        server: Ipv4Addr,
    ) -> Result<u32> {
        let key = p.key;
        // An echo reply from the site answers nothing we track.
        if key.proto == proto::ICMPV6 && key.dst_port != 0 {
            return Err(Verdict::Drop(DropReason::NoFlow));
        }
        let state = initial_state(key.proto, p.tcp_flags)?;
        let preferred = client_hash(key.src, key.src_port, snap.hash_seed);
        let (local, local_port) = self.allocate_nat64(now, pool, key.proto, preferred)?;
        let flow = NewFlowV6 {
            original: key,
            backend: server.to_ipv6_mapped(),
            backend_port: key.dst_port,
            local,
            local_port,
            backend_id: NO_BACKEND,
            state,
            kind: Kind::Nat64,
        };
        let (ct, sched, snat6, snat) = (
            &mut self.ct6,
            &mut self.sched,
            &mut self.snat6,
            &mut self.snat,
        );
        match ct.insert(now, &flow, &mut |e| {
            super::v6::release_v6(sched, snat6, snat, e)
        }) {
            Ok(i) => {
                self.counters.add(Counter::NewFlows, 1);
                Ok(i)
            }
            Err(e) => {
                if let Some(a) = local.to_ipv4_mapped() {
                    self.snat
                        .release_port(super::nat64::v4_proto(key.proto), a, local_port);
                }
                Err(Verdict::Drop(match e {
                    InsertError::Full => DropReason::ConntrackFull,
                    InsertError::Conflict => DropReason::Conflict,
                }))
            }
        }
    }
}
