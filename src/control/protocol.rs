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
    /// BFD sessions and their counters.
    Bfd,
    /// Bonds: mode, members with carrier, LACP actor and partner, counters.
    Bond,
    /// Session sync: peers, records, bulk progress, preemption.
    Sync,
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

/// What a reload did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadAction {
    /// Changed in place: nothing that was running was interrupted.
    Applied,
    /// Stopped and started again with the new settings.
    Restarted,
    Added,
    Removed,
    /// Accepted in the file but used only from the next start of the daemon.
    NextStart,
}

impl ReloadAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadAction::Applied => "applied",
            ReloadAction::Restarted => "restarted",
            ReloadAction::Added => "added",
            ReloadAction::Removed => "removed",
            ReloadAction::NextStart => "next start",
        }
    }
}

/// One line of a reload's plan: `subsystem` (`bgp`, `health`, ...), the `object` in it (a
/// neighbour, a check, an instance), what happened to it and what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadChange {
    pub subsystem: String,
    pub object: String,
    pub action: ReloadAction,
    pub what: String,
}

/// The reply to `reload`: the generation now running and what the reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReply {
    pub generation: u64,
    #[serde(default)]
    pub changes: Vec<ReloadChange>,
}

/// Longest request line accepted; requests are tiny, this bounds a misbehaving client.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_reply_wire_form() {
        let r = ReloadReply {
            generation: 2,
            changes: vec![ReloadChange {
                subsystem: "bgp".into(),
                object: "198.18.255.1/32".into(),
                action: ReloadAction::NextStart,
                what: "announcement".into(),
            }],
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"generation":2,"changes":[{"subsystem":"bgp","object":"198.18.255.1/32","action":"next_start","what":"announcement"}]}"#
        );
        // A reply without `changes` (an older daemon) still decodes.
        let r: ReloadReply = serde_json::from_str(r#"{"generation":3}"#).unwrap();
        assert!(r.changes.is_empty());
    }

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
