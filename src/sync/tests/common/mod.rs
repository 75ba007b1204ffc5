//! Shared by the integration tests: configs, records, and a pair of endpoints.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use session_sync::*;

pub const KEY: &[u8] = b"shared secret";

pub fn settings() -> Settings {
    Settings {
        workers: 2,
        pools: vec![PoolRange {
            addr: Ipv4Addr::new(198, 18, 0, 1),
            port_lo: 1024,
            port_hi: 65535,
        }],
        config_digest: 0xfeed,
    }
}

pub fn config(node: u64) -> Config {
    let mut c = Config::new(node, KEY.to_vec(), settings());
    c.hello_interval = Duration::from_millis(100);
    c.rto_initial = Duration::from_millis(50);
    c.rto_min = Duration::from_millis(5);
    c.rto_max = Duration::from_millis(400);
    c
}

pub fn key(i: u32) -> FlowKey {
    FlowKey {
        zone: 0,
        proto: 6,
        client: Ipv4Addr::from(0xC612_0000 | (i >> 16)),
        client_port: (i & 0xffff) as u16,
        vip: Ipv4Addr::new(198, 19, 0, 1),
        vip_port: 80,
    }
}

pub fn flow(i: u32) -> Flow {
    Flow {
        key: key(i),
        kind: Kind::Nat,
        state: 2,
        class: 1,
        fins: 0,
        profile: 0,
        backend: Ipv4Addr::new(198, 18, 1, (i % 250) as u8),
        backend_port: 8080,
        local: key(i).client,
        local_port: key(i).client_port,
        remaining_ms: 7_200_000 - i,
    }
}

pub fn upsert(i: u32) -> Record {
    Record::FlowUpsert(flow(i))
}

/// A table served to bulk resyncs: the cursor is an index.
pub struct Table(pub Vec<Record>);

impl BulkSource for Table {
    fn entries(&self) -> u64 {
        self.0.len() as u64
    }
    fn page(&mut self, cursor: u64, max: usize, out: &mut Vec<Record>) -> Option<u64> {
        let start = (cursor as usize).min(self.0.len());
        let end = (start + max).min(self.0.len());
        out.extend_from_slice(&self.0[start..end]);
        (end < self.0.len()).then_some(end as u64)
    }
}

/// Two endpoints that have exchanged hellos over a perfect link.
pub fn pair(t: Instant) -> (Peer, Peer) {
    let mut a = Peer::new(config(1), 0xA, t).unwrap();
    let mut b = Peer::new(config(2), 0xB, t).unwrap();
    a.handle_timeout(t);
    b.handle_timeout(t);
    exchange(&mut a, &mut b, t);
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    (a, b)
}

/// Delivers everything each side sends until both are quiet; returns what each applied.
pub fn exchange(a: &mut Peer, b: &mut Peer, t: Instant) -> (Vec<Record>, Vec<Record>) {
    let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
    for _ in 0..10_000 {
        let mut moved = false;
        while let Some(d) = a.poll_transmit(t) {
            moved = true;
            if let Ok(r) = b.receive(&d, t) {
                to_b.extend(r);
            }
        }
        while let Some(d) = b.poll_transmit(t) {
            moved = true;
            if let Ok(r) = a.receive(&d, t) {
                to_a.extend(r);
            }
        }
        if !moved {
            break;
        }
    }
    (to_a, to_b)
}

/// Runs both endpoints on a perfect link for `steps` steps of `step`, serving bulks from
/// the tables; returns the time reached and what each applied.
pub fn run(
    a: &mut Peer,
    b: &mut Peer,
    mut t: Instant,
    steps: usize,
    step: Duration,
    ta: &mut dyn BulkSource,
    tb: &mut dyn BulkSource,
) -> (Instant, Vec<Record>, Vec<Record>) {
    let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
    for _ in 0..steps {
        a.handle_timeout(t);
        b.handle_timeout(t);
        a.pump_bulk(t, ta);
        b.pump_bulk(t, tb);
        let (x, y) = exchange(a, b, t);
        to_a.extend(x);
        to_b.extend(y);
        t += step;
    }
    (t, to_a, to_b)
}
