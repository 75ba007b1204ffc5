//! Passive side: listeners on port 179 that hand each inbound connection to its neighbour's
//! task (by source address). Unknown sources are closed at once.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::neighbor::listen_address;
use super::socket;
use crate::config::bgp::BgpConfig;

pub fn start(
    b: &BgpConfig,
    inbound: HashMap<IpAddr, mpsc::Sender<TcpStream>>,
    tasks: &mut JoinSet<()>,
    stop: CancellationToken,
) {
    // A wildcard and a specific address cannot both listen on :179, so when any neighbour of
    // a family has no local address that family gets one wildcard listener.
    let mut addrs: BTreeMap<IpAddr, Vec<usize>> = BTreeMap::new();
    let wildcard_v4 = b
        .neighbor
        .iter()
        .any(|n| n.address.is_ipv4() && n.local_address.is_none());
    let wildcard_v6 = b
        .neighbor
        .iter()
        .any(|n| n.address.is_ipv6() && n.local_address.is_none());
    for (i, n) in b.neighbor.iter().enumerate() {
        let mut a = listen_address(n);
        if (a.is_ipv4() && wildcard_v4) || (a.is_ipv6() && wildcard_v6) {
            a = listen_address(&crate::config::bgp::NeighborConfig {
                local_address: None,
                ..n.clone()
            });
        }
        addrs.entry(a).or_default().push(i);
    }
    let inbound = std::sync::Arc::new(inbound);
    for (addr, idx) in addrs {
        let l = match socket::listen(addr) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("bgp: cannot listen on [{addr}]:179: {e}; only dialling out");
                continue;
            }
        };
        for &i in &idx {
            let n = &b.neighbor[i];
            if n.gtsm {
                if let Err(e) = socket::listener_send_ttl_255(&l, addr.is_ipv6()) {
                    tracing::warn!("bgp: TTL 255 on the listener for {}: {e}", n.address);
                }
            }
            if let Some(k) = &n.md5_password {
                if let Err(e) = socket::set_md5(&l, n.address, Some(k.expose())) {
                    tracing::warn!("bgp: MD5 key for {} on the listener: {e}", n.address);
                }
            }
        }
        let inbound = inbound.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    r = l.accept() => match r {
                        Ok((stream, from)) => {
                            let ip = canonical(from.ip());
                            match inbound.get(&ip) {
                                Some(tx) => { let _ = tx.try_send(stream); }
                                None => tracing::debug!("bgp: connection from unknown {ip} refused"),
                            }
                        }
                        Err(e) => {
                            tracing::warn!("bgp: accept on [{addr}]:179: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            }
        });
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}
