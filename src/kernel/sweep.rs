//! The sweep: removes every object still in the ledger, whatever kind, at start (what a
//! crashed run left) and at the end of a graceful stop (what a subsystem could not remove).

use super::{KernelObject, Ledger, Netlink};
use crate::events::{DaemonEvent, EventLog};

/// Removes objects left by an earlier run (or not removed by a subsystem during shutdown).
/// Returns how many were found.
pub async fn sweep(netlink: &Netlink, ledger: &Ledger, events: &EventLog, why: &str) -> u64 {
    let mut n = 0;
    for obj in ledger.objects() {
        let result = match &obj {
            KernelObject::Address { ifname, address } => {
                netlink.del_address(ifname, *address).await
            }
            KernelObject::Link { name } => netlink.del_link(name).await,
            KernelObject::Xdp { ifname } => super::netlink::detach_xdp(netlink, ifname).await,
            KernelObject::Sysctl { path, restore } => super::sysctl::restore(path, restore),
        };
        match result {
            Ok(_) => {
                n += 1;
                events.emit(
                    DaemonEvent::LeftoverRemoved,
                    &obj.to_string(),
                    format!("removed {obj} ({why})"),
                    serde_json::to_value(&obj).unwrap_or_default(),
                );
                let _ = ledger.forget(&obj);
            }
            Err(e) => tracing::error!("could not remove {obj}: {e}"),
        }
    }
    n
}
