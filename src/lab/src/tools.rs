//! Preconditions: root, and external tools with the Debian package that ships them.
//!
//! Integration tests must never pass silently on a machine that cannot run
//! them, so these checks panic with an actionable message instead of skipping.

use std::path::{Path, PathBuf};

/// Panics unless the process runs as root (euid 0).
///
/// Creating network namespaces, veths and bridges needs CAP_SYS_ADMIN and
/// CAP_NET_ADMIN; without them every test would fail with confusing `ip`
/// errors, so fail first with a clear statement instead. [`crate::Lab::new`]
/// calls this, so tests get it for free.
pub fn require_root() {
    if !nix::unistd::geteuid().is_root() {
        panic!(
            "\n\n*** netns-tests NEED ROOT ***\n\
             These integration tests create Linux network namespaces, veths and bridges \
             (CAP_SYS_ADMIN + CAP_NET_ADMIN). They are NOT skipped without root: they fail.\n\
             Run them as root, e.g.: sudo -E env \"PATH=$PATH\" cargo test -p netns-tests\n"
        );
    }
}

/// Returns the full path of `tool`, or panics naming the Debian package to install.
///
/// Searches `$PATH` plus the sbin directories (a non-login root shell may lack
/// them, and `ip`, `ethtool`, `sysctl` live there on Debian).
pub fn require_tool(tool: &str) -> PathBuf {
    find_tool(tool).unwrap_or_else(|| {
        panic!(
            "\n\n*** netns-tests: required tool `{tool}` NOT FOUND ***{}\n",
            install_hint(tool)
        )
    })
}

/// For programs rather than tests (the drills, the benchmarks): `Err` with one line naming
/// every missing tool and the packages that ship them.
pub fn missing_tools(tools: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| find_tool(t).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().filter_map(|t| debian_package(t)).collect();
    packages.sort_unstable();
    packages.dedup();
    Err(format!(
        "missing {}: run netns-tests/install-deps, or apt-get install {}",
        missing.join(", "),
        packages.join(" ")
    ))
}

/// [`missing_tools`] for a program's `main`, called first thing: prints the line (after
/// `program: `) and exits 1; likewise when not root, since every such program builds
/// namespaces.
pub fn tools_or_exit(program: &str, tools: &[&str]) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("{program}: needs root (it builds network namespaces); run it as root");
        std::process::exit(1);
    }
    // A non-login root shell may lack the sbin directories, where `ip`, `nft` and `trafgen`
    // live; the commands the lab runs search PATH, so add them (before any thread starts).
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for d in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        if !dirs.iter().any(|p| p == Path::new(d)) {
            dirs.push(PathBuf::from(d));
        }
    }
    if let Ok(joined) = std::env::join_paths(dirs) {
        std::env::set_var("PATH", joined);
    }
    if let Err(e) = missing_tools(tools) {
        eprintln!("{program}: {e}");
        std::process::exit(1);
    }
}

/// Finds an executable named `tool` on `$PATH` or in the sbin directories.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        let p = Path::new(tool);
        return is_executable(p).then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The Debian 12 package that ships `tool`, for the tools tests are likely to use.
pub fn debian_package(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "ip" | "bridge" | "ss" | "tc" => "iproute2",
        "ethtool" => "ethtool",
        "ping" => "iputils-ping",
        "arping" => "iputils-arping",
        "sysctl" | "ps" | "pkill" => "procps",
        "keepalived" => "keepalived",
        "haproxy" => "haproxy",
        "trafgen" => "netsniff-ng",
        "bird" | "birdc" => "bird2",
        "gobgp" => "gobgp",
        "gobgpd" => "gobgpd",
        "exabgp" => "exabgp",
        "vtysh" | "bgpd" | "zebra" => "frr",
        "nft" => "nftables",
        "openssl" => "openssl",
        "iptables" => "iptables",
        "tcpdump" => "tcpdump",
        "socat" => "socat",
        "nc" => "netcat-openbsd",
        "curl" => "curl",
        "iperf3" => "iperf3",
        "python3" => "python3",
        "bpftool" => "bpftool",
        "xdp-loader" => "xdp-tools",
        "ndisc6" | "rdisc6" => "ndisc6",
        "sh" => "dash",
        "stdbuf" => "coreutils",
        "ovs-vsctl" | "ovs-appctl" | "ovs-vswitchd" => "openvswitch-switch",
        "ovsdb-server" | "ovsdb-tool" => "openvswitch-common",
        // testpmd is packaged with the development tools; its bonding and af_packet
        // drivers are plugins in their own packages (librte-net-bond23, librte-net-af-packet23).
        "dpdk-testpmd" => "dpdk-dev",
        _ => return None,
    })
}

/// " Install it with: apt-get install -y PKG" (or a search hint) for messages.
pub(crate) fn install_hint(tool: &str) -> String {
    let name = Path::new(tool)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| tool.to_string());
    match debian_package(&name) {
        Some(pkg) => {
            format!("\nInstall it with: apt-get install -y {pkg}   (Debian package `{pkg}`)")
        }
        None => format!("\nFind the Debian package with: apt-file search bin/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tools_are_named_with_their_packages() {
        assert_eq!(missing_tools(&["sh"]), Ok(()));
        let e = missing_tools(&["sh", "definitely-not-a-tool-xyz"]).unwrap_err();
        assert!(e.starts_with("missing definitely-not-a-tool-xyz:"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn finds_sh_and_names_packages() {
        assert!(find_tool("sh").is_some());
        assert!(find_tool("definitely-not-a-tool-xyz").is_none());
        assert_eq!(debian_package("keepalived"), Some("keepalived"));
        assert!(install_hint("/usr/sbin/ethtool").contains("apt-get install -y ethtool"));
    }

    #[test]
    #[should_panic(expected = "required tool `definitely-not-a-tool-xyz` NOT FOUND")]
    fn require_tool_panics_loudly() {
        require_tool("definitely-not-a-tool-xyz");
    }
}
