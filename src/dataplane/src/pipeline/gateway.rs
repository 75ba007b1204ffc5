//! The SNAT gateway's new flows: an inside endpoint (from a tunnel, or from a source prefix of
//! a pool) gets its endpoint-independent mapping from the pool, and the flow is recorded with
//! the destination unchanged and the source translated.

use super::{initial_state, insert_error, release, Parsed, Pipeline, Result, Verdict};
use crate::conntrack::{Entry, Kind, NewFlow};
use crate::counters::{Counter, DropReason};
use crate::flow::mix2;
use crate::snapshot::Snapshot;
use crate::snat::mapping::Inside;
use crate::wire::Address;

impl Pipeline {
    pub(super) fn new_snat_flow(
        &mut self,
        snap: &Snapshot,
        now: u32,
        pool: u16,
        p: &Parsed,
    ) -> Result<u32> {
        let key = p.key;
        let state = initial_state(key.proto, p.tcp_flags)?;
        let inside = Inside {
            zone: key.zone,
            proto: key.proto,
            addr: key.src,
            port: key.src_port,
        };
        // Paired pooling: every flow of one inside host prefers the same external address.
        let preferred = mix2(key.src.hash_word(), u64::from(key.zone), snap.hash_seed);
        let (ext_addr, ext_port) = match self.snat.open(pool, inside, preferred) {
            Some(x) => x,
            None => {
                self.reclaim(now);
                self.snat
                    .open(pool, inside, preferred)
                    .ok_or(Verdict::Drop(DropReason::PortsExhausted))?
            }
        };
        let flow = NewFlow {
            original: key,
            backend: key.dst,
            backend_port: key.dst_port,
            local: ext_addr,
            local_port: ext_port,
            service: 0,
            backend_id: 0,
            state,
            kind: Kind::Snat,
            profile: 1 + pool as u8,
        };
        let (ct, sched, snat) = (&mut self.ct, &mut self.sched, &mut self.snat);
        match ct.insert(now, &flow, &mut |e: &Entry| release(sched, snat, e)) {
            Ok(i) => {
                self.counters.add(Counter::NewFlows, 1);
                Ok(i)
            }
            Err(e) => {
                self.snat.close(&inside);
                Err(insert_error(e))
            }
        }
    }
}
