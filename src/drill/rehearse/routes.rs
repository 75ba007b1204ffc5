//! Where a BGP router's routes for the announced prefixes point: a thread inside the router's
//! namespace dumps the kernel's routes (BIRD exports what it selects, every equal path of a
//! multipath route) a thousand times a second and records each change of each prefix's next
//! hops, with the Unix time it was first seen.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;
use rtnetlink::packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::traffic::now_us;
use crate::drill::cluster::netns;

const POLL_INTERVAL: Duration = Duration::from_millis(1);
const MAIN_TABLE: u32 = 254;

/// One state of the routes: since `t_us`, each prefix's next hops (sorted; empty: no route).
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub t_us: i64,
    pub hops: Vec<Vec<IpAddr>>,
}

#[derive(Default)]
struct Shared {
    timeline: Mutex<Vec<State>>,
    polls: AtomicU64,
    stop: AtomicBool,
    error: Mutex<Option<String>>,
}

pub struct RouteWatch {
    pub prefixes: Vec<IpNetwork>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl RouteWatch {
    /// Watches `prefixes` in the main table of namespace `ns`.
    pub fn start(ns: &str, prefixes: Vec<IpNetwork>) -> RouteWatch {
        let shared = Arc::new(Shared::default());
        let (s, p) = (shared.clone(), prefixes.clone());
        let thread = netns::spawn(ns, "route-watch", move || poll_loop(&s, &p));
        RouteWatch {
            prefixes,
            shared,
            thread: Some(thread),
        }
    }

    pub fn timeline(&self) -> Vec<State> {
        self.shared
            .timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The next hops of every prefix now.
    pub fn current(&self) -> Vec<Vec<IpAddr>> {
        self.timeline()
            .last()
            .map(|s| s.hops.clone())
            .unwrap_or_else(|| vec![Vec::new(); self.prefixes.len()])
    }

    pub fn error(&self) -> Option<String> {
        self.shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn polls(&self) -> u64 {
        self.shared.polls.load(Ordering::Relaxed)
    }
}

impl Drop for RouteWatch {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn poll_loop(s: &Shared, prefixes: &[IpNetwork]) {
    let fail = |e: String| *s.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    let mut sock = match Socket::new(NETLINK_ROUTE) {
        Ok(sock) => sock,
        Err(e) => return fail(format!("netlink socket: {e}")),
    };
    if let Err(e) = sock.bind_auto() {
        return fail(format!("netlink bind: {e}"));
    }
    let families: Vec<AddressFamily> = [
        (prefixes.iter().any(|p| p.is_ipv4()), AddressFamily::Inet),
        (prefixes.iter().any(|p| p.is_ipv6()), AddressFamily::Inet6),
    ]
    .into_iter()
    .filter_map(|(any, f)| any.then_some(f))
    .collect();
    let mut buf = vec![0u8; 1 << 16];
    let mut seq = 0u32;
    let mut next = Instant::now();
    while !s.stop.load(Ordering::Relaxed) {
        let mut hops = vec![Vec::new(); prefixes.len()];
        for &family in &families {
            seq = seq.wrapping_add(1);
            if let Err(e) = dump(&sock, &mut buf, seq, family, prefixes, &mut hops) {
                return fail(e);
            }
        }
        hops.iter_mut().for_each(|h| h.sort());
        s.polls.fetch_add(1, Ordering::Relaxed);
        let mut t = s.timeline.lock().unwrap_or_else(|e| e.into_inner());
        if t.last().is_none_or(|c| c.hops != hops) {
            t.push(State {
                t_us: now_us(),
                hops,
            });
        }
        drop(t);
        next += POLL_INTERVAL;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

/// One RTM_GETROUTE dump of `family`: the next hops of each of `prefixes` into `hops` (the
/// cluster drill's FIB watcher uses it too).
pub(crate) fn dump(
    sock: &Socket,
    buf: &mut [u8],
    seq: u32,
    family: AddressFamily,
    prefixes: &[IpNetwork],
    hops: &mut [Vec<IpAddr>],
) -> Result<(), String> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family;
    let mut req = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetRoute(msg)),
    );
    req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.header.sequence_number = seq;
    req.finalize();
    let mut out = vec![0u8; req.buffer_len()];
    req.serialize(&mut out);
    sock.send_to(&out, &SocketAddr::new(0, 0), 0)
        .map_err(|e| format!("netlink send: {e}"))?;
    loop {
        let n = sock
            .recv(&mut &mut buf[..], 0)
            .map_err(|e| format!("netlink recv: {e}"))?;
        let mut at = 0;
        while at < n {
            let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[at..n])
                .map_err(|e| format!("netlink parse: {e}"))?;
            let len = m.header.length as usize;
            if m.header.sequence_number == seq {
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::Error(e) => return Err(format!("netlink: {e}")),
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => {
                        if let Some((i, h)) = match_prefix(&r, prefixes) {
                            hops[i] = h;
                        }
                    }
                    _ => {}
                }
            }
            if len == 0 {
                break;
            }
            at += len;
        }
    }
}

fn addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

/// A route's next hops: the gateways of its multipath next hops, or its own gateway (IPv4 or
/// IPv6, `RTA_GATEWAY` or `RTA_VIA`). The cluster drill's FIB reader uses it too.
pub fn gateways(r: &RouteMessage) -> Vec<IpAddr> {
    let gateway = |attrs: &[RouteAttribute]| {
        attrs.iter().find_map(|a| match a {
            RouteAttribute::Gateway(g) => addr(g),
            RouteAttribute::Via(v) => match v {
                rtnetlink::packet_route::route::RouteVia::Inet(a) => Some(IpAddr::V4(*a)),
                rtnetlink::packet_route::route::RouteVia::Inet6(a) => Some(IpAddr::V6(*a)),
                _ => None,
            },
            _ => None,
        })
    };
    let mut hops: Vec<IpAddr> = r
        .attributes
        .iter()
        .filter_map(|a| match a {
            RouteAttribute::MultiPath(nhs) => Some(nhs),
            _ => None,
        })
        .flatten()
        .filter_map(|nh| gateway(&nh.attributes))
        .collect();
    if hops.is_empty() {
        hops.extend(gateway(&r.attributes));
    }
    hops
}

/// If `r` is the main table's route for one of `prefixes`: its index and gateways.
pub fn match_prefix(r: &RouteMessage, prefixes: &[IpNetwork]) -> Option<(usize, Vec<IpAddr>)> {
    let table = r
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(r.header.table));
    if table != MAIN_TABLE {
        return None;
    }
    let dst = r.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => addr(d),
        _ => None,
    })?;
    let len = r.header.destination_prefix_length;
    let i = prefixes
        .iter()
        .position(|p| p.network() == dst && p.prefix() == len)?;
    Some((i, gateways(r)))
}
