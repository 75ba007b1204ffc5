//! Backend selection for new flows. The tables (Maglev, the WRR sequence) are immutable parts of
//! the snapshot; what changes per flow (WRR cursors, connection counts, persistence) is this
//! core's own [`SchedState`].

pub mod leastconn;
pub mod maglev;
pub mod persist;
pub mod wrr;

use std::net::{Ipv4Addr, Ipv6Addr};

use super::flow::client_hash;
use super::snapshot::v6::fold32;
use super::snapshot::{Scheduler, Service, Snapshot, MAX_BACKEND_IDS};
use persist::PersistCache;

/// Outcome of a selection, for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Index into the service's backends.
    Scheduled(u16),
    /// Index chosen by source-address persistence.
    Persisted(u16),
}

impl Choice {
    pub fn index(self) -> u16 {
        match self {
            Choice::Scheduled(i) | Choice::Persisted(i) => i,
        }
    }
}

pub struct SchedState {
    /// One WRR cursor per service of the current snapshot.
    cursors: Vec<u32>,
    generation: u64,
    /// Active flows per backend id on this core.
    active: Box<[u32]>,
    persist: PersistCache,
}

impl SchedState {
    pub fn new(persist_slots: usize, seed: u64) -> SchedState {
        SchedState {
            cursors: Vec::new(),
            generation: 0,
            active: vec![0; MAX_BACKEND_IDS].into_boxed_slice(),
            persist: PersistCache::new(persist_slots, seed),
        }
    }

    /// Follows a new snapshot (once per batch; allocates only when the service count grows).
    pub fn sync(&mut self, snap: &Snapshot) {
        if self.generation != snap.generation {
            self.cursors
                .resize(snap.services.len() + snap.v6.services.len(), 0);
            self.generation = snap.generation;
        }
    }

    pub fn active(&self, backend_id: u16) -> u32 {
        self.active[usize::from(backend_id)]
    }

    pub fn flow_started(&mut self, backend_id: u16) {
        self.active[usize::from(backend_id)] += 1;
    }

    pub fn flow_ended(&mut self, backend_id: u16) {
        let a = &mut self.active[usize::from(backend_id)];
        *a = a.saturating_sub(1);
    }

    /// Picks a backend for a new flow from `client:client_port` to service `si`.
    pub fn select(
        &mut self,
        snap: &Snapshot,
        si: u16,
        client: Ipv4Addr,
        client_port: u16,
        now: u32,
    ) -> Option<Choice> {
        // Callers may process single frames without a batch; a compare is all it costs.
        self.sync(snap);
        let svc: &Service = &snap.services[usize::from(si)];
        let hash = client_hash(client, client_port, snap.cluster_seed);
        self.pick(svc, si, usize::from(si), u32::from(client), hash, now)
    }

    /// [`SchedState::select`] for IPv6 service `si` (of `snap.v6.services`). Its WRR cursor
    /// follows the IPv4 services' and its persistence is keyed by the folded client address
    /// under service `0x8000 | si` (a collision of two clients' folds shares a hint, never a
    /// flow).
    pub fn select_v6(
        &mut self,
        snap: &Snapshot,
        si: u16,
        client: Ipv6Addr,
        client_port: u16,
        now: u32,
    ) -> Option<Choice> {
        self.sync(snap);
        let svc = &snap.v6.services[usize::from(si)];
        let hash = client_hash(client, client_port, snap.cluster_seed);
        let cursor = snap.services.len() + usize::from(si);
        self.pick(svc, 0x8000 | si, cursor, fold32(client), hash, now)
    }

    fn pick<A>(
        &mut self,
        svc: &Service<A>,
        persist_si: u16,
        cursor: usize,
        client: u32,
        hash: u64,
        now: u32,
    ) -> Option<Choice> {
        if svc.persistence_ms > 0 {
            if let Some(id) = self
                .persist
                .get(client, persist_si, now, svc.persistence_ms)
            {
                if let Some(i) = svc.backends.iter().position(|b| b.id == id && b.up) {
                    self.persist.put(client, persist_si, id, now);
                    return Some(Choice::Persisted(i as u16));
                }
            }
        }
        let picked = match svc.scheduler {
            Scheduler::Maglev => svc.maglev.as_ref().and_then(|m| m.pick(hash)),
            Scheduler::RoundRobin => svc.wrr.next(&mut self.cursors[cursor]),
            Scheduler::LeastConn => leastconn::pick(
                svc.backends
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (i as u16, b.effective_weight())),
                |i| svc.backends[usize::from(i)].id,
                &self.active,
            ),
        }?;
        if svc.persistence_ms > 0 {
            self.persist.put(
                client,
                persist_si,
                svc.backends[usize::from(picked)].id,
                now,
            );
        }
        Some(Choice::Scheduled(picked))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::snapshot::{BackendSpec, ServiceSpec, Spec};

    fn snap(scheduler: Scheduler, persistence_ms: u32, up: [bool; 3]) -> Snapshot {
        let spec = Spec {
            locals: Vec::new(),
            services: vec![ServiceSpec {
                name: "s".into(),
                vip: Ipv4Addr::new(198, 18, 1, 1),
                port: 80,
                proto: 6,
                scheduler,
                persistence_ms,
                backends: (0..3)
                    .map(|i| BackendSpec {
                        addr: Ipv4Addr::new(198, 18, 2, i as u8 + 1),
                        port: 80,
                        weight: [1, 1, 2][i],
                        up: up[i],
                    })
                    .collect(),
                pool: None,
                direct: None,
            }],
            workers: 1,
            hash_seed: 11,
            cluster_seed: 0,
            ..Spec::default()
        };
        Snapshot::build(&spec, None).unwrap()
    }

    #[test]
    fn round_robin_follows_weights_and_health() {
        let s = snap(Scheduler::RoundRobin, 0, [true, true, true]);
        let mut st = SchedState::new(16, 1);
        st.sync(&s);
        let picks: Vec<u16> = (0..4)
            .map(|p| {
                st.select(&s, 0, Ipv4Addr::from(1u32), p, 0)
                    .unwrap()
                    .index()
            })
            .collect();
        assert_eq!(picks.iter().filter(|&&i| i == 2).count(), 2);
        let down = snap(Scheduler::RoundRobin, 0, [true, false, true]);
        st.sync(&down);
        assert!((0..10).all(|p| st
            .select(&down, 0, Ipv4Addr::from(1u32), p, 0)
            .unwrap()
            .index()
            != 1));
    }

    #[test]
    fn maglev_is_a_function_of_the_client() {
        let s = snap(Scheduler::Maglev, 0, [true, true, true]);
        let mut a = SchedState::new(16, 1);
        let mut b = SchedState::new(16, 2);
        for p in 0..100 {
            assert_eq!(
                a.select(&s, 0, Ipv4Addr::from(9u32), p, 0),
                b.select(&s, 0, Ipv4Addr::from(9u32), p, 0)
            );
        }
    }

    #[test]
    fn least_conn_uses_counts() {
        let s = snap(Scheduler::LeastConn, 0, [true, true, true]);
        let mut st = SchedState::new(16, 1);
        let ids: Vec<u16> = s.services[0].backends.iter().map(|b| b.id).collect();
        st.flow_started(ids[0]);
        st.flow_started(ids[2]);
        // 0: 1/1, 1: 0/1, 2: 1/2 → backend 1.
        assert_eq!(
            st.select(&s, 0, Ipv4Addr::from(1u32), 1, 0),
            Some(Choice::Scheduled(1))
        );
        st.flow_started(ids[1]);
        // 0: 1/1, 1: 1/1, 2: 1/2 → backend 2.
        assert_eq!(
            st.select(&s, 0, Ipv4Addr::from(1u32), 2, 0),
            Some(Choice::Scheduled(2))
        );
        st.flow_ended(ids[0]);
        st.flow_ended(ids[0]);
        assert_eq!(st.active(ids[0]), 0);
    }

    #[test]
    fn persistence_sticks_until_timeout_or_backend_down() {
        let s = snap(Scheduler::RoundRobin, 1000, [true, true, true]);
        let mut st = SchedState::new(16, 1);
        st.sync(&s);
        let first = st.select(&s, 0, Ipv4Addr::from(7u32), 1, 0).unwrap();
        assert!(matches!(first, Choice::Scheduled(_)));
        for p in 2..10 {
            assert_eq!(
                st.select(&s, 0, Ipv4Addr::from(7u32), p, 500),
                Some(Choice::Persisted(first.index()))
            );
        }
        // Each new flow refreshed it; after a quiet timeout the scheduler chooses again.
        assert!(matches!(
            st.select(&s, 0, Ipv4Addr::from(7u32), 1, 1500),
            Some(Choice::Scheduled(_))
        ));
        // The remembered backend going down breaks persistence.
        let remembered = st
            .select(&s, 0, Ipv4Addr::from(8u32), 1, 0)
            .unwrap()
            .index();
        let mut up = [true; 3];
        up[usize::from(remembered)] = false;
        let down = snap(Scheduler::RoundRobin, 1000, up);
        st.sync(&down);
        let again = st.select(&down, 0, Ipv4Addr::from(8u32), 2, 10).unwrap();
        assert!(matches!(again, Choice::Scheduled(i) if i != remembered));
    }
}
