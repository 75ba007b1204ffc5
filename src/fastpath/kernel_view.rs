//! What the fast path needs from the kernel's tables, read by rtnetlink dumps: the data
//! interfaces' MACs and addresses, IPv4 routes through them, and their resolved neighbours.
//! The controller re-reads them periodically and publishes a new snapshot when they change.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteType};

use crate::dataplane::neighbours::Route;
use crate::dataplane::wire::MacAddr;
use crate::kernel::netlink::NetlinkError;
use crate::kernel::Netlink;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub index: u32,
    pub mac: MacAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelView {
    pub routes: Vec<Route>,
    pub neighbours: Vec<(Ipv4Addr, MacAddr)>,
    /// The host's own IPv4 addresses on the data interfaces.
    pub locals: Vec<Ipv4Addr>,
}

const MAIN_TABLE: u32 = 254;

fn request(what: &str) -> impl Fn(rtnetlink::Error) -> NetlinkError + '_ {
    move |source| NetlinkError::Request {
        what: what.to_string(),
        source,
    }
}

pub async fn iface(nl: &Netlink, name: &str) -> Result<Iface, NetlinkError> {
    let link = nl
        .link_by_name(name)
        .await?
        .ok_or_else(|| NetlinkError::NoSuchLink(name.to_string()))?;
    let mac = link
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Address(m) if m.len() == 6 => {
                Some(MacAddr([m[0], m[1], m[2], m[3], m[4], m[5]]))
            }
            _ => None,
        })
        .unwrap_or_default();
    Ok(Iface {
        name: name.to_string(),
        index: link.header.index,
        mac,
    })
}

pub async fn read(nl: &Netlink, ifaces: &[Iface]) -> Result<KernelView, NetlinkError> {
    let slot = |index: u32| ifaces.iter().position(|i| i.index == index);
    let mut view = KernelView::default();

    let routes: Vec<_> = nl
        .handle()
        .route()
        .get(rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(request("dumping IPv4 routes"))?;
    for r in routes {
        if r.header.kind != RouteType::Unicast {
            continue;
        }
        let mut net = Ipv4Addr::UNSPECIFIED;
        let (mut gateway, mut oif, mut table) = (None, None, u32::from(r.header.table));
        for a in &r.attributes {
            match a {
                RouteAttribute::Destination(RouteAddress::Inet(d)) => net = *d,
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => gateway = Some(*g),
                RouteAttribute::Oif(o) => oif = Some(*o),
                RouteAttribute::Table(t) => table = *t,
                _ => {}
            }
        }
        let Some(iface) = oif.and_then(slot) else {
            continue;
        };
        if table != MAIN_TABLE {
            continue;
        }
        view.routes.push(Route {
            net,
            prefix_len: r.header.destination_prefix_length,
            gateway,
            iface: iface as u16,
        });
    }

    let neighbours: Vec<_> = nl
        .handle()
        .neighbours()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(request("dumping neighbours"))?;
    for n in neighbours {
        if slot(n.header.ifindex).is_none()
            || !matches!(
                n.header.state,
                NeighbourState::Reachable
                    | NeighbourState::Stale
                    | NeighbourState::Delay
                    | NeighbourState::Probe
                    | NeighbourState::Permanent
                    | NeighbourState::Noarp
            )
        {
            continue;
        }
        let mut addr = None;
        let mut mac = None;
        for a in &n.attributes {
            match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(d)) => addr = Some(*d),
                NeighbourAttribute::LinkLayerAddress(m) if m.len() == 6 => {
                    mac = Some(MacAddr([m[0], m[1], m[2], m[3], m[4], m[5]]))
                }
                _ => {}
            }
        }
        if let (Some(a), Some(m)) = (addr, mac) {
            view.neighbours.push((a, m));
        }
    }
    view.neighbours.sort();

    for i in ifaces {
        for a in nl.addresses(i.index).await? {
            if let IpAddr::V4(v4) = a {
                view.locals.push(v4);
            }
        }
    }
    view.locals.sort();
    Ok(view)
}

/// Makes the kernel resolve `addr` by sending it an empty UDP datagram to the discard port: the
/// fast path never resolves addresses itself, and a backend nothing has talked to yet has no
/// neighbour entry. The reply (if any) is the kernel's.
pub fn provoke_resolution(addr: Ipv4Addr) {
    if let Ok(s) = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) {
        let _ = s.send_to(&[], (addr, 9));
    }
}
