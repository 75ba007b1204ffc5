//! The kernel side of the fast path: the XDP steering program (assembled at run time, loaded with
//! bpf(2), attached through netlink) and AF_XDP sockets. Everything here is IO; the packet
//! processing itself is the pure `dataplane` crate.

pub mod asm;
pub mod attach;
pub mod bpf;
pub mod ring;
pub mod steer;
pub mod xsk;
