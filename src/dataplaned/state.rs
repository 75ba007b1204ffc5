//! The data plane's life cycle as `appctl dataplane` shows it: `disabled`, `starting`,
//! `running`, `failed: <reason>` or `stopped`, one string in the JSON.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DataplaneState {
    /// The configuration has no `[dataplane]`.
    #[default]
    Disabled,
    Starting,
    Running,
    /// The start failed; nothing of it remains and it is not retried until a restart.
    Failed {
        reason: String,
    },
    Stopped,
}

const FAILED: &str = "failed: ";

impl std::fmt::Display for DataplaneState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataplaneState::Disabled => f.write_str("disabled"),
            DataplaneState::Starting => f.write_str("starting"),
            DataplaneState::Running => f.write_str("running"),
            DataplaneState::Failed { reason } => write!(f, "{FAILED}{reason}"),
            DataplaneState::Stopped => f.write_str("stopped"),
        }
    }
}

impl std::str::FromStr for DataplaneState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "disabled" => DataplaneState::Disabled,
            "starting" => DataplaneState::Starting,
            "running" => DataplaneState::Running,
            "stopped" => DataplaneState::Stopped,
            _ => match s.strip_prefix(FAILED) {
                Some(reason) => DataplaneState::Failed {
                    reason: reason.to_string(),
                },
                None => return Err(format!("unknown data-plane state {s:?}")),
            },
        })
    }
}

impl Serialize for DataplaneState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DataplaneState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_string_each_way() {
        for (state, text) in [
            (DataplaneState::Disabled, "disabled"),
            (DataplaneState::Starting, "starting"),
            (DataplaneState::Running, "running"),
            (DataplaneState::Stopped, "stopped"),
            (
                DataplaneState::Failed {
                    reason: "no such device: eth9".into(),
                },
                "failed: no such device: eth9",
            ),
        ] {
            let json = serde_json::to_value(&state).unwrap();
            assert_eq!(json, serde_json::json!(text));
            assert_eq!(
                serde_json::from_value::<DataplaneState>(json).unwrap(),
                state
            );
        }
        assert!("failing".parse::<DataplaneState>().is_err());
    }
}
