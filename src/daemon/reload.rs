//! Reload: the new file is parsed and validated in full before anything changes; on any error
//! the running configuration stays and the error is logged, counted, recorded as an event and
//! returned to `appctl reload`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::sync::watch;

use super::sources::Shared;
use super::unix_ms;
use crate::config::{self, Config};
use crate::events::{ConfigEvent, EventLog};
use crate::metrics::Metrics;
use crate::status::ReloadOutcome;

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

pub fn reload(
    path: &Path,
    config_tx: &watch::Sender<Arc<Config>>,
    shared: &Arc<Mutex<Shared>>,
    events: &EventLog,
    metrics: &Metrics,
    trigger: &str,
) -> Result<u64, String> {
    let result = config::load_file(path)
        .map_err(|e| e.to_string())
        .and_then(|new| match restart_only(&config_tx.borrow(), &new) {
            Some(key) => Err(format!(
                "{}: `{key}` cannot change while running; restart the daemon to apply it",
                path.display()
            )),
            None => Ok(new),
        });
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    match result {
        Ok(new) => {
            let changed = **config_tx.borrow() != new;
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
                    if changed { "" } else { ", no changes" }
                ),
                json!({ "generation": s.generation, "changed": changed, "trigger": trigger }),
            );
            Ok(s.generation)
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
