//! What the fast path needs from the kernel's tables, read by rtnetlink dumps: the data
//! interfaces' MACs and addresses (both families), the IPv4 and IPv6 routes through them, and
//! their resolved neighbours (ARP and ND entries alike).
//! These are the dumps and message parsers; `kernel_monitor` keeps the view current from the
//! kernel's multicast notifications.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};

use crate::kernel::netlink::NetlinkError;
use crate::kernel::Netlink;
use dataplane::neighbours::v6::RouteV6;
use dataplane::neighbours::Route;
use dataplane::wire::MacAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub index: u32,
    pub mac: MacAddr,
    pub mtu: u16,
    /// A veth: its native XDP can redirect frames only to a peer that has NAPI (an XDP
    /// program or GRO of its own), which the other end of a veth need not have.
    pub veth: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelView {
    pub routes: Vec<Route>,
    pub neighbours: Vec<(Ipv4Addr, MacAddr)>,
    /// The host's own IPv4 addresses on the data interfaces.
    pub locals: Vec<Ipv4Addr>,
    /// The IPv6 routes of the main table through the data interfaces.
    pub routes6: Vec<RouteV6>,
    /// Resolved IPv6 neighbours (ND) on the data interfaces.
    pub neighbours6: Vec<(Ipv6Addr, MacAddr)>,
    /// The host's own IPv6 addresses on the data interfaces, link-local ones included.
    pub locals6: Vec<Ipv6Addr>,
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
    let mtu = link
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Mtu(m) => Some((*m).min(u32::from(u16::MAX)) as u16),
            _ => None,
        })
        .unwrap_or(1500);
    let veth = link.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos
            .iter()
            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth))),
        _ => false,
    });
    Ok(Iface {
        name: name.to_string(),
        index: link.header.index,
        mac,
        mtu,
        veth,
    })
}

/// Where `index` sits among the data interfaces.
fn slot(ifaces: &[Iface], index: u32) -> Option<usize> {
    ifaces.iter().position(|i| i.index == index)
}

/// The fast path's view of one route: unicast, in the main table, out of a data interface.
pub fn route_of(r: &RouteMessage, ifaces: &[Iface]) -> Option<Route> {
    if r.header.kind != RouteType::Unicast {
        return None;
    }
    let mut net = Ipv4Addr::UNSPECIFIED;
    let (mut gateway, mut oif, mut table) = (None, None, u32::from(r.header.table));
    let mut src = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => net = *d,
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => gateway = Some(*g),
            RouteAttribute::Oif(o) => oif = Some(*o),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::PrefSource(RouteAddress::Inet(s)) => src = Some(*s),
            _ => {}
        }
    }
    let iface = slot(ifaces, oif?)?;
    (table == MAIN_TABLE).then_some(Route {
        net,
        prefix_len: r.header.destination_prefix_length,
        gateway,
        iface: iface as u16,
        src,
    })
}

/// The fast path's view of one IPv6 route: unicast, in the main table, out of a data interface.
pub fn route6_of(r: &RouteMessage, ifaces: &[Iface]) -> Option<RouteV6> {
    if r.header.kind != RouteType::Unicast {
        return None;
    }
    let mut net = Ipv6Addr::UNSPECIFIED;
    let (mut gateway, mut oif, mut table) = (None, None, u32::from(r.header.table));
    let mut src = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet6(d)) => net = *d,
            RouteAttribute::Gateway(RouteAddress::Inet6(g)) => gateway = Some(*g),
            RouteAttribute::Oif(o) => oif = Some(*o),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::PrefSource(RouteAddress::Inet6(s)) => src = Some(*s),
            _ => {}
        }
    }
    let iface = slot(ifaces, oif?)?;
    (table == MAIN_TABLE).then_some(RouteV6 {
        net,
        prefix_len: r.header.destination_prefix_length,
        gateway,
        iface: iface as u16,
        src,
    })
}

/// A neighbour entry on a data interface: its key (interface index, address) and its MAC when
/// the entry is usable (`None` when the kernel has no usable address for it: incomplete or
/// failed, which for the fast path is the same as no entry).
pub fn neighbour_of(
    n: &NeighbourMessage,
    ifaces: &[Iface],
) -> Option<((u32, IpAddr), Option<MacAddr>)> {
    slot(ifaces, n.header.ifindex)?;
    let mut addr = None;
    let mut mac = None;
    for a in &n.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(d)) => {
                addr = Some(IpAddr::V4(*d))
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(d)) => {
                addr = Some(IpAddr::V6(*d))
            }
            NeighbourAttribute::LinkLayerAddress(m) if m.len() == 6 => {
                mac = Some(MacAddr([m[0], m[1], m[2], m[3], m[4], m[5]]))
            }
            _ => {}
        }
    }
    let usable = matches!(
        n.header.state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
            | NeighbourState::Noarp
    );
    Some(((n.header.ifindex, addr?), mac.filter(|_| usable)))
}

pub async fn read_routes(nl: &Netlink, ifaces: &[Iface]) -> Result<Vec<Route>, NetlinkError> {
    let routes: Vec<_> = nl
        .handle()
        .route()
        .get(rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(request("dumping IPv4 routes"))?;
    Ok(routes.iter().filter_map(|r| route_of(r, ifaces)).collect())
}

pub async fn read_routes6(nl: &Netlink, ifaces: &[Iface]) -> Result<Vec<RouteV6>, NetlinkError> {
    let routes: Vec<_> = nl
        .handle()
        .route()
        .get(rtnetlink::RouteMessageBuilder::<Ipv6Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(request("dumping IPv6 routes"))?;
    Ok(routes.iter().filter_map(|r| route6_of(r, ifaces)).collect())
}

/// Both families' neighbours (the dump is AF_UNSPEC: ARP and ND entries).
pub async fn read_neighbours(
    nl: &Netlink,
    ifaces: &[Iface],
) -> Result<Vec<((u32, IpAddr), MacAddr)>, NetlinkError> {
    let neighbours: Vec<_> = nl
        .handle()
        .neighbours()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(request("dumping neighbours"))?;
    Ok(neighbours
        .iter()
        .filter_map(|n| neighbour_of(n, ifaces))
        .filter_map(|(k, m)| Some((k, m?)))
        .collect())
}

/// The host's own IPv4 and IPv6 addresses on the data interfaces, sorted.
pub async fn read_locals(
    nl: &Netlink,
    ifaces: &[Iface],
) -> Result<(Vec<Ipv4Addr>, Vec<Ipv6Addr>), NetlinkError> {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for i in ifaces {
        for a in nl.addresses(i.index).await? {
            match a {
                IpAddr::V4(a) => v4.push(a),
                IpAddr::V6(a) => v6.push(a),
            }
        }
    }
    v4.sort();
    v6.sort();
    Ok((v4, v6))
}

/// Makes the kernel resolve `addr` by sending it an empty UDP datagram to the discard port: the
/// fast path never resolves addresses itself, and a backend nothing has talked to yet has no
/// neighbour entry. The reply (if any) is the kernel's.
///
/// For IPv6 the same datagram makes the kernel queue it and send a Neighbor Solicitation (RFC
/// 4861, 7.2.2). A link-local next hop needs its interface: `scope` is its index (0 for a
/// global address, which the routing table places).
pub fn provoke_resolution(addr: IpAddr, scope: u32) {
    match addr {
        IpAddr::V4(a) => {
            if let Ok(s) = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) {
                let _ = s.send_to(&[], (a, 9));
            }
        }
        IpAddr::V6(a) => {
            if let Ok(s) = std::net::UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)) {
                let to = std::net::SocketAddrV6::new(a, 9, 0, scope_of(a, scope));
                let _ = s.send_to(&[], to);
            }
        }
    }
}

/// The scope id a datagram to `a` needs: the interface for a link-local address, else none.
pub fn scope_of(a: Ipv6Addr, ifindex: u32) -> u32 {
    if a.segments()[0] & 0xffc0 == 0xfe80 {
        ifindex
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::RouteHeader;
    use netlink_packet_route::AddressFamily;

    fn ifaces() -> Vec<Iface> {
        vec![Iface {
            name: "eth1".into(),
            index: 7,
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            mtu: 1500,
            veth: false,
        }]
    }

    fn route6(table: u8, kind: RouteType, oif: u32) -> RouteMessage {
        let mut r = RouteMessage::default();
        r.header = RouteHeader {
            address_family: AddressFamily::Inet6,
            destination_prefix_length: 0,
            table,
            kind,
            ..RouteHeader::default()
        };
        r.attributes = vec![
            RouteAttribute::Gateway(RouteAddress::Inet6("fe80::1".parse().unwrap())),
            RouteAttribute::Oif(oif),
        ];
        r
    }

    #[test]
    fn ipv6_routes_of_the_main_table_through_data_interfaces() {
        let r = route6_of(&route6(254, RouteType::Unicast, 7), &ifaces()).unwrap();
        assert_eq!(r.gateway, Some("fe80::1".parse().unwrap()));
        assert_eq!(
            (r.net, r.prefix_len, r.iface),
            (Ipv6Addr::UNSPECIFIED, 0, 0)
        );
        // The IPv4 parser does not take it, nor does the IPv6 one take other tables, types or
        // interfaces.
        assert!(route_of(&route6(254, RouteType::Unicast, 7), &ifaces())
            .is_some_and(|r| r.gateway.is_none()));
        assert!(route6_of(&route6(255, RouteType::Unicast, 7), &ifaces()).is_none());
        assert!(route6_of(&route6(254, RouteType::Multicast, 7), &ifaces()).is_none());
        assert!(route6_of(&route6(254, RouteType::Unicast, 3), &ifaces()).is_none());
        assert_eq!(scope_of("fe80::1".parse().unwrap(), 7), 7);
        assert_eq!(scope_of("2001:db8::1".parse().unwrap(), 7), 0);
    }
}
