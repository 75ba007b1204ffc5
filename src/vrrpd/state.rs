//! What other subsystems learn of the VRRP instances: each one's state, by name, in a `watch`
//! that changes only when a state does. BGP gates announcements on it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An instance's state; `initialize`, `backup`, `master` or `fault` in status, events, metric
/// labels and notify arguments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VrrpState {
    /// Not started (no interface or address yet), or stopped.
    #[default]
    Initialize,
    Backup,
    Master,
    Fault,
}

impl VrrpState {
    pub fn as_str(self) -> &'static str {
        match self {
            VrrpState::Initialize => "initialize",
            VrrpState::Backup => "backup",
            VrrpState::Master => "master",
            VrrpState::Fault => "fault",
        }
    }

    /// The `appliance_vrrp_state` gauge.
    pub fn gauge(self) -> i64 {
        match self {
            VrrpState::Initialize => 0,
            VrrpState::Backup => 1,
            VrrpState::Master => 2,
            VrrpState::Fault => 3,
        }
    }
}

impl From<::vrrp::State> for VrrpState {
    fn from(s: ::vrrp::State) -> VrrpState {
        match s {
            ::vrrp::State::Initialize => VrrpState::Initialize,
            ::vrrp::State::Backup => VrrpState::Backup,
            ::vrrp::State::Master => VrrpState::Master,
            ::vrrp::State::Fault => VrrpState::Fault,
        }
    }
}

impl std::fmt::Display for VrrpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every configured instance's state, by instance name.
pub type VrrpStates = BTreeMap<String, VrrpState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_core_and_the_json() {
        for s in [
            ::vrrp::State::Initialize,
            ::vrrp::State::Backup,
            ::vrrp::State::Master,
            ::vrrp::State::Fault,
        ] {
            let ours = VrrpState::from(s);
            assert_eq!(ours.as_str(), s.to_string().to_lowercase());
            assert_eq!(
                serde_json::to_value(ours).unwrap(),
                serde_json::json!(ours.as_str())
            );
            assert_eq!(
                serde_json::from_value::<VrrpState>(serde_json::json!(ours.as_str())).unwrap(),
                ours
            );
        }
    }
}
