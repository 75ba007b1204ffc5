//! FRR as a router in a namespace: zebra (which installs what bgpd chooses in the namespace's
//! kernel) and bgpd, with bfdd when asked for. Each runs with its own config, pid file, zserv and
//! vty sockets in the lab's artifacts, so nothing of the host's FRR is used or touched.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{require_tool, wait_for_file, Lab, Netns, Proc};

pub struct FrrRouter {
    pub zebra: Proc,
    pub bgpd: Proc,
    /// Only when a bfdd config was given.
    pub bfdd: Option<Proc>,
    dir: PathBuf,
    ns: Netns,
}

/// The options every FRR daemon here gets: its config and pid file, the shared zserv socket and
/// vty directory, no vty TCP port, the `frr` user and log to stdout (the lab's log file).
fn common(dir: &Path, conf: &Path, daemon: &str) -> Vec<String> {
    let s = |p: &Path| p.to_str().expect("UTF-8 artifacts path").to_string();
    vec![
        "-f".into(),
        s(conf),
        "-i".into(),
        s(&dir.join(format!("{daemon}.pid"))),
        "-z".into(),
        s(&dir.join("zserv.api")),
        "--vty_socket".into(),
        s(dir),
        "-P".into(),
        "0".into(),
        "-u".into(),
        "frr".into(),
        "-g".into(),
        "frr".into(),
        "--log".into(),
        "stdout".into(),
    ]
}

impl FrrRouter {
    /// Starts zebra, then bfdd (with `bfdd_conf`, if any) and bgpd with `bgpd_conf`, in `ns`.
    pub fn start(
        lab: &Lab,
        ns: &Netns,
        name: &str,
        bgpd_conf: &str,
        bfdd_conf: Option<&str>,
    ) -> FrrRouter {
        let zebra_bin = require_tool("/usr/lib/frr/zebra");
        let bgpd_bin = require_tool("/usr/lib/frr/bgpd");
        // The daemons drop to the `frr` user, which must write pid files and sockets here.
        let dir = lab.artifacts().join(format!("{name}-frr"));
        std::fs::create_dir_all(&dir).expect("create the FRR directory");
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .expect("open the FRR directory to the frr user");
        let spawn = |daemon: &str, bin: &Path, conf: &str, extra: &[String]| -> Proc {
            let path = dir.join(format!("{daemon}.conf"));
            std::fs::write(&path, conf).expect("write an FRR config");
            let mut args = vec![bin.to_str().expect("UTF-8 path").to_string()];
            args.extend(common(&dir, &path, daemon));
            args.extend(extra.iter().cloned());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ns.spawn(&format!("{name}-{daemon}"), &args)
        };
        let zebra = spawn("zebra", &zebra_bin, &format!("hostname {name}\n"), &[]);
        wait_for_file(dir.join("zserv.api"), Duration::from_secs(10))
            .expect("zebra opens its zserv socket");
        let bfdd = bfdd_conf.map(|conf| {
            let bin = require_tool("/usr/lib/frr/bfdd");
            let ctl = dir.join("bfdd.sock").to_str().expect("UTF-8").to_string();
            spawn("bfdd", &bin, conf, &["--bfdctl".into(), ctl])
        });
        let bgpd = spawn("bgpd", &bgpd_bin, bgpd_conf, &[]);
        FrrRouter {
            zebra,
            bgpd,
            bfdd,
            dir,
            ns: ns.clone(),
        }
    }

    /// `vtysh -c CMD` against these daemons; its output (stdout and stderr).
    pub fn vtysh(&self, cmd: &str) -> String {
        let vtysh = require_tool("vtysh");
        let out = self.ns.exec(&[
            vtysh.to_str().expect("UTF-8 path"),
            "--vty_socket",
            self.dir.to_str().expect("UTF-8 path"),
            "-c",
            cmd,
        ]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Every daemon still running (none exited on its own).
    pub fn running(&self) -> bool {
        self.zebra.is_running()
            && self.bgpd.is_running()
            && self.bfdd.as_ref().is_none_or(Proc::is_running)
    }

    /// Stops bgpd, bfdd and zebra, in that order (zebra last: it removes the routes bgpd
    /// installed when it exits).
    pub fn stop(self) {
        self.bgpd.stop(Duration::from_secs(5));
        if let Some(b) = &self.bfdd {
            b.stop(Duration::from_secs(5));
        }
        self.zebra.stop(Duration::from_secs(5));
    }
}
