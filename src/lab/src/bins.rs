//! Locating the workspace's built binaries (`applianced`, `appctl`).
//!
//! Labs run the real binaries rather than linking the daemon in, so they
//! exercise exactly what ships. They must already be built: cargo does not
//! build another package's binaries for a crate's tests.

use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `<root>/src/lab`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("src/lab lives inside the workspace")
        .to_path_buf()
}

/// Directories searched by [`bin_path`], in order.
///
/// 1. `$APPLIANCE_BIN_DIR` (explicit override, e.g. for release builds);
/// 2. the directory of the running executable when it is not a test
///    (`applianced drill` runs its own build's `applianced`, a benchmark the
///    daemon built beside it);
/// 3. `$CARGO_TARGET_DIR/debug` (a relative value is taken from the workspace root);
/// 4. the profile directory this test executable itself was built into
///    (`<target>/<profile>/deps/test-xxxx` -> `<target>/<profile>`), which
///    finds the right target dir even when `CARGO_TARGET_DIR` was set only
///    for the build;
/// 5. `<workspace root>/target/debug`.
pub fn bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("APPLIANCE_BIN_DIR") {
        dirs.push(PathBuf::from(d));
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    let test_exe = exe_dir
        .as_deref()
        .is_some_and(|d| d.file_name().is_some_and(|n| n == "deps"));
    if let (Some(d), false) = (&exe_dir, test_exe) {
        dirs.push(d.clone());
    }
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(workspace_root().join(d).join("debug"));
    }
    if let (Some(deps), true) = (&exe_dir, test_exe) {
        if let Some(profile) = deps.parent() {
            dirs.push(profile.to_path_buf());
        }
    }
    dirs.push(workspace_root().join("target").join("debug"));
    dirs.dedup();
    dirs
}

/// Path of the workspace binary `name`; panics with instructions if missing.
pub fn bin_path(name: &str) -> PathBuf {
    let dirs = bin_dirs();
    if let Some(p) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
        return p;
    }
    let searched: Vec<String> = dirs.iter().map(|d| format!("  {}", d.display())).collect();
    panic!(
        "\n\n*** netns-tests: binary `{name}` NOT FOUND ***\n\
         run `cargo build --workspace --bins` first (same CARGO_TARGET_DIR as the tests), \
         or point APPLIANCE_BIN_DIR at the directory holding it.\nSearched:\n{}\n",
        searched.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_dirs() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(bin_dirs().last().unwrap().ends_with("target/debug"));
    }

    #[test]
    #[should_panic(expected = "cargo build --workspace --bins")]
    fn missing_binary_panics_with_instructions() {
        bin_path("no-such-binary-xyz");
    }
}
