//! Session sync between HA nodes (`[sync]`), the shell around the sans-IO `session-sync`
//! crate: one thread with one UDP socket and one endpoint per peer. The workers hand it their
//! flow changes through a ring each (flows created, changing class, refreshed, removed); it
//! sends them to every peer, reliably and in order. What a peer sends is routed to the worker
//! that owns each flow here, by the same ownership rule as a packet of the flow would be, into
//! a ring the worker drains between batches; while a worker's ring is nearly full the thread
//! leaves the peer's datagrams unread in the socket, so the peer's window waits for the
//! workers (a record dropped instead would cost a whole new bulk from the peer). A bulk
//! resynchronisation reads the workers' tables page by page when a peer appears or restarts,
//! or after records were lost.
//!
//! While a node that just started has not received its peer's table, VRRP does not preempt
//! (`preempt_hold`): a returning master takes over only with the flows it must carry on.
//!
//! Ownership must agree between the nodes: the seed of the ownership hash is derived from the
//! sync key (secret to everyone else), and the worker count, SNAT pools and a digest of the
//! services are checked in every hello; a mismatch stops the exchange and says so.

pub mod bulk;
pub mod convert;
pub mod metrics;
mod run;
pub mod status;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::config::sync::SyncConfig;
use crate::config::Config;
use crate::dataplaned::spsc::{Consumer, Producer};
use crate::dataplaned::worker::{Waker, WorkerShared};
use crate::dataplaned::worker_sync::{Inbound, SyncShared};
use crate::events::EventLog;
use dataplane::conntrack::Change;
use dataplane::snapshot::Subscriber;
pub use status::{SyncHandle, SyncStatus};

/// Capacity of each worker's rings to and from the sync thread.
pub const RING: usize = 1 << 16;
/// Capacity of each worker's change log between two turns (a millisecond).
pub const CHANGE_LOG: usize = 8192;

/// The sync thread's end of one worker.
pub struct SyncWorker {
    pub changes: Consumer<Change>,
    pub inbound: Producer<Inbound>,
    pub shared: Arc<SyncShared>,
}

/// What the data plane gives the sync thread.
pub struct SyncLink {
    pub workers: Vec<SyncWorker>,
    pub worker_stats: Vec<Arc<WorkerShared>>,
    pub wakers: Arc<Vec<Waker>>,
    pub snapshots: Subscriber,
}

/// The seed of the hash that assigns flows to workers: from the sync key, so that every node
/// of the group agrees and nobody without the key can aim flows at one worker.
pub fn ownership_seed(key: &[u8]) -> u64 {
    let d = Sha256::new()
        .chain_update(b"appliance ownership seed\0")
        .chain_update(key)
        .finalize();
    u64::from_be_bytes(d[..8].try_into().expect("8 of 32 bytes"))
}

/// What the peers must agree on besides the worker count and pools: a one-way digest of the
/// ownership seed, the cluster seed and the services and tunnels in their order (their
/// indices are the zones and service numbers flows refer to).
pub fn settings(cfg: &Config, ownership_seed: u64) -> session_sync::Settings {
    let dp = cfg.dataplane.as_ref();
    let mut h = Sha256::new()
        .chain_update(b"appliance sync settings\0")
        .chain_update(ownership_seed.to_be_bytes())
        .chain_update(dp.map_or(0, |d| d.cluster_seed).to_be_bytes());
    for s in &cfg.service {
        h.update(
            format!(
                "svc {} {}:{}/{:?} {:?} {:?}\n",
                s.name, s.vip, s.port, s.protocol, s.mode, s.pool
            )
            .as_bytes(),
        );
    }
    for t in &cfg.gre.tunnel {
        h.update(format!("gre {} {} {:?}\n", t.name, t.remote, t.key).as_bytes());
    }
    let d = h.finalize();
    session_sync::Settings {
        workers: dp.map_or(1, |d| d.workers),
        pools: cfg
            .snat
            .pool
            .iter()
            // Session sync carries IPv4 flows only: IPv6 pools have no ranges to agree on.
            .flat_map(|p| {
                p.v4().map(|a| session_sync::PoolRange {
                    addr: a,
                    port_lo: p.ports.lo,
                    port_hi: p.ports.hi,
                })
            })
            .collect(),
        config_digest: u64::from_be_bytes(d[..8].try_into().expect("8 of 32 bytes")),
    }
}

/// The first IPv4 address of `ifname`.
fn interface_address(ifname: &str) -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        (a.interface_name == ifname)
            .then(|| a.address?.as_sockaddr_in().map(|s| s.ip()))
            .flatten()
    })
}

/// A running sync thread.
pub struct SyncThread {
    stop: Arc<AtomicBool>,
    join: Option<std::thread::JoinHandle<SyncLink>>,
    handle: SyncHandle,
}

impl SyncThread {
    /// Binds the socket and starts the thread. `hold` is true while VRRP must not preempt; the
    /// thread sets it false once a peer's table is in, or after `preempt_hold`.
    pub fn start(
        sc: &SyncConfig,
        settings: session_sync::Settings,
        link: SyncLink,
        handle: SyncHandle,
        events: EventLog,
        hold: Arc<watch::Sender<bool>>,
        metrics: metrics::SyncMetrics,
    ) -> anyhow::Result<SyncThread> {
        let key = sc.key_bytes().map_err(anyhow::Error::msg)?;
        let local = match sc.local {
            Some(a) => a,
            None => interface_address(&sc.interface).ok_or_else(|| {
                anyhow::anyhow!(
                    "sync: interface {} has no IPv4 address (set sync.local)",
                    sc.interface
                )
            })?,
        };
        let socket = run::bind(&sc.interface, SocketAddrV4::new(local, sc.port))?;
        let node_id = u64::from(u32::from(local)) << 16 | u64::from(sc.port);
        let mut cfg = session_sync::Config::new(node_id, key, settings);
        // Room for a second of a busy node's changes; the bulk keeps its own pace.
        cfg.queue_capacity = 1 << 18;
        cfg.bulk_backlog = 16_384;
        cfg.bulk_page = 1024;
        cfg.window = 64;
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("sync settings: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let state = run::State::new(
            cfg,
            socket,
            sc.peers
                .iter()
                .map(|a| SocketAddrV4::new(*a, sc.port))
                .collect(),
            link,
            handle.clone(),
            events,
            hold,
            sc.preempt_hold.get(),
            metrics,
        )?;
        let s = stop.clone();
        let join = std::thread::Builder::new()
            .name("sync".into())
            .spawn(move || state.run(&s))?;
        Ok(SyncThread {
            stop,
            join: Some(join),
            handle,
        })
    }

    /// Stops the thread and waits for it (a few milliseconds: it polls with a short timeout);
    /// returns the data plane's ends, for a restart with new settings.
    pub fn stop(mut self) -> Option<SyncLink> {
        self.stop.store(true, Ordering::Relaxed);
        let link = self.join.take().and_then(|j| j.join().ok());
        self.handle.publish(None);
        link
    }
}

impl Drop for SyncThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How long the thread sleeps at most when nothing is due.
pub const IDLE_POLL: Duration = Duration::from_millis(2);
