//! From configuration, health verdicts and the kernel's tables to a snapshot specification and
//! the steering program's owned keys. Pure functions, tested without a kernel.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::kernel_view::{Iface, KernelView};
use crate::config::dataplane::{Protocol, ServiceConfig};
use crate::dataplane::snapshot::{BackendSpec, InterfaceSpec, ServiceSpec, Spec};
use crate::verdicts::Verdicts;
use crate::xdp::steer::OwnedKey;

/// A backend without a check is always up; one with a check is up only while its check's
/// verdict says so (no verdict yet counts as down: traffic waits for the first success).
pub fn backend_up(check: Option<&str>, verdicts: &Verdicts) -> bool {
    match check {
        None => true,
        Some(name) => verdicts.get(name).is_some_and(|v| v.up),
    }
}

pub fn build(
    services: &[ServiceConfig],
    verdicts: &Verdicts,
    ifaces: &[Iface],
    view: &KernelView,
    workers: u16,
    hash_seed: u64,
) -> Spec {
    Spec {
        services: services
            .iter()
            .map(|s| ServiceSpec {
                name: s.name.clone(),
                vip: s.vip,
                port: s.port,
                proto: s.protocol.number(),
                scheduler: s.scheduler,
                persistence_ms: s.persistence.map_or(0, |p| {
                    p.get().as_millis().min(u128::from(u32::MAX / 2)) as u32
                }),
                backends: s
                    .backends
                    .iter()
                    .map(|b| BackendSpec {
                        addr: b.address,
                        port: if s.protocol == Protocol::Icmp {
                            0
                        } else {
                            b.port
                        },
                        weight: b.weight,
                        up: backend_up(b.check.as_deref(), verdicts),
                    })
                    .collect(),
                pool: None,
            })
            .collect(),
        interfaces: ifaces
            .iter()
            .map(|i| InterfaceSpec {
                name: i.name.clone(),
                mac: i.mac,
            })
            .collect(),
        routes: view.routes.clone(),
        neighbours: view.neighbours.clone(),
        workers,
        hash_seed,
        tunnels: Vec::new(),
        pools: Vec::new(),
    }
}

/// What the steering program must send to the data plane.
pub fn owned_keys(services: &[ServiceConfig], locals: &[Ipv4Addr]) -> BTreeSet<OwnedKey> {
    let mut keys = BTreeSet::new();
    for s in services {
        let p = s.protocol.number();
        keys.insert(OwnedKey::service(s.vip, s.port, p));
        for b in &s.backends {
            let port = if s.protocol == Protocol::Icmp {
                0
            } else {
                b.port
            };
            keys.insert(OwnedKey::backend(b.address, port, p));
        }
    }
    for a in locals {
        keys.insert(OwnedKey::local(*a));
    }
    keys
}

/// Addresses whose MAC the fast path needs but the kernel has not resolved: on-link backends
/// and route gateways.
pub fn unresolved(spec: &Spec) -> Vec<Ipv4Addr> {
    let known: BTreeSet<Ipv4Addr> = spec.neighbours.iter().map(|(a, _)| *a).collect();
    let mut want = BTreeSet::new();
    for r in &spec.routes {
        if let Some(g) = r.gateway {
            want.insert(g);
        }
    }
    for s in &spec.services {
        for b in &s.backends {
            let on_link = spec.routes.iter().any(|r| {
                r.gateway.is_none() && {
                    let mask = if r.prefix_len == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(r.prefix_len.min(32)))
                    };
                    (u32::from(b.addr) ^ u32::from(r.net)) & mask == 0
                }
            });
            if on_link {
                want.insert(b.addr);
            }
        }
    }
    want.difference(&known).copied().collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::config::dataplane::BackendConfig;
    use crate::dataplane::neighbours::Route;
    use crate::dataplane::snapshot::Scheduler;
    use crate::dataplane::wire::MacAddr;
    use crate::verdicts::Verdict;

    fn services() -> Vec<ServiceConfig> {
        vec![ServiceConfig {
            name: "web".into(),
            vip: Ipv4Addr::new(198, 18, 1, 1),
            port: 80,
            protocol: Protocol::Tcp,
            scheduler: Scheduler::Maglev,
            persistence: None,
            backends: vec![
                BackendConfig {
                    address: Ipv4Addr::new(198, 18, 2, 1),
                    port: 8080,
                    weight: 1,
                    check: None,
                },
                BackendConfig {
                    address: Ipv4Addr::new(198, 18, 2, 2),
                    port: 8080,
                    weight: 1,
                    check: Some("b2".into()),
                },
            ],
        }]
    }

    #[test]
    fn checks_gate_backends() {
        let none: Verdicts = Arc::new(BTreeMap::new());
        let view = KernelView::default();
        let spec = build(&services(), &none, &[], &view, 1, 0);
        let up: Vec<bool> = spec.services[0].backends.iter().map(|b| b.up).collect();
        assert_eq!(up, [true, false], "no verdict yet: down");
        let mut m = BTreeMap::new();
        m.insert(
            "b2".to_string(),
            Verdict {
                up: true,
                weight: None,
            },
        );
        let spec = build(&services(), &Arc::new(m), &[], &view, 1, 0);
        assert!(spec.services[0].backends[1].up);
    }

    #[test]
    fn keys_and_unresolved_neighbours() {
        let keys = owned_keys(&services(), &[Ipv4Addr::new(198, 18, 2, 254)]);
        assert_eq!(keys.len(), 4);
        assert!(keys.contains(&OwnedKey::service(Ipv4Addr::new(198, 18, 1, 1), 80, 6)));
        let view = KernelView {
            routes: vec![Route {
                net: Ipv4Addr::new(198, 18, 2, 0),
                prefix_len: 24,
                gateway: None,
                iface: 0,
            }],
            neighbours: vec![(Ipv4Addr::new(198, 18, 2, 1), MacAddr([2, 0, 0, 0, 0, 1]))],
            locals: vec![],
        };
        let spec = build(&services(), &Arc::new(BTreeMap::new()), &[], &view, 1, 0);
        assert_eq!(unresolved(&spec), [Ipv4Addr::new(198, 18, 2, 2)]);
    }
}
