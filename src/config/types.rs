//! Value types shared by every section: durations written the way operators write them.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written as `"100ms"`, `"1s"`, `"1.5s"`, `"2m"` or `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub const fn from_millis(ms: u64) -> Self {
        ConfigDuration(Duration::from_millis(ms))
    }

    pub const fn from_secs(s: u64) -> Self {
        ConfigDuration(Duration::from_secs(s))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 1000 == 0 && ms > 0 {
            write!(f, "{}s", ms / 1000)
        } else if self.0.subsec_nanos() % 1_000_000 == 0 {
            write!(f, "{ms}ms")
        } else {
            write!(f, "{}us", self.0.as_micros())
        }
    }
}

/// The longest duration any key accepts. Timers add durations to `Instant`s, which panics on
/// overflow; no timer, timeout or grace period of an appliance needs more than a year, so a
/// larger value is a typo (`"1e20s"`) and is refused here rather than crashing the daemon later.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses "1.5s" and "0.01s" too, which humantime alone does not accept.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let d = match t.strip_suffix('s') {
        Some(num) if !num.ends_with(['m', 'u', 'n']) && num.trim().parse::<f64>().is_ok() => {
            let v: f64 = num.trim().parse().unwrap_or(f64::NAN);
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{v} is not a length of time"));
            }
            Duration::try_from_secs_f64(v)
                .map_err(|_| "longer than the maximum of 366 days".to_string())?
        }
        _ => humantime::parse_duration(t).map_err(|e| e.to_string())?,
    };
    if d > MAX_DURATION {
        return Err("longer than the maximum of 366 days".into());
    }
    Ok(d)
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"100ms\" or \"1s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_duration(v).map(ConfigDuration).map_err(|e| {
                    E::custom(format!(
                        "invalid duration \"{v}\" ({e}); write a number with a unit, e.g. \"100ms\" or \"1s\""
                    ))
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "a bare number ({v}) is ambiguous as a duration; write it with a unit, e.g. \"{v}s\" or \"{v}ms\""
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "a bare number ({v}) is ambiguous as a duration; write it with a unit, e.g. \"{v}s\""
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operator_forms() {
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("0.01s").unwrap(), Duration::from_millis(10));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("fast").is_err());
        // Values past what a timer can add to an Instant are refused, never a panic.
        for huge in [
            "1e20s",
            "1e300s",
            "18446744073709551616s",
            "367days",
            "600000000000h",
            "inf s",
            "NaNs",
            "-1s",
        ] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
        assert_eq!(parse_duration("366days").unwrap(), MAX_DURATION);
        assert!(parse_duration("10").is_err());
    }

    #[test]
    fn displays_compactly() {
        assert_eq!(ConfigDuration::from_millis(1500).to_string(), "1500ms");
        assert_eq!(ConfigDuration::from_secs(3).to_string(), "3s");
    }
}
