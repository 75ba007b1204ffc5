//! [`Netns`]: a handle to one of the lab's network namespaces.

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use crate::addr::{assert_test_addr, looks_like_addr};
use crate::cmd;
use crate::lab::LabInner;
use crate::process::{Proc, ProcBuilder};
use crate::tools::require_tool;
use crate::wait::wait_until;

/// A network namespace owned by a [`crate::Lab`]. Cheap to clone; the Lab
/// deletes the namespace when it is dropped.
#[derive(Clone)]
pub struct Netns {
    name: String,
    short: String,
    lab: Arc<LabInner>,
}

impl std::fmt::Debug for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Netns").field(&self.name).finish()
    }
}

/// Panics unless `name` is a valid Linux interface name (IFNAMSIZ-1 = 15 bytes).
pub(crate) fn check_ifname(name: &str) {
    assert!(
        !name.is_empty()
            && name.len() <= 15
            && !name.contains(['/', ':'])
            && !name.chars().any(char::is_whitespace),
        "netns-tests: invalid interface name {name:?} (1..=15 chars, no '/', ':' or spaces)"
    );
}

impl Netns {
    pub(crate) fn new(name: &str, short: &str, lab: Arc<LabInner>) -> Netns {
        Netns {
            name: name.to_string(),
            short: short.to_string(),
            lab,
        }
    }

    pub(crate) fn lab(&self) -> &Arc<LabInner> {
        &self.lab
    }

    /// Full unique name (`nt-<pid>-<n>-<short>`), as for `ip netns exec`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The short name given to [`crate::Lab::netns`].
    pub fn short_name(&self) -> &str {
        &self.short
    }

    /// Runs `args` inside the namespace (`ip netns exec NAME args...`) and
    /// returns its status and output, successful or not.
    pub fn exec(&self, args: &[&str]) -> Output {
        self.lab.run(&self.exec_argv(args))
    }

    /// Like [`Netns::exec`] but panics (showing the command and its stderr)
    /// unless it succeeds; returns stdout.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.lab.run_ok(&self.exec_argv(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn exec_argv<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        assert!(!args.is_empty(), "netns-tests: exec with an empty command");
        let mut argv = vec!["ip", "netns", "exec", self.name.as_str()];
        argv.extend_from_slice(args);
        argv
    }

    /// Runs `ip -n NAME args...` (no extra process inside the namespace).
    pub fn ip(&self, args: &[&str]) -> Output {
        self.lab.run(&self.ip_argv(args))
    }

    /// Like [`Netns::ip`] but panics unless it succeeds; returns stdout.
    pub fn ip_ok(&self, args: &[&str]) -> String {
        let out = self.lab.run_ok(&self.ip_argv(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ip_argv<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut argv = vec!["ip", "-n", self.name.as_str()];
        argv.extend_from_slice(args);
        argv
    }

    /// Sets sysctl `key` (dotted, e.g. `net.ipv4.ip_forward`, or a path
    /// relative to /proc/sys such as `net/ipv4/conf/eth0.100/forwarding`
    /// for names containing dots) inside the namespace.
    ///
    /// Writes /proc/sys from a shell inside the namespace — the net.* tree
    /// there belongs to the writer's namespace — so no procps is needed.
    pub fn sysctl(&self, key: &str, value: &str) {
        let path = sysctl_path(key);
        self.run_ok(&[
            "sh",
            "-c",
            r#"printf '%s\n' "$1" > "$2""#,
            "sh",
            value,
            &path,
        ]);
    }

    /// Reads sysctl `key` inside the namespace (trimmed).
    pub fn sysctl_get(&self, key: &str) -> String {
        self.run_ok(&["cat", &sysctl_path(key)]).trim().to_string()
    }

    /// `ip link set IF up`.
    pub fn set_up(&self, ifname: &str) {
        self.ip_ok(&["link", "set", ifname, "up"]);
    }

    /// `ip link set IF down`.
    pub fn set_down(&self, ifname: &str) {
        self.ip_ok(&["link", "set", ifname, "down"]);
    }

    /// Adds `cidr` (e.g. "198.18.0.1/24" or "2001:db8::1/64") to `ifname`.
    /// Panics if it is outside the test ranges. IPv6 addresses get `nodad`.
    pub fn add_addr(&self, ifname: &str, cidr: &str) {
        assert_test_addr(cidr);
        let mut args = vec!["addr", "add", cidr, "dev", ifname];
        if cidr.contains(':') {
            args.push("nodad");
        }
        self.ip_ok(&args);
    }

    /// Removes `cidr` from `ifname`.
    pub fn del_addr(&self, ifname: &str, cidr: &str) {
        self.ip_ok(&["addr", "del", cidr, "dev", ifname]);
    }

    /// `ip route add SPEC`, e.g. "198.19.0.0/24 via 198.18.0.1" or
    /// "default via 2001:db8::1". Every address in SPEC must be a test address.
    pub fn add_route(&self, spec: &str) {
        let mut args = vec!["route", "add"];
        args.extend(check_route(spec));
        self.ip_ok(&args);
    }

    /// `ip route del SPEC`.
    pub fn del_route(&self, spec: &str) {
        let mut args = vec!["route", "del"];
        args.extend(spec.split_whitespace());
        self.ip_ok(&args);
    }

    /// Enslaves `port` to bridge `bridge` and brings the port up.
    pub fn attach(&self, port: &str, bridge: &str) {
        self.ip_ok(&["link", "set", port, "master", bridge]);
        self.set_up(port);
    }

    /// MAC address of `ifname` (lowercase, colon-separated).
    pub fn mac(&self, ifname: &str) -> String {
        let json = self.ip_ok(&["-j", "link", "show", "dev", ifname]);
        let v: serde_json::Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("netns-tests: bad `ip -j link` output ({e}): {json}"));
        v[0]["address"]
            .as_str()
            .unwrap_or_else(|| panic!("netns-tests: no MAC for {ifname} in {}", self.name))
            .to_string()
    }

    /// IP addresses (without prefix length) configured on `ifname`.
    pub fn addrs(&self, ifname: &str) -> Vec<std::net::IpAddr> {
        let json = self.ip_ok(&["-j", "addr", "show", "dev", ifname]);
        let v: serde_json::Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("netns-tests: bad `ip -j addr` output ({e}): {json}"));
        v[0]["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["local"].as_str()?.parse().ok())
            .collect()
    }

    /// One `ping -c 1 -W 1` to `addr` (IPv4 or IPv6); true if answered.
    pub fn ping(&self, addr: &str) -> bool {
        require_tool("ping");
        self.exec(&["ping", "-n", "-c", "1", "-W", "1", addr])
            .status
            .success()
    }

    /// Panics unless `addr` answers a ping within 5 s (retrying, since the
    /// first packets may race neighbour discovery).
    pub fn assert_ping(&self, addr: &str) {
        if let Err(e) = wait_until(
            &format!("{} to answer ping from {}", addr, self.name),
            Duration::from_secs(5),
            Duration::from_millis(100),
            || self.ping(addr),
        ) {
            let out = self.exec(&["ping", "-n", "-c", "1", "-W", "1", addr]);
            panic!(
                "netns-tests: {e}\nlast attempt: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// PIDs of all processes currently inside this namespace.
    pub fn pids(&self) -> Vec<i32> {
        crate::cleanup::netns_pids(&self.name)
    }

    /// Spawns `args` inside the namespace, output to `<artifacts>/<name>.log`.
    ///
    /// The process gets SIGKILL if the test process dies, and the Lab stops
    /// it on drop. Panics if it cannot be started.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        ProcBuilder::new(self, name, args).spawn()
    }

    /// A [`ProcBuilder`] for spawning with environment variables or a
    /// working directory: `ns.process("d", &[..]).env("RUST_LOG", "debug").spawn()`.
    pub fn process(&self, name: &str, args: &[&str]) -> ProcBuilder {
        ProcBuilder::new(self, name, args)
    }

    /// Renders `ip netns exec NAME args...` (for messages and docs).
    pub fn command_line(&self, args: &[&str]) -> String {
        cmd::render(&self.exec_argv(args))
    }
}

fn sysctl_path(key: &str) -> String {
    if key.contains('/') {
        format!("/proc/sys/{}", key.trim_start_matches('/'))
    } else {
        format!("/proc/sys/{}", key.replace('.', "/"))
    }
}

/// Splits a route spec, asserting every address-looking token is a test address.
fn check_route(spec: &str) -> Vec<&str> {
    let toks: Vec<&str> = spec.split_whitespace().collect();
    assert!(!toks.is_empty(), "netns-tests: empty route spec");
    for t in &toks {
        if looks_like_addr(t) {
            assert_test_addr(t);
        }
    }
    toks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.100/forwarding"),
            "/proc/sys/net/ipv4/conf/eth0.100/forwarding"
        );
    }

    #[test]
    fn routes_are_checked() {
        assert_eq!(
            check_route("default via 198.18.0.1"),
            ["default", "via", "198.18.0.1"]
        );
        check_route("2001:db8:1::/64 via 2001:db8::1 dev eth0");
        assert!(std::panic::catch_unwind(|| check_route("203.0.113.0/24 via 198.18.0.1")).is_err());
    }

    #[test]
    fn ifnames() {
        check_ifname("eth0");
        check_ifname("abcdefghijklmno");
        for bad in ["", "abcdefghijklmnop", "a/b", "a b", "a:1"] {
            assert!(
                std::panic::catch_unwind(|| check_ifname(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
