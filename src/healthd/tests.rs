//! The subsystem on file checks (no network): verdict table, reload diffing and overrides.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use health::Override;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::start;
use crate::config::{parse_str, Config};
use crate::events::EventLog;
use crate::metrics::Metrics;
use crate::verdicts::{self, Verdicts};

fn config(dir: &Path, checks: &[(&str, &str)]) -> Arc<Config> {
    let mut text = String::new();
    for (name, extra) in checks {
        text.push_str(&format!(
            "[checks.{name}]\ntype = \"file\"\npath = \"{}/{name}\"\ninterval = \"20ms\"\nrise = 1\n{extra}\n",
            dir.display()
        ));
    }
    Arc::new(parse_str(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}")))
}

async fn wait_table(rx: &mut watch::Receiver<Verdicts>, what: &str, f: impl Fn(&Verdicts) -> bool) {
    let met = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|t| f(t)))
        .await
        .is_ok_and(|r| r.is_ok());
    if !met {
        panic!("timed out waiting for {what}: {:?}", rx.borrow());
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_restarts_only_changed_checks_and_keeps_overrides() {
    let dir =
        TempDir(std::env::temp_dir().join(format!("appliance-checks-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    for n in ["a", "b", "c"] {
        std::fs::write(dir.0.join(n), "3\n").unwrap();
    }
    let (cfg_tx, cfg_rx) = watch::channel(config(&dir.0, &[("a", ""), ("b", "")]));
    let (vtx, mut vrx) = verdicts::channel();
    let stop = CancellationToken::new();
    let events = EventLog::new();
    let (control, follow) = start(
        cfg_rx,
        events.clone(),
        &Metrics::new("t"),
        vtx,
        stop.clone(),
    );
    // Every configured check is in the table as soon as `start` returns.
    assert_eq!(vrx.borrow().len(), 2);
    let follow = tokio::spawn(follow);

    wait_table(&mut vrx, "a and b up with weight 3", |t| {
        t.values().all(|v| v.up && v.weight == Some(3))
    })
    .await;
    let view = control.set_override("b", Override::Down).await.unwrap();
    assert_eq!((view.state.as_str(), view.health.as_str()), ("down", "up"));
    wait_table(&mut vrx, "b down by override", |t| !t["b"].up).await;
    let err = control.set_override("bb", Override::Up).await.unwrap_err();
    assert!(err.contains("did you mean `b`?"), "{err}");

    // A weight change without a state change reaches the table too.
    std::fs::write(dir.0.join("a"), "7\n").unwrap();
    wait_table(&mut vrx, "weight 7", |t| t["a"].weight == Some(7)).await;
    let a_probes = probes(&control, "a");

    // Reload: a unchanged, b changes timing only, c added.
    cfg_tx.send_replace(config(&dir.0, &[("a", ""), ("b", "fall = 5"), ("c", "")]));
    wait_table(&mut vrx, "c up", |t| t.get("c").is_some_and(|v| v.up)).await;
    assert!(probes(&control, "a") >= a_probes, "a was restarted");
    let b = control
        .statuses()
        .into_iter()
        .find(|c| c.name == "b")
        .unwrap();
    assert_eq!((b.fall, b.override_state.as_str()), (5, "down"), "{b:?}");
    assert!(!vrx.borrow()["b"].up);

    // Reload: c removed; its verdict leaves the table.
    cfg_tx.send_replace(config(&dir.0, &[("a", ""), ("b", "fall = 5")]));
    wait_table(&mut vrx, "c gone", |t| !t.contains_key("c")).await;

    // Events and the table are separate channels: wait for the events rather than assume they
    // were written before the table changed.
    let wanted = [
        "check_up",
        "check_down",
        "override",
        "check_changed",
        "check_added",
        "check_removed",
    ];
    let all_seen = || {
        let kinds: Vec<String> = events.since(0).0.iter().map(|e| e.kind.clone()).collect();
        wanted.iter().all(|k| kinds.iter().any(|x| x == k))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !all_seen() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let kinds: Vec<String> = events.since(0).0.iter().map(|e| e.kind.clone()).collect();
    for k in wanted {
        assert!(kinds.iter().any(|x| x == k), "no {k} event in {kinds:?}");
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), follow)
        .await
        .expect("health subsystem stops on cancel")
        .unwrap();
}

fn probes(control: &super::HealthControl, name: &str) -> u64 {
    control
        .statuses()
        .into_iter()
        .find(|c| c.name == name)
        .map(|c| c.counters.probes)
        .unwrap_or(0)
}
