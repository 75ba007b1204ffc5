//! Serves the control socket. The socket is created mode 0600 inside a directory the daemon
//! creates mode 0700 when absent: only root talks to the daemon.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::protocol::{
    Command, ReloadReply, Request, Response, MAX_REQUEST_BYTES, PROTOCOL_VERSION,
};
use crate::events::EventLog;
use crate::status::Status;

/// A reload request: the reply says the new generation and what changed, or why the file was
/// rejected.
pub type ReloadRequest = oneshot::Sender<Result<ReloadReply, String>>;

/// What the socket needs from the rest of the daemon.
pub struct ControlContext {
    pub events: EventLog,
    pub status: Box<dyn Fn() -> Status + Send + Sync>,
    pub reload: mpsc::Sender<ReloadRequest>,
    pub health: crate::healthd::HealthControl,
    /// The data plane's status (a disabled data plane answers with state `disabled`).
    pub dataplane: crate::dataplaned::DataplaneHandle,
    /// BGP status and the operator's drain set.
    pub bgp: crate::bgpd::BgpHandle,
    /// The BFD sessions (asked of the BFD thread).
    pub bfd: crate::bfdd::BfdHandle,
    /// The bonds and their members.
    pub bonds: crate::bondd::Bonds,
}

/// Most flows one `conntrack` request lists.
const MAX_FLOWS_LISTED: u32 = 10_000;

/// How long a connection may sit without completing a request. `appctl` sends its request at
/// once; a client that opens the socket and sends nothing (or half a line) would otherwise hold
/// a task and a descriptor for the life of the daemon.
/// How much of an oversized request is read past before the connection is closed.
const MAX_SKIPPED_BYTES: u64 = 16 << 20;

pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlServer {
    /// Binds the socket. A stale socket file from a crashed run is replaced; a live one (another
    /// daemon answering) is an error, so two daemons never share one socket.
    pub async fn bind(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
            }
        }
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another daemon is answering on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub async fn serve(self, ctx: Arc<ControlContext>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let ctx = ctx.clone();
                        let shutdown = shutdown.clone();
                        tokio::spawn(async move {
                            if let Err(e) = handle(stream, ctx, shutdown).await {
                                tracing::debug!("control client: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("control socket accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads and drops bytes up to the end of the current line; false when the connection ended or
/// `max` bytes went by without one.
async fn skip_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut tokio::io::Take<R>,
    max: u64,
) -> io::Result<bool> {
    let mut skipped = 0u64;
    let mut chunk = Vec::new();
    while skipped < max {
        chunk.clear();
        reader.set_limit(MAX_REQUEST_BYTES as u64);
        let n = tokio::time::timeout(IDLE_TIMEOUT, reader.read_until(b'\n', &mut chunk))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        if n == 0 {
            return Ok(false);
        }
        if chunk.ends_with(b"\n") {
            return Ok(true);
        }
        skipped += n as u64;
    }
    Ok(false)
}

async fn write_line(w: &mut (impl AsyncWriteExt + Unpin), resp: &Response) -> io::Result<()> {
    let mut line = serde_json::to_vec(resp).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await
}

async fn handle(
    stream: UnixStream,
    ctx: Arc<ControlContext>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let (r, mut w) = stream.into_split();
    // The limit is per request: it is reset after each line, so a long-lived client (a
    // monitoring loop) may send any number of requests on one connection.
    let mut reader = BufReader::new(r).take(MAX_REQUEST_BYTES as u64);
    let mut line = String::new();
    loop {
        line.clear();
        reader.set_limit(MAX_REQUEST_BYTES as u64);
        let read = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            read = tokio::time::timeout(IDLE_TIMEOUT, reader.read_line(&mut line)) => read,
        };
        match read {
            Err(_) => {
                let msg = format!(
                    "no complete request for {}s; closing the connection",
                    IDLE_TIMEOUT.as_secs()
                );
                return write_line(&mut w, &Response::err(msg)).await;
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                // Not UTF-8: answer, then close (the rest of the line cannot be trusted).
                return write_line(&mut w, &Response::err(format!("bad request: {e}"))).await;
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(_)) if !line.ends_with('\n') && reader.limit() == 0 => {
                let msg = format!("request longer than {MAX_REQUEST_BYTES} bytes");
                write_line(&mut w, &Response::err(msg)).await?;
                // Skip the rest of that line and go on serving: closing with unread bytes
                // would reset the connection before the client read the answer. A client
                // that never ends the line is cut off after a bounded amount.
                if !skip_line(&mut reader, MAX_SKIPPED_BYTES).await? {
                    return Ok(());
                }
                continue;
            }
            Ok(Ok(_)) => {}
        }
        let req: Request = match serde_json::from_str(line.trim()) {
            Ok(r) => r,
            Err(e) => {
                write_line(&mut w, &Response::err(format!("bad request: {e}"))).await?;
                continue;
            }
        };
        if req.version != PROTOCOL_VERSION {
            let msg = format!(
                "unsupported protocol version {}; this daemon speaks version {PROTOCOL_VERSION}",
                req.version
            );
            write_line(&mut w, &Response::err(msg)).await?;
            continue;
        }
        match req.command {
            Command::Ping => write_line(&mut w, &Response::ok(serde_json::json!("pong"))).await?,
            Command::Status => {
                let status = (ctx.status)();
                let data = serde_json::to_value(status).map_err(io::Error::other)?;
                write_line(&mut w, &Response::ok(data)).await?;
            }
            Command::Reload => {
                let (tx, rx) = oneshot::channel();
                let resp = if ctx.reload.send(tx).await.is_err() {
                    Response::err("daemon is shutting down")
                } else {
                    match rx.await {
                        Ok(Ok(reply)) => Response::ok(serde_json::to_value(reply)?),
                        Ok(Err(e)) => Response::err(e),
                        Err(_) => Response::err("daemon is shutting down"),
                    }
                };
                write_line(&mut w, &resp).await?;
            }
            Command::HealthSet { check, state } => {
                let resp = match ctx.health.set_override(&check, state).await {
                    Ok(view) => Response::ok(serde_json::to_value(view).map_err(io::Error::other)?),
                    Err(e) => Response::err(e),
                };
                write_line(&mut w, &resp).await?;
            }
            Command::Dataplane => {
                let data = serde_json::to_value(ctx.dataplane.status())?;
                write_line(&mut w, &Response::ok(data)).await?;
            }
            Command::Services => {
                let data = serde_json::to_value(ctx.dataplane.services())?;
                write_line(&mut w, &Response::ok(data)).await?;
            }
            Command::Gre => {
                let data = serde_json::to_value(ctx.dataplane.gre())?;
                write_line(&mut w, &Response::ok(data)).await?;
            }
            Command::Snat => {
                let data = serde_json::to_value(ctx.dataplane.snat())?;
                write_line(&mut w, &Response::ok(data)).await?;
            }
            Command::Conntrack { limit } => {
                let ct = ctx.dataplane.conntrack(limit.min(MAX_FLOWS_LISTED)).await;
                write_line(&mut w, &Response::ok(serde_json::to_value(ct)?)).await?;
            }
            Command::Bgp => {
                let resp = match ctx.bgp.status() {
                    Some(s) => Response::ok(serde_json::to_value(s)?),
                    None => Response::err("BGP is not configured (no [bgp] section)"),
                };
                write_line(&mut w, &resp).await?;
            }
            Command::Bfd => {
                let resp = match ctx.bfd.status().await {
                    Some(s) => Response::ok(serde_json::to_value(s)?),
                    None => Response::err("the BFD subsystem is not running"),
                };
                write_line(&mut w, &resp).await?;
            }
            Command::Bond => {
                let b = ctx.bonds.status();
                write_line(&mut w, &Response::ok(serde_json::to_value(b)?)).await?;
            }
            Command::Sync => {
                let resp = match ctx.dataplane.sync_status() {
                    Some(s) => Response::ok(serde_json::to_value(s)?),
                    None => Response::err(
                        "session sync is not running (no [sync] section, or no data plane)",
                    ),
                };
                write_line(&mut w, &resp).await?;
            }
            Command::BgpDrain { prefix, drain } => {
                let resp = match ctx.bgp.set_drain(&prefix, drain).await {
                    Ok(s) => Response::ok(serde_json::to_value(s)?),
                    Err(e) => Response::err(e),
                };
                write_line(&mut w, &resp).await?;
            }
            Command::Events { since, follow } => {
                let (backlog, mut rx) = ctx.events.since(since);
                let mut last = since;
                for ev in backlog {
                    last = ev.seq;
                    write_line(&mut w, &Response::ok(serde_json::to_value(ev)?)).await?;
                }
                if !follow {
                    return Ok(());
                }
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        ev = rx.recv() => match ev {
                            Ok(ev) if ev.seq > last => {
                                last = ev.seq;
                                write_line(&mut w, &Response::ok(serde_json::to_value(ev)?)).await?;
                            }
                            Ok(_) => {}
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                let msg = format!("follower fell behind: {n} events skipped");
                                write_line(&mut w, &Response::err(msg)).await?;
                            }
                            Err(broadcast::error::RecvError::Closed) => return Ok(()),
                        }
                    }
                }
            }
        }
    }
}
