//! Open vSwitch as a bonding (LACP, active-backup, balance-slb) partner in a namespace:
//! `ovsdb-server` and `ovs-vswitchd` started by hand with the userspace datapath
//! (`datapath_type=netdev`), so no kernel module is needed (the packaged service, which
//! loads `openvswitch.ko`, is never used).
//!
//! Database, sockets and the bridges' management sockets live in a private directory
//! (`/tmp/nt-ovs-<pid>-<n>`: unix socket paths must stay under 108 bytes, which the
//! artifacts directory does not promise); the daemons log to the lab's artifacts. Both run
//! in the foreground as lab processes, known by PID and stopped by PID.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::lab::Lab;
use crate::netns::Netns;
use crate::process::Proc;
use crate::slow_protocols;
use crate::tools::require_tool;
use crate::wait::{wait_for_file, wait_until};

/// Where Debian's openvswitch-common installs the database schema.
const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// A bond mode without LACP (`bond_mode` of a port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OvsBondMode {
    ActiveBackup,
    BalanceSlb,
    BalanceTcp,
}

impl OvsBondMode {
    fn as_str(self) -> &'static str {
        match self {
            OvsBondMode::ActiveBackup => "active-backup",
            OvsBondMode::BalanceSlb => "balance-slb",
            OvsBondMode::BalanceTcp => "balance-tcp",
        }
    }
}

/// One member of `ovs-appctl lacp/show`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LacpMember {
    pub name: String,
    /// The receive machine's view of the partner: `current`, `expired` or `defaulted`.
    pub status: String,
    /// Selected into the bond's aggregator.
    pub attached: bool,
    /// LACP lets the bond use the member.
    pub may_enable: bool,
    /// Flags of the actor's state (`activity`, `timeout`, `aggregation`, `synchronized`,
    /// `collecting`, `distributing`, `defaulted`, `expired`).
    pub actor_state: Vec<String>,
    pub partner_state: Vec<String>,
    /// The partner's system id (MAC) as Open vSwitch learnt it.
    pub partner_sys_id: String,
}

impl LacpMember {
    /// Current, attached, and both ends collecting and distributing: the member carries
    /// traffic in both directions.
    pub fn in_aggregation(&self) -> bool {
        let both = |s: &[String]| {
            ["synchronized", "collecting", "distributing"]
                .iter()
                .all(|f| s.iter().any(|x| x == f))
        };
        self.status == "current"
            && self.attached
            && self.may_enable
            && both(&self.actor_state)
            && both(&self.partner_state)
    }
}

/// `ovs-appctl lacp/show BOND`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LacpShow {
    /// `status: active negotiated`: some member has a current partner.
    pub negotiated: bool,
    pub members: Vec<LacpMember>,
}

impl LacpShow {
    pub fn member(&self, name: &str) -> Option<&LacpMember> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Names of the members in the aggregation ([`LacpMember::in_aggregation`]), sorted.
    pub fn aggregated(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.in_aggregation())
            .map(|m| m.name.clone())
            .collect();
        v.sort();
        v
    }

    pub fn parse(text: &str) -> LacpShow {
        let mut show = LacpShow::default();
        for line in text.lines() {
            let t = line.trim();
            if let Some(status) = t.strip_prefix("status:") {
                show.negotiated = status.split_whitespace().any(|w| w == "negotiated");
            } else if let Some(rest) = t.strip_prefix("member:").or(t.strip_prefix("slave:")) {
                // "member: o1: current attached"
                let (name, flags) = rest.trim().split_once(':').unwrap_or((rest.trim(), ""));
                let flags: Vec<&str> = flags.split_whitespace().collect();
                show.members.push(LacpMember {
                    name: name.to_string(),
                    status: flags
                        .iter()
                        .find(|f| ["current", "expired", "defaulted"].contains(f))
                        .unwrap_or(&"")
                        .to_string(),
                    attached: flags.contains(&"attached"),
                    ..LacpMember::default()
                });
            } else if let Some(m) = show.members.last_mut() {
                let words = |s: &str| s.split_whitespace().map(str::to_string).collect();
                if let Some(v) = t.strip_prefix("may_enable:") {
                    m.may_enable = v.trim() == "true";
                } else if let Some(v) = t.strip_prefix("actor state:") {
                    m.actor_state = words(v);
                } else if let Some(v) = t.strip_prefix("partner state:") {
                    m.partner_state = words(v);
                } else if let Some(v) = t.strip_prefix("partner sys_id:") {
                    m.partner_sys_id = v.trim().to_string();
                }
            }
        }
        show
    }
}

/// One member of `ovs-appctl bond/show`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BondMember {
    pub name: String,
    pub enabled: bool,
    pub may_enable: bool,
    /// The active member of active-backup / balance-slb.
    pub active: bool,
    /// Hash buckets assigned to it with their load in kB (balance-slb / balance-tcp).
    pub hashes: Vec<(u32, u64)>,
}

/// `ovs-appctl bond/show BOND`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BondShow {
    pub mode: String,
    /// `lacp_status`: `negotiated`, `configured` or `off`.
    pub lacp_status: String,
    pub members: Vec<BondMember>,
}

impl BondShow {
    pub fn member(&self, name: &str) -> Option<&BondMember> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Names of the enabled members, sorted.
    pub fn enabled(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.enabled)
            .map(|m| m.name.clone())
            .collect();
        v.sort();
        v
    }

    pub fn parse(text: &str) -> BondShow {
        let mut show = BondShow::default();
        for line in text.lines() {
            let t = line.trim();
            if let Some(v) = t.strip_prefix("bond_mode:") {
                show.mode = v.trim().to_string();
            } else if let Some(v) = t.strip_prefix("lacp_status:") {
                show.lacp_status = v.trim().to_string();
            } else if let Some(rest) = t.strip_prefix("member ").or(t.strip_prefix("slave ")) {
                // "member o1: enabled"
                let (name, state) = rest.split_once(':').unwrap_or((rest, ""));
                show.members.push(BondMember {
                    name: name.trim().to_string(),
                    enabled: state.trim() == "enabled",
                    ..BondMember::default()
                });
            } else if let Some(m) = show.members.last_mut() {
                if let Some(v) = t.strip_prefix("may_enable:") {
                    m.may_enable = v.trim() == "true";
                } else if t == "active member" || t == "active slave" {
                    m.active = true;
                } else if let Some(v) = t.strip_prefix("hash ") {
                    // "hash 12: 3 kB load"
                    if let Some((h, load)) = v.split_once(':') {
                        let kb = load.split_whitespace().next().and_then(|n| n.parse().ok());
                        if let (Ok(h), Some(kb)) = (h.trim().parse(), kb) {
                            m.hashes.push((h, kb));
                        }
                    }
                }
            }
        }
        show
    }
}

/// ovsdb-server and ovs-vswitchd (userspace datapath) running in one namespace.
///
/// Dropping it stops both daemons (SIGTERM, then SIGKILL) and removes its private
/// directory; the [`Lab`] would stop them too.
pub struct OvsSwitch {
    ns: Netns,
    dir: PrivateDir,
    ovsdb: Proc,
    vswitchd: Proc,
}

impl OvsSwitch {
    /// Starts ovsdb-server and ovs-vswitchd in `ns`; `name` prefixes their log files.
    /// Panics (naming the package) if Open vSwitch is not installed.
    pub fn start(lab: &Lab, ns: &Netns, name: &str) -> OvsSwitch {
        for tool in [
            "ovsdb-tool",
            "ovsdb-server",
            "ovs-vswitchd",
            "ovs-vsctl",
            "ovs-appctl",
        ] {
            require_tool(tool);
        }
        let dir = private_dir("ovs");
        let db = dir.join("conf.db");
        lab.inner()
            .run_ok(&["ovsdb-tool", "create", db.to_str().unwrap(), SCHEMA]);
        let sock = dir.join("db.sock");
        let remote = format!("--remote=punix:{}", sock.display());
        let db_ctl = format!("--unixctl={}", dir.join("ovsdb.ctl").display());
        let ovsdb = with_ovs_env(
            ns.process(
                &format!("{name}-ovsdb-server"),
                &[
                    "ovsdb-server",
                    db.to_str().unwrap(),
                    &remote,
                    &db_ctl,
                    "-vconsole:info",
                ],
            ),
            &dir,
        )
        .spawn();
        wait_for_file(&sock, Duration::from_secs(10)).unwrap();

        let db_arg = format!("unix:{}", sock.display());
        ns.run_ok(&["ovs-vsctl", &format!("--db={db_arg}"), "--no-wait", "init"]);
        let ctl = dir.join("vswitchd.ctl");
        let vswitchd = with_ovs_env(
            ns.process(
                &format!("{name}-ovs-vswitchd"),
                &[
                    "ovs-vswitchd",
                    &db_arg,
                    &format!("--unixctl={}", ctl.display()),
                    // No kernel datapath: this kernel may have no openvswitch module.
                    "--disable-system",
                    "-vconsole:info",
                ],
            ),
            &dir,
        )
        .spawn();
        wait_for_file(&ctl, Duration::from_secs(10)).unwrap();
        OvsSwitch {
            ns: ns.clone(),
            dir,
            ovsdb,
            vswitchd,
        }
    }

    /// The namespace it runs in.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    pub fn ovsdb_server(&self) -> &Proc {
        &self.ovsdb
    }

    pub fn vswitchd(&self) -> &Proc {
        &self.vswitchd
    }

    /// `ovs-vsctl ARGS` against this switch's database (waiting until ovs-vswitchd has
    /// applied the change); returns stdout, panics on failure.
    pub fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}", self.dir.join("db.sock").display());
        let mut argv = vec!["ovs-vsctl", &db, "--timeout=10"];
        argv.extend_from_slice(args);
        self.ns.run_ok(&argv)
    }

    /// `ovs-appctl -t <ovs-vswitchd> ARGS`; returns stdout, panics on failure.
    pub fn appctl(&self, args: &[&str]) -> String {
        let ctl = self.dir.join("vswitchd.ctl");
        let mut argv = vec!["ovs-appctl", "-t", ctl.to_str().unwrap()];
        argv.extend_from_slice(args);
        self.ns.run_ok(&argv)
    }

    /// A bridge on the userspace datapath whose internal port (a tap device named
    /// `bridge` in the namespace) has MAC `hwaddr`; the bridge's LACP system id is also
    /// `hwaddr` unless set otherwise.
    pub fn add_bridge(&self, bridge: &str, hwaddr: &str) {
        self.vsctl(&[
            "add-br",
            bridge,
            "--",
            "set",
            "bridge",
            bridge,
            "datapath_type=netdev",
            &format!("other_config:hwaddr={hwaddr}"),
        ]);
    }

    /// Gives the bridge's internal port `cidr` (198.18.0.0/15 or 2001:db8::/32) and brings
    /// it up, so the namespace's own stack sends and receives through the bridge.
    pub fn set_bridge_addr(&self, bridge: &str, cidr: &str) {
        self.ns.add_addr(bridge, cidr);
        self.ns.set_up(bridge);
    }

    /// A balance-tcp bond with active LACP (`lacp-time` fast: 1 s LACPDUs, 3 s timeout;
    /// slow: 30 s and 90 s) over `members` (interfaces of the namespace).
    pub fn add_lacp_bond(&self, bridge: &str, bond: &str, members: &[&str], fast: bool) {
        let mut args = vec!["add-bond", bridge, bond];
        args.extend_from_slice(members);
        let time = format!(
            "other_config:lacp-time={}",
            if fast { "fast" } else { "slow" }
        );
        args.extend(["bond_mode=balance-tcp", "lacp=active", &time]);
        self.vsctl(&args);
        self.quiet_kernel(members);
    }

    /// The members' frames are the switch's, but the namespace's kernel sees them too (its
    /// packet sockets only copy): it must not answer ARP for the bridge port's address from a
    /// member (with the member's MAC), nor send anything of its own there.
    fn quiet_kernel(&self, members: &[&str]) {
        for m in members {
            self.ns
                .sysctl(&format!("net.ipv4.conf.{m}.arp_ignore"), "8");
            self.ns
                .sysctl(&format!("net.ipv6.conf.{m}.disable_ipv6"), "1");
        }
    }

    /// A bond without LACP: members are enabled by carrier alone.
    pub fn add_bond(&self, bridge: &str, bond: &str, members: &[&str], mode: OvsBondMode) {
        let mut args = vec!["add-bond", bridge, bond];
        args.extend_from_slice(members);
        let mode = format!("bond_mode={}", mode.as_str());
        args.extend([mode.as_str(), "lacp=off"]);
        self.vsctl(&args);
        self.quiet_kernel(members);
    }

    pub fn lacp_show(&self, bond: &str) -> LacpShow {
        LacpShow::parse(&self.appctl(&["lacp/show", bond]))
    }

    pub fn bond_show(&self, bond: &str) -> BondShow {
        BondShow::parse(&self.appctl(&["bond/show", bond]))
    }

    /// Stops (`true`) or resumes (`false`) Open vSwitch's LACPDUs on `member` only: an
    /// nftables egress drop of Slow Protocols frames on the member's interface. The rest of
    /// the bond and the member's data traffic are untouched, so the partner sees exactly
    /// "LACPDUs stopped on this link". (Open vSwitch's packet sockets transmit through the
    /// device's normal path, so the hook sees its frames.)
    pub fn block_lacpdus(&self, member: &str, block: bool) {
        slow_protocols::block_egress(&self.ns, member, block);
    }

    /// Slow Protocols frames dropped on `member` by [`OvsSwitch::block_lacpdus`] so far.
    pub fn lacpdus_blocked(&self, member: &str) -> u64 {
        slow_protocols::dropped(&self.ns, member)
    }

    /// Waits until exactly `members` (sorted or not) are in the aggregation of `bond`;
    /// returns how long it took. Panics with the last `lacp/show` on timeout.
    pub fn wait_aggregated(&self, bond: &str, members: &[&str], timeout: Duration) -> Duration {
        let mut want: Vec<String> = members.iter().map(|m| m.to_string()).collect();
        want.sort();
        let mut last = LacpShow::default();
        wait_until(
            &format!("OVS bond {bond} aggregating {want:?}"),
            timeout,
            Duration::from_millis(50),
            || {
                last = self.lacp_show(bond);
                last.aggregated() == want
            },
        )
        .unwrap_or_else(|e| panic!("{e}\nlast lacp/show {bond}: {last:#?}"))
    }

    /// Stops ovs-vswitchd, then ovsdb-server (SIGTERM, 5 s, SIGKILL) and removes the
    /// private directory. Called by `Drop`; idempotent.
    pub fn stop(&self) {
        self.vswitchd.stop(Duration::from_secs(5));
        self.ovsdb.stop(Duration::from_secs(5));
        self.dir.remove();
    }
}

impl Drop for OvsSwitch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Points every directory Open vSwitch would otherwise take from the host's installation
/// (/var/run/openvswitch, /etc/openvswitch, /var/log/openvswitch) at `dir`.
fn with_ovs_env(b: crate::process::ProcBuilder, dir: &Path) -> crate::process::ProcBuilder {
    let d = dir.to_str().unwrap();
    b.env("OVS_RUNDIR", d)
        .env("OVS_DBDIR", d)
        .env("OVS_LOGDIR", d)
        .env("OVS_SYSCONFDIR", d)
}

/// A fresh `/tmp/nt-<what>-<pid>-<n>` (short: unix socket paths live in it), removed
/// with everything in it when dropped, panics included.
pub(crate) struct PrivateDir(PathBuf);

impl PrivateDir {
    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for PrivateDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        self.remove();
    }
}

pub(crate) fn private_dir(what: &str) -> PrivateDir {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(format!("/tmp/nt-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("netns-tests: cannot create {}: {e}", dir.display()));
    PrivateDir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LACP: &str = "---- bond0 ----
  status: active negotiated
  sys_id: 02:00:00:00:0c:00
  sys_priority: 65534
  aggregation key: 1
  lacp_time: fast

member: o1: current attached
  port_id: 1
  port_priority: 65535
  may_enable: true

  actor sys_id: 02:00:00:00:0c:00
  actor state: activity timeout aggregation synchronized collecting distributing

  partner sys_id: 02:00:00:00:0d:00
  partner state: activity timeout aggregation synchronized collecting distributing

member: o2: defaulted detached
  port_id: 2
  port_priority: 65535
  may_enable: false

  actor state: activity timeout aggregation collecting distributing defaulted

  partner sys_id: 00:00:00:00:00:00
  partner state:
";

    #[test]
    fn parses_lacp_show() {
        let s = LacpShow::parse(LACP);
        assert!(s.negotiated);
        assert_eq!(s.members.len(), 2);
        let o1 = s.member("o1").unwrap();
        assert!(o1.in_aggregation(), "{o1:?}");
        assert_eq!(o1.partner_sys_id, "02:00:00:00:0d:00");
        let o2 = s.member("o2").unwrap();
        assert_eq!(o2.status, "defaulted");
        assert!(!o2.attached && !o2.may_enable && !o2.in_aggregation());
        assert!(o2.partner_state.is_empty());
        assert_eq!(s.aggregated(), vec!["o1".to_string()]);
    }

    #[test]
    fn parses_bond_show() {
        let s = BondShow::parse(
            "---- bond0 ----\nbond_mode: balance-tcp\nlacp_status: negotiated\n\n\
             member o1: enabled\n  active member\n  may_enable: true\n  hash 7: 3 kB load\n\n\
             member o2: disabled\n  may_enable: false\n",
        );
        assert_eq!(s.mode, "balance-tcp");
        assert_eq!(s.lacp_status, "negotiated");
        assert_eq!(s.enabled(), vec!["o1".to_string()]);
        let o1 = s.member("o1").unwrap();
        assert!(o1.active && o1.may_enable);
        assert_eq!(o1.hashes, vec![(7, 3)]);
    }
}
