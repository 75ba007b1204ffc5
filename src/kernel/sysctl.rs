//! Sysctls the daemon sets (for example ARP behaviour for a VRRP virtual MAC), recorded in the
//! ledger with their previous value so they are restored on stop or after a crash.

use super::netlink::NetlinkError;
use super::{KernelObject, Ledger};

/// `net.ipv4.conf.<ifname>.<key>` as a path: segments, because interface names may contain
/// dots (`vr4.51`), which the dotted sysctl form cannot express.
pub fn ipv4_conf(ifname: &str, key: &str) -> String {
    format!("/proc/sys/net/ipv4/conf/{ifname}/{key}")
}

/// Sets the sysctl at `path` and records its previous value so it can be restored.
pub fn set(ledger: &Ledger, path: &str, value: &str) -> std::io::Result<()> {
    let path = path.to_string();
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

/// Restores a sysctl this daemon set (if the ledger has it) and forgets it.
pub fn restore_recorded(ledger: &Ledger, path: &str) -> std::io::Result<()> {
    for obj in ledger.objects() {
        if let KernelObject::Sysctl {
            path: p,
            restore: value,
        } = &obj
        {
            if p == path {
                restore(p, value).map_err(|e| std::io::Error::other(e.to_string()))?;
                ledger.forget(&obj)?;
            }
        }
    }
    Ok(())
}
