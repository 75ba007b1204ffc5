//! The established-flow offload on the controller's side: load the XDP program (`src/offload`)
//! with its table sized from the configuration, chain each interface's steering program
//! behind it, open its ports, and read its statistics for status and metrics. The program
//! stays loaded while attached; nothing of it outlives the daemon (its maps and program are
//! file descriptors, its attachments are in the ledger like the steering programs').
//!
//! Where the kernel refuses the program (an old kernel, a verifier that rejects it, no BPF at
//! all) the data plane runs without it: the fallback is logged, is an event, and shows in
//! `appctl dataplane` with the reason.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::kernel_view::Iface;
use super::worker_offload::{OffloadShared, WorkerOffload};
use crate::config::dataplane::{DataplaneConfig, Offload as Mode};
use xdp_offload::{LoadOptions, Offload, Stat};

/// The largest interface index the program's chain (`ol_next`, indexed by ifindex) holds.
pub const MAX_IFINDEX: u32 = 65_535;

pub struct OffloadRun {
    program: Offload,
    /// The program's descriptor, taken once at load (aya's accessor can fail; ours cannot).
    prog: OwnedFd,
    flows: Arc<OwnedFd>,
    alive: Arc<OwnedFd>,
    pub shared: Vec<Arc<OffloadShared>>,
    ifindex: Vec<u32>,
}

/// What `appctl dataplane` says of the offload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OffloadStatus {
    /// `xdp` (forwarding established flows), `off` (configured so) or `unavailable`.
    pub mode: String,
    /// Why the configured offload is not running.
    #[serde(default)]
    pub reason: Option<String>,
    pub table_size: u32,
    /// Rules in the table now, and over the data plane's life: installed, withdrawn, refused.
    pub rules: u64,
    pub installed: u64,
    pub withdrawn: u64,
    pub failed: u64,
    pub flushes: u64,
    /// What the program forwarded itself, and what it left to the workers, by reason.
    pub forwarded_packets: u64,
    pub forwarded_bytes: u64,
    pub to_worker: std::collections::BTreeMap<String, u64>,
}

impl OffloadRun {
    /// Loads the program for the data interfaces `ifaces` (the snapshot's), attached to
    /// `ports` (the same, with a bond's members in its place), when the configuration asks for
    /// it; `Err` says why it cannot run (the caller falls back to the workers alone).
    pub fn load(
        dp: &DataplaneConfig,
        ifaces: &[Iface],
        ports: &[Iface],
    ) -> Result<Option<OffloadRun>, String> {
        if dp.offload == Mode::Off {
            return Ok(None);
        }
        if let Some(i) = ports.iter().find(|i| i.index > MAX_IFINDEX) {
            return Err(format!(
                "interface {} has index {}, beyond the {MAX_IFINDEX} the program's chain holds",
                i.name, i.index
            ));
        }
        let mut program = Offload::load(LoadOptions {
            max_flows: dp.offload_entries(),
            max_ports: ports.len().max(1) as u32,
            kernel_btf: true,
        })
        .map_err(|e| format!("{e}"))?;
        for i in ports {
            program.add_port(i.index).map_err(|e| format!("{e}"))?;
        }
        let flows = Arc::new(program.flows_fd().map_err(|e| format!("{e}"))?);
        let alive = Arc::new(program.alive_fd().map_err(|e| format!("{e}"))?);
        let prog = program
            .prog_fd()
            .and_then(|fd| {
                fd.try_clone_to_owned()
                    .map_err(|source| xdp_offload::OffloadError::Sys { cmd: "dup", source })
            })
            .map_err(|e| format!("{e}"))?;
        // Until the workers run and renew it.
        super::worker_offload::renew(&*alive);
        Ok(Some(OffloadRun {
            program,
            prog,
            flows,
            alive,
            shared: (0..dp.workers)
                .map(|_| Arc::new(OffloadShared::default()))
                .collect(),
            ifindex: ifaces.iter().map(|i| i.index).collect(),
        }))
    }

    /// Puts `steering` behind the program for packets that arrive on `ifindex`.
    pub fn chain(&mut self, ifindex: u32, steering: BorrowedFd<'_>) -> Result<(), String> {
        self.program
            .set_next(ifindex, steering)
            .map_err(|e| format!("{e}"))
    }

    /// The program to attach to every data interface.
    pub fn prog_fd(&self) -> BorrowedFd<'_> {
        self.prog.as_fd()
    }

    /// Worker `id`'s end.
    pub fn worker(&self, id: usize) -> WorkerOffload {
        WorkerOffload::new(
            self.flows.clone(),
            self.alive.clone(),
            self.ifindex.clone(),
            self.shared[id].clone(),
        )
    }

    pub fn status(&self) -> OffloadStatus {
        let sum = |f: fn(&OffloadShared) -> &std::sync::atomic::AtomicU64| {
            self.shared
                .iter()
                .map(|s| f(s).load(Ordering::Relaxed))
                .sum::<u64>()
        };
        let stats = self.program.stats().unwrap_or_default();
        OffloadStatus {
            mode: "xdp".into(),
            reason: None,
            table_size: self.program.max_flows(),
            rules: sum(|s| &s.rules),
            installed: sum(|s| &s.installed),
            withdrawn: sum(|s| &s.withdrawn),
            failed: sum(|s| &s.failed),
            flushes: sum(|s| &s.flushes),
            forwarded_packets: stats[Stat::Forwarded as usize],
            forwarded_bytes: stats[Stat::ForwardedBytes as usize],
            to_worker: Stat::ALL
                .iter()
                .filter(|s| !matches!(s, Stat::Forwarded | Stat::ForwardedBytes))
                .map(|s| (s.name().to_string(), stats[*s as usize]))
                .collect(),
        }
    }
}

/// The status of an offload that is not running.
pub fn not_running(dp: &DataplaneConfig, reason: Option<String>) -> OffloadStatus {
    OffloadStatus {
        mode: if dp.offload == Mode::Off {
            "off"
        } else {
            "unavailable"
        }
        .into(),
        reason,
        ..OffloadStatus::default()
    }
}
