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
