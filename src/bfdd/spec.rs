//! The BFD sessions a configuration asks for (one per `[[bgp.neighbor]]` with `bfd`), and
//! what a reload does to them: pure, so it is tested without sockets.

use std::net::IpAddr;

use crate::config::bgp::{BfdConfig, BgpConfig};
use crate::config::Config;
use crate::control::protocol::ReloadAction;

/// One session: the peer, where we send from, and the core's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSpec {
    pub peer: IpAddr,
    /// The neighbour's `local_address`; `None`: the kernel picks the source by route.
    pub local: Option<IpAddr>,
    pub bfd: BfdConfig,
}

impl SessionSpec {
    /// The core's configuration: `interval` is both Desired Min TX and Required Min RX.
    pub fn core(&self) -> ::bfd::SessionConfig {
        let mut c = ::bfd::SessionConfig::new(self.bfd.interval.get(), self.bfd.multiplier);
        c.auth = self.bfd.auth.as_ref().map(|a| ::bfd::AuthConfig {
            auth_type: a.auth_type.core(),
            key_id: a.key_id,
            key: a.key.expose().to_vec(),
        });
        c
    }

    /// A change the running session can take in place (timers, multiplier, authentication);
    /// another source address is another session.
    pub fn same_session(&self, other: &SessionSpec) -> bool {
        self.peer == other.peer && self.local == other.local
    }
}

pub fn specs(cfg: &Config) -> Vec<SessionSpec> {
    cfg.bgp.as_ref().map(specs_of).unwrap_or_default()
}

fn specs_of(b: &BgpConfig) -> Vec<SessionSpec> {
    b.neighbor
        .iter()
        .filter_map(|n| {
            n.bfd.as_ref().map(|bfd| SessionSpec {
                peer: n.address,
                local: n.local_address,
                bfd: bfd.clone(),
            })
        })
        .collect()
}

/// `appctl reload`'s lines for BFD: sessions added, removed, restarted (new source address),
/// or changed in place (timers through a Poll Sequence, RFC 5880 §6.8.3).
pub fn reload_plan(old: &Config, new: &Config) -> Vec<(String, ReloadAction, String)> {
    let (o, n) = (specs(old), specs(new));
    let mut out = Vec::new();
    for s in &o {
        if !n.iter().any(|x| x.peer == s.peer) {
            out.push((
                s.peer.to_string(),
                ReloadAction::Removed,
                "session AdminDown, then removed".into(),
            ));
        }
    }
    for s in &n {
        match o.iter().find(|x| x.peer == s.peer) {
            None => out.push((
                s.peer.to_string(),
                ReloadAction::Added,
                format!("session {} x{}", s.bfd.interval, s.bfd.multiplier),
            )),
            Some(x) if !x.same_session(s) => out.push((
                s.peer.to_string(),
                ReloadAction::Restarted,
                "local_address changed".into(),
            )),
            Some(x) if x.bfd != s.bfd => {
                let mut what = Vec::new();
                if x.bfd.interval != s.bfd.interval {
                    what.push(format!(
                        "interval {} → {} (Poll Sequence)",
                        x.bfd.interval, s.bfd.interval
                    ));
                }
                if x.bfd.multiplier != s.bfd.multiplier {
                    what.push(format!(
                        "multiplier {} → {}",
                        x.bfd.multiplier, s.bfd.multiplier
                    ));
                }
                if x.bfd.auth != s.bfd.auth {
                    what.push("authentication changed".into());
                }
                out.push((s.peer.to_string(), ReloadAction::Applied, what.join(", ")));
            }
            Some(_) => {}
        }
    }
    let prio = |c: &Config| c.bgp.as_ref().map(|b| b.bfd_realtime_priority);
    if prio(old) != prio(new) && prio(old).is_some() && prio(new).is_some() {
        out.push((
            "bfd_realtime_priority".into(),
            ReloadAction::Applied,
            format!(
                "{} → {}",
                prio(old).unwrap_or_default(),
                prio(new).unwrap_or_default()
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_str;

    fn cfg(neighbors: &str) -> Config {
        let text = format!("[bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n{neighbors}");
        parse_str(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    const A: &str = "[[bgp.neighbor]]\naddress = \"198.18.0.2\"\nremote_as = 65000\n";
    const B: &str = "[[bgp.neighbor]]\naddress = \"2001:db8::2\"\nremote_as = 65000\n";

    #[test]
    fn one_session_per_neighbor_with_bfd() {
        let c = cfg(&format!(
            "{A}local_address = \"198.18.0.1\"\nbfd = {{ interval = \"50ms\", multiplier = 3 }}\n{B}"
        ));
        let s = specs(&c);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].peer.to_string(), "198.18.0.2");
        assert_eq!(
            s[0].local.map(|a| a.to_string()).as_deref(),
            Some("198.18.0.1")
        );
        let core = s[0].core();
        assert_eq!(core.desired_min_tx, std::time::Duration::from_millis(50));
        assert_eq!(core.required_min_rx, std::time::Duration::from_millis(50));
        assert_eq!(core.detect_mult, 3);
        assert!(core.auth.is_none());
        // Defaults: 300 ms x 3.
        let d = specs(&cfg(&format!("{A}bfd = {{}}\n")));
        assert_eq!(d[0].bfd.interval.to_string(), "300ms");
        assert_eq!(d[0].bfd.multiplier, 3);
    }

    #[test]
    fn reload_plan_says_what_changes_in_place() {
        let old = cfg(&format!(
            "{A}bfd = {{ interval = \"300ms\" }}\n{B}bfd = {{}}\n"
        ));
        let new = cfg(&format!(
            "{A}bfd = {{ interval = \"50ms\" }}\n[[bgp.neighbor]]\naddress = \"198.18.0.6\"\nremote_as = 65000\nbfd = {{}}\n"
        ));
        let p = reload_plan(&old, &new);
        let short: Vec<(&str, ReloadAction)> = p.iter().map(|(o, a, _)| (o.as_str(), *a)).collect();
        assert_eq!(
            short,
            [
                ("2001:db8::2", ReloadAction::Removed),
                ("198.18.0.2", ReloadAction::Applied),
                ("198.18.0.6", ReloadAction::Added),
            ]
        );
        assert!(p[1].2.contains("interval 300ms → 50ms"), "{}", p[1].2);
        assert!(reload_plan(&new, &new).is_empty());
    }
}
