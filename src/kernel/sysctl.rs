//! Sysctls the daemon sets (for example ARP behaviour for a VRRP virtual MAC), recorded in the
//! ledger with their previous value so they are restored on stop or after a crash.

use super::netlink::NetlinkError;
use super::{KernelObject, Ledger};

fn proc_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

/// Sets `key` (dotted, e.g. `net.ipv4.conf.eth0.arp_ignore`) and records how to undo it.
/// Interface names containing dots are not supported by the dotted form; callers pass paths
/// built from names without dots.
pub fn set(ledger: &Ledger, key: &str, value: &str) -> std::io::Result<()> {
    let path = proc_path(key);
    let old = std::fs::read_to_string(&path)?.trim().to_string();
    if old == value {
        return Ok(());
    }
    // Keep the first recorded value: a second change must still restore the original.
    if !ledger
        .objects()
        .iter()
        .any(|o| matches!(o, KernelObject::Sysctl { path: p, .. } if *p == path))
    {
        ledger.record(KernelObject::Sysctl {
            path: path.clone(),
            restore: old,
        })?;
    }
    std::fs::write(&path, value)
}

/// Writes the saved value back; a vanished file (its interface is gone) counts as restored.
pub fn restore(path: &str, value: &str) -> Result<bool, NetlinkError> {
    match std::fs::write(path, value) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(NetlinkError::Io(e)),
    }
}
