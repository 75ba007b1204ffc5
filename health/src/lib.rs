#![forbid(unsafe_code)]
//! Health checks for the appliance: keepalived/HAProxy-style probes whose verdicts drive VRRP
//! priority, BGP announcements and load-balancer backend pools.
//!
//! The crate has three layers:
//!
//! * [`verdict`]: the pure state machine of one check (rise/fall hysteresis, `fastinter` /
//!   `downinter`, jitter, manual override). No IO, no clock: `now` is an argument, so it is
//!   tested on a virtual clock.
//! * [`probe`]: async probes (TCP, HTTP/HTTPS, UDP, ICMP, DNS, external command, file), each
//!   with a timeout and an optional source address, returning a [`ProbeResult`]. The HTTP and
//!   DNS wire formats are in [`wire`].
//! * [`runner`]: one tokio task per check, publishing a [`CheckStatus`] through a `watch`
//!   channel (many consumers, one probe stream) and [`TransitionEvent`]s through a broadcast.

pub mod jitter;
pub mod probe;
pub mod result;
pub mod runner;
pub mod spec;
pub mod status;
pub mod verdict;
pub mod wire;

pub use probe::{BoxFuture, Probe, ProbeContext, Prober};
pub use result::ProbeResult;
pub use runner::{HealthHandle, HealthRunner, UnknownCheck};
pub use spec::{
    BodyExpect, CheckKind, CheckSpec, DnsCheck, ExecCheck, FileCheck, Handshake, HttpCheck,
    HttpMethod, IcmpCheck, IcmpMode, SpecError, StatusSet, TcpCheck, TlsOptions, UdpCheck,
};
pub use status::{CheckStatus, Summary, TransitionEvent};
pub use verdict::{Counters, Initial, Override, Reason, State, Transition, Verdict, VerdictConfig};
pub use wire::dns::{QType, Rcode};
// Re-exported so the daemon needs no direct tokio-util dependency to drive shutdown.
pub use tokio_util::sync::CancellationToken;
