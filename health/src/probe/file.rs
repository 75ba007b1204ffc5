//! File check (keepalived `track_file`): the file holds a number written by some other tool.
//! A missing or unreadable file is down; 0 is down ("fault" in keepalived); any other value is
//! up, with weight `value * multiplier` for VRRP priority adjustment.

use super::{describe_io, Deadline, ProbeContext};
use crate::result::ProbeResult;
use crate::spec::FileCheck;

pub async fn check(spec: &FileCheck, ctx: ProbeContext) -> ProbeResult {
    let deadline = Deadline::new(ctx.timeout);
    let text = match deadline.run("file read", tokio::fs::read(&spec.path)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return deadline.fail(format!("{} missing", spec.path.display()))
        }
        Ok(Err(e)) => {
            return deadline.fail(format!("{}: {}", spec.path.display(), describe_io(&e)))
        }
        Err(timeout) => return timeout,
    };
    match parse_value(&text) {
        Some(0) => deadline.fail("value 0").with_weight(0),
        Some(v) => {
            let w = v.saturating_mul(i64::from(spec.multiplier));
            let w = i32::try_from(w).unwrap_or(if w < 0 { i32::MIN } else { i32::MAX });
            deadline.ok(format!("value {v}")).with_weight(w)
        }
        None => deadline.fail("not a number"),
    }
}

/// The first whitespace-separated token as a signed integer (keepalived reads it with strtol,
/// so "5\n" and " -3 extra" are fine).
fn parse_value(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let token = text.split_whitespace().next()?;
    token.strip_prefix('+').unwrap_or(token).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_value;

    #[test]
    fn values() {
        assert_eq!(parse_value(b"5\n"), Some(5));
        assert_eq!(parse_value(b"  -3 extra"), Some(-3));
        assert_eq!(parse_value(b"+7"), Some(7));
        assert_eq!(parse_value(b""), None);
        assert_eq!(parse_value(b"up"), None);
    }
}
