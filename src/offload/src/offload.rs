//! [`Offload`]: the loaded program and its four maps. The daemon attaches the program itself
//! (with its attachment ledger), so nothing here touches an interface.

use std::os::fd::{AsFd, BorrowedFd};

use aya::maps::{Array, DevMapHash, HashMap, MapData, MapError, PerCpuArray};
use aya::programs::Xdp;
use aya::{Btf, Ebpf, EbpfLoader};

use crate::abi::{Key, Stat, Value, STATS};
use crate::error::OffloadError;
use crate::sys::{self, TestRun};

/// The object build.rs compiled from bpf/offload.c.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/offload.o"));

const PROGRAM: &str = "offload";
const FLOWS: &str = "ol_flows";
const PORTS: &str = "ol_ports";
const NEXT: &str = "ol_next";
const STATS_MAP: &str = "ol_stats";
const ALIVE: &str = "ol_alive";

/// How to load the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Capacity of `ol_flows` (offloaded directions, one entry each).
    pub max_flows: u32,
    /// Capacity of `ol_ports` (egress interfaces).
    pub max_ports: u32,
    /// Give aya the kernel's BTF from /sys/kernel/btf/vmlinux when there is one. The program
    /// has no CO-RE relocations, so it loads the same without it; off exercises that path.
    pub kernel_btf: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_flows: 65536,
            max_ports: 64,
            kernel_btf: true,
        }
    }
}

/// The loaded offload program and its maps. Dropping it closes every descriptor; the kernel
/// frees the program once it is no longer attached either.
pub struct Offload {
    ebpf: Ebpf,
    flows: HashMap<MapData, Key, Value>,
    ports: DevMapHash<MapData>,
    next: MapData,
    stats: PerCpuArray<MapData, u64>,
    alive: Array<MapData, u64>,
    max_flows: u32,
}

impl Offload {
    /// Loads the program and creates its maps (the verifier runs here).
    pub fn load(options: LoadOptions) -> Result<Offload, OffloadError> {
        let btf = if options.kernel_btf {
            Btf::from_sys_fs().ok()
        } else {
            None
        };
        let mut ebpf = EbpfLoader::new()
            .btf(btf.as_ref())
            .set_max_entries(FLOWS, options.max_flows)
            .set_max_entries(PORTS, options.max_ports)
            .load(OBJECT)
            .map_err(|e| OffloadError::Load(Box::new(e)))?;

        let program: &mut Xdp = ebpf
            .program_mut(PROGRAM)
            .ok_or(OffloadError::Missing {
                what: "program",
                name: PROGRAM,
            })?
            .try_into()
            .map_err(|e| OffloadError::Program(Box::new(e)))?;
        program
            .load()
            .map_err(|e| OffloadError::Program(Box::new(e)))?;

        let mut take = |name: &'static str| {
            ebpf.take_map(name)
                .ok_or(OffloadError::Missing { what: "map", name })
        };
        let flows = HashMap::try_from(take(FLOWS)?).map_err(OffloadError::map(FLOWS))?;
        let ports = DevMapHash::try_from(take(PORTS)?).map_err(OffloadError::map(PORTS))?;
        let next = match take(NEXT)? {
            aya::maps::Map::ProgramArray(m) => m,
            _ => {
                return Err(OffloadError::Missing {
                    what: "program array",
                    name: NEXT,
                })
            }
        };
        let stats =
            PerCpuArray::try_from(take(STATS_MAP)?).map_err(OffloadError::map(STATS_MAP))?;
        let alive = Array::try_from(take(ALIVE)?).map_err(OffloadError::map(ALIVE))?;
        Ok(Offload {
            ebpf,
            flows,
            ports,
            next,
            stats,
            alive,
            max_flows: options.max_flows,
        })
    }

    /// The program, for the daemon to attach.
    pub fn prog_fd(&self) -> Result<BorrowedFd<'_>, OffloadError> {
        let program: &Xdp = self
            .ebpf
            .program(PROGRAM)
            .ok_or(OffloadError::Missing {
                what: "program",
                name: PROGRAM,
            })?
            .try_into()
            .map_err(|e| OffloadError::Program(Box::new(e)))?;
        let fd = program
            .fd()
            .map_err(|e| OffloadError::Program(Box::new(e)))?;
        Ok(fd.as_fd())
    }

    /// Capacity of `ol_flows` as loaded.
    pub fn max_flows(&self) -> u32 {
        self.max_flows
    }

    /// Installs the program every packet that arrives on `ifindex` and is not forwarded here
    /// goes to (that interface's steering program). Until then, and after
    /// [`Offload::clear_next`], such packets go to the kernel. It must be an XDP program loaded
    /// with `expected_attach_type` BPF_XDP (37), as aya loads this one: recent kernels refuse a
    /// tail-call target whose expected attach type differs from the program array owner's
    /// (EINVAL).
    pub fn set_next(&mut self, ifindex: u32, prog: BorrowedFd<'_>) -> Result<(), OffloadError> {
        sys::prog_array_set(self.next.fd().as_fd(), ifindex, prog)
    }

    pub fn clear_next(&mut self, ifindex: u32) -> Result<(), OffloadError> {
        sys::prog_array_clear(self.next.fd().as_fd(), ifindex)
    }

    /// A descriptor of `ol_flows` of its own, for the workers, which write their rules from
    /// their threads with plain bpf(2) calls.
    pub fn flows_fd(&self) -> Result<std::os::fd::OwnedFd, OffloadError> {
        use aya::maps::IterableMap;
        self.flows
            .map()
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| OffloadError::Sys { cmd: "dup", source })
    }

    /// Lets the program follow its rules until `deadline_ns` (CLOCK_MONOTONIC, as
    /// `bpf_ktime_get_ns`); past it every packet goes to the steering program. The daemon
    /// renews it while it runs, so that a killed daemon's program stops following rules nobody
    /// keeps any more.
    pub fn set_alive_until(&mut self, deadline_ns: u64) -> Result<(), OffloadError> {
        self.alive
            .set(0, deadline_ns, 0)
            .map_err(OffloadError::map(ALIVE))
    }

    /// A descriptor of `ol_alive` of its own, for the workers that renew it.
    pub fn alive_fd(&self) -> Result<std::os::fd::OwnedFd, OffloadError> {
        use aya::maps::IterableMap;
        self.alive
            .map()
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| OffloadError::Sys { cmd: "dup", source })
    }

    /// Allows flows to leave through `ifindex` (a redirect target).
    pub fn add_port(&mut self, ifindex: u32) -> Result<(), OffloadError> {
        self.ports
            .insert(ifindex, ifindex, None, 0)
            .map_err(|e| OffloadError::Port(Box::new(e)))
    }

    /// Removes a port; entries through it go to the worker from then on. A port that is not
    /// there is not an error.
    pub fn remove_port(&mut self, ifindex: u32) -> Result<(), OffloadError> {
        not_found_is_ok(self.ports.remove(ifindex)).map_err(OffloadError::map(PORTS))
    }

    /// Installs or replaces an entry (the replacement restarts its counters from the value's).
    pub fn insert(&mut self, key: &Key, value: &Value) -> Result<(), OffloadError> {
        self.flows
            .insert(key, value, 0)
            .map_err(OffloadError::map(FLOWS))
    }

    /// Removes an entry; one that is not there is not an error.
    pub fn remove(&mut self, key: &Key) -> Result<(), OffloadError> {
        not_found_is_ok(self.flows.remove(key)).map_err(OffloadError::map(FLOWS))
    }

    /// The entry for `key` as the program left it (counters and last-seen included).
    pub fn lookup(&self, key: &Key) -> Result<Option<Value>, OffloadError> {
        match self.flows.get(key, 0) {
            Ok(v) => Ok(Some(v)),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(OffloadError::map(FLOWS)(e)),
        }
    }

    /// Every entry, one lookup each (aya 0.13 has no batched lookup); for sweeps over the
    /// whole table, e.g. expiry, at a pace the daemon chooses.
    pub fn entries(&self) -> impl Iterator<Item = Result<(Key, Value), OffloadError>> + '_ {
        self.flows
            .iter()
            .map(|r| r.map_err(OffloadError::map(FLOWS)))
    }

    /// `ol_stats`, summed over CPUs, indexed by [`Stat`].
    pub fn stats(&self) -> Result<[u64; STATS], OffloadError> {
        let mut sums = [0u64; STATS];
        for stat in Stat::ALL {
            let per_cpu = self
                .stats
                .get(&(stat as u32), 0)
                .map_err(OffloadError::map(STATS_MAP))?;
            sums[stat as usize] = per_cpu.iter().fold(0u64, |a, v| a.wrapping_add(*v));
        }
        Ok(sums)
    }

    /// Runs the program once on `frame` as received on `ingress_ifindex` (`BPF_PROG_TEST_RUN`;
    /// the ifindex must exist in the caller's network namespace, lo's 1 always does).
    pub fn test_run(&self, frame: &[u8], ingress_ifindex: u32) -> Result<TestRun, OffloadError> {
        self.test_run_repeat(frame, ingress_ifindex, 1)
    }

    /// As [`Offload::test_run`], `repeat` times on the same buffer: the kernel does not
    /// restore the frame between runs, so past the first run the program sees its own
    /// output (a rewritten frame misses). `duration_ns` is the mean per run.
    pub fn test_run_repeat(
        &self,
        frame: &[u8],
        ingress_ifindex: u32,
        repeat: u32,
    ) -> Result<TestRun, OffloadError> {
        // The kernel takes an XDP test frame of at least an Ethernet header and at most a
        // page less its head- and tailroom.
        const MAX: usize = 4096 - 256 - 320;
        if frame.len() < 14 || frame.len() > MAX {
            return Err(OffloadError::FrameSize {
                len: frame.len(),
                max: MAX,
            });
        }
        sys::test_run(self.prog_fd()?, frame, ingress_ifindex, repeat)
    }
}

fn not_found_is_ok(r: Result<(), MapError>) -> Result<(), MapError> {
    match r {
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(MapError::KeyNotFound) => Ok(()),
        r => r,
    }
}
