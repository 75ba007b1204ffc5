//! DPDK testpmd's bonding PMD as a bonding partner in a namespace: `net_bonding` in mode 4
//! (802.3ad/LACP) or mode 1 (active-backup) over `net_af_packet` ports on the namespace's
//! veths, with no hugepages, no PCI and no kernel bonding module.
//!
//! The bond is a host's uplink: testpmd forwards (`io`, paired ports) between the bond and
//! one more `net_af_packet` port on a veth whose other end, `tphost`, is a kernel interface
//! of the namespace. A test gives `tphost` an address and talks through the bond from it.
//!
//! Why the host port is needed: the bonding PMD sends LACPDUs only from inside a transmit
//! burst on the bond (without dedicated queues, which need rte_flow support that
//! `net_af_packet` lacks), and the mode 4 state machines need such bursts at least every
//! 100 ms. testpmd's echoing modes (macswap, 5tswap, io on one port) transmit only what
//! they received, and the bond delivers nothing until it is collecting: neither side would
//! ever speak. So a keepalive ping from `tphost` (20 per second, to a static neighbour
//! behind the partner) keeps transmit bursts going; it doubles as traffic through the bond.
//!
//! Runtime files go to a private directory (`RUNTIME_DIRECTORY`, else DPDK uses
//! /var/run/dpdk/`<prefix>`), the multi-process config is off (`--no-shconf`), memory is
//! plain (`--no-huge`: nothing in /dev/hugepages). testpmd runs interactively, driven over
//! its stdin; `stdbuf -oL` makes its replies reach the log line by line.

use std::sync::Mutex;
use std::time::Duration;

use crate::lab::{lock, Lab};
use crate::netns::Netns;
use crate::ovs::{private_dir, PrivateDir};
use crate::process::Proc;
use crate::slow_protocols;
use crate::tools::require_tool;
use crate::wait::{wait_for_log, wait_until};

/// The kernel end of the host port, and the end testpmd opens.
pub const HOST_IF: &str = "tphost";
const WIRE_IF: &str = "tpwire";
/// Keepalive period: well under the bonding PMD's 100 ms requirement.
const KEEPALIVE_INTERVAL: &str = "0.05";

/// `mode` of `net_bonding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestpmdBondMode {
    /// Mode 1.
    ActiveBackup,
    /// Mode 4: IEEE 802.3ad, LACP with short timeouts (1 s LACPDUs, 3 s expiry).
    Lacp,
}

/// What to start: the bond's members (veths of the namespace, in port order) and the
/// host behind it.
#[derive(Debug, Clone)]
pub struct TestpmdSpec<'a> {
    pub members: &'a [&'a str],
    pub mode: TestpmdBondMode,
    /// Address of `tphost` (CIDR from 198.18.0.0/15).
    pub host_addr: &'a str,
    /// Where the keepalive ping goes: an address on the partner's side and its MAC, made
    /// a permanent neighbour so the ping transmits even before ARP could work.
    pub peer_addr: &'a str,
    pub peer_mac: &'a str,
}

/// `show port stats N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
}

/// testpmd with a bonded port, running in a namespace.
pub struct TestpmdBond {
    ns: Netns,
    testpmd: Proc,
    keepalive: Proc,
    members: Vec<String>,
    bond_port: u16,
    /// One command at a time: replies are read from the shared log.
    cmd: Mutex<()>,
    _dir: PrivateDir,
}

impl TestpmdBond {
    /// Starts testpmd in `ns` with the bond over `spec.members`, starts forwarding and the
    /// keepalive. Panics (naming the package) if testpmd is missing.
    pub fn start(lab: &Lab, ns: &Netns, name: &str, spec: &TestpmdSpec<'_>) -> TestpmdBond {
        let testpmd = require_tool("dpdk-testpmd");
        require_tool("stdbuf");
        require_tool("ping");
        assert!(!spec.members.is_empty(), "a bond needs members");
        let dir = private_dir("dpdk");

        lab.veth(ns, WIRE_IF, ns, HOST_IF);
        ns.add_addr(HOST_IF, spec.host_addr);
        let addr = spec.peer_addr;
        ns.ip_ok(&[
            "neigh",
            "replace",
            addr,
            "lladdr",
            spec.peer_mac,
            "dev",
            HOST_IF,
            "nud",
            "permanent",
        ]);

        // The members' and the wire's frames are testpmd's, but the namespace's kernel sees
        // them too (a packet socket only copies): it must not answer ARP for the host port's
        // address from a member (with the member's MAC, racing the host's own answer through
        // the bond), nor send anything of its own there.
        for m in spec.members.iter().copied().chain([WIRE_IF]) {
            ns.sysctl(&format!("net.ipv4.conf.{m}.arp_ignore"), "8");
            ns.sysctl(&format!("net.ipv6.conf.{m}.disable_ipv6"), "1");
        }

        // Port 0: the host port; 1..=n: the members; n+1: the bond (vdevs are probed in
        // the order given).
        let mut vdevs = vec![format!(
            "--vdev=net_af_packet0,iface={WIRE_IF},qdisc_bypass=0"
        )];
        let mut slaves = String::new();
        for (i, m) in spec.members.iter().enumerate() {
            // qdisc_bypass=0: frames pass the egress hook, where block_lacpdus filters.
            vdevs.push(format!(
                "--vdev=net_af_packet{},iface={m},qdisc_bypass=0",
                i + 1
            ));
            slaves.push_str(&format!(",slave=net_af_packet{}", i + 1));
        }
        let mode = match spec.mode {
            TestpmdBondMode::ActiveBackup => 1,
            TestpmdBondMode::Lacp => 4,
        };
        vdevs.push(format!("--vdev=net_bonding0,mode={mode}{slaves}"));
        let bond_port = spec.members.len() as u16 + 1;
        let portmask = format!("--portmask={:#x}", 1u64 | (1u64 << bond_port));
        let prefix = format!("--file-prefix=nt{}-{}", std::process::id(), ns.short_name());

        let mut argv: Vec<String> = vec![
            "stdbuf".into(),
            "-oL".into(),
            testpmd.to_str().unwrap().into(),
            "--no-huge".into(),
            "-m".into(),
            "256".into(),
            "--no-pci".into(),
            "--no-shconf".into(),
            "--no-telemetry".into(),
            prefix,
            // Main lcore 0, one forwarding lcore (1): it polls, one core busy.
            "-l".into(),
            "0-1".into(),
        ];
        argv.extend(vdevs);
        argv.extend(
            [
                "--",
                "-i",
                "--total-num-mbufs=8192",
                &portmask,
                "--port-topology=paired",
                "--forward-mode=io",
                "--nb-cores=1",
            ]
            .map(String::from),
        );
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let proc = ns
            .process(&format!("{name}-testpmd"), &argv)
            .env("RUNTIME_DIRECTORY", dir.to_str().unwrap())
            .stdin_piped()
            .spawn();
        wait_for_log(&proc, "testpmd> ", Duration::from_secs(30)).unwrap();

        // Until the keepalive exists, a panic stops testpmd through the lab only.
        let keepalive = ns.spawn(
            &format!("{name}-keepalive"),
            &[
                "ping",
                "-q",
                "-n",
                "-i",
                KEEPALIVE_INTERVAL,
                "-I",
                HOST_IF,
                addr,
            ],
        );
        let bond = TestpmdBond {
            ns: ns.clone(),
            testpmd: proc,
            keepalive,
            members: spec.members.iter().map(|m| m.to_string()).collect(),
            bond_port,
            cmd: Mutex::new(()),
            _dir: dir,
        };
        let started = bond.command("start");
        assert!(
            started.contains("io packet forwarding"),
            "testpmd did not start forwarding: {started}"
        );
        bond
    }

    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    pub fn proc(&self) -> &Proc {
        &self.testpmd
    }

    /// testpmd's port number of the bond (members are 1..bond_port, the host port 0).
    pub fn bond_port(&self) -> u16 {
        self.bond_port
    }

    /// testpmd's port number of member `name`.
    pub fn member_port(&self, name: &str) -> u16 {
        let i = self
            .members
            .iter()
            .position(|m| m == name)
            .unwrap_or_else(|| panic!("{name} is not a member of the testpmd bond"));
        i as u16 + 1
    }

    /// Runs one interactive command and returns its reply (what testpmd printed before its
    /// next prompt). Panics if testpmd does not answer within 10 s.
    pub fn command(&self, cmd: &str) -> String {
        let _one = lock(&self.cmd);
        let before = self.testpmd.log().len();
        self.testpmd
            .write_stdin(&format!("{cmd}\n"))
            .unwrap_or_else(|e| panic!("testpmd `{cmd}`: {e}"));
        let mut reply = String::new();
        wait_until(
            &format!("testpmd's reply to `{cmd}`"),
            Duration::from_secs(10),
            Duration::from_millis(10),
            || {
                let log = self.testpmd.log();
                match log
                    .get(before..)
                    .and_then(|new| new.find("testpmd> ").map(|i| &new[..i]))
                {
                    Some(r) => {
                        reply = r.to_string();
                        true
                    }
                    None => false,
                }
            },
        )
        .unwrap();
        reply
    }

    pub fn port_stats(&self, port: u16) -> PortStats {
        let text = self.command(&format!("show port stats {port}"));
        let field = |key: &str| -> u64 {
            text.split(key)
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {key} in testpmd's port stats: {text}"))
        };
        PortStats {
            rx_packets: field("RX-packets:"),
            tx_packets: field("TX-packets:"),
        }
    }

    /// The bond's active members (mode 4: those the aggregator uses), as interface names,
    /// sorted: `Active Slaves` of `show bonding config`.
    pub fn active_members(&self) -> Vec<String> {
        let text = self.command(&format!("show bonding config {}", self.bond_port));
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("Active Slaves"))
            .unwrap_or_else(|| panic!("no active slaves in testpmd's bonding config: {text}"));
        let list = line
            .split_once('[')
            .and_then(|(_, r)| r.split_once(']'))
            .map(|(l, _)| l)
            .unwrap_or("");
        let mut v: Vec<String> = list
            .split_whitespace()
            .filter_map(|p| p.parse::<usize>().ok())
            .filter_map(|p| self.members.get(p.wrapping_sub(1)).cloned())
            .collect();
        v.sort();
        v
    }

    /// Stops (`true`) or resumes (`false`) the bond's LACPDUs on `member` only, at the egress hook
    /// of the member's veth; data frames still pass.
    pub fn block_lacpdus(&self, member: &str, block: bool) {
        self.member_port(member);
        slow_protocols::block_egress(&self.ns, member, block);
    }

    /// Slow Protocols frames dropped on `member` by [`TestpmdBond::block_lacpdus`] so far.
    pub fn lacpdus_blocked(&self, member: &str) -> u64 {
        slow_protocols::dropped(&self.ns, member)
    }

    /// Stops the keepalive and testpmd (SIGTERM: testpmd closes its ports; SIGKILL after
    /// 5 s). Called by `Drop`; idempotent.
    pub fn stop(&self) {
        self.keepalive.stop(Duration::from_secs(1));
        self.testpmd.stop(Duration::from_secs(5));
    }
}

impl Drop for TestpmdBond {
    fn drop(&mut self) {
        self.stop();
    }
}
