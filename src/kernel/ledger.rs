//! The ledger of kernel objects this daemon created: a small JSON file in the state directory,
//! rewritten atomically on every change. Write-ahead: an object is recorded before it is created,
//! so a crash between the two leaves an entry whose removal finds nothing, never the reverse.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KernelObject {
    /// An address added to an interface (static address or VIP).
    Address { ifname: String, address: IpNetwork },
    /// A link the daemon created (for example a VRRP macvlan).
    Link { name: String },
    /// An XDP program attached to an interface.
    Xdp { ifname: String },
    /// A sysctl the daemon changed; `restore` is the value it had before.
    Sysctl { path: String, restore: String },
}

impl std::fmt::Display for KernelObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelObject::Address { ifname, address } => write!(f, "address {address} on {ifname}"),
            KernelObject::Link { name } => write!(f, "link {name}"),
            KernelObject::Xdp { ifname } => write!(f, "XDP program on {ifname}"),
            KernelObject::Sysctl { path, restore } => {
                write!(f, "sysctl {path} (restore {restore})")
            }
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    /// Pid of the daemon that wrote it, for the operator reading the file.
    pid: u32,
    objects: Vec<KernelObject>,
}

#[derive(Clone)]
pub struct Ledger {
    path: PathBuf,
    objects: Arc<Mutex<Vec<KernelObject>>>,
}

impl Ledger {
    /// Opens the ledger in `state_dir` and returns the entries left by an earlier run that did
    /// not stop gracefully. The caller removes them and then calls [`Ledger::forget`] for each.
    pub fn open(state_dir: &Path) -> std::io::Result<(Ledger, Vec<KernelObject>)> {
        let path = state_dir.join("kernel-objects.json");
        let leftovers = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<File>(&bytes) {
                Ok(f) => f.objects,
                Err(e) => {
                    tracing::warn!("ignoring unreadable ledger {}: {e}", path.display());
                    Vec::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let ledger = Ledger {
            path,
            objects: Arc::new(Mutex::new(leftovers.clone())),
        };
        ledger.persist(&ledger.objects.lock().unwrap_or_else(|p| p.into_inner()))?;
        Ok((ledger, leftovers))
    }

    /// Records an object about to be created.
    pub fn record(&self, obj: KernelObject) -> std::io::Result<()> {
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        if !objects.contains(&obj) {
            objects.push(obj);
            self.persist(&objects)?;
        }
        Ok(())
    }

    /// Drops an object that was removed (or turned out not to be ours).
    pub fn forget(&self, obj: &KernelObject) -> std::io::Result<()> {
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        let before = objects.len();
        objects.retain(|o| o != obj);
        if objects.len() != before {
            self.persist(&objects)?;
        }
        Ok(())
    }

    pub fn objects(&self) -> Vec<KernelObject> {
        self.objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn persist(&self, objects: &[KernelObject]) -> std::io::Result<()> {
        let file = File {
            pid: std::process::id(),
            objects: objects.to_vec(),
        };
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_crash() {
        let dir = std::env::temp_dir().join(format!("ledger-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = KernelObject::Address {
            ifname: "eth0".into(),
            address: "198.18.0.10/24".parse().unwrap(),
        };
        let l = KernelObject::Link {
            name: "vrrp4.51".into(),
        };
        {
            let (ledger, left) = Ledger::open(&dir).unwrap();
            assert!(left.is_empty());
            ledger.record(a.clone()).unwrap();
            ledger.record(l.clone()).unwrap();
            ledger.forget(&l).unwrap();
            // Dropped without cleanup: a crash.
        }
        let (ledger, left) = Ledger::open(&dir).unwrap();
        assert_eq!(left, vec![a.clone()]);
        ledger.forget(&a).unwrap();
        let (_, left) = Ledger::open(&dir).unwrap();
        assert!(left.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
