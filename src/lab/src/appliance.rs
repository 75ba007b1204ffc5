//! Running `applianced` under test: a per-node state directory short enough for a Unix socket
//! path, the config written there, `appctl` against its socket, and the JSON status.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::{bin_path, wait_until, Lab, Netns, Proc};

/// Where state directories live: short, because a socket path may hold at most 107 bytes.
const STATE_ROOT: &str = "/tmp/nt-appliance";

pub struct Appliance {
    pub ns: Netns,
    pub name: String,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
    proc: Option<Proc>,
    artifacts: PathBuf,
}

impl Appliance {
    /// Prepares a node: `config` may say `/run/appliance` for the state directory and socket
    /// (as the examples do); that prefix is replaced by this node's own directory.
    pub fn new(lab: &Lab, ns: &Netns, name: &str, config: &str) -> Appliance {
        let state_dir = Path::new(STATE_ROOT).join(format!("{}-{name}", ns.name()));
        let _ = std::fs::remove_dir_all(&state_dir);
        std::fs::create_dir_all(&state_dir).expect("create state dir");
        let socket = state_dir.join("appctl.sock");
        let node = Appliance {
            ns: ns.clone(),
            name: name.to_string(),
            config: state_dir.join("appliance.toml"),
            state_dir,
            socket,
            proc: None,
            artifacts: lab.artifacts().to_path_buf(),
        };
        node.write_config(config);
        node
    }

    /// The config text as this node sees it (paths rewritten).
    pub fn render(&self, config: &str) -> String {
        let dir = self.state_dir.display().to_string();
        let mut text = config.replace("/run/appliance", &dir);
        // Configs that do not set the paths still must not use the shared defaults.
        if !text.contains(&dir) {
            text = format!(
                "{}\n",
                text.replacen(
                    "[daemon]\n",
                    &format!("[daemon]\nstate_dir = \"{dir}\"\n"),
                    1
                )
            );
            if !text.contains("state_dir") {
                text = format!("[daemon]\nstate_dir = \"{dir}\"\n\n{text}");
            }
            if !text.contains("[control]") {
                text.push_str(&format!("\n[control]\nsocket = \"{dir}/appctl.sock\"\n"));
            }
        }
        match std::env::var(OFFLOAD_ENV) {
            Ok(mode) if mode == "off" || mode == "xdp" => with_offload(&text, &mode),
            _ => text,
        }
    }

    pub fn write_config(&self, config: &str) {
        let text = self.render(config);
        std::fs::write(&self.config, &text).expect("write config");
        // A copy next to the logs, for the failure report.
        let _ = std::fs::write(self.artifacts.join(format!("{}.toml", self.name)), &text);
    }

    /// Starts `applianced run` and waits until its control socket answers.
    pub fn start(&mut self) -> &Proc {
        let bin = bin_path("applianced");
        let proc = self
            .ns
            .process(
                &format!("applianced-{}", self.name),
                &[
                    bin.to_str().unwrap(),
                    "run",
                    "-c",
                    self.config.to_str().unwrap(),
                    "--log-level",
                    "debug",
                ],
            )
            .spawn();
        let socket = self.socket.clone();
        let p = proc.clone();
        wait_until(
            &format!("applianced {} answering on {}", self.name, socket.display()),
            Duration::from_secs(15),
            Duration::from_millis(20),
            || {
                assert!(p.is_running(), "applianced exited early:\n{}", p.log());
                run_appctl(&socket, &["status", "--json"]).status.success()
            },
        )
        .unwrap();
        self.proc = Some(proc);
        self.proc.as_ref().unwrap()
    }

    pub fn proc(&self) -> &Proc {
        self.proc.as_ref().expect("applianced not started")
    }

    /// The process of the last start, if it was started.
    pub fn proc_opt(&self) -> Option<&Proc> {
        self.proc.as_ref()
    }

    pub fn appctl(&self, args: &[&str]) -> Output {
        run_appctl(&self.socket, args)
    }

    /// Waits until the data plane runs and every next hop it needs is resolved.
    pub fn wait_dataplane_running(&self) {
        wait_until(
            &format!("data plane of {} running, neighbours resolved", self.name),
            Duration::from_secs(15),
            Duration::from_millis(200),
            || {
                let out = self.appctl(&["dataplane", "--json"]);
                let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                st["state"] == "running"
                    && st["unresolved_neighbours"]
                        .as_array()
                        .is_some_and(|a| a.is_empty())
            },
        )
        .unwrap();
    }

    /// `appctl <args>` (a `--json` view), parsed; panics with appctl's stderr on failure.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.appctl(args);
        assert!(
            out.status.success(),
            "appctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("appctl {args:?}: not JSON: {e}"))
    }

    /// `appctl status --json`, parsed; panics with appctl's stderr on failure.
    pub fn status(&self) -> serde_json::Value {
        self.json(&["status", "--json"])
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        // The process itself is the Lab's to stop; the state directory is ours.
        if let Some(p) = &self.proc {
            if p.is_running() {
                let _ = p.stop(Duration::from_secs(5));
            }
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// The head of a data-plane node's config: `[daemon]` (`node_name`, the state directory that
/// [`Appliance::new`] rewrites, `shutdown_grace` if given), `[control]`, one
/// `[interfaces.<name>]` per interface (with its description, if not empty) and `[dataplane]`
/// over all of them with `workers` and `queues`.
///
/// The text ends inside `[dataplane]`: lines written right after it (`conntrack_per_worker`,
/// `generic_xdp`) belong to that table; the rest of the config (`[[service]]`, `[[gre.tunnel]]`,
/// `[checks]` …) follows.
pub struct DataplaneHeader<'a> {
    pub node: &'a str,
    pub shutdown_grace: Option<&'a str>,
    /// `(name, description)` of each data interface.
    pub interfaces: &'a [(&'a str, &'a str)],
    pub workers: u16,
    pub queues: u16,
}

impl fmt::Display for DataplaneHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[daemon]")?;
        writeln!(f, "node_name = \"{}\"", self.node)?;
        writeln!(f, "state_dir = \"/run/appliance\"")?;
        if let Some(grace) = self.shutdown_grace {
            writeln!(f, "shutdown_grace = \"{grace}\"")?;
        }
        writeln!(f)?;
        writeln!(f, "[control]")?;
        writeln!(f, "socket = \"/run/appliance/appctl.sock\"")?;
        writeln!(f)?;
        for (name, description) in self.interfaces {
            writeln!(f, "[interfaces.{name}]")?;
            if !description.is_empty() {
                writeln!(f, "description = \"{description}\"")?;
            }
        }
        let names: Vec<String> = self
            .interfaces
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect();
        writeln!(f)?;
        writeln!(f, "[dataplane]")?;
        writeln!(f, "interfaces = [{}]", names.join(", "))?;
        writeln!(f, "workers = {}", self.workers)?;
        writeln!(f, "queues = {}", self.queues)
    }
}

/// Environment variable that sets `[dataplane] offload` in every node's configuration (`off`
/// or `xdp`): how CI runs every namespace test, and the drills, with the established-flow
/// offload off as well as on.
pub const OFFLOAD_ENV: &str = "APPLIANCE_LAB_OFFLOAD";

/// `text` with `offload = "<mode>"` in its `[dataplane]` table, unless the table sets it
/// already (a test of the offload itself says what it tests).
pub fn with_offload(text: &str, mode: &str) -> String {
    let mut in_dataplane = false;
    let sets_it = text.lines().any(|line| {
        let t = line.trim_start();
        if t.starts_with('[') {
            in_dataplane = t.starts_with("[dataplane]");
        }
        in_dataplane && (t.starts_with("offload ") || t.starts_with("offload="))
    });
    if sets_it {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 24);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim_start().starts_with("[dataplane]") {
            out.push_str(&format!("offload = \"{mode}\"\n"));
        }
    }
    out
}

pub fn run_appctl(socket: &Path, args: &[&str]) -> Output {
    std::process::Command::new(bin_path("appctl"))
        .arg("-s")
        .arg(socket)
        .args(args)
        .output()
        .expect("run appctl")
}

#[cfg(test)]
mod tests {
    use super::DataplaneHeader;

    #[test]
    fn header_renders_the_tables_in_order() {
        let header = DataplaneHeader {
            node: "gw",
            shutdown_grace: Some("3s"),
            interfaces: &[("eth0", "Internet"), ("eth1", "")],
            workers: 2,
            queues: 2,
        };
        assert_eq!(
            format!("{header}conntrack_per_worker = 4096\n"),
            r#"[daemon]
node_name = "gw"
state_dir = "/run/appliance"
shutdown_grace = "3s"

[control]
socket = "/run/appliance/appctl.sock"

[interfaces.eth0]
description = "Internet"
[interfaces.eth1]

[dataplane]
interfaces = ["eth0", "eth1"]
workers = 2
queues = 2
conntrack_per_worker = 4096
"#
        );
    }
}

#[cfg(test)]
mod offload_tests {
    use super::with_offload;

    #[test]
    fn the_offload_is_set_in_the_dataplane_table_unless_it_is_there() {
        let text =
            "[daemon]\noffload_x = 1\n[dataplane]\ninterfaces = []\n[[service]]\nname = \"a\"\n";
        assert_eq!(
            with_offload(text, "off"),
            "[daemon]\noffload_x = 1\n[dataplane]\noffload = \"off\"\ninterfaces = []\n[[service]]\nname = \"a\"\n"
        );
        let set = "[dataplane]\noffload = \"xdp\"\n";
        assert_eq!(with_offload(set, "off"), set);
        assert_eq!(with_offload("[daemon]\n", "off"), "[daemon]\n");
    }
}
