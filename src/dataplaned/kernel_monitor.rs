//! The kernel's next hops for the fast path, kept current by rtnetlink: subscribe to
//! RTNLGRP_NEIGH (ARP and ND), RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_IFADDR,
//! RTNLGRP_IPV6_IFADDR and RTNLGRP_LINK first, then dump, then apply notifications. The result is a `watch` that changes only when the view does, so the
//! controller publishes a snapshot only then.
//!
//! Neighbours are applied message by message (they change often: every ARP state transition is a
//! notification). Routes and addresses are re-dumped when a notification touches a data
//! interface: the kernel removes IPv4 routes without RTM_DELROUTE when a link goes down or an
//! address goes away, so a link or address event means "the routes may have changed silently"
//! (IPv6 is the same when a link goes down: its routes are flushed).
//! If the socket overflows (ENOBUFS ends the stream) the monitor subscribes and dumps again.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures::StreamExt;
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::MulticastGroup;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::kernel_view::{self, Iface, KernelView};
use crate::kernel::netlink::NetlinkError;
use crate::kernel::Netlink;
use dataplane::wire::MacAddr;

/// How long a burst of notifications is gathered before the routes are re-dumped once.
const COALESCE: Duration = Duration::from_millis(20);
/// A receive buffer large enough for a neighbour-table flush on a busy segment.
const RX_BUFFER: usize = 4 << 20;
/// Pause before subscribing again after the notification stream ended.
const RESUBSCRIBE: Duration = Duration::from_millis(100);

/// Neighbours keyed by (interface index, address); the view's list is built from it.
#[derive(Debug, Default)]
struct Neighbours(BTreeMap<(u32, IpAddr), MacAddr>);

impl Neighbours {
    fn set(&mut self, key: (u32, IpAddr), mac: Option<MacAddr>) {
        match mac {
            Some(m) => {
                self.0.insert(key, m);
            }
            None => {
                self.0.remove(&key);
            }
        }
    }

    fn list(&self) -> Vec<(Ipv4Addr, MacAddr)> {
        let mut v: Vec<_> = self
            .0
            .iter()
            .filter_map(|((_, a), m)| match a {
                IpAddr::V4(a) => Some((*a, *m)),
                IpAddr::V6(_) => None,
            })
            .collect();
        v.sort();
        v
    }

    fn list6(&self) -> Vec<(Ipv6Addr, MacAddr)> {
        let mut v: Vec<_> = self
            .0
            .iter()
            .filter_map(|((_, a), m)| match a {
                IpAddr::V6(a) => Some((*a, *m)),
                IpAddr::V4(_) => None,
            })
            .collect();
        v.sort();
        v
    }
}

/// What a notification asks of the monitor.
#[derive(Debug, PartialEq, Eq)]
enum Effect {
    None,
    Neighbour((u32, IpAddr), Option<MacAddr>),
    /// Routes or local addresses of a data interface may have changed: dump them again.
    Redump,
}

fn effect(msg: &RouteNetlinkMessage, ifaces: &[Iface]) -> Effect {
    let ours = |index: u32| ifaces.iter().any(|i| i.index == index);
    match msg {
        RouteNetlinkMessage::NewNeighbour(n) => match kernel_view::neighbour_of(n, ifaces) {
            Some((k, m)) => Effect::Neighbour(k, m),
            None => Effect::None,
        },
        RouteNetlinkMessage::DelNeighbour(n) => match kernel_view::neighbour_of(n, ifaces) {
            Some((k, _)) => Effect::Neighbour(k, None),
            None => Effect::None,
        },
        RouteNetlinkMessage::NewRoute(r) | RouteNetlinkMessage::DelRoute(r) => {
            if kernel_view::route_of(r, ifaces).is_some()
                || kernel_view::route6_of(r, ifaces).is_some()
            {
                Effect::Redump
            } else {
                Effect::None
            }
        }
        RouteNetlinkMessage::NewAddress(a) | RouteNetlinkMessage::DelAddress(a)
            if ours(a.header.index) =>
        {
            Effect::Redump
        }
        RouteNetlinkMessage::NewLink(l) | RouteNetlinkMessage::DelLink(l)
            if ours(l.header.index) =>
        {
            Effect::Redump
        }
        _ => Effect::None,
    }
}

/// Starts the monitor; the receiver holds the first dump's view when this returns.
pub async fn watch(
    nl: Netlink,
    ifaces: Vec<Iface>,
    stop: CancellationToken,
) -> Result<watch::Receiver<KernelView>, NetlinkError> {
    let (messages, mut neighbours, view) = subscribe_and_dump(&nl, &ifaces).await?;
    let (tx, rx) = watch::channel(view);
    tokio::spawn(async move {
        let mut messages = Some(messages);
        loop {
            let stream = match messages.take() {
                Some(m) => m,
                None => {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(RESUBSCRIBE) => {}
                    }
                    match subscribe_and_dump(&nl, &ifaces).await {
                        Ok((m, n, view)) => {
                            neighbours = n;
                            tx.send_if_modified(|v| replace(v, view));
                            m
                        }
                        Err(e) => {
                            tracing::warn!("re-subscribing to routes and neighbours: {e}");
                            continue;
                        }
                    }
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                () = follow(&nl, &ifaces, stream, &mut neighbours, &tx) => {
                    tracing::warn!("route and neighbour notifications lost; dumping again");
                }
            }
        }
    });
    Ok(rx)
}

type Messages = futures::channel::mpsc::UnboundedReceiver<(
    netlink_packet_core::NetlinkMessage<RouteNetlinkMessage>,
    rtnetlink::sys::SocketAddr,
)>;

async fn subscribe_and_dump(
    nl: &Netlink,
    ifaces: &[Iface],
) -> Result<(Messages, Neighbours, KernelView), NetlinkError> {
    // Subscribe before dumping so no change between the two is lost (a change seen twice is
    // harmless: applying it again gives the same table).
    let (mut conn, _handle, messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Neigh,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
        MulticastGroup::Link,
    ])?;
    {
        use rtnetlink::sys::AsyncSocket;
        if let Err(e) = conn.socket_mut().socket_mut().set_rx_buf_sz(RX_BUFFER) {
            tracing::debug!("enlarging the rtnetlink monitor's buffer: {e}");
        }
    }
    tokio::spawn(conn);
    let mut neighbours = Neighbours::default();
    for (k, m) in kernel_view::read_neighbours(nl, ifaces).await? {
        neighbours.set(k, Some(m));
    }
    let (locals, locals6) = kernel_view::read_locals(nl, ifaces).await?;
    let view = KernelView {
        routes: kernel_view::read_routes(nl, ifaces).await?,
        neighbours: neighbours.list(),
        locals,
        routes6: kernel_view::read_routes6(nl, ifaces).await?,
        neighbours6: neighbours.list6(),
        locals6,
    };
    Ok((messages, neighbours, view))
}

fn replace(v: &mut KernelView, new: KernelView) -> bool {
    if *v == new {
        return false;
    }
    *v = new;
    true
}

/// Applies one notification; `true` when routes and addresses must be dumped again.
fn apply(
    msg: netlink_packet_core::NetlinkMessage<RouteNetlinkMessage>,
    ifaces: &[Iface],
    neighbours: &mut Neighbours,
) -> bool {
    let NetlinkPayload::InnerMessage(inner) = msg.payload else {
        return false;
    };
    match effect(&inner, ifaces) {
        Effect::None => false,
        Effect::Neighbour(k, m) => {
            neighbours.set(k, m);
            false
        }
        Effect::Redump => true,
    }
}

/// Applies notifications until the stream ends.
async fn follow(
    nl: &Netlink,
    ifaces: &[Iface],
    mut messages: Messages,
    neighbours: &mut Neighbours,
    tx: &watch::Sender<KernelView>,
) {
    while let Some((msg, _)) = messages.next().await {
        let mut redump = apply(msg, ifaces, neighbours);
        if redump {
            // Gather the rest of the burst (a link going down brings many) before dumping.
            let deadline = tokio::time::sleep(COALESCE);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = &mut deadline => break,
                    m = messages.next() => match m {
                        Some((m, _)) => {
                            apply(m, ifaces, neighbours);
                        }
                        None => return,
                    },
                }
            }
        } else {
            // Whatever else is already queued goes into the same update.
            let mut redump_too = false;
            while let Ok((m, _)) = messages.try_recv() {
                redump_too |= apply(m, ifaces, neighbours);
            }
            if redump_too {
                // Rare (a route change queued behind neighbour changes): take the slow path.
                redump = true;
            }
        }
        let mut view = tx.borrow().clone();
        view.neighbours = neighbours.list();
        view.neighbours6 = neighbours.list6();
        if redump {
            match (
                kernel_view::read_routes(nl, ifaces).await,
                kernel_view::read_routes6(nl, ifaces).await,
                kernel_view::read_locals(nl, ifaces).await,
            ) {
                (Ok(routes), Ok(routes6), Ok((locals, locals6))) => {
                    view.routes = routes;
                    view.routes6 = routes6;
                    view.locals = locals;
                    view.locals6 = locals6;
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    tracing::warn!("dumping routes and addresses: {e}")
                }
            }
        }
        tx.send_if_modified(|v| replace(v, view));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
    };

    fn iface() -> Vec<Iface> {
        vec![Iface {
            name: "eth1".into(),
            index: 7,
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            mtu: 1500,
            veth: false,
        }]
    }

    fn neigh(index: u32, state: NeighbourState, mac: [u8; 6]) -> NeighbourMessage {
        let mut n = NeighbourMessage::default();
        n.header.ifindex = index;
        n.header.state = state;
        n.attributes = vec![
            NeighbourAttribute::Destination(NeighbourAddress::Inet(Ipv4Addr::new(198, 18, 21, 2))),
            NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
        ];
        n
    }

    #[test]
    fn neighbour_notifications_update_only_data_interfaces() {
        let ifs = iface();
        let a = Ipv4Addr::new(198, 18, 21, 2);
        let mut t = Neighbours::default();
        let mac = [2, 0, 0, 0, 0, 9];
        let apply = |t: &mut Neighbours, m| {
            if let Effect::Neighbour(k, v) = effect(&m, &ifs) {
                t.set(k, v)
            }
        };
        apply(
            &mut t,
            RouteNetlinkMessage::NewNeighbour(neigh(7, NeighbourState::Reachable, mac)),
        );
        assert_eq!(t.list(), vec![(a, MacAddr(mac))]);
        // A new MAC replaces the old one.
        let moved = [2, 0, 0, 0, 0, 10];
        apply(
            &mut t,
            RouteNetlinkMessage::NewNeighbour(neigh(7, NeighbourState::Stale, moved)),
        );
        assert_eq!(t.list(), vec![(a, MacAddr(moved))]);
        // Failed resolution means no usable entry.
        apply(
            &mut t,
            RouteNetlinkMessage::NewNeighbour(neigh(7, NeighbourState::Failed, moved)),
        );
        assert!(t.list().is_empty());
        apply(
            &mut t,
            RouteNetlinkMessage::NewNeighbour(neigh(7, NeighbourState::Reachable, mac)),
        );
        apply(
            &mut t,
            RouteNetlinkMessage::DelNeighbour(neigh(7, NeighbourState::Reachable, mac)),
        );
        assert!(t.list().is_empty());
        // ND entries are kept apart, in the IPv6 list.
        let b: Ipv6Addr = "2001:db8:21::2".parse().unwrap();
        let mut n6 = neigh(7, NeighbourState::Reachable, mac);
        n6.attributes[0] = NeighbourAttribute::Destination(NeighbourAddress::Inet6(b));
        apply(&mut t, RouteNetlinkMessage::NewNeighbour(n6.clone()));
        assert!(t.list().is_empty());
        assert_eq!(t.list6(), vec![(b, MacAddr(mac))]);
        n6.header.state = NeighbourState::Incomplete;
        apply(&mut t, RouteNetlinkMessage::NewNeighbour(n6));
        assert!(t.list6().is_empty());
        // Other interfaces are not ours.
        assert_eq!(
            effect(
                &RouteNetlinkMessage::NewNeighbour(neigh(3, NeighbourState::Reachable, mac)),
                &ifs
            ),
            Effect::None
        );
    }
}
