//! What the Debian package ships beside the binaries and is generated from their clap
//! definitions: man pages and shell completions. Each binary writes its own through a hidden
//! subcommand (`applianced generate-assets --out DIR`, `appctl generate-assets --out DIR`), so
//! the pages always describe the binary that is packaged; `build-deb` in this directory calls
//! them. The unit, the maintainer scripts and the packaged configuration live here too.

pub mod completions;
pub mod manual;

use std::io;
use std::path::{Path, PathBuf};

/// The name of the hidden subcommand both binaries have.
pub const SUBCOMMAND: &str = "generate-assets";

/// `cmd` with the hidden `generate-assets --out DIR`. It is added to the parser only, never to
/// the definition the pages and completions are made from, so they do not offer it.
pub fn with_generator(cmd: clap::Command) -> clap::Command {
    cmd.subcommand(
        clap::Command::new(SUBCOMMAND)
            .hide(true)
            .about("Write the man pages and shell completions (used by the package build)")
            .arg(
                clap::Arg::new("out")
                    .long("out")
                    .value_name("DIR")
                    .required(true)
                    .value_parser(clap::value_parser!(PathBuf)),
            ),
    )
}

/// The output directory when the command line asked for the assets.
pub fn requested(matches: &clap::ArgMatches) -> Option<PathBuf> {
    match matches.subcommand() {
        Some((SUBCOMMAND, m)) => m.get_one::<PathBuf>("out").cloned(),
        _ => None,
    }
}

/// Writes `out/man/*.8` and `out/share/<shell's completion dir>/<file>`; returns every path.
pub fn write_assets(cmd: &clap::Command, out: &Path) -> io::Result<Vec<PathBuf>> {
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    let mut written = manual::write(cmd, &man)?;
    written.extend(completions::write(cmd, &out.join("share"))?);
    Ok(written)
}

/// For the binaries' `main`: writes the assets and says where, or why not.
pub fn generate(cmd: &clap::Command, out: &Path) -> std::process::ExitCode {
    match write_assets(cmd, out) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: cannot write to {}: {e}", cmd.get_name(), out.display());
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("appliance-assets-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// A small stand-in for appctl's definition.
    fn appctl() -> clap::Command {
        clap::Command::new("appctl")
            .version("1.2.3")
            .about("Query and control a running applianced")
            .arg(
                clap::Arg::new("socket")
                    .short('s')
                    .long("socket")
                    .global(true),
            )
            .subcommand(clap::Command::new("status").about("One view of every subsystem"))
            .subcommand(
                clap::Command::new("health")
                    .about("Health checks")
                    .subcommand(clap::Command::new("set").about("Force a check")),
            )
    }

    #[test]
    fn the_packaged_configuration_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/package/appliance.toml");
        let cfg = crate::config::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
        // What the unit's ReadWritePaths= allows.
        assert!(cfg.daemon.state_dir.starts_with("/run/appliance"));
        assert!(cfg.control.socket.starts_with("/run/appliance"));
    }

    #[test]
    fn every_subcommand_gets_a_page_and_the_generator_none() {
        let out = scratch("pages");
        let written = write_assets(&with_generator(appctl()), &out).unwrap();
        let mut names: Vec<String> = written
            .iter()
            .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "man/appctl-health-set.8",
                "man/appctl-health.8",
                "man/appctl-status.8",
                "man/appctl.8",
                "share/bash-completion/completions/appctl",
                "share/fish/vendor_completions.d/appctl.fish",
                "share/zsh/vendor-completions/_appctl",
            ]
        );
        let top = std::fs::read_to_string(out.join("man/appctl.8")).unwrap();
        assert!(top.starts_with(".ie \\n(.g .ds Aq"), "{top}");
        let th = format!(
            ".TH appctl 8  \"appliance {}\" appliance",
            env!("CARGO_PKG_VERSION")
        );
        assert!(top.contains(&th), "{top}");
        // The installed system's sections come before VERSION.
        let files = top.find(".SH FILES").unwrap();
        let see_also = top.find(".SH \"SEE ALSO\"").unwrap();
        assert!(files < see_also && see_also < top.find(".SH VERSION").unwrap());
        assert!(top.contains("/run/appliance/appctl.sock"));
        // A subcommand's page has no FILES of its own.
        let sub = std::fs::read_to_string(out.join("man/appctl-health-set.8")).unwrap();
        assert!(
            !sub.contains(".SH FILES") && sub.contains("appctl\\-health\\-set"),
            "{sub}"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn the_generator_is_hidden_from_completions() {
        let out = scratch("completions");
        // As the binaries do: the parser knows it, the documented definition does not.
        let m = with_generator(appctl())
            .try_get_matches_from(["appctl", SUBCOMMAND, "--out", "/x"])
            .unwrap();
        assert_eq!(requested(&m), Some(PathBuf::from("/x")));
        let m = with_generator(appctl())
            .try_get_matches_from(["appctl", "status"])
            .unwrap();
        assert_eq!(requested(&m), None);
        write_assets(&appctl(), &out).unwrap();
        for f in [
            "share/bash-completion/completions/appctl",
            "share/zsh/vendor-completions/_appctl",
            "share/fish/vendor_completions.d/appctl.fish",
        ] {
            let text = std::fs::read_to_string(out.join(f)).unwrap();
            assert!(text.contains("status") && !text.contains(SUBCOMMAND), "{f}");
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}
