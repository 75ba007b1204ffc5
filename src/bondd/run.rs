//! One bond's thread: LACP on a timer (whatever the data traffic does), the member sets the
//! workers transmit by, active-backup's choice and its announcements, the ARP monitor, and the
//! kernel's frames from the tap to a member. It sleeps in poll() until a frame, a carrier
//! change, a reconfiguration or its next deadline.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::bond::{self, choose_active, Distributor, XmitHash};
use serde_json::json;

use super::member::MemberSocket;
use super::metrics::BondMetrics;
use super::shared::BondShared;
use super::spec::{BondSpec, Mode};
use super::status::{BondStatus, LacpPortStatus, LacpStatus, MemberStatus};
use super::tap;
use crate::dataplaned::worker::Waker;
use crate::events::{BondEvent, EventLog};

/// Rounds of gratuitous ARP / unsolicited NA a new active member sends, and their spacing
/// (the first at once: a switch that missed it relearns from the next).
const ANNOUNCE_ROUNDS: u32 = 3;
const ANNOUNCE_SPACING: Duration = Duration::from_millis(200);
/// How often the status and metrics are refreshed without a change.
const PUBLISH_EVERY: Duration = Duration::from_millis(200);
/// Frames taken from the tap per turn.
const TAP_BATCH: usize = 256;
/// The ARP monitor counts a member down after this many intervals without the target's ARP.
const ARP_MISSED: u32 = 2;
/// After an active-backup failover the old active member, if it still has carrier, keeps
/// collecting this long: the switch sends the bond's frames there until our first frame from
/// the new one (the gratuitous ARP) teaches it otherwise, and those frames are good ones.
const FAILOVER_GRACE: Duration = Duration::from_millis(500);

/// What the daemon tells a bond thread.
pub enum Control {
    /// Member `i`'s carrier (usable: up and operationally up).
    Carrier(usize, bool),
    /// New settings of the same bond (what can change in place: hash, LACP parameters,
    /// primary, min_links, ARP monitor).
    Reconfigure(Box<BondSpec>),
}

pub struct BondThread {
    pub spec: BondSpec,
    pub shared: Arc<BondShared>,
    pub members: Vec<MemberSocket>,
    pub control: Receiver<Control>,
    pub waker: Arc<Waker>,
    pub stop: Arc<AtomicBool>,
    pub events: EventLog,
    pub metrics: BondMetrics,
    pub carrier: Vec<bool>,
}

struct State {
    lacp: Option<lacp::Bond>,
    active: Option<usize>,
    /// The member active before the last failover, and until when it still collects.
    previous: Option<(usize, Instant)>,
    failovers: u64,
    announce_left: u32,
    next_announce: Option<Instant>,
    next_probe: Option<Instant>,
    joins: Vec<u64>,
    leaves: Vec<u64>,
    host_tx: Vec<u64>,
    host_tx_dropped: u64,
    up: bool,
}

fn new_lacp(spec: &BondSpec, now: Instant) -> Option<lacp::Bond> {
    if spec.mode != Mode::Lacp {
        return None;
    }
    let ports: Vec<lacp::PortConfig> = spec
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| lacp::PortConfig::new(i as u16 + 1, lacp::MacAddr(m.mac)))
        .collect();
    let mut cfg = lacp::BondConfig::new(lacp::MacAddr(spec.mac));
    cfg.system.priority = spec.system_priority;
    cfg.key = spec.key;
    cfg.activity = if spec.lacp_active {
        lacp::Activity::Active
    } else {
        lacp::Activity::Passive
    };
    cfg.timeout = if spec.lacp_fast {
        lacp::Timeout::Fast
    } else {
        lacp::Timeout::Slow
    };
    // min_links is applied by the thread (it changes in place; the machines need not know).
    cfg.min_links = 1;
    match lacp::Bond::new(cfg, &ports, now) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::error!("bond {}: LACP refused its settings: {e}", spec.name);
            None
        }
    }
}

fn mask_of(v: impl IntoIterator<Item = usize>) -> u64 {
    v.into_iter().filter(|&i| i < 64).fold(0, |m, i| m | 1 << i)
}

fn poll(fds: &[i32], timeout: Duration) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(1000) as i32;
    // SAFETY: `p` is a valid, writable array of `p.len()` pollfd.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
}

impl BondThread {
    pub fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("bond-{}", self.spec.name))
            .spawn(move || self.run())
    }

    fn run(mut self) {
        let now = Instant::now();
        let n = self.spec.members.len();
        let mut st = State {
            lacp: new_lacp(&self.spec, now),
            active: None,
            previous: None,
            failovers: 0,
            announce_left: 0,
            next_announce: None,
            next_probe: self.spec.arp_monitor.map(|_| now),
            joins: vec![0; n],
            leaves: vec![0; n],
            host_tx: vec![0; n],
            host_tx_dropped: 0,
            up: false,
        };
        if let Some(l) = &mut st.lacp {
            for (i, &c) in self.carrier.iter().enumerate() {
                l.set_port_enabled(now, i, c);
            }
        }
        self.set_arp_target();
        let _ = tap::set_carrier(&self.shared.tap, false);
        self.events.emit(
            BondEvent::Started,
            &self.spec.name,
            format!(
                "bond {} ({}) over {}",
                self.spec.name,
                self.spec.mode.name(),
                self.spec.member_names().join(", ")
            ),
            json!({"mode": self.spec.mode.name(), "members": self.spec.member_names()}),
        );
        let mut fds: Vec<i32> = self.members.iter().map(MemberSocket::fd).collect();
        fds.push(self.shared.tap.as_raw_fd());
        fds.push(self.waker.fd());
        let mut buf = vec![0u8; 65536];
        let mut last_publish = now - PUBLISH_EVERY;
        let mut changed = true;
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            while let Ok(c) = self.control.try_recv() {
                changed |= self.on_control(&mut st, c, now);
            }
            // Slow Protocols frames.
            for (i, m) in self.members.iter().enumerate() {
                while let Some(len) = m.recv(&mut buf) {
                    if let Some(l) = &mut st.lacp {
                        let _ = l.handle_frame(now, i, &buf[..len]);
                    }
                }
            }
            if let Some(l) = &mut st.lacp {
                l.handle_timeout(now);
            }
            self.arp_probe(&mut st, now);
            changed |= self.recompute(&mut st, now);
            self.send_lacpdus(&mut st);
            self.announce(&mut st, now);
            self.forward_host_frames(&mut st, &mut buf);
            if changed || now.duration_since(last_publish) >= PUBLISH_EVERY {
                self.publish_status(&st);
                last_publish = now;
                changed = false;
            }
            let mut deadline = last_publish + PUBLISH_EVERY;
            for d in [
                st.lacp.as_ref().and_then(|l| l.next_deadline()),
                st.next_announce,
                st.next_probe,
                st.previous.map(|(_, until)| until),
            ]
            .into_iter()
            .flatten()
            {
                deadline = deadline.min(d);
            }
            poll(&fds, deadline.saturating_duration_since(Instant::now()));
            self.waker.clear();
        }
        self.shared.publish(0, 0, self.spec.xmit_hash);
    }

    fn on_control(&mut self, st: &mut State, c: Control, now: Instant) -> bool {
        match c {
            Control::Carrier(i, up) => {
                if self.carrier.get(i).copied() == Some(up) {
                    return false;
                }
                if let Some(c) = self.carrier.get_mut(i) {
                    *c = up;
                }
                if let Some(l) = &mut st.lacp {
                    l.set_port_enabled(now, i, up);
                }
                true
            }
            Control::Reconfigure(spec) => {
                let lacp_changed = spec.lacp_params() != self.spec.lacp_params();
                self.spec = *spec;
                if lacp_changed {
                    st.lacp = new_lacp(&self.spec, now);
                    if let Some(l) = &mut st.lacp {
                        for (i, &c) in self.carrier.iter().enumerate() {
                            l.set_port_enabled(now, i, c);
                        }
                    }
                }
                st.next_probe = self.spec.arp_monitor.map(|_| now);
                self.set_arp_target();
                true
            }
        }
    }

    fn set_arp_target(&self) {
        let t = self.spec.arp_monitor.map_or(0, |(t, _)| u32::from(t));
        self.shared.arp_target.store(t, Ordering::Relaxed);
    }

    /// Members usable by carrier and, with the ARP monitor, by the target's answers.
    fn usable(&self) -> u64 {
        let arp_ok = |i: usize| match self.spec.arp_monitor {
            None => true,
            Some((_, interval)) => {
                let seen = self.shared.counters[i].arp_seen_ms.load(Ordering::Relaxed);
                let now = self.shared.clock.elapsed().as_millis() as u64;
                seen != 0 && now.saturating_sub(seen) <= (interval * ARP_MISSED).as_millis() as u64
            }
        };
        mask_of((0..self.carrier.len()).filter(|&i| self.carrier[i] && arp_ok(i)))
    }

    /// The member sets by mode; publishes them to the workers when they change.
    fn recompute(&self, st: &mut State, now: Instant) -> bool {
        let min_links = u32::from(self.spec.min_links.max(1));
        let mask = match self.spec.mode {
            Mode::Lacp => st.lacp.as_ref().map_or(0, |l| mask_of(l.members())),
            Mode::BalanceXor => self.usable(),
            Mode::ActiveBackup => {
                let before = st.active;
                st.active = choose_active(st.active, self.spec.primary, self.usable());
                if st.active != before {
                    st.previous = before.map(|b| (b, now + FAILOVER_GRACE));
                    self.on_failover(st, before, now);
                }
                st.active.map_or(0, |a| 1 << a)
            }
        };
        let mask = if self.spec.mode != Mode::ActiveBackup && mask.count_ones() < min_links {
            0
        } else {
            mask
        };
        let mut collecting = mask;
        match st.previous {
            Some((p, until)) if now < until && self.carrier[p] && mask != 0 => collecting |= 1 << p,
            Some(_) => st.previous = None,
            None => {}
        }
        let old = self.shared.distributing.load(Ordering::Relaxed);
        if !self.shared.publish(mask, collecting, self.spec.xmit_hash) {
            return false;
        }
        for i in 0..self.spec.members.len() {
            let (was, is) = (old & 1 << i != 0, mask & 1 << i != 0);
            if was == is {
                continue;
            }
            let name = &self.spec.members[i].name;
            let (kind, verb) = if is {
                st.joins[i] += 1;
                (BondEvent::MemberUp, "carries")
            } else {
                st.leaves[i] += 1;
                (BondEvent::MemberDown, "no longer carries")
            };
            self.events.emit(
                kind,
                &self.spec.name,
                format!("{name} {verb} bond {}", self.spec.name),
                json!({"member": name, "carrier": self.carrier[i]}),
            );
        }
        let up = mask != 0;
        if up != st.up {
            st.up = up;
            if let Err(e) = tap::set_carrier(&self.shared.tap, up) {
                tracing::warn!("bond {}: setting the tap's carrier: {e}", self.spec.name);
            }
            let (kind, what) = if up {
                (BondEvent::Up, "up")
            } else {
                (BondEvent::Down, "down: no member carries it")
            };
            self.events.emit(
                kind,
                &self.spec.name,
                format!("bond {} {what}", self.spec.name),
                json!({"members": mask.count_ones()}),
            );
        }
        true
    }

    fn on_failover(&self, st: &mut State, before: Option<usize>, now: Instant) {
        let name = |i: Option<usize>| i.map(|i| self.spec.members[i].name.clone());
        if before.is_some() || st.active.is_some() {
            st.failovers += u64::from(before.is_some());
            self.events.emit(
                BondEvent::Failover,
                &self.spec.name,
                format!(
                    "bond {}: active member {} -> {}",
                    self.spec.name,
                    name(before).unwrap_or_else(|| "none".into()),
                    name(st.active).unwrap_or_else(|| "none".into())
                ),
                json!({"from": name(before), "to": name(st.active)}),
            );
        }
        if st.active.is_some() {
            st.announce_left = ANNOUNCE_ROUNDS;
            st.next_announce = Some(now);
        }
    }

    /// Gratuitous ARP and unsolicited NA for every address on the bond, from the bond's MAC,
    /// by the new active member, so that switches learn at once where the bond now is.
    fn announce(&self, st: &mut State, now: Instant) {
        let (Some(at), Some(active)) = (st.next_announce, st.active) else {
            return;
        };
        if now < at {
            return;
        }
        let addrs: Vec<IpAddr> = nix::ifaddrs::getifaddrs()
            .map(|it| {
                it.filter(|a| a.interface_name == self.spec.name)
                    .filter_map(|a| {
                        let s = a.address?;
                        if let Some(v4) = s.as_sockaddr_in() {
                            Some(IpAddr::V4(v4.ip()))
                        } else {
                            s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let m = &self.members[active];
        for a in addrs {
            let r = match a {
                IpAddr::V4(v4) => m.send(&bond::gratuitous_arp(self.spec.mac, v4)),
                IpAddr::V6(v6) => m.send(&bond::unsolicited_na(self.spec.mac, v6)),
            };
            if let Err(e) = r {
                tracing::debug!("bond {}: announcing {a}: {e}", self.spec.name);
            }
        }
        st.announce_left = st.announce_left.saturating_sub(1);
        st.next_announce = (st.announce_left > 0).then(|| now + ANNOUNCE_SPACING);
    }

    /// The ARP monitor's probe: an RFC 5227 probe (sender 0.0.0.0) from each member's own MAC,
    /// so the target's reply comes back through that member and says it works.
    fn arp_probe(&self, st: &mut State, now: Instant) {
        let (Some((target, interval)), Some(at)) = (self.spec.arp_monitor, st.next_probe) else {
            return;
        };
        if now < at {
            return;
        }
        for (i, m) in self.members.iter().enumerate() {
            if self.carrier[i] {
                let probe =
                    bond::arp_request(self.spec.members[i].mac, Ipv4Addr::UNSPECIFIED, target);
                let _ = m.send(&probe);
            }
        }
        st.next_probe = Some(now + interval);
    }

    fn send_lacpdus(&self, st: &mut State) {
        let Some(l) = &mut st.lacp else {
            return;
        };
        while let Some(t) = l.poll_transmit() {
            if let Some(m) = self.members.get(t.port) {
                if let Err(e) = m.send(&t.bytes()) {
                    tracing::debug!("bond {}: LACPDU not sent: {e}", self.spec.name);
                }
            }
        }
    }

    /// The kernel's frames on the bond, each by the member the mode picks.
    fn forward_host_frames(&self, st: &mut State, buf: &mut [u8]) {
        let d = Distributor::new(
            self.spec.members.len(),
            self.shared.distributing.load(Ordering::Relaxed),
        );
        for _ in 0..TAP_BATCH {
            let Some(len) = tap::read(&self.shared.tap, buf) else {
                return;
            };
            let frame = &buf[..len];
            let member = match self.spec.mode {
                Mode::ActiveBackup => st.active,
                _ => d.pick(bond::frame_hash(frame, self.spec.xmit_hash)),
            };
            match member {
                Some(i) if self.members[i].send(frame).is_ok() => st.host_tx[i] += 1,
                _ => st.host_tx_dropped += 1,
            }
        }
    }

    fn publish_status(&self, st: &State) {
        let dist = self.shared.distributing.load(Ordering::Relaxed);
        let coll = self.shared.collecting.load(Ordering::Relaxed);
        let now_ms = self.shared.clock.elapsed().as_millis() as u64;
        let members = self
            .spec
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let c = &self.shared.counters[i];
                let lacp =
                    st.lacp
                        .as_ref()
                        .and_then(|l| l.port_status(i))
                        .map(|p| LacpPortStatus {
                            port: p.number,
                            actor_state: p.actor.state.to_string(),
                            partner_system: format!(
                                "{},{}",
                                p.partner.system.priority, p.partner.system.mac
                            ),
                            partner_key: p.partner.key,
                            partner_port: p.partner.port,
                            partner_state: p.partner.state.to_string(),
                            rx: format!("{:?}", p.rx),
                            mux: format!("{:?}", p.mux),
                            selected: format!("{:?}", p.selected),
                            lacpdus_rx: p.stats.lacpdus_rx,
                            lacpdus_tx: p.stats.lacpdus_tx,
                            rx_errors: p.stats.unknown_rx + p.stats.illegal_rx,
                            looped_back: p.stats.lacpdus_looped_back,
                        });
                MemberStatus {
                    name: m.name.clone(),
                    ifindex: m.ifindex,
                    mac: lacp::MacAddr(m.mac).to_string(),
                    carrier: self.carrier[i],
                    distributing: dist & 1 << i != 0,
                    collecting: coll & 1 << i != 0,
                    arp_ok: self.spec.arp_monitor.map(|(_, interval)| {
                        let seen = c.arp_seen_ms.load(Ordering::Relaxed);
                        seen != 0
                            && now_ms.saturating_sub(seen)
                                <= (interval * ARP_MISSED).as_millis() as u64
                    }),
                    lacp,
                    joins: st.joins[i],
                    leaves: st.leaves[i],
                    host_tx: st.host_tx[i],
                    host_rx: c.to_host.load(Ordering::Relaxed),
                    rx_discarded: c.discarded.load(Ordering::Relaxed),
                }
            })
            .collect();
        let status = BondStatus {
            name: self.spec.name.clone(),
            mode: self.spec.mode.name().into(),
            xmit_hash: match self.spec.xmit_hash {
                XmitHash::L2 => "l2",
                XmitHash::L23 => "l23",
                XmitHash::L34 => "l34",
            }
            .into(),
            mac: lacp::MacAddr(self.spec.mac).to_string(),
            ifindex: self.spec.ifindex,
            up: st.up,
            min_links: self.spec.min_links,
            active: st.active.map(|a| self.spec.members[a].name.clone()),
            failovers: st.failovers,
            lacp: st.lacp.as_ref().map(|l| LacpStatus {
                system_priority: self.spec.system_priority,
                system: lacp::MacAddr(self.spec.mac).to_string(),
                key: self.spec.key,
                rate: if self.spec.lacp_fast { "fast" } else { "slow" }.into(),
                active: self.spec.lacp_active,
                aggregator: l.selected_aggregator().map(|a| a.to_string()),
            }),
            members,
            host_tx_dropped: st.host_tx_dropped,
        };
        self.metrics.observe(&status);
        *self.shared.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }
}
