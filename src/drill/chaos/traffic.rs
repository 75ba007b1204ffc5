//! The client's traffic per event: `ping -D -O` prints every reply and every echo request still
//! unanswered when the next is sent, each with its Unix time; a request reported unanswered and
//! never answered afterwards was lost.

use std::collections::HashSet;

/// `[1733420000.123456] ...icmp_seq=N ...` as (microseconds, N, whether it is a reply).
fn line(l: &str) -> Option<(i64, u32, bool)> {
    let ts = l.strip_prefix('[')?.split(']').next()?;
    let (s, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let digits = frac.len().min(6);
    let us = s.parse::<i64>().ok()? * 1_000_000
        + frac[..digits].parse::<i64>().ok()? * 10i64.pow(6 - digits as u32);
    let seq = l
        .split("icmp_seq=")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((us, seq, l.contains(" bytes from ")))
}

/// Requests reported unanswered at or after `from_us` and never answered.
pub fn lost_since(log: &str, from_us: i64) -> u64 {
    let mut unanswered = HashSet::new();
    let mut answered = HashSet::new();
    for (t, seq, reply) in log.lines().filter_map(line) {
        if t < from_us {
            continue;
        }
        if reply {
            answered.insert(seq);
        } else {
            unanswered.insert(seq);
        }
    }
    unanswered.difference(&answered).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_is_unanswered_and_never_answered() {
        let log = "\
[100.000001] 64 bytes from 198.18.0.100: icmp_seq=1 ttl=64 time=0.05 ms
[100.010000] no answer yet for icmp_seq=2
[100.020000] no answer yet for icmp_seq=3
[100.025000] 64 bytes from 198.18.0.100: icmp_seq=3 ttl=64 time=15 ms
[100.030000] no answer yet for icmp_seq=4
";
        assert_eq!(lost_since(log, 0), 2);
        assert_eq!(lost_since(log, 100_015_000), 1);
        assert_eq!(lost_since(log, 200_000_000), 0);
    }
}
