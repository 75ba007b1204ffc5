//! The bpf(2) commands the steering program needs, over libc: create a map, update, delete and
//! look up elements, and load an XDP program. File descriptors are `OwnedFd`s, so maps and
//! programs are released when their owner drops them (an attached program stays alive through
//! its attachment until it is detached).

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::asm::Insn;
use xdp_offload::attr::Attr;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;

pub const MAP_TYPE_HASH: u32 = 1;
/// Longest-prefix match; the kernel requires `BPF_F_NO_PREALLOC` for it.
pub const MAP_TYPE_LPM_TRIE: u32 = 11;
pub const BPF_F_NO_PREALLOC: u32 = 1;
pub const MAP_TYPE_XSKMAP: u32 = 17;
const PROG_TYPE_XDP: u32 = 6;
/// `BPF_XDP` of `enum bpf_attach_type`.
const ATTACH_TYPE_XDP: u32 = 37;

#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("bpf({cmd}): {source}")]
    Sys {
        cmd: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the kernel rejected the program: {source}\n{log}")]
    Verifier {
        #[source]
        source: std::io::Error,
        log: String,
    },
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> std::io::Result<libc::c_long> {
    xdp_offload::attr::bpf(cmd, attr)
}

fn owned(r: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r as RawFd) }
}

/// Creates a map (no BTF: key and value are plain byte strings of fixed size).
pub fn create_map(
    kind: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    name: &str,
) -> Result<OwnedFd, BpfError> {
    create_map_with_flags(kind, key_size, value_size, max_entries, 0, name)
}

pub fn create_map_with_flags(
    kind: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    name: &str,
) -> Result<OwnedFd, BpfError> {
    let mut a = Attr::new();
    // struct { map_type, key_size, value_size, max_entries, map_flags, inner_map_fd,
    //          numa_node, map_name[16] ... }
    a.put_u32(0, kind)
        .put_u32(4, key_size)
        .put_u32(8, value_size)
        .put_u32(12, max_entries)
        .put_u32(16, flags)
        .put_name(28, name);
    bpf(BPF_MAP_CREATE, &mut a)
        .map(owned)
        .map_err(|source| BpfError::Sys {
            cmd: "BPF_MAP_CREATE",
            source,
        })
}

/// struct { map_fd; pad; key; value; flags }
fn elem_attr(map: &impl AsRawFd, key: &[u8], value: Option<*const u8>) -> Attr {
    let mut a = Attr::new();
    a.put_u32(0, map.as_raw_fd() as u32)
        .put_u64(8, key.as_ptr() as u64);
    if let Some(v) = value {
        a.put_u64(16, v as u64);
    }
    a
}

pub fn update_elem(map: &impl AsRawFd, key: &[u8], value: &[u8]) -> Result<(), BpfError> {
    let mut a = elem_attr(map, key, Some(value.as_ptr()));
    bpf(BPF_MAP_UPDATE_ELEM, &mut a)
        .map(|_| ())
        .map_err(|source| BpfError::Sys {
            cmd: "BPF_MAP_UPDATE_ELEM",
            source,
        })
}

/// Deletes a key; a missing key is not an error (the goal, "not there", holds).
pub fn delete_elem(map: &impl AsRawFd, key: &[u8]) -> Result<(), BpfError> {
    let mut a = elem_attr(map, key, None);
    match bpf(BPF_MAP_DELETE_ELEM, &mut a) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(source) => Err(BpfError::Sys {
            cmd: "BPF_MAP_DELETE_ELEM",
            source,
        }),
    }
}

/// Whether `key` is in the map (its value is copied into `value`).
pub fn lookup_elem(map: &impl AsRawFd, key: &[u8], value: &mut [u8]) -> Result<bool, BpfError> {
    let mut a = elem_attr(map, key, Some(value.as_mut_ptr()));
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut a) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(source) => Err(BpfError::Sys {
            cmd: "BPF_MAP_LOOKUP_ELEM",
            source,
        }),
    }
}

/// Loads an XDP program; on rejection the verifier's log is in the error. The first attempt
/// runs without a log (a log that does not fit would itself fail the load); only a rejected
/// program is loaded again to collect the verifier's explanation.
pub fn load_xdp(insns: &[Insn], name: &str, license: &CStr) -> Result<OwnedFd, BpfError> {
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut a = Attr::new();
        // struct { prog_type, insn_cnt, insns, license, log_level, log_size, log_buf,
        //          kern_version, prog_flags, prog_name[16] ... }
        // expected_attach_type BPF_XDP, as libbpf and aya load XDP programs: the kernel lets
        // one program tail-call another only when they agree on it (the offload program
        // chains to this one).
        a.put_u32(0, PROG_TYPE_XDP)
            .put_u32(4, insns.len() as u32)
            .put_u64(8, insns.as_ptr() as u64)
            .put_u64(16, license.as_ptr() as u64)
            .put_name(48, name)
            .put_u32(68, ATTACH_TYPE_XDP);
        if let Some(log) = log {
            a.put_u32(24, 1)
                .put_u32(28, log.len() as u32)
                .put_u64(32, log.as_mut_ptr() as u64);
        }
        bpf(BPF_PROG_LOAD, &mut a).map(owned)
    };
    attempt(None).or_else(|_| {
        let mut log = vec![0u8; 256 * 1024];
        attempt(Some(&mut log)).map_err(|source| {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            BpfError::Verifier {
                source,
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            }
        })
    })
}

/// Runs a loaded program on `data` (`BPF_PROG_TEST_RUN`); returns its return value and the
/// kernel's mean duration per run in nanoseconds.
pub fn test_run(prog: &impl AsRawFd, data: &[u8], repeat: u32) -> Result<(u32, u32), BpfError> {
    // The kernel may write the (possibly modified) frame back; give it room.
    let mut out = vec![0u8; data.len() + 256];
    let mut a = Attr::new();
    // struct { prog_fd, retval, data_size_in, data_size_out, data_in, data_out, repeat,
    //          duration, ... }
    a.put_u32(0, prog.as_raw_fd() as u32)
        .put_u32(8, data.len() as u32)
        .put_u32(12, out.len() as u32)
        .put_u64(16, data.as_ptr() as u64)
        .put_u64(24, out.as_mut_ptr() as u64)
        .put_u32(32, repeat.max(1));
    bpf(BPF_PROG_TEST_RUN, &mut a).map_err(|source| BpfError::Sys {
        cmd: "BPF_PROG_TEST_RUN",
        source,
    })?;
    Ok((a.u32_at(4), a.u32_at(36)))
}
