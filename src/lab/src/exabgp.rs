//! ExaBGP 4.2 as a BGP peer that only dials out: it never listens (`exabgp.tcp.bind` empty), so
//! a speaker that refuses incoming connections never establishes with it. It runs in the
//! foreground with its own configuration and environment (nothing of the host's
//! `/etc/exabgp` is used), and hands every UPDATE it receives, parsed to JSON, to a small
//! process that appends it to a file the test reads.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::{require_tool, Lab, Netns, Proc};

/// One neighbor of ExaBGP: it dials `neighbor` from `local` (`passive false`), as AS
/// `local_as` towards `peer_as`, with IPv4 unicast only and a hold time of 3 s, so that a
/// session's loss shows within seconds.
pub struct Neighbor<'a> {
    pub router_id: &'a str,
    pub neighbor: &'a str,
    pub local: &'a str,
    pub local_as: u32,
    pub peer_as: u32,
}

pub struct ExaBgp {
    pub proc: Proc,
    updates: PathBuf,
}

impl ExaBgp {
    /// Runs ExaBGP in `ns` with one neighbor `n`; its configuration is `<name>.conf` in the
    /// artifacts, the UPDATEs it receives go to `<name>-updates.json` there (one JSON object
    /// a line, ExaBGP's `receive { parsed; update; }` format).
    pub fn spawn(lab: &Lab, ns: &Netns, name: &str, n: &Neighbor<'_>) -> ExaBgp {
        let exabgp = require_tool("exabgp");
        let updates = lab.artifact_path(&format!("{name}-updates.json"));
        let sink = lab.write_artifact(
            &format!("{name}-recv.sh"),
            // It keeps its stdout (the pipe to ExaBGP) open: ExaBGP takes EOF there for the
            // helper's death.
            format!(
                "#!/bin/sh\nwhile IFS= read -r line; do printf '%s\\n' \"$line\" >> '{}'; done\n",
                updates.display()
            ),
        );
        std::fs::set_permissions(&sink, std::fs::Permissions::from_mode(0o755)).unwrap();
        let conf = lab.write_artifact(
            &format!("{name}.conf"),
            format!(
                "process recv {{\n  run {sink};\n  encoder json;\n}}\n\
                 neighbor {neighbor} {{\n  router-id {id};\n  local-address {local};\n  \
                 local-as {las};\n  peer-as {pas};\n  hold-time 3;\n  passive false;\n  \
                 family {{ ipv4 unicast; }}\n  \
                 api {{\n    processes [ recv ];\n    receive {{ parsed; update; }}\n  }}\n}}\n",
                sink = sink.display(),
                neighbor = n.neighbor,
                id = n.router_id,
                local = n.local,
                las = n.local_as,
                pas = n.peer_as,
            ),
        );
        let proc = ns
            .process(name, &[exabgp.to_str().unwrap(), conf.to_str().unwrap()])
            // Foreground, as root (its helper writes into the artifacts; ExaBGP always
            // switches to `exabgp.daemon.user`), no pid file, no CLI pipes, logs on stdout into
            // the process log.
            .env("exabgp.daemon.daemonize", "false")
            .env("exabgp.daemon.user", "root")
            .env("exabgp.daemon.pid", "")
            .env("exabgp.api.cli", "false")
            // Never listen: the peer must be reached by ExaBGP's own dial only.
            .env("exabgp.tcp.bind", "")
            .env("exabgp.log.destination", "stdout")
            .env("exabgp.log.level", "INFO")
            .env("exabgp.log.network", "true")
            .env("exabgp.log.processes", "true")
            .spawn();
        ExaBgp { proc, updates }
    }

    /// Every UPDATE received so far, parsed.
    pub fn updates(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.updates)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "update")
            .collect()
    }

    /// Whether the last UPDATE that mentions `prefix` announced it with next hop `next_hop`
    /// (and did not withdraw it).
    pub fn has_route(&self, prefix: &str, next_hop: &str) -> bool {
        let mut have = false;
        for u in self.updates() {
            let msg = &u["neighbor"]["message"]["update"];
            let announced = msg["announce"]["ipv4 unicast"][next_hop]
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r["nlri"] == prefix));
            let withdrawn = msg["withdraw"]["ipv4 unicast"]
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r["nlri"] == prefix));
            if announced {
                have = true;
            } else if withdrawn {
                have = false;
            }
        }
        have
    }
}
