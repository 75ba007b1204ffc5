//! The metrics endpoint: served while `[metrics] listen` is set, rebound when a reload changes
//! it; the address in use goes into the status.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::sources::Shared;
use crate::config::Config;
use crate::metrics::{self, Metrics};

/// Runs the metrics endpoint and rebinds it when a reload changes `[metrics] listen`.
pub(super) async fn run(
    metrics: Metrics,
    mut config: watch::Receiver<Arc<Config>>,
    shared: Arc<Mutex<Shared>>,
    stop: CancellationToken,
) {
    let mut current: Option<std::net::SocketAddr> = None;
    let mut server: Option<CancellationToken> = None;
    loop {
        let want = config.borrow_and_update().metrics.listen;
        if want != current {
            if let Some(s) = server.take() {
                s.cancel();
            }
            current = want;
            let mut listen = None;
            if let Some(addr) = want {
                match metrics::http::bind(addr).await {
                    Ok(l) => {
                        let token = stop.child_token();
                        tokio::spawn(metrics::http::serve(l, metrics.clone(), token.clone()));
                        server = Some(token);
                        listen = Some(addr.to_string());
                        tracing::info!("metrics on http://{addr}/metrics");
                    }
                    Err(e) => tracing::error!("cannot listen for metrics on {addr}: {e}"),
                }
            }
            shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .metrics_listen = listen;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            r = config.changed() => if r.is_err() { return },
        }
    }
}
