//! The two bpf(2) commands aya does not wrap for us: putting a program loaded elsewhere (the
//! steering program, loaded by the daemon's own loader) into a program array by its raw file
//! descriptor, and `BPF_PROG_TEST_RUN`.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::attr::Attr;
use crate::error::OffloadError;

const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_PROG_TEST_RUN: libc::c_long = 10;

fn bpf(cmd: libc::c_long, name: &'static str, attr: &mut Attr) -> Result<(), OffloadError> {
    crate::attr::bpf(cmd, attr)
        .map(|_| ())
        .map_err(|source| OffloadError::Sys { cmd: name, source })
}

/// Stores `prog` in slot `index` of a program array.
pub(crate) fn prog_array_set(
    map: BorrowedFd<'_>,
    index: u32,
    prog: BorrowedFd<'_>,
) -> Result<(), OffloadError> {
    let key = index.to_ne_bytes();
    let value = (prog.as_raw_fd() as u32).to_ne_bytes();
    let mut a = Attr::new();
    // struct { map_fd; pad; key; value; flags }
    a.put_u32(0, map.as_raw_fd() as u32)
        .put_u64(8, key.as_ptr() as u64)
        .put_u64(16, value.as_ptr() as u64);
    bpf(BPF_MAP_UPDATE_ELEM, "BPF_MAP_UPDATE_ELEM", &mut a)
}

/// Empties slot `index` of a program array; an empty slot is not an error.
pub(crate) fn prog_array_clear(map: BorrowedFd<'_>, index: u32) -> Result<(), OffloadError> {
    let key = index.to_ne_bytes();
    let mut a = Attr::new();
    a.put_u32(0, map.as_raw_fd() as u32)
        .put_u64(8, key.as_ptr() as u64);
    match bpf(BPF_MAP_DELETE_ELEM, "BPF_MAP_DELETE_ELEM", &mut a) {
        Err(OffloadError::Sys { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {
            Ok(())
        }
        r => r,
    }
}

/// Room the output buffer has beyond the input: an encapsulation adds at most 28 bytes.
pub(crate) const TEST_RUN_GROWTH: usize = 64;

/// The outcome of `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (an XDP action).
    pub retval: u32,
    /// The frame as the program left it (from `data` to `data_end`).
    pub frame: Vec<u8>,
    /// The kernel's mean time per run, in nanoseconds.
    pub duration_ns: u32,
}

/// Runs `prog` on `frame` as if it had arrived on `ingress_ifindex` (queue 0), `repeat`
/// times on the same buffer (the kernel does not restore the frame between runs).
pub(crate) fn test_run(
    prog: BorrowedFd<'_>,
    frame: &[u8],
    ingress_ifindex: u32,
    repeat: u32,
) -> Result<TestRun, OffloadError> {
    let mut out = vec![0u8; frame.len() + TEST_RUN_GROWTH];
    // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index,
    // egress_ifindex }: the kernel wants data 0, data_end the input's length, no metadata.
    let mut ctx = [0u32; 6];
    ctx[1] = frame.len() as u32;
    ctx[3] = ingress_ifindex;
    let mut a = Attr::new();
    // struct { prog_fd, retval, data_size_in, data_size_out, data_in, data_out, repeat,
    //          duration, ctx_size_in, ctx_size_out, ctx_in, ctx_out, flags, cpu, ... }
    a.put_u32(0, prog.as_raw_fd() as u32)
        .put_u32(8, frame.len() as u32)
        .put_u32(12, out.len() as u32)
        .put_u64(16, frame.as_ptr() as u64)
        .put_u64(24, out.as_mut_ptr() as u64)
        .put_u32(32, repeat.max(1))
        .put_u32(40, std::mem::size_of_val(&ctx) as u32)
        .put_u64(48, ctx.as_ptr() as u64);
    bpf(BPF_PROG_TEST_RUN, "BPF_PROG_TEST_RUN", &mut a)?;
    let len = (a.u32_at(12) as usize).min(out.len());
    out.truncate(len);
    Ok(TestRun {
        retval: a.u32_at(4),
        frame: out,
        duration_ns: a.u32_at(36),
    })
}
