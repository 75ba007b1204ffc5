//! The router's FIB as the drill sees it: a thread inside the router's namespace dumps the
//! kernel's IPv4 routes over rtnetlink 2,000 times a second and records every change of
//! the next hops of the VIP's route, with the time it was first seen. A path counts as gone from
//! the moment the kernel no longer lists it, whoever (BIRD, zebra) removed it and however
//! (a changed route, a changed nexthop group, a deleted route): a dump shows all of them alike
//! (the kernel lists a nexthop group's members in RTA_MULTIPATH while
//! `net.ipv4.nexthop_compat_mode` is 1, its default).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtnetlink::packet_route::AddressFamily;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket};

use super::netns;

/// From one dump to the next: 2 kHz, so that a late wake-up or two on a busy machine still
/// leaves the rate above 1 kHz.
const POLL_INTERVAL: Duration = Duration::from_micros(500);

/// One state of the route: when it was first seen, and its next hops (empty: no route).
pub type Change = (Instant, Vec<Ipv4Addr>);

#[derive(Default)]
struct Shared {
    timeline: Mutex<Vec<Change>>,
    polls: AtomicU64,
    stop: AtomicBool,
    error: Mutex<Option<String>>,
}

pub struct FibWatch {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    started: Instant,
}

impl FibWatch {
    /// Starts watching the route to `vip`/32 in the main table of namespace `ns`; returns once
    /// the first dump is in.
    pub fn start(ns: &str, vip: Ipv4Addr) -> FibWatch {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = netns::spawn(ns, "fib-watch", move || poll_loop(&s, vip));
        let w = FibWatch {
            shared,
            thread: Some(thread),
            started: Instant::now(),
        };
        while w.shared.timeline.lock().expect("fib lock").is_empty() {
            if let Some(e) = w.error() {
                panic!("FIB watch: {e}");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        w
    }

    /// The next hops now (sorted).
    pub fn current(&self) -> Vec<Ipv4Addr> {
        let t = self.shared.timeline.lock().expect("fib lock");
        t.last().map(|c| c.1.clone()).unwrap_or_default()
    }

    /// Every change seen, in order.
    pub fn timeline(&self) -> Vec<Change> {
        self.shared.timeline.lock().expect("fib lock").clone()
    }

    /// A failure of the watching thread (it stops at the first).
    pub fn error(&self) -> Option<String> {
        self.shared.error.lock().expect("fib lock").clone()
    }

    /// Dumps per second since the start.
    pub fn poll_rate_hz(&self) -> f64 {
        let polls = self.shared.polls.load(Ordering::Relaxed) as f64;
        polls / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    /// Waits until the next hops satisfy `want`; returns the moment that state was first
    /// seen, at or after `since` (the state in force at `since` counts from `since`), or
    /// `None` after `timeout`.
    pub fn wait(
        &self,
        since: Instant,
        timeout: Duration,
        want: impl Fn(&[Ipv4Addr]) -> bool,
    ) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(t) = first_match(&self.timeline(), since, &want) {
                return Some(t);
            }
            if Instant::now() >= deadline || self.error().is_some() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The first moment at or after `since` at which the route satisfied `want`, if any.
pub fn first_match(
    timeline: &[Change],
    since: Instant,
    want: impl Fn(&[Ipv4Addr]) -> bool,
) -> Option<Instant> {
    // The state in force at `since` is the last change before it.
    let start = timeline
        .iter()
        .rposition(|c| c.0 <= since)
        .unwrap_or_default();
    timeline[start..]
        .iter()
        .find(|c| want(&c.1))
        .map(|c| c.0.max(since))
}

impl Drop for FibWatch {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn poll_loop(s: &Shared, vip: Ipv4Addr) {
    let fail = |e: String| *s.error.lock().expect("fib lock") = Some(e);
    let mut sock = match Socket::new(NETLINK_ROUTE) {
        Ok(sock) => sock,
        Err(e) => return fail(format!("netlink socket: {e}")),
    };
    if let Err(e) = sock.bind_auto() {
        return fail(format!("netlink bind: {e}"));
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut seq = 0u32;
    let mut next = Instant::now();
    while !s.stop.load(Ordering::Relaxed) {
        seq = seq.wrapping_add(1);
        let hops = match dump(&sock, &mut buf, seq, vip) {
            Ok(h) => h,
            Err(e) => return fail(e),
        };
        s.polls.fetch_add(1, Ordering::Relaxed);
        let mut t = s.timeline.lock().expect("fib lock");
        if t.last().is_none_or(|c| c.1 != hops) {
            t.push((Instant::now(), hops));
        }
        drop(t);
        // On a schedule, not a fixed pause: a dump that took long shortens the next wait.
        next += POLL_INTERVAL;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

/// One RTM_GETROUTE dump of the IPv4 routes; the next hops of `vip`/32 in the main table,
/// sorted.
fn dump(sock: &Socket, buf: &mut [u8], seq: u32, vip: Ipv4Addr) -> Result<Vec<Ipv4Addr>, String> {
    let prefix = ipnetwork::IpNetwork::V4(
        ipnetwork::Ipv4Network::new(vip, 32).map_err(|e| format!("{vip}/32: {e}"))?,
    );
    let mut hops = [Vec::new()];
    crate::drill::rehearse::routes::dump(
        sock,
        buf,
        seq,
        AddressFamily::Inet,
        &[prefix],
        &mut hops,
    )?;
    let mut v4: Vec<Ipv4Addr> = std::mem::take(&mut hops[0])
        .into_iter()
        .filter_map(|a| match a {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    v4.sort();
    Ok(v4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_counts_the_state_in_force_from_since() {
        let t0 = Instant::now();
        let a: Ipv4Addr = "198.18.41.2".parse().unwrap();
        let b: Ipv4Addr = "198.18.41.3".parse().unwrap();
        let tl = vec![
            (t0, vec![a, b]),
            (t0 + Duration::from_millis(10), vec![a]),
            (t0 + Duration::from_millis(20), vec![]),
        ];
        let since = t0 + Duration::from_millis(5);
        assert_eq!(first_match(&tl, since, |h| h.len() == 2), Some(since));
        assert_eq!(
            first_match(&tl, since, |h| h.len() == 1),
            Some(t0 + Duration::from_millis(10))
        );
        assert_eq!(
            first_match(&tl, t0 + Duration::from_millis(15), |h| h.is_empty()),
            Some(t0 + Duration::from_millis(20))
        );
        assert_eq!(first_match(&tl, since, |h| h.len() == 3), None);
    }
}
