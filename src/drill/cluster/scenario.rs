//! The events of the ECMP cluster drill, in order, against one built cluster with the client's
//! connections open:
//!
//! | event | node | what | paths after |
//! |---|---|---|---|
//! | `drain` | n1 | `appctl bgp drain VIP/32`, wait until the router's FIB has 2 paths, then stop it (SIGTERM) | 2 |
//! | `crash` | n2 | its link cut and its daemon SIGKILLed at once: a machine that dies | 1 |
//! | `add` | n1 | started again | 2 |
//! | `restart` | n3 | SIGTERM, wait for the exit and its path to go, exercise, start again | 2 |
//!
//! After each, the drill waits until the router's FIB has exactly the expected paths (and a
//! started node's data plane runs), then every live connection sends and receives (see
//! [`super::traffic`]).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::report::Row;
use super::topology::{Cluster, HOLD_TIME_S};
use super::traffic::{Client, Outcome};

/// How long an exercise waits for the echoes: TCP retransmits a segment lost while a path
/// changed after 200 ms, 600 ms, 1.4 s, 3 s ...
const EXERCISE_TIMEOUT: Duration = Duration::from_secs(10);
/// A drain or a graceful stop reaches the router within a few milliseconds; a crash within
/// the hold time (without BFD).
const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(HOLD_TIME_S + 7);
/// A started node: its session up (the router's connect retry, the node's dial) and its
/// route installed.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Drain,
    Crash,
    Add,
    Restart,
}

impl Event {
    /// The order the drill runs them in, with the node each acts on.
    pub const SEQUENCE: [(Event, usize); 4] = [
        (Event::Drain, 0),
        (Event::Crash, 1),
        (Event::Add, 0),
        (Event::Restart, 2),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::Drain => "drain",
            Event::Crash => "crash",
            Event::Add => "add",
            Event::Restart => "restart",
        }
    }
}

/// The cluster and the client's connections. Fields drop in order: the client's sockets close
/// before the cluster (and its lab) goes.
pub struct Scenario {
    pub client: Client,
    pub cluster: Cluster,
    router: &'static str,
    mode: &'static str,
    seed: u64,
    round: u32,
}

/// Flows the nodes opened between two looks at their `new_flows` counters: a daemon that
/// started in between (another pid) counts from zero.
pub fn opened_between(before: &[Option<(u32, u64)>], after: &[Option<(u32, u64)>]) -> u64 {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| match (b, a) {
            (Some((bp, bn)), Some((ap, an))) if bp == ap => an.saturating_sub(*bn),
            (_, Some((_, an))) => *an,
            (_, None) => 0,
        })
        .sum()
}

/// Milliseconds from `from` to `to`, to 0.1 ms (the FIB is read every 0.5 ms).
fn ms(from: Instant, to: Instant) -> f64 {
    (to.saturating_duration_since(from).as_secs_f64() * 10_000.0).round() / 10.0
}

impl Scenario {
    pub fn new(cluster: Cluster, seed: u64) -> Scenario {
        let client = Client::start(cluster.client_ns.name(), cluster.service());
        Scenario {
            client,
            router: cluster.spec.router.name(),
            mode: cluster.spec.mode.name(),
            cluster,
            seed,
            round: 0,
        }
    }

    fn row(&self, event: &'static str, node: String, out: Outcome) -> Row {
        Row {
            router: self.router,
            mode: self.mode,
            event,
            node,
            connections: out.connections,
            survived: out.survived,
            broken: out.broken,
            router_converged_ms: None,
            picked_up: 0,
            paths: self.cluster.fib.current().len(),
            exercise_ms: out.elapsed_ms,
            detail: String::new(),
        }
    }

    fn exercise(&mut self) -> Outcome {
        self.round += 1;
        self.client
            .exercise(self.round, self.seed, EXERCISE_TIMEOUT)
    }

    /// Opens `n` connections and exercises them once: the `established` row counts those
    /// that opened and echoed, of `n`.
    pub fn establish(&mut self, n: usize) -> Row {
        let opened = self.client.open(n);
        let first = self.exercise();
        let mut broken = opened.broken.clone();
        for (k, v) in first.broken {
            *broken.entry(k).or_default() += v;
        }
        let out = Outcome {
            connections: n,
            survived: first.survived,
            broken,
            elapsed_ms: first.elapsed_ms,
        };
        let mut r = self.row("established", "-".into(), out);
        r.detail = format!(
            "{} of {n} opened in {} ms; spread over {} paths",
            opened.survived, opened.elapsed_ms, r.paths
        );
        r
    }

    /// Runs `event` on node `i` and exercises the connections after it.
    pub fn run(&mut self, event: Event, i: usize) -> Result<Row, String> {
        self.cluster.wait_bfd_up(Duration::from_secs(10))?;
        let node = self.cluster.nodes[i].name.clone();
        let addr = self.cluster.nodes[i].addr;
        let before = self.cluster.live();
        let without: Vec<Ipv4Addr> = before.iter().copied().filter(|&a| a != addr).collect();
        let mut with = before.clone();
        if !with.contains(&addr) {
            with.push(addr);
        }
        let flows_before = self.cluster.new_flows();
        // An exercise in the middle of the event (restart: while the node is down).
        let mut meanwhile: Option<Outcome> = None;
        let (converged, detail) = match event {
            Event::Drain => {
                let t = Instant::now();
                self.cluster.drain(i)?;
                let gone = self.cluster.wait_paths(t, &without, WITHDRAW_TIMEOUT)?;
                self.cluster.stop(i)?;
                // Stopping a drained node changes nothing the router sees.
                self.cluster
                    .wait_paths(Instant::now(), &without, Duration::ZERO)?;
                (
                    ms(t, gone),
                    format!(
                        "drained: path gone after {:.1} ms; then stopped",
                        ms(t, gone)
                    ),
                )
            }
            Event::Crash => {
                let t = self.cluster.crash(i);
                let gone = self.cluster.wait_paths(t, &without, WITHDRAW_TIMEOUT)?;
                (
                    ms(t, gone),
                    format!(
                        "link cut and SIGKILL; path gone {:.1} ms after the SIGKILL",
                        ms(t, gone)
                    ),
                )
            }
            Event::Add => {
                let t = Instant::now();
                self.cluster.start(i);
                let back = self.cluster.wait_paths(t, &with, ANNOUNCE_TIMEOUT)?;
                self.cluster.wait_dataplane(i, ANNOUNCE_TIMEOUT)?;
                let ready = Instant::now();
                (
                    ms(t, back),
                    format!(
                        "started: path in the FIB after {:.1} ms, data plane seen running after {:.0} ms",
                        ms(t, back),
                        ms(t, ready)
                    ),
                )
            }
            Event::Restart => {
                let t_stop = Instant::now();
                self.cluster.stop(i)?;
                let exited = Instant::now();
                // With the router's RFC 8326 policy the path leaves at the SIGTERM, before
                // the node withdraws it.
                let gone = self
                    .cluster
                    .wait_paths(t_stop, &without, WITHDRAW_TIMEOUT)?;
                // While it is down too: its flows are on the other nodes now.
                meanwhile = Some(self.exercise());
                let t = Instant::now();
                self.cluster.start(i);
                let back = self.cluster.wait_paths(t, &with, ANNOUNCE_TIMEOUT)?;
                self.cluster.wait_dataplane(i, ANNOUNCE_TIMEOUT)?;
                (
                    ms(t, back),
                    format!(
                        "SIGTERM: path gone after {:.1} ms, exited after {:.0} ms, connections \
                         exercised; started: path back after {:.1} ms",
                        ms(t_stop, gone),
                        ms(t_stop, exited),
                        ms(t, back)
                    ),
                )
            }
        };
        let mut out = self.exercise();
        if let Some(first) = meanwhile {
            // Broken in either exercise: those of the first are gone from the second.
            for (k, v) in first.broken {
                *out.broken.entry(k).or_default() += v;
            }
            out.connections = first.connections;
            out.elapsed_ms = out.elapsed_ms.max(first.elapsed_ms);
        }
        let mut r = self.row(event.name(), node, out);
        // The client opened nothing: every flow a node opened was one that moved to it.
        r.picked_up = opened_between(&flows_before, &self.cluster.new_flows());
        r.router_converged_ms = Some(converged);
        r.detail = detail;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_opened_count_a_restarted_daemon_from_zero() {
        let before = [Some((10, 100)), Some((11, 50)), None, Some((13, 7))];
        let after = [Some((10, 130)), Some((21, 20)), Some((22, 5)), None];
        assert_eq!(opened_between(&before, &after), 30 + 20 + 5);
    }
}
