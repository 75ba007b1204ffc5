//! The peers the data-plane tests and benchmarks put around the appliance: hosts that send
//! with full checksums, and HTTP backends.

use std::time::Duration;

use crate::{wait_until, Lab, Netns, Proc};

/// Turns transmit checksum offload off on `ifname` in `ns`. Offloaded checksums are never
/// computed on a veth, and AF_XDP sees frames as they were sent: peers of the fast path send
/// with full checksums, as a real NIC's receive path would deliver them.
pub fn full_checksums(ns: &Netns, ifname: &str) {
    ns.run_ok(&["ethtool", "-K", ifname, "tx", "off"]);
}

/// `python3 -m http.server 8080` in `ns` whose `/who` answers `name`, listening when this
/// returns (requests before that would be refused and spoil a test's counts).
pub fn serve_http(lab: &Lab, ns: &Netns, name: &str) -> Proc {
    let root = lab.artifact_path(&format!("www-{name}"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("who"), name).unwrap();
    let server = ns
        .process(
            &format!("http-{name}"),
            &["python3", "-m", "http.server", "8080"],
        )
        .current_dir(&root)
        .spawn();
    wait_until(
        "backend HTTP server listening",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            ns.exec(&["curl", "-s", "--max-time", "1", "http://127.0.0.1:8080/who"])
                .status
                .success()
        },
    )
    .unwrap();
    server
}

/// [`serve_http`] on IPv6 (`--bind ::`), with a 4 MiB `/big` beside `/who` for downloads larger
/// than any path MTU.
pub fn serve_http6(lab: &Lab, ns: &Netns, name: &str) -> Proc {
    let root = lab.artifact_path(&format!("www-{name}"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("who"), name).unwrap();
    std::fs::write(root.join("big"), vec![b'x'; 4 << 20]).unwrap();
    let server = ns
        .process(
            &format!("http-{name}"),
            &["python3", "-m", "http.server", "--bind", "::", "8080"],
        )
        .current_dir(&root)
        .spawn();
    wait_until(
        "backend HTTP server listening on IPv6",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            ns.exec(&["curl", "-s", "--max-time", "1", "http://[::1]:8080/who"])
                .status
                .success()
        },
    )
    .unwrap();
    server
}
