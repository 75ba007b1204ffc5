//! Two endpoints on a virtual clock over a link that loses, duplicates, delays and reorders
//! datagrams (a seeded RNG, so every run is the same), with an attacker on the link
//! replaying, truncating, re-versioning and forging datagrams. Proves: every record queued
//! is applied exactly once, in order per key, or superseded by a later one of the same key
//! while still queued; a restarted peer is brought back by a bulk resync that completes
//! while live updates continue; nothing the attacker sends is applied; buffers stay bounded.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use session_sync::wire::{Datagram, Key, VERSION};
use session_sync::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// Datagrams in the air: (arrival, to b?, bytes).
struct Link {
    air: Vec<(Instant, bool, Vec<u8>)>,
    loss: u64,
    dup: u64,
    /// Every datagram a sent, for the attacker.
    seen: Vec<Vec<u8>>,
}

impl Link {
    fn send(&mut self, rng: &mut Rng, now: Instant, to_b: bool, bytes: Vec<u8>) {
        if to_b && self.seen.len() < 10_000 {
            self.seen.push(bytes.clone());
        }
        if rng.chance(self.loss) {
            return;
        }
        let copies = if rng.chance(self.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = Duration::from_millis(1 + rng.below(30));
            self.air.push((now + delay, to_b, bytes.clone()));
        }
    }

    fn due(&mut self, now: Instant) -> Vec<(bool, Vec<u8>)> {
        let (due, rest): (Vec<_>, Vec<_>) = self.air.drain(..).partition(|(t, _, _)| *t <= now);
        self.air = rest;
        due.into_iter().map(|(_, to_b, b)| (to_b, b)).collect()
    }
}

/// The state a record describes, applied the way the shell will apply it.
#[derive(Default, Clone, PartialEq, Debug)]
struct Model(HashMap<CoalesceKey, Record>);

impl Model {
    fn apply(&mut self, r: &Record) {
        let k = r.coalesce_key().expect("state record");
        match r {
            Record::FlowUpsert(_) | Record::SnatMapping(_) => {
                self.0.insert(k, r.clone());
            }
            Record::FlowRefresh(_) => {
                if let Some(old) = self.0.remove(&k) {
                    self.0.insert(k, old.supersede(r.clone()));
                }
            }
            _ => {
                self.0.remove(&k);
            }
        }
    }

    fn sorted_keys(&self) -> Vec<CoalesceKey> {
        let mut keys: Vec<_> = self.0.keys().copied().collect();
        keys.sort();
        keys
    }
}

/// The bulk source: the live model, its keys listed when a bulk starts (cursor 0), each
/// entry read as it is at the moment its page is pulled.
struct Live<'a> {
    model: &'a Model,
    keys: &'a mut Vec<CoalesceKey>,
}

impl BulkSource for Live<'_> {
    fn entries(&self) -> u64 {
        self.model.0.len() as u64
    }
    fn page(&mut self, cursor: u64, max: usize, out: &mut Vec<Record>) -> Option<u64> {
        if cursor == 0 {
            *self.keys = self.model.sorted_keys();
        }
        let start = (cursor as usize).min(self.keys.len());
        let end = (start + max).min(self.keys.len());
        out.extend(
            self.keys[start..end]
                .iter()
                .filter_map(|k| self.model.0.get(k).cloned()),
        );
        (end < self.keys.len()).then_some(end as u64)
    }
}

/// Versions (remaining_ms) of flow records are unique: each may be applied once, and per
/// key in increasing order.
#[derive(Default)]
struct Once {
    seen: HashMap<u32, u32>,
    last: HashMap<FlowKey, u32>,
}

impl Once {
    fn check(&mut self, r: &Record) {
        let (key, v) = match r {
            Record::FlowUpsert(f) => (f.key, f.remaining_ms),
            Record::FlowRefresh(f) => (f.key, f.remaining_ms),
            _ => return,
        };
        let n = self.seen.entry(v).or_default();
        *n += 1;
        assert_eq!(*n, 1, "version {v} applied twice");
        if let Some(&last) = self.last.get(&key) {
            assert!(v > last, "{key:?}: version {v} after {last}");
        }
        self.last.insert(key, v);
    }
}

struct Sim {
    rng: Rng,
    link: Link,
    now: Instant,
    a: Peer,
    b: Peer,
    model_a: Model,
    model_b: Model,
    keys_a: Vec<CoalesceKey>,
    keys_b: Vec<CoalesceKey>,
    version: u32,
    next_id: u32,
    once: Once,
    attacks: u64,
    ever: Vec<CoalesceKey>,
    /// Off once a bulk resync re-sends current state (an entry may then arrive both live
    /// and in a page: a later upsert of the same state).
    check_once: bool,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let now = Instant::now();
        Sim {
            rng: Rng(seed),
            link: Link {
                air: Vec::new(),
                loss: 200,
                dup: 100,
                seen: Vec::new(),
            },
            now,
            a: Peer::new(config(1), 0xA, now).unwrap(),
            b: Peer::new(config(2), 0xB, now).unwrap(),
            model_a: Model::default(),
            model_b: Model::default(),
            keys_a: Vec::new(),
            keys_b: Vec::new(),
            version: 0,
            next_id: 0,
            once: Once::default(),
            attacks: 0,
            ever: Vec::new(),
            check_once: true,
        }
    }

    /// One change to a's table, queued for b.
    fn change(&mut self) {
        self.version += 1;
        let v = self.version;
        let roll = self.rng.below(100);
        // A key ever used, if it still lives.
        let picked = (!self.ever.is_empty())
            .then(|| self.ever[self.rng.below(self.ever.len() as u64) as usize])
            .filter(|k| self.model_a.0.contains_key(k));
        let r = match picked {
            Some(k) if (40..90).contains(&roll) => match k {
                CoalesceKey::Flow(key) if roll < 70 => Record::FlowRefresh(FlowRefresh {
                    key,
                    state: (v % 7) as u8,
                    class: (v % 5) as u8,
                    fins: 0,
                    remaining_ms: v,
                }),
                CoalesceKey::Flow(key) => Record::FlowRemoved(key),
                CoalesceKey::Snat(i) => Record::SnatMappingRemoved(i),
                CoalesceKey::FullNat(..) => unreachable!(),
            },
            Some(_) if roll >= 90 => {
                self.next_id += 1;
                Record::SnatMapping(SnatMapping {
                    inside: Inside {
                        zone: 0,
                        proto: 17,
                        addr: key(self.next_id).client,
                        port: (self.next_id & 0xffff) as u16,
                    },
                    external: std::net::Ipv4Addr::new(198, 18, 0, 1),
                    external_port: 1024 + (v % 60000) as u16,
                    pool: 0,
                })
            }
            _ => {
                self.next_id += 1;
                let mut f = flow(self.next_id);
                f.remaining_ms = v;
                Record::FlowUpsert(f)
            }
        };
        self.model_a.apply(&r);
        if let Some(k) = r.coalesce_key() {
            self.ever.push(k);
        }
        self.a.queue(r, self.now).expect("queue has room");
    }

    /// The attacker: replays, truncates, re-versions and forges what a sent.
    fn attack(&mut self) {
        if self.link.seen.is_empty() {
            return;
        }
        let i = self.rng.below(self.link.seen.len() as u64) as usize;
        let mut d = self.link.seen[i].clone();
        match self.rng.below(4) {
            0 => {}
            1 => d.truncate(self.rng.below(d.len() as u64) as usize),
            2 => d[4] = VERSION + 1,
            _ => {
                let plain = Datagram::decode(&d, &Key::new(KEY)).unwrap();
                d = plain.encode(&Key::new(b"guessed key"));
            }
        }
        self.attacks += 1;
        self.link.air.push((self.now, true, d));
    }

    fn step(&mut self, changes: bool) {
        self.now += Duration::from_millis(1);
        let now = self.now;
        // Changes start once the first bulk (on first contact, of an empty table) is done,
        // so every flow record of this test has one version, applied once.
        if changes && self.a.bulk_sending().done && self.rng.chance(500) {
            for _ in 0..1 + self.rng.below(20) {
                self.change();
            }
        }
        if self.rng.chance(20) {
            self.attack();
        }
        for (to_b, bytes) in self.link.due(now) {
            if to_b {
                if let Ok(recs) = self.b.receive(&bytes, now) {
                    for r in &recs {
                        if self.check_once {
                            self.once.check(r);
                        }
                        self.model_b.apply(r);
                    }
                }
            } else if let Ok(recs) = self.a.receive(&bytes, now) {
                assert!(recs.is_empty(), "b sends no state");
            }
        }
        for p in [&mut self.a, &mut self.b] {
            if p.poll_timeout().is_some_and(|t| t <= now) {
                p.handle_timeout(now);
            }
        }
        self.a.pump_bulk(
            now,
            &mut Live {
                model: &self.model_a,
                keys: &mut self.keys_a,
            },
        );
        self.b.pump_bulk(
            now,
            &mut Live {
                model: &Model::default(),
                keys: &mut self.keys_b,
            },
        );
        while let Some(d) = self.a.poll_transmit(now) {
            self.link.send(&mut self.rng, now, true, d);
        }
        while let Some(d) = self.b.poll_transmit(now) {
            self.link.send(&mut self.rng, now, false, d);
        }
        for p in [&self.a, &self.b] {
            assert!(p.in_flight() <= 32 && p.reordered() <= 64);
        }
    }

    /// Steps without changes until a has nothing unacked and b has everything.
    fn settle(&mut self) {
        for _ in 0..60_000 {
            self.step(false);
            if self.a.queued() == 0 && self.a.in_flight() == 0 && self.model_a == self.model_b {
                return;
            }
        }
        panic!(
            "did not settle: queued {} in flight {} a {} b {}",
            self.a.queued(),
            self.a.in_flight(),
            self.model_a.0.len(),
            self.model_b.0.len()
        );
    }
}

#[test]
fn every_record_is_applied_once_or_superseded_over_a_bad_link() {
    for seed in [1, 2, 3] {
        let mut s = Sim::new(seed);
        for _ in 0..5_000 {
            s.step(true);
        }
        s.settle();
        assert_eq!(s.model_a, s.model_b);
        let (sa, sb) = (s.a.stats(), s.b.stats());
        // Every record queued and not coalesced was delivered, exactly once.
        assert_eq!(
            s.a.bulk_sending().sent,
            0,
            "the first bulk was of an empty table"
        );
        assert_eq!(
            sb.records_received,
            sa.records_queued - sa.records_coalesced
        );
        assert!(sa.records_resent > 0 && sa.records_lost == 0);
        let d = sb.discards;
        assert!(d.replayed > 0 && d.bad_hmac > 0 && d.unsupported_version > 0);
        assert!(d.truncated + d.bad_length > 0);
        assert!(s.a.srtt().is_some());
        eprintln!(
            "seed {seed}: {} records queued, {} coalesced, {} resent, {} datagrams sent, {} attacks, discards {:?}",
            sa.records_queued, sa.records_coalesced, sa.records_resent, sa.datagrams_sent, s.attacks, d
        );
    }
}

#[test]
fn a_restarted_peer_is_resynced_while_changes_continue() {
    let mut s = Sim::new(42);
    for _ in 0..5_000 {
        s.step(true);
    }
    s.settle();
    let entries = s.model_a.0.len() as u64;
    assert!(entries > 1000);
    // b restarts: a new epoch, empty tables.
    s.b = Peer::new(config(2), 0xB2, s.now).unwrap();
    s.model_b = Model::default();
    s.check_once = false;
    for _ in 0..3_000 {
        s.step(true);
    }
    s.settle();
    assert_eq!(s.model_a, s.model_b);
    let events: Vec<Event> = std::iter::from_fn(|| s.a.poll_event()).collect();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::PeerRestarted { epoch: 0xB2, .. })));
    assert!(events.iter().any(|e| matches!(e, Event::BulkSent { .. })));
    let p = s.a.bulk_sending();
    assert!(p.done && p.acked == p.sent && p.total >= entries, "{p:?}");
    let r = s.b.bulk_receiving();
    assert!(r.done && r.sent == p.sent, "{r:?}");
    assert_eq!(s.a.stats().peer_restarts, 1);
}
