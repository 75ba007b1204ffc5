//! Settings given on `applianced run`'s command line, which win over the file's: the state
//! directory and the control socket. They are applied to every load, the first and each
//! reload's, so a reload compares like with like.

use std::path::PathBuf;

use super::Config;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--state-dir`: `[daemon] state_dir`.
    pub state_dir: Option<PathBuf>,
    /// `--socket`: `[control] socket`.
    pub socket: Option<PathBuf>,
}

impl Overrides {
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(d) = &self.state_dir {
            cfg.daemon.state_dir = d.clone();
        }
        if let Some(s) = &self.socket {
            cfg.control.socket = s.clone();
        }
    }
}
