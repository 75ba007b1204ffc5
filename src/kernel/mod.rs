//! Everything the daemon changes in the kernel goes through here, and is written to the ledger
//! before it is made, so a graceful stop removes it and a start after a crash finds it.

pub mod ledger;
pub mod links;
pub mod netlink;
pub mod sweep;
pub mod sysctl;

pub use ledger::{KernelObject, Ledger};
pub use netlink::Netlink;
