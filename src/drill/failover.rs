//! The failover drill's trials, which the VRRP benchmark (`src/bench`) also runs against
//! keepalived as the reference: two VRRP nodes (appliance or keepalived) and a client on a
//! bridged LAN; a trial breaks the master (crash, graceful stop,
//! link down), times the failover from packets captured on the bridge (the old master's last
//! advertisement to the new master's first gratuitous ARP) and counts the loss a probe stream
//! from the client to the virtual address saw.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::json;

use lab::vrrp_lab::{appliance_config, has_addr, Keepalived, VrrpSpec};
use lab::{pcap, require_tool, wait_for_log, wait_until, Appliance, Lab, Netns, Signal};

pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
/// Probe spacing: 5 ms (200 probes/s), so loss is measured to 5 ms.
const PROBE_MS: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    Appliance,
    Keepalived,
}

impl Implementation {
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Appliance => "appliance",
            Implementation::Keepalived => "keepalived",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Crash,
    Graceful,
    LinkDown,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Crash => "crash",
            Scenario::Graceful => "graceful",
            Scenario::LinkDown => "link-down",
        }
    }
}

enum Kind {
    Appliance(Box<Appliance>),
    Keepalived(Option<Keepalived>, VrrpSpec),
}

pub struct Node {
    pub name: String,
    pub ns: Netns,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    kind: Kind,
}

fn parse_mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, p) in s.trim().split(':').enumerate().take(6) {
        m[i] = u8::from_str_radix(p, 16).unwrap_or(0);
    }
    m
}

impl Node {
    fn start(&mut self, lab: &Lab) {
        match &mut self.kind {
            Kind::Appliance(a) => {
                a.start();
            }
            Kind::Keepalived(k, spec) => {
                *k = Some(Keepalived::start(
                    lab,
                    &self.ns,
                    &self.name,
                    std::slice::from_ref(spec),
                ));
            }
        }
    }

    fn crash(&mut self) {
        match &mut self.kind {
            Kind::Appliance(a) => {
                a.proc().kill();
            }
            Kind::Keepalived(k, _) => {
                if let Some(k) = k.take() {
                    k.crash(&self.ns);
                }
            }
        }
    }

    fn stop(&mut self) {
        let proc = match &mut self.kind {
            Kind::Appliance(a) => a.proc().clone(),
            Kind::Keepalived(k, _) => match k.take() {
                Some(k) => k.proc,
                None => return,
            },
        };
        let _ = proc.signal(Signal::SIGTERM);
        proc.wait_timeout(Duration::from_secs(10));
    }

    pub fn is_master(&self) -> bool {
        has_addr(&self.ns, &VIP.to_string())
    }
}

pub struct Drill {
    pub lab: Lab,
    pub switch: Netns,
    pub client: Netns,
    pub nodes: Vec<Node>,
    pub interval_ms: u64,
    trial: u32,
}

#[derive(Debug, Clone)]
pub struct Trial {
    pub implementation: Implementation,
    pub scenario: Scenario,
    pub interval_ms: u64,
    /// What RFC 9568 says the failover takes for the backup (priority 100).
    pub expected_ms: f64,
    pub failover_ms: Option<f64>,
    pub probes_sent: u64,
    pub probes_lost: u64,
}

impl Trial {
    pub fn loss_ms(&self) -> u64 {
        self.probes_lost * PROBE_MS
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "implementation": self.implementation.name(),
            "scenario": self.scenario.name(),
            "interval_ms": self.interval_ms,
            "expected_ms": self.expected_ms,
            "failover_ms": self.failover_ms,
            "probes_sent": self.probes_sent,
            "probes_lost": self.probes_lost,
            "loss_ms": self.loss_ms(),
        })
    }
}

/// RFC 9568: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256, and
/// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time, for the backup's priority.
pub fn expected_ms(s: Scenario, interval_ms: u64, backup_priority: u8) -> f64 {
    let i = interval_ms as f64;
    let skew = (256.0 - f64::from(backup_priority)) * i / 256.0;
    match s {
        Scenario::Graceful => skew,
        Scenario::Crash | Scenario::LinkDown => 3.0 * i + skew,
    }
}

impl Drill {
    /// Builds the LAN and starts both nodes: node 0 priority 200 (the master), node 1 priority
    /// 100.
    pub fn new(lab: Lab, implementation: Implementation, interval_ms: u64) -> Drill {
        require_tool("tcpdump");
        require_tool("ping");
        let (a, b, client) = (lab.netns("lb1"), lab.netns("lb2"), lab.netns("client"));
        let lan = lab.lan(&[&a, &b, &client], "198.18.0.0/24");
        let switch = lan.switch.clone();
        let mut nodes = Vec::new();
        for (i, (ns, prio)) in [(a, 200u8), (b, 100u8)].into_iter().enumerate() {
            let name = format!("lb{}", i + 1);
            let mut spec = VrrpSpec::v4(prio, interval_ms);
            let kind = match implementation {
                Implementation::Appliance => Kind::Appliance(Box::new(Appliance::new(
                    &lab,
                    &ns,
                    &name,
                    &appliance_config(&name, &[spec], ""),
                ))),
                Implementation::Keepalived => {
                    spec.name = "VI_1".into();
                    Kind::Keepalived(None, spec)
                }
            };
            let mac = parse_mac(&ns.mac("eth0"));
            let ip: Ipv4Addr = lan.addr(i).parse().unwrap();
            nodes.push(Node {
                name,
                ns,
                ip,
                mac,
                kind,
            });
        }
        let mut d = Drill {
            lab,
            switch,
            client,
            nodes,
            interval_ms,
            trial: 0,
        };
        for i in 0..2 {
            let lab = &d.lab;
            d.nodes[i].start(lab);
        }
        d.converge();
        d
    }

    /// Waits until node 0 is master and node 1 is not, then a few more intervals of calm.
    pub fn converge(&self) {
        let limit = Duration::from_millis(10 * self.interval_ms + 10_000);
        wait_until(
            "lb1 master, lb2 backup",
            limit,
            Duration::from_millis(5),
            || self.nodes[0].is_master() && !self.nodes[1].is_master(),
        )
        .unwrap();
        std::thread::sleep(
            Duration::from_millis(4 * self.interval_ms).max(Duration::from_millis(50)),
        );
    }

    pub fn run(&mut self, implementation: Implementation, scenario: Scenario) -> Trial {
        self.trial += 1;
        let pcap_path =
            self.lab
                .artifact_path(&format!("trial-{}-{}.pcap", self.trial, scenario.name()));
        let tcpdump = self.switch.spawn(
            &format!("tcpdump-{}", self.trial),
            &[
                "tcpdump",
                // Keep root: dropping privileges clears the parent-death signal, and the
                // capture must end with the drill even when the drill is killed.
                "-Z",
                "root",
                "-i",
                "br0",
                "-U",
                // Packets as they come, not in blocks a short capture may never get.
                "--immediate-mode",
                "-n",
                "-s",
                "128",
                "-w",
                pcap_path.to_str().unwrap(),
                "vrrp or arp",
            ],
        );
        wait_for_log(&tcpdump, "listening on", Duration::from_secs(10)).unwrap();
        // The failover is timed from the old master's last advert, so the capture must hold at
        // least one before the master is broken (at 1 s intervals that takes up to a second).
        let master = self.nodes[0].ip;
        wait_until(
            "an advert from the master in the capture",
            Duration::from_millis(3 * self.interval_ms + 5000),
            Duration::from_millis(5),
            || {
                pcap::read(&std::fs::read(&pcap_path).unwrap_or_default())
                    .iter()
                    .any(|f| matches!(f.seen, pcap::Seen::Advert { src, .. } if src == master))
            },
        )
        .unwrap();
        // The probe stream runs from before the break until a second after the expected failover.
        let expected = expected_ms(scenario, self.interval_ms, 100);
        let window_s = ((expected + 1300.0) / 1000.0).ceil() as u64;
        let ping = self.client.spawn(
            &format!("ping-{}", self.trial),
            &[
                "ping",
                "-q",
                "-n",
                "-i",
                &format!("{:.3}", PROBE_MS as f64 / 1000.0),
                "-W",
                "1",
                "-w",
                &window_s.to_string(),
                &VIP.to_string(),
            ],
        );
        std::thread::sleep(Duration::from_millis(300));

        let broke = Instant::now();
        match scenario {
            Scenario::Crash => self.nodes[0].crash(),
            Scenario::Graceful => self.nodes[0].stop(),
            Scenario::LinkDown => self.nodes[0].ns.set_down("eth0"),
        }
        wait_until(
            "lb2 takes the address",
            Duration::from_millis(20 * self.interval_ms + 10_000),
            Duration::from_millis(2),
            || self.nodes[1].is_master(),
        )
        .unwrap();
        let _ = broke;
        ping.wait_timeout(Duration::from_secs(window_s + 10));
        // Let the capture take the last frames, then end it so the file is complete.
        std::thread::sleep(Duration::from_millis(100));
        let _ = tcpdump.signal(Signal::SIGTERM);
        tcpdump.wait_timeout(Duration::from_secs(5));

        let frames = pcap::read(&std::fs::read(&pcap_path).unwrap_or_default());
        let failover_ms = pcap::failover_ms(&frames, self.nodes[0].ip, self.nodes[1].mac, VIP);
        let (sent, received) = parse_ping(&ping.log());

        // Put node 0 back as master for the next trial.
        match scenario {
            Scenario::Crash | Scenario::Graceful => {
                if matches!(self.nodes[0].kind, Kind::Keepalived(..)) && scenario == Scenario::Crash
                {
                    // A crashed keepalived leaves its address behind (the lab report saw this);
                    // the appliance removes such leftovers itself at start.
                    let _ = self.nodes[0]
                        .ns
                        .ip(&["addr", "del", "198.18.0.100/24", "dev", "eth0"]);
                }
                let lab = &self.lab;
                self.nodes[0].start(lab);
            }
            Scenario::LinkDown => self.nodes[0].ns.set_up("eth0"),
        }
        self.converge();
        Trial {
            implementation,
            scenario,
            interval_ms: self.interval_ms,
            expected_ms: expected,
            failover_ms,
            probes_sent: sent,
            probes_lost: sent.saturating_sub(received),
        }
    }
}

/// "N packets transmitted, M received" from ping's summary.
pub(crate) fn parse_ping(log: &str) -> (u64, u64) {
    for line in log.lines() {
        if let Some((tx, rest)) = line.split_once(" packets transmitted, ") {
            let sent = tx.trim().parse().unwrap_or(0);
            let recv = rest
                .split_whitespace()
                .next()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            return (sent, recv);
        }
    }
    (0, 0)
}

/// Median of the present values.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.to_vec();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_expectations() {
        assert!((expected_ms(Scenario::Crash, 1000, 100) - 3609.375).abs() < 1e-9);
        assert!((expected_ms(Scenario::Graceful, 100, 100) - 60.9375).abs() < 1e-9);
    }

    #[test]
    fn ping_summary() {
        let log = "--- 198.18.0.100 ping statistics ---\n400 packets transmitted, 329 received, 17.75% packet loss, time 2001ms\n";
        assert_eq!(parse_ping(log), (400, 329));
    }
}
