//! Shutdown: the subsystems get the configured grace to resign, withdraw and remove what they
//! added; whatever they could not remove (or were aborted before removing) the ledger's final
//! sweep removes.

use serde_json::json;

use super::start::Daemon;
use crate::events::DaemonEvent;

pub(super) async fn shutdown(d: Daemon, why: &str) {
    let Daemon {
        node,
        socket,
        events,
        netlink,
        ledger,
        config_tx,
        stop,
        mut tasks,
        verdict_rx,
        lock,
        ..
    } = d;
    let grace = config_tx.borrow().daemon.shutdown_grace.get();
    events.emit(
        DaemonEvent::Stopping,
        &node,
        format!("{why} received; stopping (grace {} ms)", grace.as_millis()),
        json!({ "signal": why }),
    );
    stop.cancel();
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            "subsystems did not finish within {} ms; aborting them",
            grace.as_millis()
        );
        tasks.abort_all();
    }
    drop(verdict_rx);
    let swept =
        crate::kernel::sweep::sweep(&netlink, &ledger, &events, "not removed by its subsystem")
            .await;
    if swept > 0 {
        tracing::warn!("removed {swept} kernel object(s) in the final sweep");
    }
    let _ = std::fs::remove_file(socket.as_path());
    tracing::info!("stopped");
    drop(lock);
}
