//! The file each node's daemon runs in the rehearsal: the operator's, with what would reach
//! outside the namespaces taken out or moved into the node's own directory.
//!
//! - `[daemon] state_dir` and `[control] socket` point into the node's state directory (the
//!   lab's `/run/appliance` placeholder, replaced per node), so the host's daemon, if any, is
//!   never touched; `node_name` is set when the file has none;
//! - `[metrics]` is left out (its address may not exist in the namespace);
//! - VRRP `notify` commands are left out: they would run on this host;
//! - `https` checks that verify against the public roots get the drill's own authority as their
//!   `ca_file` (its servers' certificates cannot chain to a public root).
//!
//! The bad-reload scenario's file is this one with an unknown key in it.

use toml_edit::{value, DocumentMut, Item};

/// The node's file for the rehearsal; `ca_file`: the drill's authority and the `https` checks
/// that trust it in place of the public roots.
pub fn render(
    text: &str,
    node_name: &str,
    ca_file: Option<(&std::path::Path, &[String])>,
) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    if doc.get("daemon").is_none() {
        doc["daemon"] = toml_edit::table();
    }
    doc["daemon"]["state_dir"] = value("/run/appliance");
    if doc["daemon"].get("node_name").is_none() {
        doc["daemon"]["node_name"] = value(node_name);
    }
    if doc.get("control").is_none() {
        doc["control"] = toml_edit::table();
    }
    doc["control"]["socket"] = value("/run/appliance/appctl.sock");
    doc.remove("metrics");
    if let Some((path, checks)) = ca_file {
        for c in checks {
            if let Some(t) = doc
                .get_mut("checks")
                .and_then(|t| t.get_mut(c))
                .and_then(|t| t.as_table_like_mut())
            {
                t.insert("ca_file", value(path.display().to_string()));
            }
        }
    }
    if let Some(Item::ArrayOfTables(insts)) = doc
        .get_mut("vrrp")
        .and_then(|v| v.as_table_like_mut())
        .and_then(|t| t.get_mut("instance"))
    {
        for t in insts.iter_mut() {
            t.remove("notify");
            t.remove("notify_timeout");
        }
    }
    Ok(doc.to_string())
}

/// A broken version of `text`: an unknown key (a misspelt `priority`) in the first VRRP
/// instance, or in `[daemon]` when there is none. `applianced` must refuse it on reload and keep
/// running what it runs.
pub fn broken(text: &str) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let inst = doc
        .get_mut("vrrp")
        .and_then(|v| v.as_table_like_mut())
        .and_then(|t| t.get_mut("instance"))
        .and_then(|i| i.as_array_of_tables_mut())
        .and_then(|a| a.get_mut(0));
    match inst {
        Some(t) => {
            t["priorty"] = value(150);
        }
        None => {
            doc["daemon"]["priorty"] = value(150);
        }
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn renders_a_file_the_daemon_accepts() {
        let text = r#"
[daemon]
state_dir = "/var/lib/appliance"

[metrics]
listen = "198.18.0.2:9469"

[interfaces.eth0]
static_addresses = ["198.18.0.2/24"]

[[vrrp.instance]]
name = "v"
interface = "eth0"
vrid = 1
virtual_addresses = ["198.18.0.1/24"]
notify = ["/usr/local/bin/page-someone"]
"#;
        let out = render(text, "n1", None).unwrap();
        let cfg = crate::config::parse_str(&out, Path::new("x")).unwrap();
        assert_eq!(cfg.daemon.state_dir, Path::new("/run/appliance"));
        assert_eq!(cfg.control.socket, Path::new("/run/appliance/appctl.sock"));
        assert_eq!(cfg.daemon.node_name.as_deref(), Some("n1"));
        assert!(cfg.metrics.listen.is_none());
        assert!(cfg.vrrp.instance[0].notify.is_none());
        let bad = broken(&out).unwrap();
        let errs = crate::config::parse_str(&bad, Path::new("x")).unwrap_err();
        assert!(errs.to_string().contains("priorty"), "{errs}");
    }
}
