//! One virtual router: the sans-IO instance plus what it needs from the host (the device its
//! adverts leave from, its primary address, the virtual MAC) and the IO for its actions.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use ipnetwork::IpNetwork;
use serde_json::json;

use ::vrrp::{Action, Centiseconds, ChecksumMode, Event, FaultReason, Instance, TtlCheck};

use super::garp::{self, Announcer};
use super::metrics::{self, VrrpMetrics};
use super::notify::{Job, Notifier};
use super::socket::TxSocket;
use super::state::VrrpState;
use crate::config::vrrp::{ChecksumSetting, VrrpInstanceConfig};
use crate::events::{EventLog, VrrpEvent};
use crate::kernel::links::LinkTable;
use crate::kernel::netlink::Added;
use crate::kernel::{sysctl, KernelObject, Ledger, Netlink};

/// The RFC 9568 §7.3 virtual MAC: 00-00-5E-00-01-{VRID} (IPv4), 00-00-5E-00-02-{VRID} (IPv6).
pub fn virtual_mac(vrid: u8, v6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if v6 { 0x02 } else { 0x01 }, vrid]
}

pub struct Shared<'a> {
    pub netlink: &'a Netlink,
    pub ledger: &'a Ledger,
    pub events: &'a EventLog,
    pub metrics: &'a VrrpMetrics,
    pub notifier: &'a Notifier,
}

/// What an instance runs on once it could be started.
struct Attached {
    ifindex: u32,
    /// Where addresses go and adverts and announcements leave: the interface or the macvlan.
    device: String,
    device_index: u32,
    mac: [u8; 6],
    tx: TxSocket,
}

pub struct Router {
    pub cfg: VrrpInstanceConfig,
    pub sync_group: Option<String>,
    pub inst: Option<Instance>,
    attached: Option<Attached>,
    /// Why the instance is not running yet (no interface, no primary address...).
    pub not_started: Option<String>,
    /// The virtual addresses on the device, with the prefix each was added with (what
    /// removing it must name, even once the configuration no longer lists it).
    installed: BTreeMap<IpAddr, IpNetwork>,
    pub split_brain: Option<IpAddr>,
    /// The last fault and adjustment given to the instance, to call it only on change.
    fault: Option<FaultReason>,
    adjustment: i32,
    /// Sysctls set for the virtual MAC, restored when the instance stops.
    sysctls: Vec<String>,
    /// Session sync has not brought the peer's table yet: the instance does not preempt a
    /// lower-priority master (it still takes over from a dead one).
    preempt_held: bool,
}

impl Router {
    pub fn new(cfg: VrrpInstanceConfig, sync_group: Option<String>) -> Router {
        Router {
            cfg,
            sync_group,
            inst: None,
            attached: None,
            not_started: Some("not started yet".into()),
            installed: BTreeMap::new(),
            split_brain: None,
            fault: None,
            adjustment: 0,
            sysctls: Vec::new(),
            preempt_held: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn v6(&self) -> bool {
        self.cfg.is_ipv6()
    }

    pub fn state(&self) -> VrrpState {
        self.inst
            .as_ref()
            .map_or(VrrpState::Initialize, |i| i.state().into())
    }

    fn prefix_of(&self, ip: IpAddr) -> IpNetwork {
        self.cfg
            .virtual_addresses
            .iter()
            .find(|n| n.ip() == ip)
            .copied()
            .unwrap_or_else(|| IpNetwork::from(ip))
    }

    /// Tries to start: needs the interface, a primary address of the family (the advert's
    /// source) and, with a virtual MAC, the macvlan.
    pub async fn try_start(&mut self, now: Instant, links: &LinkTable, sh: &Shared<'_>) {
        if self.inst.is_some() {
            return;
        }
        match self.attach(links, sh).await {
            Ok((att, primary)) => {
                let c = self.core_config(primary);
                match Instance::new(c) {
                    Ok(mut inst) => {
                        if let Some(f) = &self.fault {
                            inst.set_fault(now, Some(f.clone()));
                        }
                        if self.adjustment != 0 {
                            inst.set_priority_adjustment(now, self.adjustment);
                        }
                        self.attached = Some(att);
                        for obj in self.vip_objects() {
                            if let Err(e) = sh.ledger.record(obj) {
                                tracing::error!("vrrp {}: ledger: {e}", self.cfg.name);
                            }
                        }
                        inst.handle_startup(now);
                        self.inst = Some(inst);
                        self.not_started = None;
                    }
                    Err(e) => self.not_started = Some(format!("invalid instance: {e}")),
                }
            }
            Err(why) => {
                if self.not_started.as_deref() != Some(why.as_str()) {
                    tracing::warn!("vrrp {}: cannot start yet: {why}", self.cfg.name);
                }
                self.not_started = Some(why);
            }
        }
    }

    /// The core's configuration of this instance, with adverts from `primary`.
    fn core_config(&self, primary: IpAddr) -> ::vrrp::Config {
        let mut c = ::vrrp::Config::new(
            self.cfg.vrid,
            primary,
            self.cfg.virtual_addresses.iter().map(|n| n.ip()).collect(),
        );
        c.priority = self.cfg.priority;
        c.advertisement_interval =
            Centiseconds((self.cfg.advert_interval.get().as_millis() / 10) as u16);
        c.preempt = self.cfg.preempt && !self.preempt_held;
        c.preempt_delay = self.cfg.preempt_delay.get();
        c.accept_mode = self.cfg.accept_mode;
        c.checksum_mode = match self.cfg.checksum {
            ChecksumSetting::PseudoHeader => ChecksumMode::PseudoHeaderV4,
            ChecksumSetting::Rfc9568 => ChecksumMode::Rfc9568,
        };
        c.accept_either_checksum = self.cfg.accept_either_checksum;
        c.unicast_peers = self.cfg.unicast_peers.clone();
        c.check_unicast_source = !self.cfg.unicast_peers.is_empty();
        if let Some(min) = self.cfg.unicast_min_ttl {
            c.ttl_check = TtlCheck::Range { min, max: 255 };
        }
        c.sync_group = self.sync_group.is_some();
        c
    }

    /// Holds or releases preemption (session sync's bulk resync); applied in place.
    pub fn set_preempt_held(&mut self, now: Instant, held: bool) {
        if held == self.preempt_held {
            return;
        }
        self.preempt_held = held;
        if let Some(inst) = &self.inst {
            let c = self.core_config(inst.config().primary_address);
            if let Some(inst) = &mut self.inst {
                if let Err(e) = inst.reconfigure(now, c) {
                    tracing::warn!("vrrp {}: preemption hold not applied: {e}", self.cfg.name);
                }
            }
        }
        if self.cfg.preempt {
            tracing::info!(
                "vrrp {}: preemption {}",
                self.cfg.name,
                if held {
                    "held until session sync has the peer's table"
                } else {
                    "allowed"
                }
            );
        }
    }

    /// Applies a new configuration of the same Virtual Router in place (the caller checked
    /// `reload_plan::restart_reasons`): the instance keeps its state, a master keeps its
    /// addresses and adds or removes only the ones that changed. Tracking, notify commands
    /// and announcement settings are read from `cfg` when used, so replacing it is enough.
    /// Returns false if the core refused (the caller restarts the instance then).
    pub async fn reconfigure(
        &mut self,
        now: Instant,
        cfg: VrrpInstanceConfig,
        sync_group: Option<String>,
        sh: &Shared<'_>,
    ) -> bool {
        let old = std::mem::replace(&mut self.cfg, cfg);
        let old_group = std::mem::replace(&mut self.sync_group, sync_group);
        let Some(inst) = &self.inst else {
            // Not started: it starts with the new configuration.
            return true;
        };
        let c = self.core_config(inst.config().primary_address);
        // Ledger first for the addresses that may appear, as at start.
        let added: Vec<KernelObject> = self
            .vip_objects()
            .into_iter()
            .filter(|o| matches!(o, KernelObject::Address { address, .. } if !old.virtual_addresses.contains(address)))
            .collect();
        for obj in &added {
            if let Err(e) = sh.ledger.record(obj.clone()) {
                tracing::error!("vrrp {}: ledger: {e}", self.cfg.name);
            }
        }
        if let Some(inst) = &mut self.inst {
            if let Err(e) = inst.reconfigure(now, c) {
                tracing::warn!(
                    "vrrp {}: cannot apply in place ({e}); restarting it",
                    self.cfg.name
                );
                self.cfg = old;
                self.sync_group = old_group;
                return false;
            }
        }
        // An address kept with another prefix length: replace it where it is installed.
        let reprefixed: Vec<IpNetwork> = self
            .cfg
            .virtual_addresses
            .iter()
            .filter(|n| self.installed.get(&n.ip()).is_some_and(|cur| cur != *n))
            .copied()
            .collect();
        for net in reprefixed {
            self.remove_vip(net.ip(), sh).await;
            self.add_vip(net.ip(), sh).await;
        }
        // Perform the additions and removals now, then forget what can no longer appear.
        self.drain(sh).await;
        let device = self.attached.as_ref().map(|a| a.device.clone());
        if let Some(device) = device {
            for net in &old.virtual_addresses {
                let kept = self.cfg.virtual_addresses.contains(net);
                if !kept && !self.installed.values().any(|n| n == net) {
                    let _ = sh.ledger.forget(&KernelObject::Address {
                        ifname: device.clone(),
                        address: *net,
                    });
                }
            }
        }
        true
    }

    async fn attach(
        &mut self,
        links: &LinkTable,
        sh: &Shared<'_>,
    ) -> Result<(Attached, IpAddr), String> {
        let link = links
            .get(&self.cfg.interface)
            .ok_or_else(|| format!("interface {} is absent", self.cfg.interface))?;
        let v6 = self.v6();
        let vips: Vec<IpAddr> = self.cfg.virtual_addresses.iter().map(|n| n.ip()).collect();
        let addrs = sh
            .netlink
            .addresses(link.index)
            .await
            .map_err(|e| e.to_string())?;
        // RFC 9568 §7.2: IPv4 adverts come from the interface's primary address, IPv6 ones
        // from its link-local address. A virtual address is never the primary.
        let primary = addrs
            .into_iter()
            .find(|a| {
                !vips.contains(a)
                    && match a {
                        IpAddr::V4(_) => !v6,
                        IpAddr::V6(x) => v6 && (x.segments()[0] & 0xffc0) == 0xfe80,
                    }
            })
            .ok_or_else(|| {
                format!(
                    "interface {} has no {} address to send adverts from",
                    self.cfg.interface,
                    if v6 { "link-local IPv6" } else { "IPv4" }
                )
            })?;
        let (device, device_index, mac) = if self.cfg.virtual_mac {
            let name = self.cfg.vmac_ifname();
            let mac = virtual_mac(self.cfg.vrid, v6);
            sh.ledger
                .record(KernelObject::Link { name: name.clone() })
                .map_err(|e| e.to_string())?;
            match sh.netlink.add_macvlan(&name, link.index, mac).await {
                Ok(Added::Created) | Ok(Added::AlreadyPresent) => {}
                Err(e) => return Err(e.to_string()),
            }
            // keepalived's settings for a VMAC: only the macvlan answers ARP for the virtual
            // addresses, with the virtual MAC; the parent does not answer for them. And
            // arp_announce=2: the parent's own ARP requests (replies to clients leave through
            // it) must not carry a virtual address with the parent's MAC, or they would
            // repoint the clients' cache entry for that address away from the virtual MAC.
            let base = &self.cfg.interface;
            for (k, v) in [
                (sysctl::ipv4_conf(base, "arp_ignore"), "1"),
                (sysctl::ipv4_conf(base, "arp_filter"), "1"),
                (sysctl::ipv4_conf(base, "arp_announce"), "2"),
                (sysctl::ipv4_conf(&name, "arp_ignore"), "1"),
                (sysctl::ipv4_conf(&name, "accept_local"), "1"),
                (sysctl::ipv4_conf(&name, "rp_filter"), "0"),
            ] {
                match sysctl::set(sh.ledger, &k, v) {
                    Ok(()) => self.sysctls.push(k),
                    Err(e) => tracing::warn!("sysctl {k}={v}: {e}"),
                }
            }
            let idx = sh
                .netlink
                .link_index(&name)
                .await
                .map_err(|e| e.to_string())?;
            (name, idx, mac)
        } else {
            (self.cfg.interface.clone(), link.index, link.mac)
        };
        let tx = TxSocket::open(&device, link.index, primary)
            .map_err(|e| format!("advert socket on {device}: {e}"))?;
        Ok((
            Attached {
                ifindex: link.index,
                device,
                device_index,
                mac,
                tx,
            },
            primary,
        ))
    }

    pub fn ifindex(&self) -> Option<u32> {
        self.attached.as_ref().map(|a| a.ifindex)
    }

    /// Hands the instance its tracking inputs; calls into it only when something changed.
    pub fn set_tracking(&mut self, now: Instant, fault: Option<FaultReason>, adjustment: i32) {
        if fault != self.fault {
            self.fault = fault.clone();
            if let Some(i) = &mut self.inst {
                i.set_fault(now, fault);
            }
        }
        if adjustment != self.adjustment {
            self.adjustment = adjustment;
            if let Some(i) = &mut self.inst {
                i.set_priority_adjustment(now, adjustment);
            }
        }
    }

    /// Performs every pending action, in order.
    pub async fn drain(&mut self, sh: &Shared<'_>) {
        loop {
            let Some(action) = self.inst.as_mut().and_then(|i| i.poll_action()) else {
                return;
            };
            self.perform(action, sh).await;
        }
    }

    async fn perform(&mut self, action: Action, sh: &Shared<'_>) {
        let name = self.cfg.name.clone();
        let Some(att) = &self.attached else { return };
        match action {
            Action::SendAdvertisement(t) => match att.tx.send(&t.payload, t.dst, att.ifindex) {
                Ok(_) => {
                    sh.metrics
                        .adverts_sent
                        .get_or_create(&metrics::instance(&name))
                        .inc();
                }
                Err(e) => {
                    sh.metrics
                        .send_errors
                        .get_or_create(&metrics::instance(&name))
                        .inc();
                    tracing::warn!("vrrp {name}: advert to {} failed: {e}", t.dst);
                }
            },
            Action::AddVirtualAddresses(ips) => {
                // No ledger write here: the addresses were recorded when the instance started
                // (a write is an fsync, milliseconds on the failover path).
                for ip in ips {
                    self.add_vip(ip, sh).await;
                }
            }
            Action::RemoveVirtualAddresses(ips) => {
                for ip in ips {
                    self.remove_vip(ip, sh).await;
                }
            }
            Action::SendGratuitous(ips) => {
                match Announcer::open(&att.device, att.device_index, att.mac, self.v6()) {
                    Ok(a) => {
                        // The first round goes now, synchronously: it is what moves traffic.
                        for ip in &ips {
                            if let Err(e) = a.announce(*ip) {
                                tracing::warn!("vrrp {name}: announcing {ip}: {e}");
                            }
                        }
                        let rest = self.cfg.garp_count.saturating_sub(1);
                        if rest > 0 {
                            let spacing = self.cfg.garp_interval.get();
                            tokio::spawn(async move {
                                tokio::time::sleep(spacing).await;
                                garp::burst(a, ips, rest, spacing).await;
                            });
                        }
                    }
                    Err(e) => tracing::warn!("vrrp {name}: announcement socket: {e}"),
                }
            }
            Action::Event(ev) => self.report(ev, sh),
        }
    }

    async fn add_vip(&mut self, ip: IpAddr, sh: &Shared<'_>) {
        let Some(att) = &self.attached else { return };
        let net = self.prefix_of(ip);
        match sh
            .netlink
            .add_address_at(att.device_index, &att.device, net, true)
            .await
        {
            Ok(_) => {
                self.installed.insert(ip, net);
            }
            Err(e) => tracing::error!("vrrp {}: {e}", self.cfg.name),
        }
    }

    async fn remove_vip(&mut self, ip: IpAddr, sh: &Shared<'_>) {
        let Some(att) = &self.attached else { return };
        let net = self
            .installed
            .get(&ip)
            .copied()
            .unwrap_or_else(|| self.prefix_of(ip));
        match sh.netlink.del_address(&att.device, net).await {
            Ok(_) => {
                self.installed.remove(&ip);
            }
            Err(e) => tracing::error!("vrrp {}: {e}", self.cfg.name),
        }
    }

    /// The ledger entries of every virtual address, written once when the instance starts:
    /// an address may appear at any failover, and then there is no time for an fsync.
    fn vip_objects(&self) -> Vec<KernelObject> {
        let device = match &self.attached {
            Some(a) => a.device.clone(),
            None => return Vec::new(),
        };
        self.cfg
            .virtual_addresses
            .iter()
            .map(|net| KernelObject::Address {
                ifname: device.clone(),
                address: *net,
            })
            .collect()
    }

    fn report(&mut self, ev: Event, sh: &Shared<'_>) {
        let name = self.cfg.name.clone();
        match ev {
            Event::StateChanged { from, to, reason } => {
                let (from, to) = (VrrpState::from(from), VrrpState::from(to));
                let prio = self
                    .inst
                    .as_ref()
                    .map(|i| i.effective_priority())
                    .unwrap_or(0);
                let reason = describe_reason(&reason);
                sh.events.emit(
                    VrrpEvent::StateChange,
                    &name,
                    format!("{from} -> {to} ({reason})"),
                    json!({ "from": from, "to": to, "reason": reason,
                            "priority": prio, "vrid": self.cfg.vrid }),
                );
                sh.metrics
                    .transitions
                    .get_or_create(&metrics::with(&name, "to", to.as_str()))
                    .inc();
                if let Some(argv) = &self.cfg.notify {
                    let mut argv = argv.clone();
                    argv.extend([name.clone(), to.to_string(), prio.to_string()]);
                    sh.notifier.enqueue(Job {
                        argv,
                        timeout: self.cfg.notify_timeout.get(),
                    });
                }
            }
            Event::MasterChanged { previous, current } => {
                sh.events.emit(
                    VrrpEvent::MasterChanged,
                    &name,
                    format!(
                        "master is now {}",
                        current
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "unknown".into())
                    ),
                    json!({ "previous": previous, "current": current }),
                );
            }
            Event::SplitBrainDetected {
                peer,
                peer_priority,
            } => {
                self.split_brain = Some(peer);
                sh.metrics
                    .split_brain
                    .get_or_create(&metrics::instance(&name))
                    .set(1);
                sh.events.emit(
                    VrrpEvent::SplitBrain,
                    &name,
                    format!("split brain: another master for VRID {} at {peer} (priority {peer_priority})", self.cfg.vrid),
                    json!({ "peer": peer, "peer_priority": peer_priority, "vrid": self.cfg.vrid }),
                );
            }
            Event::SplitBrainCleared { peer } => {
                self.split_brain = None;
                sh.metrics
                    .split_brain
                    .get_or_create(&metrics::instance(&name))
                    .set(0);
                sh.events.emit(
                    VrrpEvent::SplitBrainCleared,
                    &name,
                    format!("split brain over: {peer} no longer advertises as master"),
                    json!({ "peer": peer }),
                );
            }
            Event::AddressListMismatch { peer, advertised } => {
                sh.events.emit(
                    VrrpEvent::AddressListMismatch,
                    &name,
                    format!("{peer} advertises a different address list"),
                    json!({ "peer": peer, "advertised": advertised }),
                );
            }
            Event::PriorityChanged { from, to } => {
                sh.metrics
                    .effective_priority
                    .get_or_create(&metrics::instance(&name))
                    .set(i64::from(to));
                sh.events.emit(
                    VrrpEvent::PriorityChanged,
                    &name,
                    format!("effective priority {from} -> {to}"),
                    json!({ "from": from, "to": to }),
                );
            }
            Event::ReceiveError { src, error } => {
                // Counted per packet where it is received (`dispatch`); this is the log line.
                tracing::warn!("vrrp {name}: discarded advert from {src}: {error}");
            }
            Event::Version2Peer { src, .. } => {
                tracing::warn!(
                    "vrrp {name}: {src} speaks VRRPv2 on VRID {}; set vrrp_version 3 there",
                    self.cfg.vrid
                );
            }
        }
    }

    /// Resigns (priority 0 advert if master), removes the virtual addresses and the virtual
    /// MAC: the instance leaves nothing behind.
    pub async fn stop(&mut self, now: Instant, sh: &Shared<'_>) {
        if let Some(i) = &mut self.inst {
            i.handle_shutdown(now);
        }
        self.drain(sh).await;
        for ip in self.installed.keys().copied().collect::<Vec<_>>() {
            self.remove_vip(ip, sh).await;
        }
        if self.installed.is_empty() {
            for obj in self.vip_objects() {
                let _ = sh.ledger.forget(&obj);
            }
        }
        if self.cfg.virtual_mac {
            let name = self.cfg.vmac_ifname();
            match sh.netlink.del_link(&name).await {
                Ok(_) => {
                    let _ = sh.ledger.forget(&KernelObject::Link { name });
                }
                Err(e) => tracing::error!("vrrp {}: {e}", self.cfg.name),
            }
        }
        for path in std::mem::take(&mut self.sysctls) {
            if let Err(e) = sysctl::restore_recorded(sh.ledger, &path) {
                tracing::error!("vrrp {}: restoring {path}: {e}", self.cfg.name);
            }
        }
        self.inst = None;
        self.attached = None;
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.inst.as_ref().and_then(|i| i.poll_timeout())
    }
}

pub fn describe_reason(r: &::vrrp::TransitionReason) -> String {
    use ::vrrp::TransitionReason as R;
    match r {
        R::Startup => "startup".into(),
        R::Shutdown => "shutdown".into(),
        R::MasterDownTimer => "master down timer expired".into(),
        R::Preempted => "preempted a lower-priority master".into(),
        R::MasterResigned => "master resigned (priority 0)".into(),
        R::HigherPriorityAdvert { from, priority } => {
            format!("higher-priority advert from {from} (priority {priority})")
        }
        R::Fault(f) => format!("fault: {}", describe_fault(f)),
        R::FaultCleared => "fault cleared".into(),
        R::SyncGroup => "sync group".into(),
    }
}

pub fn describe_fault(f: &FaultReason) -> String {
    match f {
        FaultReason::InterfaceDown => "interface down".into(),
        FaultReason::NoPrimaryAddress => "no primary address".into(),
        FaultReason::Tracker(t) => format!("{t} failed"),
        FaultReason::Other(o) => o.clone(),
    }
}

/// The `reason` label of `vrrp_rx_errors`.
pub fn rx_reason(e: &::vrrp::RxError) -> &'static str {
    use ::vrrp::{DecodeError as D, RxError as E};
    match e {
        E::Ttl { .. } => "ttl",
        E::Decode(D::TooShort { .. } | D::LengthMismatch { .. } | D::V2OverIpv6) => "packet_length",
        E::Decode(D::Version { .. }) => "version",
        E::Decode(D::UnknownType { .. }) => "type",
        E::Checksum { .. } => "checksum",
        E::Vrid { .. } => "vrid",
        E::ZeroInterval => "interval",
        E::NoAddresses | E::AddressList => "address_list",
        E::Family(_) => "family",
        E::UnknownSource(_) => "unknown_source",
        E::InvalidSource(_) => "invalid_source",
        E::Destination(_) => "destination",
    }
}
