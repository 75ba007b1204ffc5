//! File check (keepalived `track_file`): the file holds a number written by some other tool.
//! A missing or unreadable file is down; 0 is down ("fault" in keepalived); any other value is
//! up, with weight `value * multiplier` for VRRP priority adjustment.

use super::{describe_io, Deadline, ProbeContext};
use crate::result::ProbeResult;
use crate::spec::FileCheck;

/// A number is a few bytes; more than this is not a value file.
const MAX_VALUE_BYTES: u64 = 4096;

pub async fn check(spec: &FileCheck, ctx: ProbeContext) -> ProbeResult {
    let deadline = Deadline::new(ctx.timeout);
    let text = match read_value_file(&spec.path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return deadline.fail(format!("{} missing", spec.path.display()))
        }
        Err(e) => return deadline.fail(format!("{}: {}", spec.path.display(), describe_io(&e))),
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

/// Reads the file on the checks' own thread, without a blocking-pool thread: only a regular
/// file is read (opened non-blocking, so a FIFO without a writer or a device is refused at once
/// instead of parking a thread per probe until the pool is exhausted and unrelated checks time
/// out), and at most [`MAX_VALUE_BYTES`] of it. A local regular file reads in microseconds.
fn read_value_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use nix::fcntl::OFlag;
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_VALUE_BYTES).read_to_end(&mut bytes)?;
    Ok(bytes)
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
    use super::{parse_value, read_value_file};

    #[test]
    fn only_regular_files_are_read_and_never_block() {
        let dir = std::env::temp_dir().join(format!("health-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // No writer: a blocking open would never return.
        for p in [
            fifo.as_path(),
            std::path::Path::new("/dev/zero"),
            dir.as_path(),
        ] {
            let e = read_value_file(p).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{p:?}: {e}");
        }
        let v = dir.join("value");
        std::fs::write(&v, "5\n").unwrap();
        assert_eq!(read_value_file(&v).unwrap(), b"5\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn values() {
        assert_eq!(parse_value(b"5\n"), Some(5));
        assert_eq!(parse_value(b"  -3 extra"), Some(-3));
        assert_eq!(parse_value(b"+7"), Some(7));
        assert_eq!(parse_value(b""), None);
        assert_eq!(parse_value(b"up"), None);
    }
}
