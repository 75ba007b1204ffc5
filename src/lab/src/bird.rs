//! BIRD 2 as the upstream router of the BGP tests and benchmark: the router's configuration
//! and its process.

use crate::{require_tool, Lab, Netns, Proc};

/// The router's configuration up to its sessions: router id `id`, log level `log` (`all`, or
/// `{ warning, error, fatal }` where logging would cost), every route it learns exported to
/// the kernel's FIB (ECMP up to 16 paths; IPv6 too with `ipv6`), and the template `peer` for
/// sessions from AS `local_as` with short timers and no graceful restart, so that tests see
/// changes within seconds.
pub fn router_header(id: &str, log: &str, local_as: u32, ipv6: bool) -> String {
    let mut c = format!(
        "router id {id};\nlog stderr {log};\nprotocol device {{ scan time 10; }}\n\
         protocol kernel {{ ipv4 {{ import none; export all; }}; merge paths yes limit 16; }}\n"
    );
    if ipv6 {
        c.push_str(
            "protocol kernel { ipv6 { import none; export all; }; merge paths yes limit 16; }\n",
        );
    }
    c.push_str(&format!(
        "template bgp peer {{ local as {local_as}; hold time 3; keepalive time 1; \
         connect retry time 1; error wait time 1, 2; graceful restart off; }}\n"
    ));
    c
}

/// A session `name` of the template `peer` that imports every route of `family` (`ipv4` or
/// `ipv6`) from the neighbor and exports none; `options` are more session options (`password
/// "..."; direct; ttl security yes;`).
pub fn session(
    name: &str,
    neighbor: &str,
    remote_as: u32,
    source: &str,
    options: &str,
    family: &str,
) -> String {
    format!(
        "protocol bgp {name} from peer {{ neighbor {neighbor} as {remote_as}; \
         source address {source}; {options} {family} {{ import all; export none; }}; }}\n"
    )
}

/// Runs BIRD in `ns` on `conf`, written to `<name>.conf` in the artifacts; its control
/// socket is `<name>.ctl` there (for `birdc -s`).
pub fn spawn(lab: &Lab, ns: &Netns, name: &str, conf: &str) -> Proc {
    let bird = require_tool("bird");
    let conf = lab.write_artifact(&format!("{name}.conf"), conf);
    let sock = lab.artifact_path(&format!("{name}.ctl"));
    let pid = lab.artifact_path(&format!("{name}.pid"));
    ns.spawn(
        name,
        &[
            bird.to_str().unwrap(),
            "-f",
            "-c",
            conf.to_str().unwrap(),
            "-s",
            sock.to_str().unwrap(),
            "-P",
            pid.to_str().unwrap(),
        ],
    )
}
