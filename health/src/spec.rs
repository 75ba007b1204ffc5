//! Check specifications: plain structs the daemon fills from its TOML config.
//!
//! Nothing here does IO; [`CheckSpec::validate`] catches the mistakes that can be caught before
//! a probe runs (zero rise, timeout longer than the interval is allowed but zero is not, etc.).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::probe::Probe;
use crate::verdict::{Initial, VerdictConfig};

/// One health check: what to probe and how often, plus the hysteresis.
#[derive(Debug, Clone)]
pub struct CheckSpec {
    /// Unique among the checks of one runner; consumers subscribe by name.
    pub name: String,
    pub kind: CheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub fastinter: Option<Duration>,
    pub downinter: Option<Duration>,
    /// See [`VerdictConfig::jitter`].
    pub jitter: f64,
    pub initial: Initial,
    /// Source address to bind probes to (keepalived `bindto`); `None` lets the kernel choose.
    pub source: Option<IpAddr>,
}

impl CheckSpec {
    /// A spec with HAProxy's defaults (`inter 2s`, `rise 2`, `fall 3`, timeout = interval),
    /// starting down.
    pub fn new(name: impl Into<String>, kind: CheckKind) -> Self {
        let d = VerdictConfig::default();
        Self {
            name: name.into(),
            kind,
            interval: d.interval,
            timeout: d.timeout,
            rise: d.rise,
            fall: d.fall,
            fastinter: d.fastinter,
            downinter: d.downinter,
            jitter: d.jitter,
            initial: d.initial,
            source: None,
        }
    }

    pub fn verdict_config(&self) -> VerdictConfig {
        VerdictConfig {
            interval: self.interval,
            timeout: self.timeout,
            rise: self.rise,
            fall: self.fall,
            fastinter: self.fastinter,
            downinter: self.downinter,
            jitter: self.jitter,
            initial: self.initial,
        }
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |reason: &str| SpecError::Invalid {
            check: self.name.clone(),
            reason: reason.to_string(),
        };
        if self.name.is_empty() {
            return Err(bad("empty name"));
        }
        if self.rise == 0 || self.fall == 0 {
            return Err(bad("rise and fall must be at least 1"));
        }
        if self.interval.is_zero() || self.timeout.is_zero() {
            return Err(bad("interval and timeout must be positive"));
        }
        if self.fastinter.is_some_and(|d| d.is_zero())
            || self.downinter.is_some_and(|d| d.is_zero())
        {
            return Err(bad("fastinter and downinter must be positive"));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(bad("jitter must be in [0, 1)"));
        }
        match &self.kind {
            CheckKind::Http(h) => {
                if !h.path.starts_with('/') {
                    return Err(bad("HTTP path must start with '/'"));
                }
                if let Some(BodyExpect::Sha256(hex)) = &h.expect_body {
                    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(bad("sha256 digest must be 64 hex digits"));
                    }
                }
                if h.expect_body.is_some() && h.method == HttpMethod::Head {
                    return Err(bad("a HEAD request has no body to match"));
                }
            }
            CheckKind::Dns(d) => crate::wire::dns::validate_name(&d.name)
                .map_err(|e| bad(&format!("DNS name: {e}")))?,
            CheckKind::Exec(e) if e.program.as_os_str().is_empty() => {
                return Err(bad("empty program"));
            }
            _ => {}
        }
        if let (Some(src), Some(dst)) = (self.source, self.kind.target_ip()) {
            if src.is_ipv4() != dst.is_ipv4() {
                return Err(bad("source and target address families differ"));
            }
        }
        Ok(())
    }
}

/// What to probe.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// TCP connect (keepalived `TCP_CHECK`).
    Tcp(TcpCheck),
    /// HTTP/1.1 or HTTPS GET/HEAD (keepalived `HTTP_GET` / `SSL_GET`).
    Http(HttpCheck),
    /// UDP request/reply (keepalived `UDP_CHECK`).
    Udp(UdpCheck),
    /// ICMP/ICMPv6 echo (keepalived `PING_CHECK`).
    Icmp(IcmpCheck),
    /// A DNS query over UDP (keepalived `DNS_CHECK`).
    Dns(DnsCheck),
    /// An external command (keepalived `MISC_CHECK` / `vrrp_script`).
    Exec(ExecCheck),
    /// A number in a file (keepalived `track_file`).
    File(FileCheck),
    /// A probe supplied by the daemon (for example a check on internal state).
    Custom(Arc<dyn Probe>),
}

impl CheckKind {
    /// The network target's address, for checks that have one.
    pub fn target_ip(&self) -> Option<IpAddr> {
        match self {
            CheckKind::Tcp(c) => Some(c.target.ip()),
            CheckKind::Http(c) => Some(c.target.ip()),
            CheckKind::Udp(c) => Some(c.target.ip()),
            CheckKind::Icmp(c) => Some(c.target),
            CheckKind::Dns(c) => Some(c.server.ip()),
            CheckKind::Exec(_) | CheckKind::File(_) | CheckKind::Custom(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheck {
    pub target: SocketAddr,
    pub handshake: Handshake,
}

impl TcpCheck {
    /// A full-handshake check (keepalived `TCP_CHECK`).
    pub fn new(target: SocketAddr) -> Self {
        Self {
            target,
            handshake: Handshake::Full,
        }
    }
}

/// How much of the TCP handshake a check performs. Both prove the same thing about the
/// service (a listening socket with room in its accept queue); half-open costs a fraction of
/// the CPU on both ends and never reaches the backend application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Handshake {
    /// connect(), then close with a RST.
    #[default]
    Full,
    /// SYN from a shared raw socket; SYN-ACK is up, RST is refused; our kernel resets.
    HalfOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpMethod {
    #[default]
    Get,
    Head,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    pub target: SocketAddr,
    pub method: HttpMethod,
    /// Request target, starting with `/`.
    pub path: String,
    /// `Host` header (keepalived `virtualhost`); `None` sends the target address.
    pub host: Option<String>,
    /// Accepted status codes; keepalived's default is 200-299.
    pub expect_status: StatusSet,
    pub expect_body: Option<BodyExpect>,
    /// `Some` for HTTPS.
    pub tls: Option<TlsOptions>,
    /// Bodies longer than this are a failure rather than an unbounded read.
    pub max_body: usize,
}

impl HttpCheck {
    pub fn new(target: SocketAddr) -> Self {
        Self {
            target,
            method: HttpMethod::Get,
            path: "/".into(),
            host: None,
            expect_status: StatusSet::default(),
            expect_body: None,
            tls: None,
            max_body: 1 << 20,
        }
    }
}

/// What the response body must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyExpect {
    /// The body contains these bytes.
    Contains(Vec<u8>),
    /// SHA-256 of the body, as hex (keepalived `digest`, which is MD5; SHA-256 replaces it).
    Sha256(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Verify the certificate chain and name. On by default; turn off only for self-signed
    /// backends on a trusted network.
    pub verify: bool,
    /// Server name for SNI and certificate verification; `None` = the `Host` header, or the
    /// target IP address.
    pub sni: Option<String>,
    /// PEM file of trusted CAs. When set it replaces the built-in Mozilla roots: a private PKI
    /// should not also trust every public CA.
    pub ca_file: Option<PathBuf>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            verify: true,
            sni: None,
            ca_file: None,
        }
    }
}

/// A set of HTTP status codes, parsed from `"200-299,301"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
}

impl StatusSet {
    pub fn contains(&self, code: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

impl Default for StatusSet {
    fn default() -> Self {
        Self {
            ranges: vec![(200, 299)],
        }
    }
}

impl FromStr for StatusSet {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SpecError::StatusSet(s.to_string());
        let parse = |t: &str| -> Result<u16, SpecError> {
            let v: u16 = t.trim().parse().map_err(|_| err())?;
            if (100..=599).contains(&v) {
                Ok(v)
            } else {
                Err(err())
            }
        };
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once('-') {
                Some((lo, hi)) => (parse(lo)?, parse(hi)?),
                None => {
                    let v = parse(part)?;
                    (v, v)
                }
            };
            if range.0 > range.1 {
                return Err(err());
            }
            ranges.push(range);
        }
        Ok(Self { ranges })
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpCheck {
    pub target: SocketAddr,
    pub payload: Vec<u8>,
    /// The reply must contain these bytes.
    pub expect: Option<Vec<u8>>,
    /// With `false`, silence until the timeout counts as success and only an ICMP port
    /// unreachable fails the check (keepalived `UDP_CHECK` without `require_reply`).
    pub require_reply: bool,
}

/// How to open the ICMP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IcmpMode {
    /// Unprivileged datagram socket if `net.ipv4.ping_group_range` allows it, else raw.
    #[default]
    Auto,
    Datagram,
    Raw,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpCheck {
    pub target: IpAddr,
    /// Bytes of payload after the 8-byte echo header.
    pub payload_len: usize,
    pub mode: IcmpMode,
}

impl IcmpCheck {
    pub fn new(target: IpAddr) -> Self {
        Self {
            target,
            payload_len: 56,
            mode: IcmpMode::Auto,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    pub server: SocketAddr,
    pub name: String,
    pub qtype: crate::wire::dns::QType,
    /// Expected response code; NOERROR by default, so SERVFAIL/NXDOMAIN fail.
    pub expect_rcode: crate::wire::dns::Rcode,
    /// An A/AAAA answer must carry this address.
    pub expect_address: Option<IpAddr>,
    pub recursion_desired: bool,
}

impl DnsCheck {
    pub fn new(
        server: SocketAddr,
        name: impl Into<String>,
        qtype: crate::wire::dns::QType,
    ) -> Self {
        Self {
            server,
            name: name.into(),
            qtype,
            expect_rcode: crate::wire::dns::Rcode::NOERROR,
            expect_address: None,
            recursion_desired: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCheck {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// keepalived `misc_dynamic`: exit 0 = up, 1 = down, 2..=255 = up with weight `code - 2`.
    pub dynamic: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    pub path: PathBuf,
    /// keepalived `track_file ... weight`: the file value is multiplied by this.
    pub multiplier: i32,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SpecError {
    #[error("check {check}: {reason}")]
    Invalid { check: String, reason: String },
    #[error("duplicate check name {0:?}")]
    Duplicate(String),
    #[error("invalid status set {0:?} (expected e.g. \"200-299,301\")")]
    StatusSet(String),
    #[error("check {check}: TLS setup: {reason}")]
    Tls { check: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_set_parse() {
        let s: StatusSet = "200-299,301".parse().unwrap();
        assert!(s.contains(200) && s.contains(299) && s.contains(301));
        assert!(!s.contains(300) && !s.contains(500));
        assert_eq!(s.to_string(), "200-299,301");
        assert!("".parse::<StatusSet>().is_err());
        assert!("299-200".parse::<StatusSet>().is_err());
        assert!("abc".parse::<StatusSet>().is_err());
        assert!("99".parse::<StatusSet>().is_err());
        assert_eq!(
            " 200 , 204 ".parse::<StatusSet>().unwrap().to_string(),
            "200,204"
        );
    }

    fn tcp() -> CheckKind {
        CheckKind::Tcp(TcpCheck::new("127.0.0.1:80".parse().unwrap()))
    }

    #[test]
    fn validate_rejects_bad_specs() {
        assert!(CheckSpec::new("ok", tcp()).validate().is_ok());
        let mut s = CheckSpec::new("x", tcp());
        s.rise = 0;
        assert!(s.validate().is_err());
        let mut s = CheckSpec::new("x", tcp());
        s.jitter = 1.0;
        assert!(s.validate().is_err());
        let mut s = CheckSpec::new("x", tcp());
        s.timeout = Duration::ZERO;
        assert!(s.validate().is_err());
        let mut s = CheckSpec::new("x", tcp());
        s.source = Some("::1".parse().unwrap());
        assert!(s.validate().is_err());
        assert!(CheckSpec::new("", tcp()).validate().is_err());

        let mut h = HttpCheck::new("127.0.0.1:80".parse().unwrap());
        h.expect_body = Some(BodyExpect::Sha256("abc".into()));
        assert!(CheckSpec::new("h", CheckKind::Http(h.clone()))
            .validate()
            .is_err());
        h.expect_body = None;
        h.path = "index.html".into();
        assert!(CheckSpec::new("h", CheckKind::Http(h)).validate().is_err());
    }
}
