//! Two bonds wired back to back on a virtual clock: each link joins port `k` of bond A to
//! port `k` of bond B, carries frames with a delay, drops a share of them when told to
//! (deterministically), and can be cut or muted in one direction (a partner that stops
//! sending LACPDUs while its carrier stays up).

#![allow(dead_code)]

use std::time::{Duration, Instant};

use lacp::fuzzing::check_invariants;
use lacp::{Bond, BondConfig, MacAddr, PortConfig, SlowFrame, SlowPdu};

pub const A_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0xa, 0]);
pub const B_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0xb, 0]);

pub fn port_mac(side: u8, k: usize) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, side, k as u8 + 1])
}

pub fn ports(side: u8, n: usize) -> Vec<PortConfig> {
    (0..n)
        .map(|k| PortConfig::new(k as u16 + 1, port_mac(side, k)))
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub up: bool,
    /// Drop what A sends on this link / what B sends.
    pub mute_a: bool,
    pub mute_b: bool,
}

struct InFlight {
    at: Instant,
    to_b: bool,
    port: usize,
    bytes: Vec<u8>,
}

pub struct Lab {
    pub t0: Instant,
    pub now: Instant,
    pub a: Bond,
    pub b: Bond,
    pub links: Vec<Link>,
    pub delay: Duration,
    /// Share of frames lost, in percent.
    pub loss: u32,
    rng: u64,
    wire: Vec<InFlight>,
    /// Send times of LACPDUs per (side, port), to check the three-per-second limit.
    pub sent: Vec<Vec<Instant>>,
    /// Every LACPDU sent, with its time offset, side and port.
    pub log: Vec<(Duration, bool, usize, lacp::Lacpdu)>,
}

impl Lab {
    pub fn new(
        a: BondConfig,
        a_ports: &[PortConfig],
        b: BondConfig,
        b_ports: &[PortConfig],
    ) -> Lab {
        let t0 = Instant::now();
        let n = a_ports.len();
        assert_eq!(n, b_ports.len());
        Lab {
            t0,
            now: t0,
            a: Bond::new(a, a_ports, t0).unwrap(),
            b: Bond::new(b, b_ports, t0).unwrap(),
            links: vec![
                Link {
                    up: false,
                    mute_a: false,
                    mute_b: false
                };
                n
            ],
            delay: Duration::from_millis(1),
            loss: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            wire: Vec::new(),
            sent: vec![Vec::new(); 2 * n],
            log: Vec::new(),
        }
    }

    /// Two active, fast bonds of `n` ports each, keys 1.
    pub fn pair(n: usize) -> Lab {
        Lab::new(
            BondConfig::new(A_MAC),
            &ports(0xa, n),
            BondConfig::new(B_MAC),
            &ports(0xb, n),
        )
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Carrier up or down on link `k`, both ends at once.
    pub fn set_link(&mut self, k: usize, up: bool) {
        self.links[k].up = up;
        let now = self.now;
        self.a.set_port_enabled(now, k, up);
        self.b.set_port_enabled(now, k, up);
        if !up {
            self.wire.retain(|f| f.port != k);
        }
        self.after_input();
    }

    pub fn all_up(&mut self) {
        for k in 0..self.links.len() {
            self.set_link(k, true);
        }
    }

    fn lose(&mut self) -> bool {
        // xorshift64: a fixed sequence, so a lossy run is the same run every time.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % 100) < u64::from(self.loss)
    }

    fn after_input(&mut self) {
        check_invariants(&self.a);
        check_invariants(&self.b);
        for from_a in [true, false] {
            loop {
                let t = if from_a {
                    self.a.poll_transmit()
                } else {
                    self.b.poll_transmit()
                };
                let Some(t) = t else { break };
                let bytes = t.bytes();
                let frame = SlowFrame::decode(&bytes).expect("our frames decode");
                if let SlowPdu::Lacp(pdu) = &frame.pdu {
                    let idx = t.port * 2 + usize::from(!from_a);
                    let s = &mut self.sent[idx];
                    s.push(self.now);
                    if s.len() > 3 {
                        let w = s[s.len() - 4];
                        assert!(
                            self.now - w >= Duration::from_secs(1),
                            "more than 3 LACPDUs in a second"
                        );
                    }
                    self.log.push((self.elapsed(), from_a, t.port, pdu.clone()));
                }
                let l = self.links[t.port];
                let muted = if from_a { l.mute_a } else { l.mute_b };
                if !l.up || muted || self.lose() {
                    continue;
                }
                self.wire.push(InFlight {
                    at: self.now + self.delay,
                    to_b: from_a,
                    port: t.port,
                    bytes,
                });
            }
        }
    }

    fn next_event(&self) -> Option<Instant> {
        [
            self.a.next_deadline(),
            self.b.next_deadline(),
            self.wire.iter().map(|f| f.at).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advances to the next event if it is no later than `limit`; false when there is none.
    fn step(&mut self, limit: Instant) -> bool {
        let Some(t) = self.next_event().filter(|t| *t <= limit) else {
            return false;
        };
        assert!(t >= self.now, "time went backwards");
        self.now = t;
        let now = t;
        let due: Vec<InFlight> = {
            let (due, rest) = std::mem::take(&mut self.wire)
                .into_iter()
                .partition(|f| f.at <= now);
            self.wire = rest;
            due
        };
        for f in due {
            let r = if f.to_b {
                self.b.handle_frame(now, f.port, &f.bytes)
            } else {
                self.a.handle_frame(now, f.port, &f.bytes)
            };
            r.expect("frames on the wire decode");
        }
        if self.a.next_deadline().is_some_and(|d| d <= now) {
            self.a.handle_timeout(now);
        }
        if self.b.next_deadline().is_some_and(|d| d <= now) {
            self.b.handle_timeout(now);
        }
        self.after_input();
        true
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.step(end) {}
        self.now = end;
    }

    /// Runs until `cond` holds (checked after every event), at most `max`; the time it took.
    pub fn run_until(
        &mut self,
        max: Duration,
        mut cond: impl FnMut(&Lab) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let end = start + max;
        if cond(self) {
            return Some(Duration::ZERO);
        }
        while self.step(end) {
            if cond(self) {
                return Some(self.now - start);
            }
        }
        self.now = end;
        None
    }

    pub fn formed(&self, members: &[usize]) -> bool {
        self.a.members() == members && self.b.members() == members
    }
}
