//! The established-flow offload: an XDP program, written in C (`bpf/offload.c`) and compiled
//! by clang at build time, that forwards the packets of flows the AF_XDP workers have already
//! decided, and hands every other packet to the steering program. This crate embeds the
//! object and loads it with aya; the daemon attaches it and keeps its entries.
//!
//! The contract between the workers and the program is the offload map ABI
//! (the crate's README.md, `bpf/ol_abi.h`): a 28-byte key, a 96-byte value.

mod abi;
pub mod attr;
mod error;
mod offload;
mod sys;

pub use abi::{EntryCounters, Key, Stat, Value, KEY_LEN, STATS, VALUE_LEN};
pub use error::OffloadError;
pub use offload::{LoadOptions, Offload};
pub use sys::TestRun;

/// XDP actions as the program returns them.
pub mod action {
    pub const ABORTED: u32 = 0;
    pub const DROP: u32 = 1;
    pub const PASS: u32 = 2;
    pub const TX: u32 = 3;
    pub const REDIRECT: u32 = 4;
}
