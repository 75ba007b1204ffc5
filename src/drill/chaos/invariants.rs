//! What must hold once the system has settled after an event, and what must hold at every
//! look: one master, the kernel holding only what the live daemons own, the health check and
//! the router following, counters that never go back within a daemon's life, bounded memory.

use std::collections::HashMap;

use serde::Serialize;

use super::bed::{Bed, CHECK, INSTANCE, PREFIX, VIP};
use crate::status::Status;
use crate::vrrpd::VrrpState;

#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

pub fn violation(invariant: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        invariant,
        detail: detail.into(),
    }
}

/// One look at both nodes and the router.
pub struct Observation {
    pub status: Vec<Option<Status>>,
    pub vip_on: Vec<bool>,
    /// Per node: link lines and IPv4 address lines of its namespace.
    links: Vec<String>,
    addrs: Vec<String>,
    pub nexthops: Vec<String>,
}

pub fn observe(bed: &Bed) -> Observation {
    let mut o = Observation {
        status: Vec::new(),
        vip_on: Vec::new(),
        links: Vec::new(),
        addrs: Vec::new(),
        nexthops: bed.prefix_nexthops(),
    };
    for (i, n) in bed.nodes.iter().enumerate() {
        o.status.push(bed.status(i));
        let addrs =
            String::from_utf8_lossy(&n.ns.ip(&["-o", "-4", "addr", "show"]).stdout).into_owned();
        o.vip_on.push(addrs.contains(&format!(" inet {VIP}/")));
        o.addrs.push(addrs);
        o.links
            .push(String::from_utf8_lossy(&n.ns.ip(&["-o", "link", "show"]).stdout).into_owned());
    }
    o
}

fn instance(st: &Status) -> Option<&crate::status::VrrpInstanceStatus> {
    st.vrrp.iter().find(|v| v.name == INSTANCE)
}

impl Observation {
    pub fn master(&self, i: usize) -> bool {
        self.status[i]
            .as_ref()
            .and_then(instance)
            .is_some_and(|v| v.state == VrrpState::Master)
    }

    /// Exactly one master, and it is the node of highest effective priority (RFC 9568
    /// preemption; ties go to the higher address, node 2).
    pub fn one_master(&self) -> Result<(), String> {
        let mut prios = Vec::new();
        for (i, st) in self.status.iter().enumerate() {
            let v = st
                .as_ref()
                .and_then(instance)
                .ok_or_else(|| format!("lb{}: no status", i + 1))?;
            prios.push((v.effective_priority, i));
        }
        let masters: Vec<usize> = (0..self.status.len()).filter(|&i| self.master(i)).collect();
        if masters.len() != 1 {
            return Err(format!(
                "{} masters (states: {})",
                masters.len(),
                self.states()
            ));
        }
        let best = prios.iter().max().map(|&(_, i)| i).unwrap_or(0);
        if masters[0] != best {
            return Err(format!(
                "lb{} is master but lb{} has the higher priority ({})",
                masters[0] + 1,
                best + 1,
                self.states()
            ));
        }
        Ok(())
    }

    pub fn states(&self) -> String {
        self.status
            .iter()
            .enumerate()
            .map(|(i, s)| match s.as_ref().and_then(instance) {
                Some(v) => format!(
                    "lb{} {} prio {}",
                    i + 1,
                    v.state.as_str(),
                    v.effective_priority
                ),
                None => format!("lb{} no status", i + 1),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Nothing in a node's namespace but what its running daemon owns: no link besides lo and
    /// eth0, no XDP program, no IPv4 address besides the node's own and the VIP, and the VIP
    /// only on the master.
    pub fn no_leftovers(&self, bed: &Bed) -> Result<(), String> {
        for (i, n) in bed.nodes.iter().enumerate() {
            for line in self.links[i].lines() {
                let name = line
                    .split(':')
                    .nth(1)
                    .map(|s| s.trim().split('@').next().unwrap_or(""))
                    .unwrap_or("");
                if name != "lo" && name != "eth0" {
                    return Err(format!("{}: link {name} left", n.name));
                }
                if line.contains(" xdp") || line.contains("prog/xdp") {
                    return Err(format!("{}: XDP program on {name}", n.name));
                }
            }
            for line in self.addrs[i].lines() {
                let Some(addr) = line.split_whitespace().skip_while(|t| *t != "inet").nth(1) else {
                    continue;
                };
                let a = addr.split('/').next().unwrap_or("");
                if a != "127.0.0.1" && a != n.ip && a != VIP {
                    return Err(format!("{}: address {addr} left", n.name));
                }
            }
            if self.vip_on[i] && !self.master(i) {
                return Err(format!(
                    "{}: holds {VIP} but is not master ({})",
                    n.name,
                    self.states()
                ));
            }
            if !self.vip_on[i] && self.master(i) {
                return Err(format!("{}: master without {VIP}", n.name));
            }
        }
        Ok(())
    }

    /// Both nodes' backend check in the `expected` state.
    pub fn health(&self, expected: &str) -> Result<(), String> {
        for (i, st) in self.status.iter().enumerate() {
            let state = st
                .as_ref()
                .and_then(|s| s.checks.iter().find(|c| c.name == CHECK))
                .map(|c| c.state.clone())
                .unwrap_or_default();
            if state != expected {
                return Err(format!(
                    "lb{}: check {CHECK} {state:?}, want {expected}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    /// Both sessions established and the router's route to the prefix through the master
    /// alone.
    pub fn bgp(&self, bed: &Bed) -> Result<(), String> {
        for (i, st) in self.status.iter().enumerate() {
            let state = st
                .as_ref()
                .and_then(|s| s.bgp.as_ref())
                .and_then(|b| b.peers.first())
                .map(|p| p.state.clone())
                .unwrap_or_default();
            if state != "established" {
                return Err(format!("lb{}: session {state:?}", i + 1));
            }
        }
        let masters: Vec<&str> = (0..bed.nodes.len())
            .filter(|&i| self.master(i))
            .map(|i| bed.nodes[i].ip.as_str())
            .collect();
        if self.nexthops != masters {
            return Err(format!(
                "router's route to {PREFIX} via {:?}, master(s) {masters:?}",
                self.nexthops
            ));
        }
        Ok(())
    }
}

/// Counters per daemon life (pid): each must never decrease while the pid is the same.
#[derive(Default)]
pub struct Monotonic {
    last: HashMap<(usize, u32), Vec<(&'static str, u64)>>,
}

fn counters(st: &Status) -> Vec<(&'static str, u64)> {
    let mut v = vec![
        ("config_generation", st.daemon.config_generation),
        ("last_event_seq", st.daemon.last_event_seq),
    ];
    if let Some(i) = instance(st) {
        v.push(("vrrp.sent_advertisements", i.counters.sent_advertisements));
        v.push(("vrrp.rcvd_advertisements", i.counters.rcvd_advertisements));
        v.push(("vrrp.master_transitions", i.counters.master_transitions));
    }
    if let Some(c) = st.checks.iter().find(|c| c.name == CHECK) {
        v.push(("check.probes", c.counters.probes));
    }
    v
}

impl Monotonic {
    pub fn check(&mut self, node: usize, st: &Status) -> Vec<Violation> {
        let now = counters(st);
        let mut out = Vec::new();
        if let Some(prev) = self.last.get(&(node, st.daemon.pid)) {
            // By name: a counter absent from one look (an instance not yet up) is not compared.
            for (name, before) in prev {
                let Some((_, after)) = now.iter().find(|(n, _)| n == name) else {
                    continue;
                };
                if after < before {
                    out.push(violation(
                        "counters",
                        format!("lb{} {name} went back from {before} to {after}", node + 1),
                    ));
                }
            }
        }
        self.last.insert((node, st.daemon.pid), now);
        out
    }
}

/// Resident memory per daemon life: the first sample and the largest.
#[derive(Default)]
pub struct Memory {
    lives: HashMap<u32, (u64, u64)>,
    /// Lives already reported: one violation per life, not one per look.
    flagged: std::collections::HashSet<u32>,
}

/// A life's growth above this is a violation: twice the first sample plus 16 MiB catches a
/// leak that the run makes visible without flagging the allocations of warm-up.
pub fn rss_limit_kib(first_kib: u64) -> u64 {
    2 * first_kib + 16 * 1024
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

impl Memory {
    pub fn sample(&mut self, node: usize, pid: u32) -> Option<Violation> {
        let kib = rss_kib(pid)?;
        let e = self.lives.entry(pid).or_insert((kib, kib));
        e.1 = e.1.max(kib);
        let first = e.0;
        (kib > rss_limit_kib(first) && self.flagged.insert(pid)).then(|| {
            violation(
                "memory",
                format!(
                    "lb{} (pid {pid}) RSS {kib} KiB, started at {first} KiB",
                    node + 1
                ),
            )
        })
    }

    pub fn max_kib(&self) -> u64 {
        self.lives.values().map(|l| l.1).max().unwrap_or(0)
    }

    /// The largest growth of one life (max minus first sample), KiB.
    pub fn max_growth_kib(&self) -> u64 {
        self.lives
            .values()
            .map(|l| l.1.saturating_sub(l.0))
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_going_back_within_one_life_are_violations() {
        let mut m = Monotonic::default();
        let mut st = Status::default();
        st.daemon.pid = 7;
        st.daemon.last_event_seq = 10;
        assert!(m.check(0, &st).is_empty());
        st.daemon.last_event_seq = 12;
        assert!(m.check(0, &st).is_empty());
        st.daemon.last_event_seq = 11;
        let v = m.check(0, &st);
        assert_eq!(v.len(), 1);
        assert!(v[0].detail.contains("last_event_seq"), "{v:?}");
        // A new life starts again from zero.
        st.daemon.pid = 8;
        st.daemon.last_event_seq = 1;
        assert!(m.check(0, &st).is_empty());
        // A look before the VRRP instance is up has fewer counters; the next one, with the
        // instance's zeros, must not be compared with the check's count.
        st.daemon.pid = 9;
        st.checks.push(crate::status::CheckView {
            name: CHECK.into(),
            ..Default::default()
        });
        st.checks[0].counters.probes = 1;
        assert!(m.check(0, &st).is_empty());
        st.vrrp.push(crate::status::VrrpInstanceStatus {
            name: INSTANCE.into(),
            ..Default::default()
        });
        let v = m.check(0, &st);
        assert!(v.is_empty(), "{v:?}");
        st.checks[0].counters.probes = 0;
        assert_eq!(m.check(0, &st).len(), 1);
    }

    #[test]
    fn memory_limit() {
        assert_eq!(rss_limit_kib(10_000), 36_384);
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }
}
