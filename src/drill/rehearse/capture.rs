//! The failover time from packets: a capture of VRRP and ARP on the timed instance's segment
//! (on the bridge, where both nodes' frames pass), from just before a scenario's event to the
//! end of its window. The failover is the time from the old master's last advertisement to the
//! new master's first gratuitous ARP for the virtual address.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use lab::pcap::{self, Frame, Seen};
use lab::{wait_for_log, Netns, Proc, Signal};

pub struct Capture {
    proc: Proc,
    pub path: PathBuf,
}

impl Capture {
    /// tcpdump of VRRP and ARP on `bridge` in `ns`, written to `path`; returns once it listens.
    pub fn start(ns: &Netns, name: &str, bridge: &str, path: PathBuf) -> Result<Capture, String> {
        let proc = ns.spawn(
            name,
            &[
                "tcpdump",
                // Keep root: dropping privileges clears the parent-death signal, and the
                // capture must end with the drill even when the drill is killed.
                "-Z",
                "root",
                "-i",
                bridge,
                "-U",
                // Without it libpcap hands packets over in blocks, with a one-second timeout
                // for a partial block, and a capture ended sooner keeps none of them.
                "--immediate-mode",
                "-n",
                "-s",
                "128",
                "-w",
                path.to_str().ok_or("the capture's path is not UTF-8")?,
                "vrrp or arp",
            ],
        );
        wait_for_log(&proc, "listening on", Duration::from_secs(10)).map_err(|e| e.to_string())?;
        Ok(Capture { proc, path })
    }

    /// Ends the capture and reads what it holds.
    pub fn finish(self) -> Vec<Frame> {
        // Let the last frames land, then end it so the file is complete.
        std::thread::sleep(Duration::from_millis(50));
        let _ = self.proc.signal(Signal::SIGTERM);
        self.proc.wait_timeout(Duration::from_secs(5));
        pcap::read(&std::fs::read(&self.path).unwrap_or_default())
    }
}

/// A failover seen in `frames` after `since` (Unix seconds): the milliseconds from the old
/// master's last advertisement of `vrid` to the first gratuitous ARP for `vip` after `since`,
/// and the new master's advertisement source. `None` when no gratuitous ARP came, or it came
/// from the master of before (no failover).
pub fn failover(frames: &[Frame], since: f64, vrid: u8, vip: Ipv4Addr) -> Option<(f64, Ipv4Addr)> {
    let advert = |f: &Frame| match f.seen {
        Seen::Advert { src, vrid: v, .. } if v == vrid => Some(src),
        _ => None,
    };
    let old = frames
        .iter()
        .filter(|f| f.t < since)
        .filter_map(advert)
        .next_back();
    let garp = frames
        .iter()
        .find(|f| f.t >= since && matches!(f.seen, Seen::Garp { ip, .. } if ip == vip))?;
    let new = frames
        .iter()
        .filter(|f| f.t >= garp.t)
        .find_map(|f| advert(f).filter(|&s| old.is_none_or(|o| o != s)))?;
    let last_old = frames
        .iter()
        .filter(|f| f.t <= garp.t)
        .rfind(|f| advert(f).is_some_and(|s| s != new))?;
    Some(((garp.t - last_old.t) * 1000.0, new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(t: f64, src: [u8; 4]) -> Frame {
        Frame {
            t,
            seen: Seen::Advert {
                src: Ipv4Addr::from(src),
                vrid: 10,
                priority: 100,
            },
        }
    }

    #[test]
    fn times_the_takeover() {
        let vip = Ipv4Addr::new(198, 18, 0, 10);
        let garp = |t: f64| Frame {
            t,
            seen: Seen::Garp {
                ip: vip,
                mac: [2, 0, 0, 0, 0, 3],
            },
        };
        let a = [198, 18, 0, 2];
        let b = [198, 18, 0, 3];
        let frames = vec![
            adv(10.0, a),
            adv(10.1, a),
            adv(10.2, a),
            garp(10.55),
            adv(10.551, b),
            adv(10.65, b),
        ];
        let (ms, new) = failover(&frames, 10.15, 10, vip).unwrap();
        assert!((ms - 350.0).abs() < 1e-6, "{ms}");
        assert_eq!(new, Ipv4Addr::from(b));
        // Only the master's own adverts: nothing failed over.
        assert_eq!(failover(&frames[..3], 10.15, 10, vip), None);
        // The old master back (its restart's gratuitous ARP after a failover is one too).
        let back = vec![adv(20.0, b), garp(20.3), adv(20.31, a)];
        assert!(failover(&back, 20.1, 10, vip).is_some());
    }
}
