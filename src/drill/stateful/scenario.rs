//! The events, in order, against the built pair with every class's traffic open:
//!
//! | event | action | master after |
//! |---|---|---|
//! | `crash` | SIGKILL `a`'s daemon | `b` |
//! | `crash-return` | start `a` again: it preempts (once its bulk is in, with `[sync]`) | `a` |
//! | `graceful` | SIGTERM `a`'s daemon (it resigns with priority 0) | `b` |
//! | `graceful-return` | start `a` again | `a` |
//! | `link-down` | `a`'s client-side link down (the sync group follows) | `b` |
//!
//! Before each: the broken connections and flows of the event before are replaced, every one
//! is exercised, and the event waits until the last was opened at least [`ESTABLISHED`] ago.
//! After it: the new master holds both instances, then every connection and flow sends and
//! must get its data back, in a new shuffled order.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lab::Signal;

use super::bed::Bed;
use super::plan::{self, Node};
use super::report::{ClassRow, Row};
use super::traffic::{Clients, Outcomes};
use crate::drill::rehearse::capture::{self, Capture};

/// How long an exercise waits for its answers: TCP retransmits a segment lost in the failover
/// after 200 ms, 400 ms, 800 ms, 1.6 s ...; a UDP flow resends every 300 ms.
pub const EXERCISE_TIMEOUT: Duration = Duration::from_secs(6);
/// Connections are opened at least this long before an event (the target counts those).
pub const ESTABLISHED: Duration = Duration::from_secs(1);
/// The backup takes over within its Master_Down_Interval; this is the bound of a failure.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(10);
/// A returning node: its start, its bulk resynchronisation (bounded by `preempt_hold`) and the
/// preemption.
const RETURN_TIMEOUT: Duration = Duration::from_secs(plan::PREEMPT_HOLD_S + 20);
/// The capture runs this long before the action, so it holds the old master's last
/// advertisements (one every 100 ms) that the failover time is measured from.
const LEAD: Duration = Duration::from_millis(350);
/// Attempts to get every class to its full count before an event.
const FILL_ATTEMPTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Crash,
    CrashReturn,
    Graceful,
    GracefulReturn,
    LinkDown,
}

impl Event {
    pub const SEQUENCE: [Event; 5] = [
        Event::Crash,
        Event::CrashReturn,
        Event::Graceful,
        Event::GracefulReturn,
        Event::LinkDown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::Crash => "crash",
            Event::CrashReturn => "crash-return",
            Event::Graceful => "graceful",
            Event::GracefulReturn => "graceful-return",
            Event::LinkDown => "link-down",
        }
    }

    /// The master before and after.
    fn masters(self) -> (Node, Node) {
        match self {
            Event::CrashReturn | Event::GracefulReturn => (Node::B, Node::A),
            _ => (Node::A, Node::B),
        }
    }

    /// RFC 9568 §6.1: the backup (priority 100, 100 ms adverts) declares the master down after
    /// Master_Down_Interval = 3 x interval + Skew_Time, or after Skew_Time alone when the
    /// master resigned with priority 0; Skew_Time = (256 - priority) x interval / 256.
    fn rfc_ms(self) -> Option<f64> {
        let skew = (256.0 - 100.0) * plan::ADVERT_MS as f64 / 256.0;
        match self {
            Event::Crash | Event::LinkDown => Some(3.0 * plan::ADVERT_MS as f64 + skew),
            Event::Graceful => Some(skew),
            Event::CrashReturn | Event::GracefulReturn => None,
        }
    }
}

/// The pair and the clients. Fields drop in order: the clients' sockets close before the
/// bed (and its lab) goes.
pub struct Drill {
    pub clients: Clients,
    pub bed: Bed,
    classes: BTreeMap<String, usize>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn ms(from: Instant, to: Instant) -> f64 {
    (to.saturating_duration_since(from).as_secs_f64() * 10_000.0).round() / 10.0
}

/// Sums of a set of outcomes: (connections, survived, broken by reason).
fn totals(o: &Outcomes) -> (usize, usize, BTreeMap<String, usize>) {
    let mut broken = BTreeMap::new();
    for x in o.values() {
        for (k, v) in &x.broken {
            *broken.entry(k.clone()).or_default() += v;
        }
    }
    (
        o.values().map(|x| x.connections).sum(),
        o.values().map(|x| x.survived).sum(),
        broken,
    )
}

impl Drill {
    pub fn new(bed: Bed, volume: &plan::Volume, seed: u64) -> Drill {
        let classes = volume.classes();
        let namespaces: Vec<_> = bed
            .clients
            .iter()
            .map(|(p, ns)| (*p, ns.name().to_string()))
            .collect();
        Drill {
            clients: Clients::start(&namespaces, &classes, seed),
            bed,
            classes: classes.iter().map(|c| (c.name(), c.count)).collect(),
        }
    }

    /// Opens every class and exercises it once; per class, what opened and answered.
    pub fn open(&mut self) -> BTreeMap<String, ClassRow> {
        let opened = self.clients.fill();
        let first = self.clients.exercise(EXERCISE_TIMEOUT);
        opened
            .iter()
            .map(|(name, o)| {
                let mut r = ClassRow::from(o);
                if let Some(f) = first.get(name) {
                    r.survived = f.survived;
                    for (k, v) in &f.broken {
                        *r.broken.entry(k.clone()).or_default() += v;
                    }
                }
                (name.clone(), r)
            })
            .collect()
    }

    /// Every class back to its full count and exercised; returns the live ones per class, once
    /// the last was opened [`ESTABLISHED`] ago, and a note when a class stayed short.
    fn prepare(&mut self) -> (Outcomes, String) {
        let mut last = Outcomes::new();
        let mut opened_at = Instant::now();
        for _ in 0..FILL_ATTEMPTS {
            let filled = self.clients.fill();
            if filled.values().any(|o| o.connections > 0) {
                opened_at = Instant::now();
            }
            last = self.clients.exercise(EXERCISE_TIMEOUT);
            let full = self
                .classes
                .iter()
                .all(|(name, n)| last.get(name).is_some_and(|o| o.survived == *n));
            if full {
                break;
            }
        }
        std::thread::sleep(ESTABLISHED.saturating_sub(opened_at.elapsed()));
        let short: Vec<String> = self
            .classes
            .iter()
            .filter_map(|(name, n)| {
                let live = last.get(name).map_or(0, |o| o.survived);
                (live < *n).then(|| format!("{name} {live} of {n}"))
            })
            .collect();
        let note = if short.is_empty() {
            String::new()
        } else {
            format!("short before the event: {}", short.join(", "))
        };
        (last, note)
    }

    /// Runs `event`: the connections alive before it, the action, the takeover, the exercise.
    pub fn run(&mut self, event: Event) -> Result<Row, String> {
        let (from, to) = event.masters();
        let (before, note) = self.prepare();
        let pcap = self
            .bed
            .lab
            .artifact_path(&format!("{}.pcap", event.name()));
        let cap = Capture::start(
            &self.bed.front_switch,
            &format!("tcpdump-{}", event.name()),
            "br0",
            pcap,
        )?;
        std::thread::sleep(LEAD);
        let since = unix_now();
        let t = Instant::now();
        let a = Node::A;
        let action = match event {
            Event::Crash => {
                self.bed.node(a).proc().kill();
                "SIGKILL applianced on a (master)".to_string()
            }
            Event::Graceful => {
                self.bed
                    .node(a)
                    .proc()
                    .signal(Signal::SIGTERM)
                    .map_err(|e| format!("SIGTERM a: {e}"))?;
                "SIGTERM applianced on a (master)".to_string()
            }
            Event::LinkDown => {
                self.bed.node(a).ns.set_down("eth0");
                "eth0 (client side) down on a (master)".to_string()
            }
            Event::CrashReturn | Event::GracefulReturn => {
                self.bed.start(a)?;
                "applianced started on a".to_string()
            }
        };
        let timeout = match event {
            Event::CrashReturn | Event::GracefulReturn => RETURN_TIMEOUT,
            _ => TAKEOVER_TIMEOUT,
        };
        let taken = self.bed.wait_master(to, t, timeout);
        let mut detail = note;
        if event == Event::Graceful {
            match self
                .bed
                .node(a)
                .proc()
                .wait_timeout(Duration::from_secs(10))
            {
                Some(st) if st.success() => {}
                Some(st) => detail = join(&detail, &format!("a stopped with {st}")),
                None => return Err("a did not stop within 10 s of SIGTERM".into()),
            }
        }
        let taken = taken?;
        let after = self.clients.exercise(EXERCISE_TIMEOUT);
        let pcap_path = cap.path.clone();
        let frames = cap.finish();
        let failover_ms = capture::failover(&frames, since, 10, plan::VIP)
            .map(|(ms, _)| (ms * 10.0).round() / 10.0);
        if failover_ms.is_none() {
            // What the capture holds, so the reason can be read from the report.
            let (mut adverts, mut garps) = (std::collections::BTreeMap::new(), 0);
            for f in frames.iter().filter(|f| f.t >= since) {
                match f.seen {
                    lab::pcap::Seen::Advert { src, .. } => *adverts.entry(src).or_insert(0) += 1,
                    lab::pcap::Seen::Garp { ip, .. } if ip == plan::VIP => garps += 1,
                    _ => {}
                }
            }
            detail = join(
                &detail,
                &format!(
                    "no failover seen in the capture ({} frames, {} bytes, after the event: adverts {adverts:?}, gratuitous ARPs for the VIP {garps})",
                    frames.len(),
                    std::fs::metadata(&pcap_path).map_or(0, |m| m.len())
                ),
            );
        }
        let (connections, survived, broken) = totals(&after);
        let (counted, _, _) = totals(&before);
        let alive_before: usize = before.values().map(|o| o.survived).sum();
        if connections != alive_before {
            detail = join(
                &detail,
                &format!(
                    "{alive_before} alive before, {connections} exercised after ({counted} tried)"
                ),
            );
        }
        Ok(Row {
            event: event.name(),
            action,
            from: from.name(),
            to: to.name(),
            connections,
            survived,
            broken,
            failover_ms,
            rfc_ms: event.rfc_ms(),
            takeover_ms: ms(t, taken),
            exercise_ms: after.values().map(|o| o.elapsed_ms).max().unwrap_or(0),
            classes: after.iter().map(|(k, o)| (k.clone(), o.into())).collect(),
            detail,
        })
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}; {b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_intervals_of_the_backup() {
        assert_eq!(Event::Crash.rfc_ms(), Some(360.9375));
        assert_eq!(Event::Graceful.rfc_ms(), Some(60.9375));
        assert_eq!(Event::CrashReturn.rfc_ms(), None);
        assert_eq!(Event::LinkDown.masters(), (Node::A, Node::B));
        assert_eq!(Event::GracefulReturn.masters(), (Node::B, Node::A));
    }
}
