//! One scenario's window as the picture shows it: each node's VRRP states as bands, each
//! router's paths for each prefix, requests per 10 ms with the failed ones, broken
//! connections, and the events. Assembled from what the watchers recorded; drawn by
//! [`super::svg`].

use std::net::IpAddr;

use super::follow::NodeEvent;
use super::rehearsal::{Mark, Rehearsal};
use super::routes::State as RouteState;
use super::traffic::Req;

pub const BUCKET_US: i64 = 10_000;

/// What a band shows at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shade {
    /// A VRRP state (`master`, `backup`, `fault`, `initialize`), or `down`: no daemon.
    Vrrp(String),
    /// A route through these nodes (indices), or through addresses of no node.
    Route { nodes: Vec<usize>, other: usize },
}

#[derive(Debug, Clone)]
pub struct Span {
    pub from_us: i64,
    pub to_us: i64,
    pub shade: Shade,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Band {
    pub label: String,
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// What the drill did.
    Drill,
    /// What a node reported (a new master, a check, a session, a reload).
    Node,
    /// The routers' routes settled.
    Route,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub t_us: i64,
    pub label: String,
    pub kind: MarkKind,
}

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub title: String,
    /// Lines under the title (the figures).
    pub summary: Vec<String>,
    pub from_us: i64,
    pub to_us: i64,
    pub vrrp: Vec<Band>,
    pub routes: Vec<Band>,
    /// Per 10 ms from `from_us`: requests sent that were answered, and that failed.
    pub buckets: Vec<(u32, u32)>,
    pub breaks: Vec<i64>,
    /// The same through the SNAT gateway (`None` without it).
    pub snat_buckets: Option<Vec<(u32, u32)>>,
    pub snat_breaks: Vec<i64>,
    pub events: Vec<Event>,
    pub node_names: Vec<String>,
}

/// A node's VRRP state of `instance` through `[from, to)`: the state changes it reported, and
/// `down` while its daemon did not run.
pub fn vrrp_spans(
    events: &[NodeEvent],
    node: usize,
    instance: &str,
    down: &[(i64, Option<i64>)],
    from: i64,
    to: i64,
) -> Vec<Span> {
    // (time, state) changes, in order: reported changes, and the daemon's deaths.
    let mut changes: Vec<(i64, String)> = events
        .iter()
        .filter(|e| e.node == node && e.event.object == instance)
        .filter_map(|e| e.vrrp_change().map(|(_, to)| (e.t_us(), to.to_string())))
        .collect();
    for &(d, up) in down {
        changes.push((d, "down".into()));
        if let Some(u) = up {
            // A new daemon starts in `initialize` until it reports otherwise.
            changes.push((u, "initialize".into()));
        }
    }
    changes.sort_by_key(|c| c.0);
    let mut state = changes
        .iter()
        .rev()
        .find(|c| c.0 <= from)
        .map(|c| c.1.clone())
        .unwrap_or_else(|| "initialize".into());
    let mut spans = Vec::new();
    let mut at = from;
    for (t, s) in changes.into_iter().filter(|c| c.0 > from && c.0 < to) {
        if s == state {
            continue;
        }
        spans.push(span_vrrp(at, t, &state));
        at = t;
        state = s;
    }
    spans.push(span_vrrp(at, to, &state));
    spans
}

fn span_vrrp(from_us: i64, to_us: i64, state: &str) -> Span {
    Span {
        from_us,
        to_us,
        shade: Shade::Vrrp(state.to_string()),
        text: state.to_string(),
    }
}

/// A router's paths for prefix `p` through `[from, to)`.
pub fn route_spans(
    timeline: &[RouteState],
    p: usize,
    node_of: &dyn Fn(IpAddr) -> Option<usize>,
    names: &[String],
    from: i64,
    to: i64,
) -> Vec<Span> {
    let at = |hops: &[IpAddr]| {
        let mut nodes: Vec<usize> = hops.iter().filter_map(|h| node_of(*h)).collect();
        nodes.sort();
        nodes.dedup();
        let other = hops.iter().filter(|h| node_of(**h).is_none()).count();
        let mut parts: Vec<String> = nodes.iter().map(|&n| names[n].clone()).collect();
        if other > 0 {
            parts.push(format!("{other} other"));
        }
        let text = if parts.is_empty() {
            "no route".to_string()
        } else {
            format!("via {}", parts.join(" + "))
        };
        (Shade::Route { nodes, other }, text)
    };
    let hops_of = |s: &RouteState| s.hops.get(p).cloned().unwrap_or_default();
    let mut cur = timeline
        .iter()
        .rev()
        .find(|s| s.t_us <= from)
        .map(hops_of)
        .unwrap_or_default();
    let mut spans = Vec::new();
    let mut start = from;
    for s in timeline.iter().filter(|s| s.t_us > from && s.t_us < to) {
        let h = hops_of(s);
        if h == cur {
            continue;
        }
        let (shade, text) = at(&cur);
        spans.push(Span {
            from_us: start,
            to_us: s.t_us,
            shade,
            text,
        });
        start = s.t_us;
        cur = h;
    }
    let (shade, text) = at(&cur);
    spans.push(Span {
        from_us: start,
        to_us: to,
        shade,
        text,
    });
    spans
}

/// Requests by the 10 ms bucket they were sent in: (answered, failed).
pub fn buckets(reqs: &[Req], from: i64, to: i64) -> Vec<(u32, u32)> {
    let n = ((to - from).max(0) / BUCKET_US + 1) as usize;
    let mut b = vec![(0u32, 0u32); n];
    for r in reqs {
        let i = ((r.t_us - from) / BUCKET_US) as usize;
        if r.t_us < from || i >= n {
            continue;
        }
        if r.failed.is_some() {
            b[i].1 += 1;
        } else {
            b[i].0 += 1;
        }
    }
    b
}

/// The node events worth a marker: a new master of the timed instance, checks, sessions,
/// reloads, starts and stops.
fn node_marks(events: &[NodeEvent], names: &[String], instance: &str) -> Vec<Event> {
    events
        .iter()
        .filter_map(|e| {
            let n = names.get(e.node)?;
            let ev = &e.event;
            let label = match (ev.subsystem.as_str(), ev.kind.as_str()) {
                ("vrrp", "state_change") if ev.object == instance => {
                    let (_, to) = e.vrrp_change()?;
                    (to == "master").then(|| format!("{n} master"))?
                }
                ("health", "check_down") => format!("{n}: {} down", ev.object),
                ("health", "check_up") => format!("{n}: {} up", ev.object),
                ("bgp", "peer_down") => format!("{n}: BGP {} down", ev.object),
                ("bgp", "peer_established") => format!("{n}: BGP {} up", ev.object),
                ("config", "reload_failed") => format!("{n}: reload refused"),
                ("config", "reloaded") => format!("{n}: reloaded"),
                ("daemon", "started") => format!("{n}: started"),
                ("daemon", "stopping") => format!("{n}: stopping"),
                _ => return None,
            };
            Some(Event {
                t_us: e.t_us(),
                label,
                kind: MarkKind::Node,
            })
        })
        .collect()
}

impl Rehearsal {
    /// The timeline of `[from, to)`.
    pub fn timeline(&self, title: String, from: i64, to: i64, route_at: Option<i64>) -> Timeline {
        let names: Vec<String> = self.bed.nodes.iter().map(|n| n.name.clone()).collect();
        let events = self.events();
        let plan = &self.bed.plan;
        let mut instances: Vec<String> = vec![plan.front.instance.clone()];
        for v in &plan.nodes[0].config().vrrp.instance {
            if !instances.contains(&v.name) {
                instances.push(v.name.clone());
            }
        }
        let mut vrrp = Vec::new();
        for inst in &instances {
            for (k, n) in names.iter().enumerate() {
                vrrp.push(Band {
                    label: format!("{n} {inst}"),
                    spans: vrrp_spans(&events, k, inst, &self.down[k], from, to),
                });
            }
        }
        let mut routes = Vec::new();
        let node_of = |ip: IpAddr| self.bed.node_of(ip);
        for (ri, w) in self.routes.iter().enumerate() {
            let rname = &plan.hosts[plan.routers[ri].host].name;
            let tl = w.timeline();
            for (p, prefix) in plan.prefixes.iter().enumerate() {
                // Only the prefixes of the families its sessions carry.
                let carried = plan.routers[ri].sessions.iter().any(|s| {
                    if prefix.is_ipv4() {
                        s.ipv4
                    } else {
                        s.ipv6
                    }
                });
                if !carried {
                    continue;
                }
                routes.push(Band {
                    label: format!("{rname} {prefix}"),
                    spans: route_spans(&tl, p, &node_of, &names, from, to),
                });
            }
        }
        let (reqs, breaks) = self
            .traffic
            .as_ref()
            .map(|t| t.between(from, to))
            .unwrap_or_default();
        let mut marks: Vec<Event> = self
            .marks
            .iter()
            .filter(|m: &&Mark| m.t_us >= from && m.t_us < to)
            .map(|m| Event {
                t_us: m.t_us,
                label: m.label.clone(),
                kind: MarkKind::Drill,
            })
            .collect();
        marks.extend(
            node_marks(&events, &names, &plan.front.instance)
                .into_iter()
                .filter(|e| e.t_us >= from && e.t_us < to),
        );
        if let Some(t) = route_at.filter(|t| *t >= from && *t < to) {
            marks.push(Event {
                t_us: t,
                label: "routes settled".into(),
                kind: MarkKind::Route,
            });
        }
        marks.sort_by_key(|e| e.t_us);
        let (mut sreqs, mut sbreaks) = (Vec::new(), Vec::new());
        for t in &self.snat {
            let (q, b) = t.between(from, to);
            sreqs.extend(q);
            sbreaks.extend(b.iter().map(|b| b.t_us));
        }
        Timeline {
            title,
            summary: Vec::new(),
            from_us: from,
            to_us: to,
            vrrp,
            routes,
            buckets: buckets(&reqs, from, to),
            breaks: breaks.iter().map(|b| b.t_us).collect(),
            snat_buckets: (!self.snat.is_empty()).then(|| buckets(&sreqs, from, to)),
            snat_breaks: sbreaks,
            events: marks,
            node_names: names,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::traffic::Proto;
    use super::*;
    use crate::events::Event as DaemonEvent;

    fn change(node: usize, t_ms: u64, to: &str) -> NodeEvent {
        NodeEvent {
            node,
            event: DaemonEvent {
                seq: 1,
                unix_ms: t_ms,
                time: String::new(),
                subsystem: "vrrp".into(),
                kind: "state_change".into(),
                object: "front".into(),
                message: String::new(),
                fields: serde_json::json!({"from": "x", "to": to}),
            },
        }
    }

    #[test]
    fn bands_follow_changes_and_deaths() {
        let ev = vec![change(0, 1000, "backup"), change(0, 1100, "master")];
        let down = vec![(2_000_000, Some(3_000_000))];
        let s = vrrp_spans(&ev, 0, "front", &down, 1_500_000, 4_000_000);
        let got: Vec<(i64, i64, &str)> = s
            .iter()
            .map(|s| (s.from_us, s.to_us, s.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1_500_000, 2_000_000, "master"),
                (2_000_000, 3_000_000, "down"),
                (3_000_000, 4_000_000, "initialize"),
            ]
        );
    }

    #[test]
    fn routes_name_their_nodes() {
        let a: IpAddr = "198.18.0.2".parse().unwrap();
        let b: IpAddr = "198.18.0.3".parse().unwrap();
        let tl = vec![
            RouteState {
                t_us: 0,
                hops: vec![vec![a]],
            },
            RouteState {
                t_us: 500,
                hops: vec![vec![a, b]],
            },
            RouteState {
                t_us: 800,
                hops: vec![vec![]],
            },
        ];
        let names = vec!["lb1".to_string(), "lb2".to_string()];
        let node_of = |ip: IpAddr| [a, b].iter().position(|x| *x == ip);
        let s = route_spans(&tl, 0, &node_of, &names, 100, 1000);
        let texts: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["via lb1", "via lb1 + lb2", "no route"]);
        assert_eq!((s[1].from_us, s[1].to_us), (500, 800));
    }

    #[test]
    fn buckets_count_failures() {
        let r = |t: i64, failed: bool| Req {
            t_us: t,
            done_us: t,
            proto: Proto::Http,
            failed: failed.then_some("timeout"),
        };
        let b = buckets(&[r(0, false), r(5_000, true), r(25_000, false)], 0, 30_000);
        assert_eq!(b[0], (1, 1));
        assert_eq!(b[2], (1, 0));
        assert_eq!(b.len(), 4);
    }
}
