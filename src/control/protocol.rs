//! The control protocol between `appctl` and `applianced`: one JSON object per line over a Unix
//! stream socket. Every request and response carries the protocol version so an old `appctl`
//! against a new daemon fails with a clear message instead of a parse error.

use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Ping,
    Status,
    Reload,
    /// Events with sequence number above `since`; with `follow`, keep streaming new ones.
    Events {
        #[serde(default)]
        since: u64,
        #[serde(default)]
        follow: bool,
    },
    /// Set or clear (`auto`) the operator override of a health check.
    HealthSet {
        check: String,
        state: health::Override,
    },
    /// The fast path: interfaces, workers and their counters.
    Dataplane,
    /// The data plane's services with their backends.
    Services,
    /// Tracked flows, at most `limit` of them.
    Conntrack {
        #[serde(default = "default_flow_limit")]
        limit: u32,
    },
    /// GRE tunnels with their counters.
    Gre,
    /// SNAT pools with their port usage.
    Snat,
    /// BGP peers and prefixes.
    Bgp,
    /// Withdraw a configured prefix regardless of its gates (`drain = false` undoes it).
    BgpDrain {
        prefix: String,
        drain: bool,
    },
}

fn default_flow_limit() -> u32 {
    100
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Response {
    pub fn ok(data: serde_json::Value) -> Self {
        Response {
            version: PROTOCOL_VERSION,
            ok: true,
            error: None,
            data,
        }
    }

    pub fn err(msg: impl Into<String>) -> Self {
        Response {
            version: PROTOCOL_VERSION,
            ok: false,
            error: Some(msg.into()),
            data: serde_json::Value::Null,
        }
    }
}

/// Longest request line accepted; requests are tiny, this bounds a misbehaving client.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_stable() {
        let r = Request {
            version: 1,
            command: Command::Events {
                since: 3,
                follow: true,
            },
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"version":1,"command":"events","since":3,"follow":true}"#
        );
        let r: Request = serde_json::from_str(r#"{"version":1,"command":"status"}"#).unwrap();
        assert_eq!(r.command, Command::Status);
        let r: Request = serde_json::from_str(
            r#"{"version":1,"command":"health_set","check":"web","state":"down"}"#,
        )
        .unwrap();
        assert_eq!(
            r.command,
            Command::HealthSet {
                check: "web".into(),
                state: health::Override::Down
            }
        );
        let r: Request = serde_json::from_str(
            r#"{"version":1,"command":"bgp_drain","prefix":"198.18.255.1/32","drain":true}"#,
        )
        .unwrap();
        assert_eq!(
            r.command,
            Command::BgpDrain {
                prefix: "198.18.255.1/32".into(),
                drain: true
            }
        );
    }
}
