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
