//! Man pages from the clap definitions: one page per command and subcommand, section 8 (both
//! are administration tools), with the sections clap cannot know appended to the top page:
//! files, environment, signals, exit status and see also.

use std::io;
use std::path::{Path, PathBuf};

use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;

pub const SECTION: &str = "8";

/// Writes `NAME.8` and `NAME-SUB[-SUB...].8` for every visible subcommand into `dir`.
pub fn write(cmd: &clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut cmd = cmd.clone().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    page(&cmd, dir, true, &mut written)?;
    Ok(written)
}

fn page(cmd: &clap::Command, dir: &Path, top: bool, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let man = Man::new(cmd.clone())
        .section(SECTION)
        .manual("appliance")
        .source(format!("appliance {}", env!("CARGO_PKG_VERSION")));
    let mut text = Vec::new();
    if top {
        // clap_mangen's order, with the installed system's sections before VERSION.
        man.render_title(&mut text)?;
        man.render_name_section(&mut text)?;
        man.render_synopsis_section(&mut text)?;
        man.render_description_section(&mut text)?;
        man.render_options_section(&mut text)?;
        if cmd.has_subcommands() {
            man.render_subcommands_section(&mut text)?;
        }
        text.extend(extra(cmd.get_name()).to_roff().into_bytes());
        man.render_version_section(&mut text)?;
    } else {
        man.render(&mut text)?;
    }
    let path = dir.join(man.get_filename());
    std::fs::write(&path, text)?;
    out.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page(sub, dir, false, out)?;
    }
    Ok(())
}

/// A `.TP` entry: the term on its own line, the text indented under it.
fn entry(r: &mut Roff, term: clap_mangen::roff::Inline, text: &str) {
    r.control("TP", []).text([term]).text([roman(text)]);
}

/// The sections of `name`'s top page that describe the installed system rather than the flags.
fn extra(name: &str) -> Roff {
    let mut r = Roff::new();
    match name {
        "applianced" => {
            r.control("SH", ["FILES"]);
            entry(
                &mut r,
                italic("/etc/appliance/appliance.toml"),
                "The configuration (a conffile of the package). Validate it with \
                 applianced check before a reload or restart.",
            );
            entry(
                &mut r,
                italic("/run/appliance/"),
                "The state directory (mode 0700): the pid lock applianced.pid, the ledger of \
                 kernel objects the daemon added (swept at the next start after a crash) and \
                 the control socket appctl.sock.",
            );
            entry(
                &mut r,
                italic("/lib/systemd/system/applianced.service"),
                "The systemd unit: Type=notify with a watchdog, reload through appctl reload, \
                 restart on failure, a reduced capability set and a read-only file system.",
            );
            r.control("SH", ["ENVIRONMENT"]);
            entry(
                &mut r,
                bold("RUST_LOG"),
                "Log filter (tracing-subscriber syntax); overrides --log-level.",
            );
            entry(
                &mut r,
                bold("NOTIFY_SOCKET"),
                "Set by systemd for Type=notify: the daemon sends READY=1 once its control \
                 socket answers, RELOADING=1 and READY=1 around a reload, STOPPING=1 at \
                 shutdown, and a one-line STATUS= summary.",
            );
            entry(
                &mut r,
                bold("WATCHDOG_USEC, WATCHDOG_PID"),
                "Set by systemd for WatchdogSec=: the supervisor's loop sends WATCHDOG=1 every \
                 half interval.",
            );
            r.control("SH", ["SIGNALS"]);
            entry(
                &mut r,
                bold("SIGHUP"),
                "Reload the configuration, as appctl reload does; a bad file keeps the running \
                 configuration.",
            );
            entry(
                &mut r,
                bold("SIGTERM, SIGINT"),
                "Stop gracefully: subsystems get [daemon] shutdown_grace to resign VRRP \
                 mastership and withdraw BGP routes, then everything the daemon added to the \
                 kernel is removed.",
            );
            r.control("SH", ["EXIT STATUS"]);
            r.text([roman(
                "0 on success; 1 when the configuration is invalid or the daemon could not \
                 start or failed.",
            )]);
            r.control("SH", ["SEE ALSO"]);
            r.text([
                bold("appctl"),
                roman("(8), "),
                bold("systemctl"),
                roman("(1), "),
                bold("systemd.service"),
                roman("(5), "),
                italic("/usr/share/doc/appliance/"),
            ]);
        }
        "appctl" => {
            r.control("SH", ["FILES"]);
            entry(
                &mut r,
                italic("/run/appliance/appctl.sock"),
                "The daemon's control socket (mode 0600, root only); --socket names another \
                 one when [control] socket moves it.",
            );
            r.control("SH", ["EXIT STATUS"]);
            r.text([roman(
                "0 on success; 1 when the daemon cannot be reached or refuses the request \
                 (appctl reload exits 1 when the new file is rejected, so systemctl reload \
                 fails with the daemon's error).",
            )]);
            r.control("SH", ["SEE ALSO"]);
            r.text([
                bold("applianced"),
                roman("(8), "),
                italic("/usr/share/doc/appliance/"),
            ]);
        }
        _ => {}
    }
    r
}
