//! Shell completions from the clap definitions, named and placed where Debian's bash, zsh and
//! fish look for vendor completions.

use std::io;
use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// Each shell, the file name it expects for `bin` and the directory under `/usr/share` it loads
/// packaged completions from.
pub fn layout(bin: &str) -> [(Shell, String, &'static str); 3] {
    [
        (Shell::Bash, bin.to_string(), "bash-completion/completions"),
        (Shell::Zsh, format!("_{bin}"), "zsh/vendor-completions"),
        (
            Shell::Fish,
            format!("{bin}.fish"),
            "fish/vendor_completions.d",
        ),
    ]
}

/// Writes the completions of `cmd` for every shell into `root/<share dir>/<file>`.
pub fn write(cmd: &clap::Command, root: &Path) -> io::Result<Vec<PathBuf>> {
    let bin = cmd.get_name().to_string();
    let mut written = Vec::new();
    for (shell, file, dir) in layout(&bin) {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir)?;
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), &bin, &mut text);
        let path = dir.join(file);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}
