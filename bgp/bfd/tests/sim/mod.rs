//! Two BFD systems on a virtual wire and a virtual clock (quinn-proto `Pair` style). The
//! harness is both shells: it drains actions, carries packets with a one-way latency, fires
//! timers with jitter from a fixed-seed generator, and can drop packets, silence a system
//! (crash) or restart it with a new discriminator. Time jumps straight to the next event.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use bfd::{Action, ControlPacket, Jitter, RxMeta, Session, SessionConfig, StateChange};

pub struct Node {
    pub cfg: SessionConfig,
    pub s: Session,
    /// False once crashed: no timers, no receive, no transmit.
    pub alive: bool,
    /// Drop this many of the node's next outgoing packets.
    pub drop_next: u32,
    pub changes: Vec<StateChange>,
    pub sent: Vec<(Instant, ControlPacket)>,
    pub discarded: Vec<bfd::Discard>,
}

pub struct Wire {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: [Node; 2],
    /// (deliver at, to, bytes)
    in_flight: Vec<(Instant, usize, Vec<u8>)>,
    pub latency: Duration,
    rng: u64,
}

impl Wire {
    /// Two sessions, not started, with discriminators 0x1111 and 0x2222.
    pub fn new(a: SessionConfig, b: SessionConfig) -> Wire {
        let node = |cfg: SessionConfig, discr: u32| Node {
            s: Session::new(cfg.clone(), discr, discr.wrapping_mul(7)).expect("valid"),
            cfg,
            alive: true,
            drop_next: 0,
            changes: Vec::new(),
            sent: Vec::new(),
            discarded: Vec::new(),
        };
        let t0 = Instant::now();
        Wire {
            t0,
            now: t0,
            nodes: [node(a, 0x1111), node(b, 0x2222)],
            in_flight: Vec::new(),
            latency: Duration::from_micros(100),
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    pub fn start(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].s.start(now);
        self.flush(i);
    }

    pub fn start_both(&mut self) {
        self.start(0);
        self.start(1);
    }

    fn jitter(&mut self) -> Jitter {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        Jitter((self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 48) as u16)
    }

    /// Moves what node `i` produced onto the wire and into its logs.
    pub fn flush(&mut self, i: usize) {
        let now = self.now;
        while let Some(a) = self.nodes[i].s.poll_action() {
            match a {
                Action::Transmit(t) => {
                    let n = &mut self.nodes[i];
                    if !n.alive {
                        continue;
                    }
                    n.sent.push((now, t.packet));
                    if n.drop_next > 0 {
                        n.drop_next -= 1;
                        continue;
                    }
                    self.in_flight.push((now + self.latency, 1 - i, t.bytes));
                }
                Action::StateChanged(c) => self.nodes[i].changes.push(c),
            }
        }
    }

    /// Delivers bytes to node `to` now, as if received with `ttl`.
    pub fn inject(&mut self, to: usize, ttl: u8, bytes: &[u8]) -> Result<(), bfd::Discard> {
        let now = self.now;
        let r = self.nodes[to].s.handle_packet(now, RxMeta { ttl }, bytes);
        if let Err(d) = r {
            self.nodes[to].discarded.push(d);
        }
        self.flush(to);
        r
    }

    fn next_event(&self) -> Option<Instant> {
        let timers = self
            .nodes
            .iter()
            .filter(|n| n.alive)
            .filter_map(|n| n.s.poll_timeout());
        let deliveries = self.in_flight.iter().map(|(t, _, _)| *t);
        timers.chain(deliveries).min()
    }

    /// Runs every event up to `until`, then sets the clock to it.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(t) = self.next_event() {
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            self.step();
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs until `done` holds (checked after every event) or `limit` passes; returns when.
    pub fn run_until_cond(
        &mut self,
        limit: Duration,
        done: impl Fn(&Wire) -> bool,
    ) -> Option<Instant> {
        let until = self.now + limit;
        if done(self) {
            return Some(self.now);
        }
        while let Some(t) = self.next_event() {
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            self.step();
            if done(self) {
                return Some(self.now);
            }
        }
        self.now = until;
        None
    }

    fn step(&mut self) {
        let now = self.now;
        let mut due: Vec<(usize, Vec<u8>)> = Vec::new();
        self.in_flight.retain(|(t, to, b)| {
            if *t <= now {
                due.push((*to, b.clone()));
                false
            } else {
                true
            }
        });
        for (to, bytes) in due {
            if self.nodes[to].alive {
                let _ = self.inject(to, 255, &bytes);
            }
        }
        for i in 0..2 {
            if self.nodes[i].alive && self.nodes[i].s.poll_timeout().is_some_and(|t| t <= now) {
                let j = self.jitter();
                self.nodes[i].s.handle_timeout(now, j);
                self.flush(i);
            }
        }
    }

    /// The node stops: no timers, no packets, nothing in flight from it.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].alive = false;
        self.in_flight.retain(|(_, to, _)| *to == i);
    }

    /// The node boots again: a new session with a new discriminator, started now.
    pub fn restart(&mut self, i: usize, discr: u32) {
        let n = &mut self.nodes[i];
        n.s = Session::new(n.cfg.clone(), discr, discr).expect("valid");
        n.alive = true;
        n.changes.clear();
        n.sent.clear();
        self.start(i);
    }

    pub fn state(&self, i: usize) -> bfd::State {
        self.nodes[i].s.state()
    }

    pub fn both_up(&self) -> bool {
        self.state(0) == bfd::State::Up && self.state(1) == bfd::State::Up
    }

    /// Times between node i's consecutive packets sent at or after `from` (excluding Finals).
    pub fn gaps(&self, i: usize, from: Instant) -> Vec<Duration> {
        let times: Vec<Instant> = self.nodes[i]
            .sent
            .iter()
            .filter(|(t, p)| *t >= from && !p.final_)
            .map(|(t, _)| *t)
            .collect();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }
}
