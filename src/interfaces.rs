//! The interfaces subsystem: reports the state of every declared interface and keeps each one's
//! `static_addresses` installed: added at start (or when the link appears), removed on reload
//! when dropped from the file, and removed on shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;

use ipnetwork::IpNetwork;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::events::{EventLog, InterfacesEvent};
use crate::kernel::links::{format_mac, LinkTable};
use crate::kernel::netlink::Added;
use crate::kernel::{KernelObject, Ledger, Netlink};
use crate::status::{InterfaceStatus, ManagedAddress};

#[derive(Debug, Clone, PartialEq)]
enum AddrState {
    Installed,
    /// The interface does not exist yet; added when it appears.
    Pending,
    /// Someone else configured it; we leave it alone and never remove it.
    Foreign,
    Failed(String),
}

pub struct Interfaces {
    pub netlink: Netlink,
    pub ledger: Ledger,
    pub events: EventLog,
    pub links: watch::Receiver<LinkTable>,
    pub config: watch::Receiver<Arc<Config>>,
    pub status: watch::Sender<Vec<InterfaceStatus>>,
}

type Key = (String, IpNetwork);

impl Interfaces {
    pub async fn run(mut self, stop: CancellationToken) {
        let mut state: BTreeMap<Key, AddrState> = BTreeMap::new();
        let mut last_oper: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let cfg = self.config.borrow_and_update().clone();
            let links = self.links.borrow_and_update().clone();
            self.report_link_changes(&cfg, &links, &mut last_oper);
            self.reconcile(&cfg, &links, &mut state).await;
            self.publish(&cfg, &links, &state);
            tokio::select! {
                _ = stop.cancelled() => break,
                r = self.config.changed() => if r.is_err() { break },
                r = self.links.changed() => if r.is_err() { break },
            }
        }
        for ((ifname, net), st) in &state {
            if *st == AddrState::Installed {
                self.remove(ifname, *net).await;
            }
        }
    }

    fn report_link_changes(
        &self,
        cfg: &Config,
        links: &LinkTable,
        last: &mut BTreeMap<String, String>,
    ) {
        for name in cfg.interfaces.keys() {
            let now = links
                .get(name)
                .map(|l| l.oper_state.clone())
                .unwrap_or_else(|| "absent".into());
            let before = last.insert(name.clone(), now.clone());
            if before.as_ref().is_some_and(|b| *b != now) {
                self.events.emit(
                    InterfacesEvent::LinkState,
                    name,
                    format!("{name} is {now}"),
                    json!({ "from": before, "to": now }),
                );
            }
        }
    }

    async fn reconcile(
        &self,
        cfg: &Config,
        links: &LinkTable,
        state: &mut BTreeMap<Key, AddrState>,
    ) {
        let desired: Vec<Key> = cfg
            .interfaces
            .iter()
            .flat_map(|(n, i)| i.static_addresses.iter().map(move |a| (n.clone(), *a)))
            .collect();
        // Drop what the file no longer lists.
        let stale: Vec<Key> = state
            .keys()
            .filter(|k| !desired.contains(k))
            .cloned()
            .collect();
        for key in stale {
            if state.remove(&key) == Some(AddrState::Installed) {
                self.remove(&key.0, key.1).await;
            }
        }
        for key in desired {
            let present = links.contains_key(&key.0);
            let current = state.get(&key).cloned();
            let next = match (current, present) {
                (Some(AddrState::Installed | AddrState::Foreign), true) => continue,
                (Some(AddrState::Installed), false) => {
                    // The address left with its link; it is re-added when the link returns.
                    AddrState::Pending
                }
                (_, false) => AddrState::Pending,
                (_, true) => self.add(&key.0, key.1).await,
            };
            state.insert(key, next);
        }
    }

    async fn add(&self, ifname: &str, net: IpNetwork) -> AddrState {
        let obj = KernelObject::Address {
            ifname: ifname.to_string(),
            address: net,
        };
        if let Err(e) = self.ledger.record(obj.clone()) {
            return AddrState::Failed(format!("cannot write ledger: {e}"));
        }
        match self.netlink.add_address(ifname, net).await {
            Ok(Added::Created) => {
                self.events.emit(
                    InterfacesEvent::AddressAdded,
                    ifname,
                    format!("added {net} to {ifname}"),
                    json!({ "address": net.to_string() }),
                );
                AddrState::Installed
            }
            Ok(Added::AlreadyPresent) => {
                let _ = self.ledger.forget(&obj);
                tracing::warn!("{net} is already on {ifname}; leaving it unmanaged");
                AddrState::Foreign
            }
            Err(e) => {
                let _ = self.ledger.forget(&obj);
                tracing::error!("{e}");
                AddrState::Failed(e.to_string())
            }
        }
    }

    async fn remove(&self, ifname: &str, net: IpNetwork) {
        match self.netlink.del_address(ifname, net).await {
            Ok(_) => {
                self.events.emit(
                    InterfacesEvent::AddressRemoved,
                    ifname,
                    format!("removed {net} from {ifname}"),
                    json!({ "address": net.to_string() }),
                );
                let _ = self.ledger.forget(&KernelObject::Address {
                    ifname: ifname.to_string(),
                    address: net,
                });
            }
            // Left in the ledger: the final sweep at shutdown or the next start retries it.
            Err(e) => tracing::error!("{e}"),
        }
    }

    fn publish(&self, cfg: &Config, links: &LinkTable, state: &BTreeMap<Key, AddrState>) {
        let list = cfg
            .interfaces
            .iter()
            .map(|(name, ic)| {
                let link = links.get(name);
                InterfaceStatus {
                    name: name.clone(),
                    description: ic.description.clone(),
                    present: link.is_some(),
                    index: link.map(|l| l.index).unwrap_or(0),
                    oper_state: link
                        .map(|l| {
                            if l.admin_up {
                                l.oper_state.clone()
                            } else {
                                "admin-down".into()
                            }
                        })
                        .unwrap_or_else(|| "absent".into()),
                    mac: link.map(|l| format_mac(&l.mac)).unwrap_or_default(),
                    mtu: link.map(|l| l.mtu).unwrap_or(0),
                    static_addresses: ic
                        .static_addresses
                        .iter()
                        .map(|a| ManagedAddress {
                            address: a.to_string(),
                            state: match state.get(&(name.clone(), *a)) {
                                Some(AddrState::Installed) => "installed".into(),
                                Some(AddrState::Pending) | None => "pending".into(),
                                Some(AddrState::Foreign) => "foreign".into(),
                                Some(AddrState::Failed(e)) => format!("failed: {e}"),
                            },
                        })
                        .collect(),
                }
            })
            .collect();
        self.status.send_replace(list);
    }
}

/// What a reload does to `[interfaces]`: static addresses are added and removed one by one
/// (`reconcile` above); the others stay installed. Descriptions only change the status.
pub fn reload_plan(
    old: &BTreeMap<String, crate::config::InterfaceConfig>,
    new: &BTreeMap<String, crate::config::InterfaceConfig>,
) -> Vec<(String, crate::control::protocol::ReloadAction, String)> {
    use crate::control::protocol::ReloadAction;
    let empty = crate::config::InterfaceConfig::default();
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        let o = old.get(name).unwrap_or(&empty);
        let n = new.get(name).unwrap_or(&empty);
        for a in o
            .static_addresses
            .iter()
            .filter(|a| !n.static_addresses.contains(a))
        {
            out.push((name.clone(), ReloadAction::Removed, format!("address {a}")));
        }
        for a in n
            .static_addresses
            .iter()
            .filter(|a| !o.static_addresses.contains(a))
        {
            out.push((name.clone(), ReloadAction::Added, format!("address {a}")));
        }
        if o.description != n.description {
            out.push((name.clone(), ReloadAction::Applied, "description".into()));
        }
    }
    out
}

#[cfg(test)]
mod reload_plan_tests {
    use std::path::Path;

    use super::reload_plan;
    use crate::config::parse_str;
    use crate::control::protocol::ReloadAction;

    #[test]
    fn addresses_are_added_and_removed_one_by_one() {
        let cfg = |a: &str| {
            parse_str(
                &format!("[interfaces.eth0]\nstatic_addresses = [{a}]\n"),
                Path::new("t.toml"),
            )
            .unwrap_or_else(|e| panic!("{e}"))
            .interfaces
        };
        let old = cfg("\"198.18.0.1/24\", \"198.18.0.2/24\"");
        let new = cfg("\"198.18.0.2/24\", \"198.18.0.3/24\"");
        assert_eq!(
            reload_plan(&old, &new),
            vec![
                (
                    "eth0".into(),
                    ReloadAction::Removed,
                    "address 198.18.0.1/24".into()
                ),
                (
                    "eth0".into(),
                    ReloadAction::Added,
                    "address 198.18.0.3/24".into()
                ),
            ]
        );
        assert!(reload_plan(&old, &old).is_empty());
    }
}
