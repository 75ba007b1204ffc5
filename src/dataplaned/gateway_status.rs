//! What `appctl gre` and `appctl snat` show, and what each worker publishes for them (off the
//! packet path, with its other periodic statistics).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use dataplane::pipeline::Pipeline;
use dataplane::snapshot::Snapshot;
use dataplane::tunnel_counters::TunnelCounters;

/// One pool as a worker sees it: (address, ports in use for TCP, UDP, ICMP) per address, and
/// allocations refused.
pub type PoolUsage = (Vec<(u32, [u32; 3])>, u64);
/// The same for an IPv6 pool.
pub type PoolUsageV6 = (Vec<(Ipv6Addr, [u32; 3])>, u64);

/// One worker's share of the gateway's state, copied out every publish period.
#[derive(Debug, Clone, Default)]
pub struct GatewayStats {
    /// Counters per tunnel zone (only zones of the current snapshot).
    pub tunnels: BTreeMap<u16, TunnelCounters>,
    pub pools: BTreeMap<String, PoolUsage>,
    /// IPv6 FullNAT pools.
    pub pools6: BTreeMap<String, PoolUsageV6>,
    pub mappings: u64,
}

impl GatewayStats {
    pub fn collect(pipeline: &Pipeline, snap: &Snapshot) -> GatewayStats {
        let tunnels = snap
            .gw
            .tunnels
            .iter()
            .map(|t| (t.zone, pipeline.tunnel_counters(t.zone)))
            .collect();
        let snat = pipeline.snat();
        let pools = snap
            .gw
            .pools
            .iter()
            .zip(&snat.pools)
            .map(|(def, ports)| {
                let used = ports
                    .addrs
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (*a, ports.used(i)))
                    .collect();
                (def.name.clone(), (used, ports.exhausted))
            })
            .collect();
        let snat6 = pipeline.snat_v6();
        let pools6 = snap
            .v6
            .pools
            .iter()
            .enumerate()
            .map(|(i, def)| (def.name.clone(), (snat6.used(i), snat6.exhausted(i))))
            .collect();
        GatewayStats {
            tunnels,
            pools,
            pools6,
            mappings: snat.mappings.len() as u64,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TunnelStatus {
    pub name: String,
    pub local: String,
    pub remote: String,
    #[serde(default)]
    pub key: Option<u32>,
    pub mtu: u16,
    #[serde(default)]
    pub pool: Option<String>,
    /// Which end this appliance is: "central" (the SNAT gateway) or "site".
    #[serde(default)]
    pub role: String,
    /// Global IPv6 prefixes the tunnel carries untranslated.
    #[serde(default)]
    pub ipv6_prefixes: Vec<String>,
    /// The site's IPv6 prefixes translated with NAT64 to the tunnel's pool.
    #[serde(default)]
    pub nat64_sources: Vec<String>,
    /// Inner packets and bytes out of the tunnel (rx) and into it (tx), summed over workers.
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub frag_needed_sent: u64,
    /// ICMP time exceeded errors sent back into the tunnel.
    #[serde(default)]
    pub time_exceeded_sent: u64,
    pub mss_clamped: u64,
    /// Drops by reason (only reasons that occurred).
    pub drops: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolStatus {
    pub name: String,
    pub ports: String,
    pub addresses: Vec<AddressStatus>,
    /// Allocations refused because the worker's share was full, summed over workers.
    pub exhausted: u64,
    pub tunnels: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddressStatus {
    pub address: String,
    /// Ports in use per protocol, summed over workers.
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    /// Ports in use (all protocols) per worker, by worker id.
    pub per_worker: Vec<u64>,
}

/// One pool address's ports in use summed over the workers, `used` reading a worker's (TCP,
/// UDP, ICMP) for it.
fn address_status(
    address: String,
    workers: &[Arc<GatewayStats>],
    used: impl Fn(&GatewayStats) -> Option<[u32; 3]>,
) -> AddressStatus {
    let mut s = AddressStatus {
        address,
        ..AddressStatus::default()
    };
    for w in workers {
        let u = used(w).unwrap_or([0; 3]);
        s.tcp += u64::from(u[0]);
        s.udp += u64::from(u[1]);
        s.icmp += u64::from(u[2]);
        s.per_worker.push(u.iter().map(|&n| u64::from(n)).sum());
    }
    s
}

/// The gateway's status from the snapshot and every worker's published stats (in worker order).
pub fn tunnels(snap: &Snapshot, workers: &[Arc<GatewayStats>]) -> Vec<TunnelStatus> {
    snap.gw
        .tunnels
        .iter()
        .map(|t| {
            let mut c = TunnelCounters::default();
            for w in workers {
                if let Some(x) = w.tunnels.get(&t.zone) {
                    c.accumulate(x);
                }
            }
            TunnelStatus {
                name: t.name.clone(),
                local: t.local.to_string(),
                remote: t.remote.to_string(),
                key: t.key,
                mtu: t.mtu,
                pool: t
                    .pool
                    .and_then(|p| snap.gw.pools.get(usize::from(p)))
                    .map(|p| p.name.clone()),
                role: if t.site { "site" } else { "central" }.into(),
                ipv6_prefixes: snap
                    .gw
                    .routed6_prefixes_of(t.zone)
                    .map(|(n, l)| format!("{n}/{l}"))
                    .collect(),
                nat64_sources: snap
                    .gw
                    .nat64_sources_of(t.zone)
                    .map(|(n, l)| format!("{n}/{l}"))
                    .collect(),
                rx_packets: c.rx_packets,
                rx_bytes: c.rx_bytes,
                tx_packets: c.tx_packets,
                tx_bytes: c.tx_bytes,
                frag_needed_sent: c.frag_needed_sent,
                time_exceeded_sent: c.time_exceeded_sent,
                mss_clamped: c.mss_clamped,
                drops: c
                    .named_drops()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            }
        })
        .collect()
}

pub fn pools(snap: &Snapshot, workers: &[Arc<GatewayStats>]) -> Vec<PoolStatus> {
    let v4 = snap
        .gw
        .pools
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            let mut exhausted = 0;
            let addresses = p
                .addrs
                .iter()
                .map(|&a| {
                    address_status(Ipv4Addr::from(a).to_string(), workers, |w| {
                        w.pools
                            .get(&p.name)
                            .and_then(|(addrs, _)| addrs.iter().find(|(x, _)| *x == a))
                            .map(|(_, u)| *u)
                    })
                })
                .collect();
            for w in workers {
                exhausted += w.pools.get(&p.name).map_or(0, |(_, e)| *e);
            }
            PoolStatus {
                name: p.name.clone(),
                ports: format!("{}-{}", p.ports.0, p.ports.1),
                addresses,
                exhausted,
                tunnels: snap
                    .gw
                    .tunnels
                    .iter()
                    .filter(|t| t.pool == Some(pi as u16))
                    .map(|t| t.name.clone())
                    .collect(),
            }
        })
        .collect::<Vec<_>>();
    let v6 = snap.v6.pools.iter().map(|p| {
        let addresses = p
            .addrs
            .iter()
            .map(|&a| {
                address_status(a.to_string(), workers, |w| {
                    w.pools6
                        .get(&p.name)
                        .and_then(|(addrs, _)| addrs.iter().find(|(x, _)| *x == a))
                        .map(|(_, u)| *u)
                })
            })
            .collect();
        PoolStatus {
            name: p.name.clone(),
            ports: format!("{}-{}", p.ports.0, p.ports.1),
            addresses,
            exhausted: workers
                .iter()
                .map(|w| w.pools6.get(&p.name).map_or(0, |(_, e)| *e))
                .sum(),
            // IPv6 pools serve FullNAT services only.
            tunnels: Vec::new(),
        }
    });
    v4.into_iter().chain(v6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::conntrack::Timeouts;
    use dataplane::gateway::{PoolSpec, TunnelSpec};
    use dataplane::snapshot::Spec;

    #[test]
    fn sums_over_workers() {
        let spec = Spec {
            locals: Vec::new(),
            tunnels: vec![TunnelSpec {
                name: "a".into(),
                local: Ipv4Addr::new(198, 18, 8, 1),
                remote: Ipv4Addr::new(198, 18, 8, 10),
                key: None,
                mtu: 1476,
                pool: Some(0),
                inside: vec![],
                routed6: vec![],
                nat64_sources: vec![],
            }],
            pools: vec![PoolSpec {
                name: "out".into(),
                addrs: vec![Ipv4Addr::new(198, 19, 0, 1)],
                ports: (1024, 65535),
                timeouts: Timeouts::default(),
                sources: vec![],
            }],
            workers: 2,
            ..Spec::default()
        };
        let snap = Snapshot::build(&spec, None).unwrap();
        let zone = snap.gw.tunnels[0].zone;
        let a = u32::from(Ipv4Addr::new(198, 19, 0, 1));
        let w = |n: u64| {
            Arc::new(GatewayStats {
                tunnels: [(
                    zone,
                    TunnelCounters {
                        rx_packets: n,
                        ..TunnelCounters::default()
                    },
                )]
                .into(),
                pools: [("out".to_string(), (vec![(a, [n as u32, 1, 0])], n))].into(),
                pools6: BTreeMap::new(),
                mappings: n,
            })
        };
        let t = tunnels(&snap, &[w(1), w(2)]);
        assert_eq!((t[0].rx_packets, t[0].pool.as_deref()), (3, Some("out")));
        let p = pools(&snap, &[w(1), w(2)]);
        assert_eq!(p[0].addresses[0].tcp, 3);
        assert_eq!(p[0].addresses[0].udp, 2);
        assert_eq!(p[0].addresses[0].per_worker, [2, 3]);
        assert_eq!(
            (p[0].exhausted, p[0].tunnels.clone()),
            (3, vec!["a".to_string()])
        );
    }
}
