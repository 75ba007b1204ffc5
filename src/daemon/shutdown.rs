//! Shutdown: the subsystems get the configured grace to resign, withdraw and remove what they
//! added, the data plane last (it forwards until VRRP and BGP have moved the traffic away);
//! whatever they could not remove (or were aborted before removing) the ledger's final sweep
//! removes.

use serde_json::json;

use super::start::Daemon;
use crate::events::DaemonEvent;

/// What the data plane gets to stop after the others, whatever they left of the grace.
const LAST_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

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
        last_stop,
        mut last_tasks,
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
    let deadline = tokio::time::Instant::now() + grace;
    stop.cancel();
    let drained = tokio::time::timeout_at(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "subsystems did not finish within {} ms; aborting them",
            grace.as_millis()
        );
        tasks.abort_all();
    }
    // Only now the fast path: VRRP has resigned and BGP has withdrawn, so the traffic it would
    // still have forwarded has somewhere else to go. It gets what is left of the grace, and at
    // least LAST_GRACE to detach its programs and sockets.
    last_stop.cancel();
    let last_deadline = deadline.max(tokio::time::Instant::now() + LAST_GRACE);
    let done = tokio::time::timeout_at(last_deadline, async {
        while last_tasks.join_next().await.is_some() {}
    })
    .await;
    if done.is_err() {
        tracing::warn!("the data plane did not stop in time; aborting it");
        last_tasks.abort_all();
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
