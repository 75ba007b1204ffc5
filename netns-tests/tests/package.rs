//! The Debian package as an operator meets it. `src/package/build-deb` builds it from the
//! binaries the tests use (or `APPLIANCE_DEB` names one already built, a release package for
//! instance); it is installed with dpkg into a container-like root: an overlay whose lower layer
//! is `/` and whose upper layer is a tmpfs, in private mount, PID, UTS, IPC and cgroup
//! namespaces inside a lab network namespace, where the host's own systemd boots as PID 1. The
//! host's file system, processes and interfaces stay untouched, and everything goes when the
//! container's PID 1 does.
//!
//! Checked: the files and their modes, `dpkg -s`, the conffile, `systemd-analyze verify` on the
//! installed unit, `applianced check` on the installed configuration, the man pages render
//! without warnings, the completions load; then the unit for real: `systemctl start` returns
//! once the daemon says READY=1, reload (good and bad file), the capabilities, seccomp and no
//! new privileges it runs with, a configuration with VRRP (virtual MAC), health checks of every
//! kind the sandbox could stop (ICMP, half-open TCP, HTTP, a command), BGP on port 179 and the
//! AF_XDP fast path carrying a client's HTTP request; the watchdog restarting a hung daemon,
//! whose successor removes what it left in the kernel; an upgrade leaving the daemon running and
//! the configuration as the operator wrote it; removal stopping the daemon cleanly and purge
//! leaving nothing behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use netns_tests::peers::{full_checksums, serve_http};
use netns_tests::{wait_until, Lab, Netns, Proc};

/// The capabilities the unit keeps (CapabilityBoundingSet=), as the kernel's bit mask:
/// NET_BIND_SERVICE 10, NET_ADMIN 12, NET_RAW 13, IPC_LOCK 14, SYS_NICE 23, BPF 39.
const CAPS: u64 = 1 << 10 | 1 << 12 | 1 << 13 | 1 << 14 | 1 << 23 | 1 << 39;

/// Tools from outside the essential set, with their Debian packages (test-all installs them).
const TOOLS: &[(&str, &str)] = &[
    ("systemd-analyze", "systemd"),
    ("man", "man-db"),
    ("groff", "groff-base"),
    ("curl", "curl"),
    ("python3", "python3"),
    ("ethtool", "ethtool"),
];

fn require_tools() {
    let missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(t, _)| netns_tests::find_tool(t).is_none())
        .map(|(_, p)| *p)
        .collect();
    assert!(
        missing.is_empty() && Path::new("/lib/systemd/systemd").is_file(),
        "the package test needs: apt-get install -y systemd {}",
        missing.join(" ")
    );
}

/// The package to test: `$APPLIANCE_DEB`, or one built now from the binaries the tests use.
fn package(lab: &Lab) -> PathBuf {
    if let Some(deb) = std::env::var_os("APPLIANCE_DEB") {
        let deb = PathBuf::from(deb);
        assert!(
            deb.is_file(),
            "APPLIANCE_DEB={} is not a file",
            deb.display()
        );
        return deb;
    }
    let bin_dir = netns_tests::bin_path("applianced")
        .parent()
        .unwrap()
        .to_path_buf();
    let out = Command::new(netns_tests::workspace_root().join("src/package/build-deb"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--out")
        .arg(lab.artifacts())
        // Uncompressed: the test reads it once, and xz on a debug build takes minutes.
        .args(["--compression", "none"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "build-deb failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(path.lines().last().unwrap())
}

/// A cgroup of its own for the container's systemd (its cgroup namespace's root); removed,
/// with what that systemd made below it, once its processes are gone. Dropped after the lab.
struct Cgroup {
    dir: PathBuf,
    /// Its path below the cgroup2 root.
    name: String,
}

impl Cgroup {
    fn new() -> Cgroup {
        let root = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.join("cgroup.controllers").is_file())
            .expect("no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified");
        // A test process killed outright (no Drop) left its cgroup: remove those first.
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let owner = name.strip_prefix("appliance-pkgtest-");
                if owner.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
                    remove_tree(&e.path());
                }
            }
        }
        let name = format!("appliance-pkgtest-{}", std::process::id());
        let cg = Cgroup {
            dir: root.join(&name),
            name,
        };
        std::fs::create_dir(&cg.dir).unwrap_or_else(|e| panic!("{}: {e}", cg.dir.display()));
        cg
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The processes die with the container's PID 1; their cgroups empty a moment later.
        let _ = wait_until(
            "the container's cgroups to empty",
            Duration::from_secs(10),
            Duration::from_millis(50),
            || remove_tree(&self.dir),
        );
    }
}

/// Removes `dir` and its sub-cgroups, deepest first; true when it is gone.
fn remove_tree(dir: &Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
    !dir.exists()
}

/// Builds the container's root and execs systemd as its PID 1. `$T` is an empty directory
/// that a tmpfs covers in the private mount namespace: the overlay's upper and work layers
/// and the root live there and vanish with the namespace. /dev gets only the usual nodes, /sys
/// and /proc/sys are read-only but for /proc/sys/net (this network namespace's), as
/// systemd-nspawn does, so nothing booting in there can change the host's kernel settings.
const BOOT: &str = r#"
set -eu
mount -t tmpfs -o mode=0755 tmpfs "$T"
mkdir "$T/cgroup" "$T/upper" "$T/work" "$T/root"
# `ip netns exec` gave this mount namespace a /sys of its own, without the cgroup mounts.
mount -t cgroup2 cgroup2 "$T/cgroup"
echo 1 > "$T/cgroup/$CG/cgroup.procs"
umount "$T/cgroup"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/root"
R="$T/root"
cp "$DEB" "$R/var/tmp/appliance.deb"
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount --bind "$R/proc/sys/net" "$R/proc/sys/net"
mount -o remount,bind,rw "$R/proc/sys/net"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$R/dev"
for n in null zero full random urandom tty; do
    touch "$R/dev/$n"
    mount --bind "/dev/$n" "$R/dev/$n"
done
touch "$R/dev/console"
mount --bind /dev/null "$R/dev/console"
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
exec unshare --cgroup -- sh -c '
    mount -t cgroup2 cgroup2 "$0/sys/fs/cgroup"
    exec chroot "$0" /usr/bin/env -i container=other PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        /lib/systemd/systemd --unit=basic.target' "$R"
"#;

/// The container: its PID 1 (host PID) and the lab process that holds it.
struct Container<'l> {
    lab: &'l Lab,
    init: u32,
    _holder: Proc,
}

impl<'l> Container<'l> {
    fn boot(lab: &'l Lab, ns: &Netns, cg: &Cgroup, deb: &Path) -> Container<'l> {
        let top = lab.artifact_path("container");
        std::fs::create_dir(&top).unwrap();
        // --kill-child: the lab stops `unshare`, and the kernel kills the container's PID 1
        // with it, which takes every process of the PID namespace along.
        let holder = ns
            .process(
                "container",
                &[
                    "unshare",
                    "--mount",
                    "--pid",
                    "--fork",
                    "--kill-child",
                    "--uts",
                    "--ipc",
                    "--propagation",
                    "private",
                    "--",
                    "sh",
                    "-c",
                    BOOT,
                ],
            )
            .env("T", &top.display().to_string())
            .env("CG", &cg.name)
            .env("DEB", &deb.display().to_string())
            .spawn();
        let mut init = 0;
        wait_until(
            "the container's systemd to start",
            Duration::from_secs(30),
            Duration::from_millis(50),
            || {
                init = child_of(holder.pid()).unwrap_or(0);
                init != 0 && comm(init).as_deref() == Some("systemd")
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", holder.log()));
        let c = Container {
            lab,
            init,
            _holder: holder,
        };
        // `--wait` needs the manager's socket, and systemctl answers "offline" at once until
        // PID 1 has created /run/systemd/system: on a loaded machine that takes a while.
        let mut state = String::new();
        let booted = wait_until(
            "the container's boot to finish",
            Duration::from_secs(90),
            Duration::from_millis(200),
            || {
                let o = c.sh("timeout 30 systemctl is-system-running --wait");
                state = String::from_utf8_lossy(&o.stdout).trim().to_string();
                !state.is_empty() && state != "offline"
            },
        );
        assert!(
            booted.is_ok() && (state == "running" || state == "degraded"),
            "the container's systemd is {state:?}:\n{}",
            c.out(
                "ls -la /run/systemd 2>&1; ps -eo pid,stat,etime,comm 2>&1; \
                 systemctl --failed --no-pager; journalctl -b --no-pager | tail -50"
            )
        );
        c
    }

    fn nsenter(&self) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "-t",
            &self.init.to_string(),
            "-m",
            "-p",
            "-n",
            "-u",
            "-i",
            "-C",
            "-r",
            "-w",
        ])
        .args([
            "--",
            "/usr/bin/env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        ])
        .args([
            "LANG=C.UTF-8",
            "MANWIDTH=80",
            "SYSTEMD_PAGER=",
            "SYSTEMD_COLORS=0",
        ]);
        cmd
    }

    /// `sh -c script` inside the container.
    fn sh(&self, script: &str) -> Output {
        let out = self
            .nsenter()
            .args(["sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.lab.artifact_path("container-commands.log"))
        {
            let _ = write!(
                log,
                "$ {script}\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }

    /// Stdout of a script that must succeed.
    fn out(&self, script: &str) -> String {
        let o = self.sh(script);
        assert!(
            o.status.success(),
            "`{script}` failed ({}):\n{}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn write(&self, path: &str, contents: &str) {
        let mut child = self
            .nsenter()
            .args(["sh", "-c", &format!("cat > {path}")])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(contents.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "writing {path}");
    }

    /// `systemctl show -p KEY --value applianced`.
    fn prop(&self, key: &str) -> String {
        self.out(&format!("systemctl show -p {key} --value applianced"))
            .trim()
            .to_string()
    }

    /// The unit's journal (the daemon's log and systemd's lines about it).
    fn journal(&self) -> String {
        self.out("journalctl -u applianced --no-pager")
    }

    /// The daemon's `/proc/PID/status` line `key:` (inside the container's PID namespace).
    fn main_status(&self, key: &str) -> String {
        let pid = self.prop("MainPID");
        let status = self.out(&format!("cat /proc/{pid}/status"));
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
            .trim()
            .to_string()
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Beside the lab's logs, which it prints for a failing test.
            let o = self
                .sh("systemctl status applianced --no-pager; journalctl -b --no-pager | tail -200");
            self.lab.write_artifact("container-journal.log", o.stdout);
        }
    }
}

/// The first child of `pid` (the container's PID 1 is `unshare`'s only child).
fn child_of(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// What the package installs, and the modes that matter.
const FILES: &[(&str, &str)] = &[
    ("/usr/sbin/applianced", "755"),
    ("/usr/sbin/appctl", "755"),
    ("/lib/systemd/system/applianced.service", "644"),
    ("/etc/appliance/appliance.toml", "640"),
    ("/usr/share/man/man8/applianced.8.gz", "644"),
    ("/usr/share/man/man8/applianced-run.8.gz", "644"),
    ("/usr/share/man/man8/appctl.8.gz", "644"),
    ("/usr/share/man/man8/appctl-reload.8.gz", "644"),
    ("/usr/share/man/man8/appctl-health-set.8.gz", "644"),
    ("/usr/share/bash-completion/completions/applianced", "644"),
    ("/usr/share/bash-completion/completions/appctl", "644"),
    ("/usr/share/zsh/vendor-completions/_applianced", "644"),
    ("/usr/share/zsh/vendor-completions/_appctl", "644"),
    (
        "/usr/share/fish/vendor_completions.d/applianced.fish",
        "644",
    ),
    ("/usr/share/fish/vendor_completions.d/appctl.fish", "644"),
    ("/usr/share/doc/appliance/copyright", "644"),
    ("/usr/share/doc/appliance/operations.md", "644"),
    ("/usr/share/doc/appliance/examples/vrrp-pair.toml", "644"),
];

/// Every subsystem whose kernel interface the unit's sandbox could break: VRRP with a
/// virtual MAC (raw sockets, a macvlan, ARP sysctls), SCHED_FIFO, checks of every privileged
/// kind, BGP listening on port 179 with MD5 and BFD, and the AF_XDP fast path.
const FULL: &str = r#"
[daemon]
node_name = "pkgtest"
shutdown_grace = "2s"

[interfaces.eth0]
static_addresses = ["198.18.0.10/24", "198.18.1.1/32"]

[interfaces.eth1]
static_addresses = ["198.18.2.254/24"]

[vrrp]
realtime_priority = 10

[[vrrp.instance]]
name = "web4"
interface = "eth0"
vrid = 51
priority = 200
advert_interval = "100ms"
virtual_addresses = ["198.18.0.100/24"]
virtual_mac = true

[checks.icmp]
type = "icmp"
target = "198.18.0.1"
interval = "500ms"
rise = 1

[checks.half]
type = "tcp"
handshake = "half-open"
target = "198.18.2.1:8080"
interval = "500ms"
rise = 1

[checks.web1]
type = "http"
target = "198.18.2.1:8080"
path = "/who"
interval = "500ms"
rise = 1

[checks.script]
type = "exec"
command = ["/bin/sh", "-c", "ip -br link show dev eth0 >/dev/null"]
interval = "500ms"
rise = 1

[dataplane]
interfaces = ["eth0", "eth1"]
workers = 1
queues = 1
conntrack_per_worker = 4096

[[service]]
name = "web"
vip = "198.18.1.1"
port = 80
protocol = "tcp"
backends = [{ address = "198.18.2.1", port = 8080, check = "web1" }]

[bgp]
local_as = 65001
router_id = "198.18.0.10"

[[bgp.neighbor]]
address = "198.18.0.1"
remote_as = 65000
local_address = "198.18.0.10"
passive = true
md5_password = "pkgtest"
bfd = { interval = "100ms", multiplier = 3 }

[[bgp.announce]]
prefix = "198.18.1.1/32"
checks = ["web1"]
vrrp_instance = "web4"
"#;

#[test]
fn the_package_installs_runs_under_systemd_and_purges() {
    require_tools();
    // Dropped last: the cgroup can only go once the container's processes have.
    let cg = Cgroup::new();
    let lab = Lab::for_current_test();
    let deb = package(&lab);

    // The archive itself.
    let fields = Command::new("dpkg-deb")
        .arg("-f")
        .arg(&deb)
        .args(["Package", "Architecture", "Depends"])
        .output()
        .unwrap();
    let fields = String::from_utf8_lossy(&fields.stdout);
    assert!(
        fields.contains("Package: appliance") && fields.contains("Depends: libc6 (>= "),
        "{fields}"
    );

    // The node and its neighbours: a client and a backend on their own links.
    let node = lab.netns("ct");
    let client = lab.netns("cl");
    let backend = lab.netns("be");
    lab.veth(&node, "eth0", &client, "eth0");
    lab.veth(&node, "eth1", &backend, "eth0");
    client.add_addr("eth0", "198.18.0.1/24");
    client.add_route("198.18.1.0/24 via 198.18.0.10");
    backend.add_addr("eth0", "198.18.2.1/24");
    backend.add_route("default via 198.18.2.254");
    full_checksums(&client, "eth0");
    full_checksums(&backend, "eth0");
    let _http = serve_http(&lab, &backend, "b1");

    let c = Container::boot(&lab, &node, &cg, &deb);

    // Installed as an operator would, with systemd running (postinst reloads it). Local
    // dpkg path excludes (minimal images drop man pages and docs) are overridden.
    // test-all's policy-rc.d (it keeps the peers' packages from starting their daemons) would
    // keep prerm from stopping ours: the container's root is an ordinary machine's.
    c.out("rm -f /usr/sbin/policy-rc.d && dpkg --path-include='/*' -i /var/tmp/appliance.deb");
    let st = c.out("dpkg -s appliance");
    assert!(st.contains("Status: install ok installed"), "{st}");
    let conffiles = c.out("dpkg-query -W -f='${Conffiles}' appliance");
    assert!(
        conffiles.contains("/etc/appliance/appliance.toml"),
        "{conffiles}"
    );
    for (path, mode) in FILES {
        let got = c.out(&format!("stat -c %a {path}"));
        assert_eq!(got.trim(), *mode, "{path}");
    }
    c.out("test \"$(stat -c %U:%G /etc/appliance/appliance.toml)\" = root:root");
    // Not enabled and not started by the installation: it takes over addresses.
    assert_eq!(c.prop("ActiveState"), "inactive");
    assert_eq!(c.prop("UnitFileState"), "disabled");

    // The unit, the shipped configuration, the man pages, the completions.
    let verify = c.sh("systemd-analyze verify /lib/systemd/system/applianced.service");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let check = c.out("applianced check");
    assert!(
        check.contains("/etc/appliance/appliance.toml: valid"),
        "{check}"
    );
    for page in ["applianced", "appctl", "appctl-reload", "applianced-run"] {
        let o = c.sh(&format!("man --warnings -P cat 8 {page}"));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && o.stderr.is_empty() && text.contains("SYNOPSIS"),
            "man {page}: {}\n{text}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let man = c.out("man -P cat 8 applianced");
    for section in [
        "FILES",
        "/etc/appliance/appliance.toml",
        "SIGNALS",
        "SEE ALSO",
    ] {
        assert!(
            man.contains(section),
            "applianced(8) lacks {section}:\n{man}"
        );
    }
    let groff = c.sh("zcat /usr/share/man/man8/appctl.8.gz | groff -man -Tutf8 -ww -z");
    assert!(
        groff.status.success() && groff.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&groff.stderr)
    );
    let complete = c.out(
        "bash -c '. /usr/share/bash-completion/completions/appctl && complete -p appctl && \
         . /usr/share/bash-completion/completions/applianced && complete -p applianced'",
    );
    assert!(
        complete.contains("appctl") && complete.contains("applianced"),
        "{complete}"
    );
    assert!(c
        .out("head -1 /usr/share/zsh/vendor-completions/_appctl")
        .starts_with("#compdef appctl"));
    assert!(c
        .out("cat /usr/share/fish/vendor_completions.d/appctl.fish")
        .contains("complete -c appctl"));

    // Type=notify: `systemctl start` returns once the daemon said READY=1, which it says once
    // its control socket answers.
    c.out("systemctl start applianced");
    assert_eq!(c.prop("ActiveState"), "active", "{}", c.journal());
    assert_eq!(c.prop("StatusText"), "generation 1");
    let status = c.out("appctl status --json");
    assert!(status.contains("\"config_generation\": 1"), "{status}");
    // Root, but with only the unit's capabilities, no way to gain more, and seccomp.
    let eff = u64::from_str_radix(&c.main_status("CapEff"), 16).unwrap();
    assert_eq!(eff, CAPS, "effective capabilities {eff:#x}");
    assert_eq!(c.main_status("NoNewPrivs"), "1");
    assert_eq!(c.main_status("Seccomp"), "2");
    assert_eq!(c.out("stat -c %a /run/appliance").trim(), "700");

    // Reload through appctl: a bad file fails `systemctl reload` and keeps the daemon.
    c.out("systemctl reload applianced");
    assert_eq!(c.prop("StatusText"), "reloaded: generation 2, 0 change(s)");
    c.out("cp /etc/appliance/appliance.toml /root/good.toml && echo '[daemon' >> /etc/appliance/appliance.toml");
    assert!(!c.sh("systemctl reload applianced").status.success());
    assert_eq!(c.prop("ActiveState"), "active");
    assert!(
        c.prop("StatusText").starts_with(
            "reload rejected, configuration unchanged: /etc/appliance/appliance.toml:"
        ),
        "{}",
        c.prop("StatusText")
    );

    // Every subsystem under the sandbox.
    c.write("/etc/appliance/appliance.toml", FULL);
    c.out("applianced check");
    c.out("systemctl restart applianced");
    let all_up = || {
        let s = c.out("appctl status --json");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        v["vrrp"][0]["state"] == "master"
            && v["checks"]
                .as_array()
                .is_some_and(|cs| cs.len() == 4 && cs.iter().all(|c| c["state"] == "up"))
    };
    wait_until(
        "VRRP master and every check up",
        Duration::from_secs(20),
        Duration::from_millis(100),
        all_up,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", c.out("appctl status"), c.journal()));
    // The real-time threads (VRRP, BFD) got SCHED_FIFO 10.
    for thread in ["vrrp", "bfd"] {
        let line = c.out(&format!("ps -eLo cls,rtprio,comm | grep -w {thread}"));
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            ["FF", "10", thread]
        );
    }
    // BFD's single-hop socket (RFC 5881: UDP 3784).
    let bfd = c.out("ss -Hlun 'sport = :3784'");
    assert!(bfd.contains(":3784"), "{bfd}");
    assert_eq!(
        c.out("cat /proc/sys/net/ipv4/conf/eth0/arp_announce")
            .trim(),
        "2"
    );
    let listen = c.out("ss -Hltn 'sport = :179'");
    assert!(listen.contains("198.18.0.10:179"), "{listen}");
    let dp = c.out("appctl dataplane");
    assert!(dp.contains("running"), "{dp}");
    let who = client.run_ok(&["curl", "-s", "-m", "5", "http://198.18.1.1/who"]);
    assert_eq!(who, "b1", "through the AF_XDP fast path");
    assert!(
        c.journal()
            .lines()
            .all(|l| !l.contains("Operation not permitted")),
        "{}",
        c.journal()
    );

    // The watchdog: pinged at half the interval, a hung daemon is killed and restarted, and
    // its successor removes what it left in the kernel (the ledger outlives it in
    // /run/appliance).
    c.out("mkdir -p /etc/systemd/system/applianced.service.d && \
           printf '[Service]\\nWatchdogSec=2s\\n' > /etc/systemd/system/applianced.service.d/wd.conf && \
           systemctl daemon-reload && systemctl restart applianced");
    let stamp = c.prop("WatchdogTimestampMonotonic");
    std::thread::sleep(Duration::from_millis(2500));
    assert_ne!(c.prop("WatchdogTimestampMonotonic"), stamp);
    assert_eq!(c.prop("NRestarts"), "0");
    let hung = c.prop("MainPID");
    c.out(&format!("kill -STOP {hung}"));
    wait_until(
        "the watchdog to restart the daemon",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            c.prop("NRestarts") == "1"
                && c.prop("ActiveState") == "active"
                && c.prop("MainPID") != hung
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", c.journal()));
    let journal = c.journal();
    assert!(journal.contains("Watchdog timeout"), "{journal}");
    assert!(journal.contains("left by an earlier run"), "{journal}");
    wait_until(
        "VRRP master and every check up again",
        Duration::from_secs(20),
        Duration::from_millis(100),
        all_up,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", c.journal()));
    c.out("rm -r /etc/systemd/system/applianced.service.d && systemctl daemon-reload");

    // An upgrade (the same package again) leaves the running daemon alone (a restart is a
    // failover), says so, and keeps the operator's configuration.
    let running = c.prop("MainPID");
    let upgrade = c.out("dpkg -i /var/tmp/appliance.deb");
    assert!(
        upgrade.contains("applianced still runs the previous version"),
        "{upgrade}"
    );
    assert_eq!(c.prop("MainPID"), running);
    assert_eq!(c.prop("ActiveState"), "active");
    assert_eq!(c.out("cat /etc/appliance/appliance.toml"), FULL);

    // Removal stops the daemon gracefully: nothing it added stays in the kernel.
    c.out("dpkg -r appliance");
    assert_eq!(c.prop("ActiveState"), "inactive");
    let addrs = c.out("ip -br addr show dev eth0");
    assert!(!addrs.contains("198.18."), "{addrs}");
    assert!(!c.out("ip -br link").contains("vr4.51"));
    assert!(!c.out("ip link show dev eth0").contains("xdp"));
    assert_eq!(
        c.out("cat /proc/sys/net/ipv4/conf/eth0/arp_announce")
            .trim(),
        "0"
    );
    assert!(c
        .out("dpkg -s appliance")
        .contains("Status: deinstall ok config-files"));
    c.out("test ! -e /usr/sbin/applianced && test ! -e /lib/systemd/system/applianced.service");
    c.out("test -e /etc/appliance/appliance.toml");

    // Purge: the configuration and the state directory go too.
    c.out("dpkg -P appliance");
    assert!(!c.sh("dpkg -s appliance").status.success());
    c.out("test ! -e /etc/appliance && test ! -e /run/appliance");
    for (path, _) in FILES {
        c.out(&format!("test ! -e {path}"));
    }
    c.out("test ! -e /usr/share/doc/appliance");
}
