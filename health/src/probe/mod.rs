//! The async probes: one file per check type, all returning a [`ProbeResult`].
//!
//! Every probe enforces its own timeout over all of its phases (connect, TLS, request,
//! response) through one `Deadline`, so the error text can say which phase ran out of time.
//! [`Prober`] prepares a check once (TLS config, parsed options) and runs it repeatedly.

pub mod dns;
pub mod exec;
pub mod file;
pub mod halfopen;
pub mod http;
pub mod icmp;
pub mod tcp;
pub mod tls;
pub mod udp;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::jitter::SplitMix64;
use crate::result::ProbeResult;
use crate::spec::{CheckKind, CheckSpec, Handshake, SpecError};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Per-run parameters every probe gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeContext {
    pub timeout: Duration,
    pub source: Option<IpAddr>,
}

/// A probe the daemon supplies itself ([`CheckKind::Custom`]). It should honour
/// `ctx.timeout`; the runner enforces it anyway by dropping the future.
pub trait Probe: Send + Sync + fmt::Debug {
    fn probe(&self, ctx: ProbeContext) -> BoxFuture<'_, ProbeResult>;
}

/// A check made ready to run: options parsed and TLS configured once, not per probe.
#[derive(Debug, Clone)]
pub struct Prober {
    kind: Prepared,
    ctx: ProbeContext,
}

#[derive(Debug, Clone)]
enum Prepared {
    Tcp(crate::spec::TcpCheck),
    TcpHalfOpen(crate::spec::TcpCheck, Arc<halfopen::Engines>),
    Http(crate::spec::HttpCheck, Option<tls::TlsClient>),
    Udp(crate::spec::UdpCheck),
    Icmp(crate::spec::IcmpCheck),
    Dns(crate::spec::DnsCheck),
    Exec(crate::spec::ExecCheck),
    File(crate::spec::FileCheck),
    Custom(Arc<dyn Probe>),
}

impl Prober {
    /// A prober with its own half-open raw sockets; a runner shares one set among its checks
    /// through [`Prober::with_engines`].
    pub fn new(spec: &CheckSpec) -> Result<Self, SpecError> {
        Self::with_engines(spec, &Arc::default())
    }

    pub fn with_engines(
        spec: &CheckSpec,
        engines: &Arc<halfopen::Engines>,
    ) -> Result<Self, SpecError> {
        spec.validate()?;
        let kind = match &spec.kind {
            CheckKind::Tcp(c) if c.handshake == Handshake::HalfOpen => {
                Prepared::TcpHalfOpen(c.clone(), engines.clone())
            }
            CheckKind::Tcp(c) => Prepared::Tcp(c.clone()),
            CheckKind::Http(c) => {
                let tls = match &c.tls {
                    Some(opts) => Some(
                        tls::TlsClient::new(opts, c.host.as_deref(), c.target).map_err(
                            |reason| SpecError::Tls {
                                check: spec.name.clone(),
                                reason,
                            },
                        )?,
                    ),
                    None => None,
                };
                Prepared::Http(c.clone(), tls)
            }
            CheckKind::Udp(c) => Prepared::Udp(c.clone()),
            CheckKind::Icmp(c) => Prepared::Icmp(c.clone()),
            CheckKind::Dns(c) => Prepared::Dns(c.clone()),
            CheckKind::Exec(c) => Prepared::Exec(c.clone()),
            CheckKind::File(c) => Prepared::File(c.clone()),
            CheckKind::Custom(p) => Prepared::Custom(p.clone()),
        };
        Ok(Self {
            kind,
            ctx: ProbeContext {
                timeout: spec.timeout,
                source: spec.source,
            },
        })
    }

    pub fn context(&self) -> ProbeContext {
        self.ctx
    }

    /// Run one probe. Never takes much longer than the timeout.
    pub async fn run(&self) -> ProbeResult {
        let ctx = self.ctx;
        let fut: BoxFuture<'_, ProbeResult> = match &self.kind {
            Prepared::Tcp(c) => Box::pin(tcp::check(c, ctx)),
            Prepared::TcpHalfOpen(c, e) => Box::pin(halfopen::check(c, e, ctx)),
            Prepared::Http(c, t) => Box::pin(http::check(c, t.as_ref(), ctx)),
            Prepared::Udp(c) => Box::pin(udp::check(c, ctx)),
            Prepared::Icmp(c) => Box::pin(icmp::check(c, ctx)),
            Prepared::Dns(c) => Box::pin(dns::check(c, ctx)),
            Prepared::Exec(c) => Box::pin(exec::check(c, ctx)),
            Prepared::File(c) => Box::pin(file::check(c, ctx)),
            Prepared::Custom(p) => p.probe(ctx),
        };
        // Backstop for probes that overrun their own deadline (a custom probe, or a blocking
        // filesystem): the grace leaves in-probe timeouts the chance to report their phase.
        let start = Instant::now();
        let grace = Duration::from_millis(100);
        match tokio::time::timeout(ctx.timeout + grace, fut).await {
            Ok(r) => r,
            Err(_) => ProbeResult::timeout(start.elapsed(), "probe"),
        }
    }
}

/// One time budget shared by all phases of a probe.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    start: Instant,
    at: Instant,
}

impl Deadline {
    pub(crate) fn new(timeout: Duration) -> Self {
        let start = Instant::now();
        Self {
            start,
            at: start + timeout,
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Run `fut` until the deadline; on expiry, a timeout result naming `phase`.
    pub(crate) async fn run<F: Future>(
        &self,
        phase: &str,
        fut: F,
    ) -> Result<F::Output, ProbeResult> {
        tokio::time::timeout_at(self.at, fut)
            .await
            .map_err(|_| ProbeResult::timeout(self.elapsed(), phase))
    }

    pub(crate) fn fail(&self, detail: impl Into<String>) -> ProbeResult {
        ProbeResult::failure(self.elapsed(), detail)
    }

    pub(crate) fn ok(&self, detail: impl Into<String>) -> ProbeResult {
        ProbeResult::success(self.elapsed(), detail)
    }
}

/// Short, stable error text for the common socket errors; the rest as the OS says it.
pub(crate) fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::ConnectionAborted => "connection aborted".into(),
        io::ErrorKind::UnexpectedEof => "connection closed early".into(),
        io::ErrorKind::AddrNotAvailable => "source address not available".into(),
        _ => e.to_string(),
    }
}

/// Like [`describe_io`], with the routing errors a datagram or raw send reports spelt out.
pub(crate) fn describe_send(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(c) if c == nix::errno::Errno::EHOSTUNREACH as i32 => "host unreachable".into(),
        Some(c) if c == nix::errno::Errno::ENETUNREACH as i32 => "network unreachable".into(),
        _ => describe_io(e),
    }
}

/// The local address to bind: the configured source, or the wildcard of the target's family.
pub(crate) fn bind_addr(source: Option<IpAddr>, target: IpAddr) -> SocketAddr {
    let ip = source.unwrap_or(match target {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    SocketAddr::new(ip, 0)
}

/// Unpredictable-enough 16-bit values for DNS ids and ICMP identifiers, so a late reply to an
/// earlier probe (or another process's) is not taken for ours. Not cryptographic.
pub(crate) fn random_u16() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        t ^ (u64::from(std::process::id()) << 32)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    SplitMix64::new(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64() as u16
}

/// A 32-bit counterpart of [`random_u16`] for TCP initial sequence numbers.
pub(crate) fn random_u32() -> u32 {
    (u32::from(random_u16()) << 16) | u32::from(random_u16())
}

/// Keep the last `max` bytes of a byte stream (exec output tails).
pub(crate) fn push_tail(buf: &mut Vec<u8>, data: &[u8], max: usize) {
    buf.extend_from_slice(data);
    if buf.len() > max {
        buf.drain(..buf.len() - max);
    }
}
