//! One daemon per state directory: an exclusive flock on `applianced.pid`, held for the life of
//! the process and released by the kernel if it dies, so a crashed run never blocks a restart.

use std::fs::OpenOptions;
use std::io::{Read, Seek, Write};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

pub struct PidLock {
    _file: Flock<std::fs::File>,
}

pub fn acquire(state_dir: &Path) -> Result<PidLock, String> {
    let path = state_dir.join("applianced.pid");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(f) => f,
        Err((mut f, _)) => {
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            return Err(format!(
                "another applianced (pid {}) is using state directory {}",
                pid.trim(),
                state_dir.display()
            ));
        }
    };
    file.set_len(0).map_err(|e| e.to_string())?;
    file.rewind().map_err(|e| e.to_string())?;
    writeln!(file, "{}", std::process::id()).map_err(|e| e.to_string())?;
    Ok(PidLock { _file: file })
}
