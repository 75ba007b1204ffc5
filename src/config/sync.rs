//! `[sync]`: session sync between HA nodes (the data plane's flows, SNAT mappings and FullNAT
//! ports, sent to the peers so a failover keeps every connection).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::bgp::Secret;
use super::locate::KeyPath;
use super::types::ConfigDuration;
use super::validate::Issues;

pub const DEFAULT_PORT: u16 = 7531;
/// The shortest key accepted: HMAC-SHA256 with fewer than 16 bytes of secret is guessable.
pub const MIN_KEY_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// The interface the peers are reached on (the datagrams leave there).
    pub interface: String,
    /// Our source address (default: the interface's first IPv4 address).
    #[serde(default)]
    pub local: Option<Ipv4Addr>,
    /// The other nodes, by unicast address.
    pub peers: Vec<Ipv4Addr>,
    #[serde(default = "default_port")]
    pub port: u16,
    /// The shared secret every datagram is signed with; or `key_file`.
    #[serde(default)]
    pub key: Option<Secret>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Longest a node that could take over as VRRP master waits for its bulk resync from the
    /// current master first.
    #[serde(default = "default_preempt_hold")]
    pub preempt_hold: ConfigDuration,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

fn default_preempt_hold() -> ConfigDuration {
    ConfigDuration::from_millis(10_000)
}

impl SyncConfig {
    /// The key: inline, or read from `key_file` (read at start and reload).
    pub fn key_bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.key, &self.key_file) {
            (Some(k), None) => Ok(k.expose().to_vec()),
            (None, Some(f)) => {
                let mut b = super::read_regular_file(f, 4096)
                    .map_err(|e| format!("sync key file {}: {e}", f.display()))?;
                while b.last().is_some_and(|c| c.is_ascii_whitespace()) {
                    b.pop();
                }
                Ok(b)
            }
            _ => Err("exactly one of `key` and `key_file`".into()),
        }
    }
}

pub fn validate(s: Option<&SyncConfig>, has_dataplane: bool, issues: &mut Issues) {
    let Some(s) = s else { return };
    let p = KeyPath::root().key("sync");
    if !has_dataplane {
        issues.push(
            p.clone(),
            "session sync needs the data plane: it carries the data plane's flows",
            Some("add a [dataplane] section, or remove [sync]".into()),
        );
    }
    if s.interface.is_empty() {
        issues.push(p.key("interface"), "an interface name is needed", None);
    }
    if s.peers.is_empty() {
        issues.push(
            p.key("peers"),
            "at least one peer is needed",
            Some("peers = [\"198.18.3.3\"]: the other node's address on the sync link".into()),
        );
    }
    for (i, a) in s.peers.iter().enumerate() {
        if a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback() {
            issues.push(
                p.key("peers").index(i),
                format!("{a} is not a unicast address of another node"),
                None,
            );
        }
        if Some(*a) == s.local {
            issues.push(
                p.key("peers").index(i),
                format!("{a} is this node's own `local` address"),
                Some("list the other nodes only".into()),
            );
        }
    }
    if s.port == 0 {
        issues.push(
            p.key("port"),
            "port 0 is not a port",
            Some(format!("the default is {DEFAULT_PORT}")),
        );
    }
    match (&s.key, &s.key_file) {
        (Some(k), None) if k.expose().len() < MIN_KEY_BYTES => issues.push(
            p.key("key"),
            format!(
                "the key has {} bytes; at least {MIN_KEY_BYTES} are needed",
                k.expose().len()
            ),
            Some(
                "`head -c 32 /dev/urandom | base64` makes a good one; the same on every node"
                    .into(),
            ),
        ),
        (Some(_), Some(_)) => issues.push(
            p.key("key_file"),
            "`key` and `key_file` both given",
            Some("keep one".into()),
        ),
        (None, None) => issues.push(
            p.clone(),
            "no key: every sync message is signed, and the peers share the key",
            Some(
                "add key = \"...\" (16 bytes or more) or key_file = \"/etc/appliance/sync.key\""
                    .into(),
            ),
        ),
        _ => {}
    }
    let hold = s.preempt_hold.get();
    if hold > std::time::Duration::from_secs(600) {
        issues.push(
            p.key("preempt_hold"),
            format!("{} is longer than 10 minutes", s.preempt_hold),
            Some("a bulk resync of a million flows takes seconds; 10s is the default".into()),
        );
    }
}
