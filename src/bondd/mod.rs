//! Bonds: NICs aggregated by the data plane itself (the kernel here has no bonding module, and
//! a fast path that owns its NICs could not use one anyway). Per bond:
//!
//! * a tap device of the bond's name and MAC, which is what the kernel sees: addresses, VRRP,
//!   BGP and every other host protocol use it as a NIC;
//! * a thread (`run.rs`) that runs LACP on a timer, decides which members carry traffic, sends
//!   the kernel's frames from the tap by a member, and announces a new active member;
//! * the members' XDP programs send everything but Slow Protocols frames to the workers, which
//!   forward what the fast path owns and write the rest to the tap (`shared.rs`).
//!
//! Bonds start before every other subsystem (the tap must exist before an address or a VRRP
//! instance lands on it) and stop after all of them (BGP's last messages leave through it).

pub mod member;
pub mod metrics;
pub mod run;
pub mod shared;
pub mod spec;
pub mod status;
pub mod tap;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::bond::BondConfig;
use crate::config::Config;
use crate::dataplaned::worker::Waker;
use crate::events::EventLog;
use crate::kernel::links::LinkTable;
use crate::kernel::netlink::Netlink;
use crate::metrics::Metrics;
use run::{BondThread, Control};
use shared::BondShared;
use spec::{BondSpec, MemberSpec};
use status::BondStatus;

struct Running {
    /// The configuration the bond started with (what a reload can change in place is judged
    /// against it, as the reload plan judges it).
    config: BondConfig,
    spec: BondSpec,
    shared: Arc<BondShared>,
    control: Sender<Control>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The running bonds, shared by the daemon's subsystems.
#[derive(Clone, Default)]
pub struct Bonds {
    inner: Arc<Mutex<BTreeMap<String, Running>>>,
}

/// What the data plane needs of a bond.
#[derive(Clone)]
pub struct BondPorts {
    pub shared: Arc<BondShared>,
    pub members: Vec<MemberSpec>,
}

impl Bonds {
    pub fn get(&self, name: &str) -> Option<BondPorts> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.get(name).map(|r| BondPorts {
            shared: r.shared.clone(),
            members: r.spec.members.clone(),
        })
    }

    pub fn status(&self) -> Vec<BondStatus> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .values()
            .map(|r| {
                r.shared
                    .status
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            })
            .collect()
    }

    /// Applies what changes in place; a bond whose members, mode or MAC changed keeps running
    /// as it was until the daemon restarts (the reload plan says so).
    fn reconfigure(&self, cfg: &Config) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for c in &cfg.bond {
            let Some(r) = inner.get(&c.name) else {
                continue;
            };
            if !r.config.same_at_start(c) {
                continue;
            }
            let next = r.spec.reconfigured(c);
            let _ = r.control.send(Control::Reconfigure(Box::new(next)));
            r.waker.wake();
        }
    }

    fn stop_all(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for r in inner.values_mut() {
            r.stop.store(true, Ordering::Relaxed);
            r.waker.wake();
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
        }
        inner.clear();
    }
}

/// Creates every bond of `cfg` and starts its thread; the bonds run until `stop`. A bond that
/// cannot be created fails the start (a host whose bond is missing has lost its network).
pub async fn start(
    cfg: &Config,
    netlink: &Netlink,
    links: watch::Receiver<LinkTable>,
    config: watch::Receiver<Arc<Config>>,
    (events, metrics): (&EventLog, &Metrics),
    stop: CancellationToken,
) -> anyhow::Result<Bonds> {
    let bonds = Bonds::default();
    if cfg.bond.is_empty() {
        return Ok(bonds);
    }
    let bond_metrics = metrics::BondMetrics::register(metrics);
    for c in &cfg.bond {
        let table = links.borrow().clone();
        let mut members = Vec::new();
        for m in &c.members {
            let l = table
                .get(m)
                .with_context(|| format!("bond {}: member {m} does not exist", c.name))?;
            members.push(MemberSpec {
                name: m.clone(),
                ifindex: l.index,
                mac: l.mac,
            });
        }
        let mac = c.mac.as_ref().map_or(members[0].mac, |m| m.0);
        let mtu = c
            .members
            .iter()
            .filter_map(|m| table.get(m).map(|l| l.mtu))
            .min()
            .unwrap_or(1500);
        let fd = tap::open(&c.name)
            .with_context(|| format!("bond {}: creating its tap device", c.name))?;
        let ifindex = netlink
            .configure_tap(&c.name, mac, mtu)
            .await
            .with_context(|| format!("bond {}: configuring its tap device", c.name))?;
        for m in &members {
            netlink
                .set_up(m.ifindex)
                .await
                .with_context(|| format!("bond {}: bringing member {} up", c.name, m.name))?;
        }
        let mut sockets = Vec::new();
        for m in &members {
            sockets.push(
                member::MemberSocket::open(m.ifindex).with_context(|| {
                    format!("bond {}: packet socket on member {}", c.name, m.name)
                })?,
            );
        }
        let spec = BondSpec::new(c, ifindex, mac, members.clone());
        let shared = Arc::new(BondShared::new(
            c.name.clone(),
            c.members.clone(),
            fd,
            spec::xmit_hash(c),
        ));
        let (tx, rx) = std::sync::mpsc::channel();
        let waker = Arc::new(Waker::new()?);
        let stop_flag = Arc::new(AtomicBool::new(false));
        let carrier = members
            .iter()
            .map(|m| table.get(&m.name).is_some_and(|l| l.usable))
            .collect();
        let thread = BondThread {
            spec: spec.clone(),
            shared: shared.clone(),
            members: sockets,
            control: rx,
            waker: waker.clone(),
            stop: stop_flag.clone(),
            events: events.clone(),
            metrics: bond_metrics.clone(),
            carrier,
        }
        .spawn()?;
        tokio::spawn(carrier_watch(
            members.iter().map(|m| m.name.clone()).collect(),
            links.clone(),
            tx.clone(),
            waker.clone(),
            stop.clone(),
        ));
        bonds
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                c.name.clone(),
                Running {
                    config: c.clone(),
                    spec,
                    shared,
                    control: tx,
                    waker,
                    stop: stop_flag,
                    thread: Some(thread),
                },
            );
    }
    let b = bonds.clone();
    tokio::spawn(async move {
        let mut config = config;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                r = config.changed() => {
                    if r.is_err() {
                        break;
                    }
                    let cfg = config.borrow_and_update().clone();
                    b.reconfigure(&cfg);
                }
            }
        }
        let b2 = b.clone();
        let _ = tokio::task::spawn_blocking(move || b2.stop_all()).await;
    });
    Ok(bonds)
}

/// Forwards the members' carrier changes from the link monitor to the bond thread.
async fn carrier_watch(
    members: Vec<String>,
    mut links: watch::Receiver<LinkTable>,
    tx: Sender<Control>,
    waker: Arc<Waker>,
    stop: CancellationToken,
) {
    let mut last: Vec<Option<bool>> = vec![None; members.len()];
    loop {
        {
            let table = links.borrow_and_update();
            for (i, m) in members.iter().enumerate() {
                let up = table.get(m).is_some_and(|l| l.usable);
                if last[i] != Some(up) {
                    last[i] = Some(up);
                    if tx.send(Control::Carrier(i, up)).is_err() {
                        return;
                    }
                    waker.wake();
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            r = links.changed() => if r.is_err() { return },
        }
    }
}
