//! Reload: the new file is parsed and validated in full, and the plan of what changes is made,
//! before anything changes; on any error the running configuration stays and the error is
//! logged, counted, recorded as an event and returned to `appctl reload`. Loading, validating
//! and planning run under `catch_unwind`: a panic there (a bug: every value the parser accepts
//! is meant to be validated) rejects the reload instead of taking the running daemon, and
//! everything it holds in the kernel, down with it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::sync::watch;

use super::reload_plan;
use super::sources::Shared;
use super::unix_ms;
use crate::config::overrides::Overrides;
use crate::config::{self, Config};
use crate::control::protocol::{ReloadChange, ReloadReply};
use crate::events::{ConfigEvent, EventLog};
use crate::metrics::Metrics;
use crate::status::ReloadOutcome;

// The guard above needs unwinding; a build that aborts on panic would lose it silently.
#[cfg(panic = "abort")]
compile_error!("the reload path relies on panic = \"unwind\" to survive a bug in a loader");

/// Keys that the running process cannot change (it holds their files open).
fn restart_only(old: &Config, new: &Config) -> Option<String> {
    if old.daemon.state_dir != new.daemon.state_dir {
        return Some("daemon.state_dir".into());
    }
    if old.control.socket != new.control.socket {
        return Some("control.socket".into());
    }
    None
}

#[cfg(test)]
thread_local! {
    /// Test hook: makes the next `prepare` on this thread panic inside the guard.
    static PANIC_IN_PREPARE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Loads, validates and plans the new configuration; a panic in any of it is an error.
fn prepare(
    path: &Path,
    overrides: &Overrides,
    old: &Config,
) -> Result<(Config, Vec<ReloadChange>), String> {
    // The configuration types are plain data and `old` is only read: nothing is left
    // half-changed by an unwind.
    let guarded = catch_unwind(AssertUnwindSafe(|| {
        #[cfg(test)]
        if PANIC_IN_PREPARE.with(|p| p.replace(false)) {
            panic!("test hook");
        }
        let mut new = config::load_file(path).map_err(|e| e.to_string())?;
        overrides.apply(&mut new);
        if let Some(key) = restart_only(old, &new) {
            return Err(format!(
                "{}: `{key}` cannot change while running; restart the daemon to apply it",
                path.display()
            ));
        }
        let changes = reload_plan::plan(old, &new);
        Ok((new, changes))
    }));
    guarded.unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(format!(
            "{}: the daemon failed while reading this file ({msg}); this is a bug, please \
             report it with the file",
            path.display()
        ))
    })
}

pub fn reload(
    path: &Path,
    overrides: &Overrides,
    config_tx: &watch::Sender<Arc<Config>>,
    shared: &Arc<Mutex<Shared>>,
    events: &EventLog,
    metrics: &Metrics,
    trigger: &str,
) -> Result<ReloadReply, String> {
    let old = config_tx.borrow().clone();
    let result = prepare(path, overrides, &old);
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    match result {
        Ok((new, changes)) => {
            let changed = *old != new;
            if changed {
                config_tx.send_replace(Arc::new(new));
            }
            s.generation += 1;
            s.loaded_unix_ms = unix_ms();
            s.last_reload = Some(ReloadOutcome {
                unix_ms: unix_ms(),
                ok: true,
                error: None,
            });
            metrics.count_reload(true);
            metrics.config_generation.set(s.generation as i64);
            events.emit(
                ConfigEvent::Reloaded,
                &path.display().to_string(),
                format!(
                    "configuration reloaded ({trigger}); generation {}{}",
                    s.generation,
                    if changed {
                        format!(", {} change(s)", changes.len())
                    } else {
                        ", no changes".into()
                    }
                ),
                json!({
                    "generation": s.generation,
                    "changed": changed,
                    "trigger": trigger,
                    "changes": changes,
                }),
            );
            for c in &changes {
                tracing::info!(
                    "reload: {} {} {}: {}",
                    c.subsystem,
                    c.object,
                    c.action.as_str(),
                    c.what
                );
            }
            Ok(ReloadReply {
                generation: s.generation,
                changes,
            })
        }
        Err(e) => {
            tracing::error!("reload rejected, keeping generation {}:\n{e}", s.generation);
            s.last_reload = Some(ReloadOutcome {
                unix_ms: unix_ms(),
                ok: false,
                error: Some(e.clone()),
            });
            metrics.count_reload(false);
            events.emit(
                ConfigEvent::ReloadFailed,
                &path.display().to_string(),
                format!(
                    "reload ({trigger}) rejected; still running generation {}",
                    s.generation
                ),
                json!({ "error": e, "trigger": trigger }),
            );
            Err(format!(
                "{e}\nthe running configuration (generation {}) is unchanged",
                s.generation
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempFile(std::path::PathBuf);
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn file(tag: &str, text: &str) -> TempFile {
        let p = std::env::temp_dir().join(format!(
            "appliance-reload-{tag}-{}.toml",
            std::process::id()
        ));
        std::fs::write(&p, text).unwrap();
        TempFile(p)
    }

    #[test]
    fn a_panic_while_loading_is_a_rejected_reload() {
        let f = file(
            "panic",
            "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.2:80\"\n",
        );
        let old = Config::default();
        assert!(prepare(&f.0, &Overrides::default(), &old).is_ok());
        PANIC_IN_PREPARE.with(|p| p.set(true));
        let e = prepare(&f.0, &Overrides::default(), &old).unwrap_err();
        assert!(e.contains("test hook") && e.contains("bug"), "{e}");
    }

    #[test]
    fn overrides_apply_to_the_reloaded_file_too() {
        let f = file("over", "[control]\nsocket = \"/tmp/from-file.sock\"\n");
        let o = Overrides {
            socket: Some("/tmp/from-flag.sock".into()),
            state_dir: None,
        };
        let mut old = Config::default();
        o.apply(&mut old);
        let (new, changes) = prepare(&f.0, &o, &old).unwrap();
        assert_eq!(
            new.control.socket,
            std::path::PathBuf::from("/tmp/from-flag.sock")
        );
        assert!(changes.is_empty(), "{changes:?}");
        // Without the override the file's socket differs: refused, not applied.
        let e = prepare(&f.0, &Overrides::default(), &old).unwrap_err();
        assert!(e.contains("control.socket"), "{e}");
    }
}
