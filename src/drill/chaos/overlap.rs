//! How long the virtual address was on both nodes at once. Each node's namespace runs
//! `ip -tshort -o monitor address` (TZ=UTC) from before its daemon starts, so every addition
//! and removal of the VIP is known to the microsecond, without sampling: this file turns
//! those logs into presence intervals and intersects them.
//!
//! A node that the drill has killed, stopped or unplugged is not a participant: a dead
//! daemon's address stays on the interface until the next start sweeps it, a stopped one
//! cannot act, a downed link carries nothing. Such stretches ("exclusions") do not count as
//! overlap; the overlap that counts is the one the daemons themselves are answerable for.

/// `[from, to)` in microseconds since the Unix epoch.
pub type Interval = (i64, i64);

/// Intervals during which `vip` was on the node, from its monitor log; an address still
/// present at the end of the log is present until `now`.
pub fn presence(log: &str, vip: &str, now: i64) -> Vec<Interval> {
    let needle = format!(" inet {vip}/");
    let mut out = Vec::new();
    let mut since: Option<i64> = None;
    for line in log.lines() {
        if !line.contains(&needle) {
            continue;
        }
        let Some(t) = timestamp_us(line) else {
            continue;
        };
        let deleted = line
            .split_once("] ")
            .is_some_and(|(_, rest)| rest.starts_with("Deleted "));
        match (deleted, since) {
            (false, None) => since = Some(t),
            (true, Some(s)) => {
                out.push((s, t));
                since = None;
            }
            // A repeated addition (the address re-announced) or the removal of an address
            // the log never saw added changes nothing.
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push((s, now.max(s)));
    }
    out
}

/// `[2026-12-05T18:18:35.307027] ...` (UTC) as microseconds since the Unix epoch.
pub fn timestamp_us(line: &str) -> Option<i64> {
    let ts = line.strip_prefix('[')?.split(']').next()?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let digits = frac.len().min(6);
    let us = frac[..digits].parse::<i64>().ok()? * 10i64.pow(6 - digits as u32);
    let days = days_from_civil(y, m, day);
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + us)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn covers(v: &[Interval], t: i64) -> bool {
    v.iter().any(|&(a, b)| a <= t && t < b)
}

/// The longest stretch within `[from, to)` during which both `a` and `b` held the address
/// and no exclusion was in force, in microseconds.
pub fn longest_overlap(
    a: &[Interval],
    b: &[Interval],
    excluded: &[Interval],
    from: i64,
    to: i64,
) -> i64 {
    let mut cuts: Vec<i64> = vec![from, to];
    for &(s, e) in a.iter().chain(b).chain(excluded) {
        cuts.extend([s, e]);
    }
    cuts.retain(|&t| t >= from && t <= to);
    cuts.sort_unstable();
    cuts.dedup();
    let (mut best, mut run) = (0, 0);
    for w in cuts.windows(2) {
        let (s, e) = (w[0], w[1]);
        if covers(a, s) && covers(b, s) && !covers(excluded, s) {
            run += e - s;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_microseconds() {
        assert_eq!(
            timestamp_us("[1970-01-01T00:00:01.000002] 1: lo"),
            Some(1_000_002)
        );
        // 2026-12-05 is day 20,792 since the epoch (date -u -d 2026-12-05 +%s / 86400).
        assert_eq!(
            timestamp_us("[2026-12-05T18:18:35.307027] x"),
            Some((20_792 * 86_400 + 18 * 3600 + 18 * 60 + 35) * 1_000_000 + 307_027)
        );
        assert_eq!(timestamp_us("Deleted 1: lo"), None);
    }

    #[test]
    fn presence_from_a_monitor_log() {
        let log = "\
[1970-01-01T00:00:01.000000] 2: eth0    inet 198.18.0.1/24 scope global eth0\\ x
[1970-01-01T00:00:02.000000] 2: eth0    inet 198.18.0.100/24 scope global secondary eth0\\ x
[1970-01-01T00:00:03.500000] Deleted 2: eth0    inet 198.18.0.100/24 scope global secondary eth0\\ x
[1970-01-01T00:00:04.000000] 2: eth0    inet 198.18.0.100/24 scope global secondary eth0\\ x
";
        assert_eq!(
            presence(log, "198.18.0.100", 9_000_000),
            vec![(2_000_000, 3_500_000), (4_000_000, 9_000_000)]
        );
        // 198.18.0.10 is not 198.18.0.100.
        assert!(presence(log, "198.18.0.10", 9_000_000).is_empty());
    }

    #[test]
    fn overlap_is_the_longest_shared_stretch_outside_exclusions() {
        let a = [(0, 1000)];
        let b = [(900, 2000)];
        assert_eq!(longest_overlap(&a, &b, &[], 0, 3000), 100);
        // The window clips it.
        assert_eq!(longest_overlap(&a, &b, &[], 950, 3000), 50);
        // A dead node's leftover address does not count while it is dead.
        let a = [(0, 1500)];
        assert_eq!(longest_overlap(&a, &b, &[(0, 1400)], 0, 3000), 100);
        assert_eq!(longest_overlap(&a, &b, &[(1000, 1100)], 0, 3000), 400);
        assert_eq!(longest_overlap(&a, &[], &[], 0, 3000), 0);
    }
}
