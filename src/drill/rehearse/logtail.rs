//! The events a stopping daemon writes after its control socket closed (a graceful stop
//! resigns mastership and ends its BGP sessions after the event stream has ended), read back
//! from its log: each event is also a log line with its `seq`, `subsystem`, `kind` and `object`
//! fields.

use crate::events::Event;

/// Events in `log` (the daemon's human log format), in order.
pub fn events(log: &str) -> Vec<Event> {
    log.lines().filter_map(parse).collect()
}

/// `2026-12-05T21:05:50.369739Z  INFO master -> initialize (shutdown) seq=16 subsystem=vrrp
/// kind=state_change object=front`.
fn parse(line: &str) -> Option<Event> {
    let (ts, rest) = line.split_once(' ')?;
    let unix_ms = unix_ms(ts)?;
    let rest = rest.trim_start();
    let (_level, rest) = rest.split_once(' ')?;
    let at = rest.find(" seq=")?;
    let message = rest[..at].trim().to_string();
    let field = |name: &str| {
        rest[at..]
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('"').to_string())
    };
    let seq = field("seq")?.parse().ok()?;
    let subsystem = field("subsystem")?;
    let kind = field("kind")?;
    let object = field("object").unwrap_or_default();
    let mut fields = serde_json::Value::Null;
    if subsystem == "vrrp" && kind == "state_change" {
        // "from -> to (reason)"
        let (from, after) = message.split_once(" -> ")?;
        let to = after.split_whitespace().next()?;
        fields = serde_json::json!({ "from": from, "to": to });
    }
    Some(Event {
        seq,
        unix_ms,
        time: ts.to_string(),
        subsystem,
        kind,
        object,
        message,
        fields,
    })
}

/// RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) as milliseconds since the Unix epoch.
fn unix_ms(ts: &str) -> Option<u64> {
    let ts = ts.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>());
    let (h, mi, s) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let digits = frac.len().min(3);
    let ms = frac[..digits].parse::<i64>().ok()? * 10i64.pow(3 - digits as u32);
    let secs = days_from_civil(y, m, day) * 86_400 + h * 3600 + mi * 60 + s;
    u64::try_from(secs * 1000 + ms).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_events_back_from_the_log() {
        let log = "2026-12-05T21:05:50.368161Z  INFO SIGTERM received; stopping (grace 3000 ms) seq=15 subsystem=daemon kind=stopping object=lb1\n\
                   2026-12-05T21:05:50.369739Z  INFO master -> initialize (shutdown) seq=16 subsystem=vrrp kind=state_change object=front\n\
                   2026-12-05T21:05:50.372017Z  WARN failed to forward message to connection handle: channel closed\n";
        let ev = events(log);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1].seq, 16);
        assert_eq!(ev[1].object, "front");
        assert_eq!(ev[1].fields["to"], "initialize");
        assert_eq!(ev[0].kind, "stopping");
        // 2026-12-05T21:05:50.369Z
        assert_eq!(ev[1].unix_ms, 1_796_504_750_369);
        assert_eq!(unix_ms("1970-01-01T00:00:01.5Z"), Some(1500));
    }
}
