//! The one configuration file. Loading is two passes: serde parses the TOML into typed sections
//! (`deny_unknown_fields` everywhere), then `validate` checks values against each other. Both
//! passes report `file:line:column`, the key and a hint.
//!
//! A subsystem adds its section by adding a field to [`Config`], a module here with its structs
//! and a `validate` function, and a call in `validate::validate`.

pub mod bgp;
pub mod bond;
pub mod checks;
pub mod daemon;
pub mod dataplane;
pub mod diff;
pub mod error;
pub mod gateway;
pub mod gateway6;
pub mod interfaces;
pub mod locate;
pub mod overrides;
pub mod suggest;
pub mod summary;
pub mod sync;
pub mod types;
pub mod validate;
pub mod vrrp;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml_edit::ImDocument;

pub use checks::{CheckConfig, CheckType};
pub use daemon::{ControlConfig, DaemonConfig, MetricsConfig, DEFAULT_CONFIG_PATH};
pub use error::{ConfigError, ConfigErrors};
pub use interfaces::InterfaceConfig;
pub use types::ConfigDuration;

use locate::{line_col, span_of, KeyPath};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub control: ControlConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub interfaces: BTreeMap<String, InterfaceConfig>,
    #[serde(default)]
    pub vrrp: vrrp::VrrpConfig,
    #[serde(default)]
    pub checks: BTreeMap<String, CheckConfig>,
    /// The fast path (absent: no data plane).
    #[serde(default)]
    pub dataplane: Option<dataplane::DataplaneConfig>,
    /// `[[service]]`: the services the data plane balances.
    #[serde(default)]
    pub service: Vec<dataplane::ServiceConfig>,
    /// The BGP speaker (absent: nothing is announced).
    #[serde(default)]
    pub bgp: Option<bgp::BgpConfig>,
    /// `[[gre.tunnel]]`: tunnels from remote sites.
    #[serde(default)]
    pub gre: gateway::GreConfig,
    /// `[[snat.pool]]`: external addresses for the SNAT gateway and FullNAT services.
    #[serde(default)]
    pub snat: gateway::SnatConfig,
    /// Session sync with the HA peers (absent: none).
    #[serde(default)]
    pub sync: Option<sync::SyncConfig>,
    /// `[[bond]]`: NICs aggregated by the data plane (it owns the members; the kernel sees the bond as a tap device of that name).
    #[serde(default)]
    pub bond: Vec<bond::BondConfig>,
}

/// Largest file we accept; a config is a few kilobytes, anything huge is a mistake.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads, parses and validates a file.
/// Reads a configuration file of at most `limit` bytes. Only a regular file is accepted: a FIFO
/// would block the reader (or the daemon's reload) until something writes to it, and a device
/// such as `/dev/zero` has no length to check. The file is opened without blocking and checked
/// on the open descriptor, so a path swapped for a FIFO after a check cannot hang us, and the
/// read stops at the limit whatever the file grows to meanwhile.
pub fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot read file: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read file: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "not a regular file (it is {}); give the path of a file",
            file_kind(&meta)
        ));
    }
    if meta.len() > limit {
        return Err(format!(
            "file is {} bytes; a configuration is at most {limit}",
            meta.len()
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read file: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("file grew past {limit} bytes while being read"));
    }
    Ok(bytes)
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let bytes = read_regular_file(path, MAX_FILE_BYTES)
        .map_err(|message| ConfigErrors::file_level(path, message))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_col(
            &String::from_utf8_lossy(&e.as_bytes()[..e.utf8_error().valid_up_to()]),
            usize::MAX,
        );
        ConfigErrors::single(ConfigError {
            file: path.to_path_buf(),
            line,
            column,
            key: String::new(),
            message: "file is not valid UTF-8".into(),
            hint: Some("TOML files must be UTF-8".into()),
        })
    })?;
    parse_str(&text, path)
}

/// Parses and validates text; `file` is only used in error messages.
pub fn parse_str(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
    let at = |offset: usize, key: String, message: String, hint: Option<String>| {
        let (line, column) = line_col(text, offset);
        ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            key,
            message,
            hint,
        }
    };

    let doc = ImDocument::parse(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let msg = e.message().trim().replace('\n', "; ");
        ConfigErrors::single(at(
            offset,
            String::new(),
            format!("TOML syntax error: {msg}"),
            None,
        ))
    })?;

    let de = toml::Deserializer::new(text);
    let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = KeyPath::from_serde(e.path());
        let inner = e.into_inner();
        let (key, message, hint) = explain_serde(&path, inner.message());
        // toml points at the enclosing value (a whole array, say); the located path may be
        // more precise, so take it when it lies inside toml's span.
        let located = span_of(&doc, &KeyPath(path_for_span(&path, &key)));
        let offset = match (inner.span(), located) {
            (Some(t), Some(l)) if l.start >= t.start && l.end <= t.end => l.start,
            (Some(t), _) => t.start,
            (None, Some(l)) => l.start,
            (None, None) => 0,
        };
        ConfigErrors::single(at(offset, key, message, hint))
    })?;

    let issues = validate::validate(&cfg);
    if issues.0.is_empty() {
        return Ok(cfg);
    }
    Err(ConfigErrors(
        issues
            .0
            .into_iter()
            .map(|i| {
                let offset = span_of(&doc, &i.path).map(|s| s.start).unwrap_or(0);
                at(offset, i.path.to_string(), i.message, i.hint)
            })
            .collect(),
    ))
}

/// The path to locate: for an unknown key, the key itself (serde's path stops at its table).
fn path_for_span(path: &KeyPath, key: &str) -> Vec<locate::Seg> {
    let mut p = path.0.clone();
    if let Some(last) = key.rsplit('.').next() {
        let last = last.trim_matches('"');
        if !key.is_empty()
            && !last.contains('[')
            && p.last() != Some(&locate::Seg::Key(last.to_string()))
            && key.ends_with(last)
            && key.len() > path.to_string().len()
        {
            p.push(locate::Seg::Key(last.to_string()));
        }
    }
    p
}

/// Turns serde's wording into ours: the full key, a plain message and a "did you mean" hint.
fn explain_serde(path: &KeyPath, msg: &str) -> (String, String, Option<String>) {
    let backticked: Vec<&str> = msg.split('`').skip(1).step_by(2).collect();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let expected: Vec<&str> = backticked.iter().skip(1).copied().collect();
        let key = if path.0.last() == Some(&locate::Seg::Key(name.to_string())) {
            path.clone()
        } else {
            path.key(name)
        };
        let hint = if expected.is_empty() {
            Some("this table takes no keys".to_string())
        } else {
            suggest::hint_for(name, &expected)
        };
        return (key.to_string(), format!("unknown key `{name}`"), hint);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let name = rest.split('`').next().unwrap_or_default();
        let expected: Vec<&str> = backticked.iter().skip(1).copied().collect();
        return (
            path.to_string(),
            format!("unknown value `{name}`"),
            suggest::hint_for(name, &expected),
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return (
            path.key(name).to_string(),
            format!("required key `{name}` is missing"),
            Some(format!("add `{name} = ...` to this table")),
        );
    }
    let msg = msg.trim();
    let hint = if msg.starts_with("invalid socket address") {
        Some("write an address and port, e.g. \"127.0.0.1:9469\" or \"[::1]:9469\"".to_string())
    } else if msg.starts_with("invalid address") || msg.starts_with("invalid prefix") {
        Some("write an address with its prefix length, e.g. \"198.18.0.10/24\" or \"2001:db8::10/64\"".to_string())
    } else if msg.starts_with("invalid IP address") {
        Some("write an IPv4 or IPv6 address, e.g. \"198.18.0.1\" or \"2001:db8::1\"".to_string())
    } else {
        None
    };
    (path.to_string(), msg.to_string(), hint)
}

#[cfg(test)]
mod tests;
