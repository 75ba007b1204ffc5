//! `[checks.NAME]`: keepalived/HAProxy-style health checks. Each check runs once; VRRP, BGP and
//! backend pools refer to it by name and share its verdict.
//!
//! Why one flat struct with a `type` key instead of an internally tagged enum: serde buffers the
//! fields of a tagged enum before it knows the variant, so an error inside a check (a bare number
//! for `interval`, a typo in a key) loses its key path and its span and would point at the
//! table header instead of the value (tried with toml 0.8: `checks.web` at 1:1 instead of
//! `checks.web.interval` at its line). The flat struct keeps serde's exact `file:line:column`,
//! and the per-type rules below (which keys a type needs, which it does not take) give better
//! hints than serde could.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use health::{
    BodyExpect, CheckKind, CheckSpec, DnsCheck, ExecCheck, FileCheck, Handshake, HttpCheck,
    HttpMethod, IcmpCheck, Initial, QType, Rcode, SpecError, StatusSet, TcpCheck, TlsOptions,
    UdpCheck,
};
use serde::{Deserialize, Serialize};

use super::locate::KeyPath;
use super::types::ConfigDuration;
use super::validate::Issues;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckType {
    Tcp,
    Http,
    Https,
    Udp,
    Icmp,
    Dns,
    Exec,
    File,
}

impl CheckType {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckType::Tcp => "tcp",
            CheckType::Http => "http",
            CheckType::Https => "https",
            CheckType::Udp => "udp",
            CheckType::Icmp => "icmp",
            CheckType::Dns => "dns",
            CheckType::Exec => "exec",
            CheckType::File => "file",
        }
    }
}

/// `handshake` of a tcp check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandshakeConfig {
    /// connect() and close with a RST (keepalived `TCP_CHECK`).
    Full,
    /// SYN, then SYN-ACK (up) or RST (down); no connection is established.
    HalfOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "HEAD")]
    Head,
}

/// One check as written in the file. Type-specific keys are optional here; [`validate`] says
/// which type needs which key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    #[serde(rename = "type")]
    pub kind: CheckType,
    /// `"address:port"` (tcp, udp; http/https/dns may omit the port), an address (icmp).
    pub target: Option<String>,

    #[serde(default = "default_interval")]
    pub interval: ConfigDuration,
    /// Defaults to `interval` (HAProxy's `inter` doubles as the check timeout).
    pub timeout: Option<ConfigDuration>,
    #[serde(default = "default_rise")]
    pub rise: u32,
    #[serde(default = "default_fall")]
    pub fall: u32,
    pub fastinter: Option<ConfigDuration>,
    pub downinter: Option<ConfigDuration>,
    #[serde(default)]
    pub jitter: f64,
    #[serde(default)]
    pub initial: Initial,
    pub source: Option<IpAddr>,

    // tcp
    pub handshake: Option<HandshakeConfig>,
    // http, https (path also: file)
    pub path: Option<String>,
    pub host: Option<String>,
    pub method: Option<Method>,
    pub expect_status: Option<String>,
    pub expect_body: Option<String>,
    pub expect_sha256: Option<String>,
    // https
    pub tls_verify: Option<bool>,
    pub sni: Option<String>,
    pub ca_file: Option<PathBuf>,
    // udp
    pub payload: Option<String>,
    pub expect: Option<String>,
    pub require_reply: Option<bool>,
    // dns
    pub name: Option<String>,
    pub qtype: Option<String>,
    pub expect_rcode: Option<String>,
    pub expect_address: Option<IpAddr>,
    // exec
    pub command: Option<Vec<String>>,
    pub dynamic: Option<bool>,
    // file
    pub multiplier: Option<i32>,
}

fn default_interval() -> ConfigDuration {
    ConfigDuration::from_secs(2)
}
fn default_rise() -> u32 {
    2
}
fn default_fall() -> u32 {
    3
}

use CheckType::{Dns, Exec, File, Http, Https, Icmp, Tcp, Udp};

/// Which types take each type-specific key. A key given to another type is an error rather
/// than silently ignored: `expect_body` on a tcp check is a misunderstanding worth reporting.
const TYPE_KEYS: &[(&str, &[CheckType])] = &[
    ("target", &[Tcp, Http, Https, Udp, Icmp, Dns]),
    ("source", &[Tcp, Http, Https, Udp, Icmp, Dns]),
    ("handshake", &[Tcp]),
    ("path", &[Http, Https, File]),
    ("host", &[Http, Https]),
    ("method", &[Http, Https]),
    ("expect_status", &[Http, Https]),
    ("expect_body", &[Http, Https]),
    ("expect_sha256", &[Http, Https]),
    ("tls_verify", &[Https]),
    ("sni", &[Https]),
    ("ca_file", &[Https]),
    ("payload", &[Udp]),
    ("expect", &[Udp]),
    ("require_reply", &[Udp]),
    ("name", &[Dns]),
    ("qtype", &[Dns]),
    ("expect_rcode", &[Dns]),
    ("expect_address", &[Dns]),
    ("command", &[Exec]),
    ("dynamic", &[Exec]),
    ("multiplier", &[File]),
];

/// Durations outside this range are typos (`"1ms"` for `"1s"`, `"10h"`).
const MIN_DURATION: Duration = Duration::from_millis(10);
const MAX_DURATION: Duration = Duration::from_secs(3600);
const MAX_RISE_FALL: u32 = 1000;
const NAME_MAX: usize = 64;

impl CheckConfig {
    /// The type-specific keys this table sets.
    fn present_keys(&self) -> Vec<&'static str> {
        let set = [
            ("target", self.target.is_some()),
            ("source", self.source.is_some()),
            ("handshake", self.handshake.is_some()),
            ("path", self.path.is_some()),
            ("host", self.host.is_some()),
            ("method", self.method.is_some()),
            ("expect_status", self.expect_status.is_some()),
            ("expect_body", self.expect_body.is_some()),
            ("expect_sha256", self.expect_sha256.is_some()),
            ("tls_verify", self.tls_verify.is_some()),
            ("sni", self.sni.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("payload", self.payload.is_some()),
            ("expect", self.expect.is_some()),
            ("require_reply", self.require_reply.is_some()),
            ("name", self.name.is_some()),
            ("qtype", self.qtype.is_some()),
            ("expect_rcode", self.expect_rcode.is_some()),
            ("expect_address", self.expect_address.is_some()),
            ("command", self.command.is_some()),
            ("dynamic", self.dynamic.is_some()),
            ("multiplier", self.multiplier.is_some()),
        ];
        set.iter().filter(|(_, on)| *on).map(|(k, _)| *k).collect()
    }

    /// What the check probes, for status and summaries: the target, the command or the file.
    pub fn describe_target(&self) -> String {
        match self.kind {
            Exec => self.command.as_deref().unwrap_or_default().join(" "),
            File => self.path.clone().unwrap_or_default(),
            _ => self.target.clone().unwrap_or_default(),
        }
    }

    /// Whether `other` probes the same thing the same way, differing at most in timing and
    /// hysteresis keys. A reload then carries the current verdict over instead of restarting.
    pub fn same_probe(&self, other: &CheckConfig) -> bool {
        let timing_only = |c: &CheckConfig| CheckConfig {
            interval: ConfigDuration::default(),
            timeout: None,
            rise: 0,
            fall: 0,
            fastinter: None,
            downinter: None,
            jitter: 0.0,
            initial: Initial::Down,
            ..c.clone()
        };
        timing_only(self) == timing_only(other)
    }

    /// The health crate's spec. Every problem is returned with the key it belongs to (`""` for
    /// the table itself), so validation can point at the exact value.
    pub fn to_spec(&self, check: &str) -> Result<CheckSpec, Vec<Problem>> {
        let mut p = Vec::new();
        let kind = self.kind(&mut p);
        self.timing(&mut p);
        let Some(kind) = kind else {
            return Err(p);
        };
        if !p.is_empty() {
            return Err(p);
        }
        let mut spec = CheckSpec::new(check, kind);
        spec.interval = self.interval.get();
        spec.timeout = self.timeout.unwrap_or(self.interval).get();
        spec.rise = self.rise;
        spec.fall = self.fall;
        spec.fastinter = self.fastinter.map(ConfigDuration::get);
        spec.downinter = self.downinter.map(ConfigDuration::get);
        spec.jitter = self.jitter;
        spec.initial = self.initial;
        spec.source = self.source;
        // The health crate's own checks and its TLS setup (CA file) run here too, so that a
        // file `applianced check` accepts never fails when the daemon builds its runner.
        if let Err(e) = health::HealthRunner::new(vec![spec.clone()]) {
            let key = match &e {
                SpecError::Tls { .. } if self.ca_file.is_some() => "ca_file",
                _ => "",
            };
            p.push(Problem::new(key, e.to_string(), None));
            return Err(p);
        }
        Ok(spec)
    }

    fn timing(&self, p: &mut Vec<Problem>) {
        let durations = [
            ("interval", Some(self.interval)),
            ("timeout", self.timeout),
            ("fastinter", self.fastinter),
            ("downinter", self.downinter),
        ];
        for (key, d) in durations {
            if let Some(d) = d {
                if d.get() < MIN_DURATION || d.get() > MAX_DURATION {
                    p.push(Problem::new(
                        key,
                        format!("{key} of {d} is out of range"),
                        Some("between 10ms and 1h; \"1s\" or \"2s\" is typical".into()),
                    ));
                }
            }
        }
        for (key, v) in [("rise", self.rise), ("fall", self.fall)] {
            if v == 0 || v > MAX_RISE_FALL {
                p.push(Problem::new(
                    key,
                    format!("{key} = {v} is out of range"),
                    Some(format!(
                        "consecutive results needed, 1 to {MAX_RISE_FALL}; 2 or 3 is typical"
                    )),
                ));
            }
        }
        if !(0.0..1.0).contains(&self.jitter) {
            p.push(Problem::new(
                "jitter",
                format!("jitter = {} is out of range", self.jitter),
                Some("a fraction in [0, 1), e.g. 0.1 spreads each interval by ±10%".into()),
            ));
        }
    }

    fn kind(&self, p: &mut Vec<Problem>) -> Option<CheckKind> {
        for key in self.present_keys() {
            let types = TYPE_KEYS
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, t)| *t)
                .unwrap_or_default();
            if !types.contains(&self.kind) {
                let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
                p.push(Problem::new(
                    key,
                    format!("`{key}` does not apply to a {} check", self.kind.as_str()),
                    Some(format!("only type {} takes it", names.join(", "))),
                ));
            }
        }
        if !p.is_empty() {
            return None;
        }
        let before = p.len();
        let kind = match self.kind {
            Tcp => self.socket_target(None, p).map(|target| {
                CheckKind::Tcp(TcpCheck {
                    target,
                    handshake: match self.handshake {
                        Some(HandshakeConfig::HalfOpen) => Handshake::HalfOpen,
                        Some(HandshakeConfig::Full) | None => Handshake::Full,
                    },
                })
            }),
            Http | Https => self.http(p).map(CheckKind::Http),
            Udp => self.udp(p).map(CheckKind::Udp),
            Icmp => self
                .icmp_target(p)
                .map(|t| CheckKind::Icmp(IcmpCheck::new(t))),
            Dns => self.dns(p).map(CheckKind::Dns),
            Exec => self.exec(p).map(CheckKind::Exec),
            File => self.file(p).map(CheckKind::File),
        };
        if let (Some(src), Some(dst)) = (self.source, kind.as_ref().and_then(|k| k.target_ip())) {
            if src.is_ipv4() != dst.is_ipv4() {
                p.push(Problem::new(
                    "source",
                    format!("source {src} and target {dst} are of different address families"),
                    Some("use a source address of the target's family".into()),
                ));
            }
        }
        kind.filter(|_| p.len() == before)
    }

    fn required<'a, T>(
        &self,
        key: &'static str,
        v: &'a Option<T>,
        p: &mut Vec<Problem>,
    ) -> Option<&'a T> {
        if v.is_none() {
            p.push(Problem::new(
                key,
                format!("a {} check needs `{key}`", self.kind.as_str()),
                Some(format!("add `{key} = ...` to this table")),
            ));
        }
        v.as_ref()
    }

    /// `"addr:port"`; with a default port, a bare address is accepted too.
    fn socket_target(&self, default_port: Option<u16>, p: &mut Vec<Problem>) -> Option<SocketAddr> {
        let t = self.required("target", &self.target, p)?;
        let parsed = t
            .parse::<SocketAddr>()
            .ok()
            .or_else(|| Some(SocketAddr::new(t.parse().ok()?, default_port?)));
        match parsed {
            Some(a) if !a.ip().is_unspecified() && !a.ip().is_multicast() && a.port() != 0 => {
                Some(a)
            }
            _ => {
                p.push(Problem::new(
                    "target",
                    format!("invalid target \"{t}\""),
                    Some(
                        "write an address and port, e.g. \"198.18.0.10:80\" or \"[2001:db8::10]:80\""
                            .into(),
                    ),
                ));
                None
            }
        }
    }

    fn icmp_target(&self, p: &mut Vec<Problem>) -> Option<IpAddr> {
        let t = self.required("target", &self.target, p)?;
        match t.parse::<IpAddr>() {
            Ok(a) if !a.is_unspecified() && !a.is_multicast() => Some(a),
            _ => {
                p.push(Problem::new(
                    "target",
                    format!("invalid target \"{t}\""),
                    Some(
                        "an icmp check pings an address without a port, e.g. \"198.18.0.10\""
                            .into(),
                    ),
                ));
                None
            }
        }
    }

    fn http(&self, p: &mut Vec<Problem>) -> Option<HttpCheck> {
        let https = self.kind == Https;
        let target = self.socket_target(Some(if https { 443 } else { 80 }), p);
        let mut h = HttpCheck::new(target.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))));
        if let Some(path) = &self.path {
            if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace()) {
                p.push(Problem::new(
                    "path",
                    format!("invalid request path \"{path}\""),
                    Some("starts with '/', no spaces, e.g. \"/healthz\"".into()),
                ));
            }
            h.path = path.clone();
        }
        if let Some(host) = &self.host {
            if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
                p.push(Problem::new(
                    "host",
                    "invalid Host header",
                    Some("a host name, e.g. \"www.example.net\"".into()),
                ));
            }
            h.host = Some(host.clone());
        }
        if self.method == Some(Method::Head) {
            h.method = HttpMethod::Head;
        }
        if let Some(s) = &self.expect_status {
            match s.parse::<StatusSet>() {
                Ok(set) => h.expect_status = set,
                Err(_) => p.push(Problem::new(
                    "expect_status",
                    format!("invalid status list \"{s}\""),
                    Some("codes and ranges from 100 to 599, e.g. \"200-299,301\"".into()),
                )),
            }
        }
        match (&self.expect_body, &self.expect_sha256) {
            (Some(_), Some(_)) => p.push(Problem::new(
                "expect_sha256",
                "`expect_body` and `expect_sha256` cannot both be set",
                Some("keep one of them".into()),
            )),
            (Some(b), None) => h.expect_body = Some(BodyExpect::Contains(b.as_bytes().to_vec())),
            (None, Some(d)) => {
                if d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                    p.push(Problem::new(
                        "expect_sha256",
                        "not a SHA-256 digest",
                        Some("64 hex digits, as printed by `sha256sum`".into()),
                    ));
                }
                h.expect_body = Some(BodyExpect::Sha256(d.to_ascii_lowercase()));
            }
            (None, None) => {}
        }
        if h.expect_body.is_some() && h.method == HttpMethod::Head {
            p.push(Problem::new(
                "method",
                "a HEAD request has no body to match",
                Some("use method = \"GET\" with expect_body or expect_sha256".into()),
            ));
        }
        if https {
            let verify = self.tls_verify.unwrap_or(true);
            if !verify && self.ca_file.is_some() {
                p.push(Problem::new(
                    "ca_file",
                    "`ca_file` has no effect with tls_verify = false",
                    Some("remove one of them".into()),
                ));
            }
            if let Some(ca) = &self.ca_file {
                if !ca.is_absolute() {
                    p.push(Problem::new(
                        "ca_file",
                        "the CA file must be an absolute path",
                        Some("for example \"/etc/appliance/backend-ca.pem\"".into()),
                    ));
                }
            }
            if self.sni.as_deref() == Some("") {
                p.push(Problem::new(
                    "sni",
                    "empty server name",
                    Some("omit `sni` to use `host` or the target address".into()),
                ));
            }
            h.tls = Some(TlsOptions {
                verify,
                sni: self.sni.clone(),
                ca_file: self.ca_file.clone(),
            });
        }
        target.map(|_| h)
    }

    fn udp(&self, p: &mut Vec<Problem>) -> Option<UdpCheck> {
        let target = self.socket_target(None, p)?;
        let require_reply = self.require_reply.unwrap_or(true);
        if !require_reply && self.expect.is_some() {
            p.push(Problem::new(
                "expect",
                "`expect` needs a reply, but require_reply = false",
                Some("remove `expect` or set require_reply = true".into()),
            ));
        }
        Some(UdpCheck {
            target,
            payload: self.payload.clone().unwrap_or_default().into_bytes(),
            expect: self.expect.as_ref().map(|e| e.as_bytes().to_vec()),
            require_reply,
        })
    }

    fn dns(&self, p: &mut Vec<Problem>) -> Option<DnsCheck> {
        let server = self.socket_target(Some(53), p);
        let name = self.required("name", &self.name, p);
        if let Some(n) = name {
            if let Err(e) = health::wire::dns::validate_name(n) {
                p.push(Problem::new(
                    "name",
                    format!("invalid DNS name \"{n}\": {e}"),
                    Some("a domain name such as \"www.example.net\"".into()),
                ));
            }
        }
        let qtype = match self.qtype.as_deref().map(str::parse::<QType>) {
            None => QType::A,
            Some(Ok(q)) => q,
            Some(Err(e)) => {
                p.push(Problem::new(
                    "qtype",
                    e,
                    Some("A, AAAA, NS, CNAME, SOA, MX, TXT or TYPEnn".into()),
                ));
                QType::A
            }
        };
        let rcode = match self.expect_rcode.as_deref().map(str::parse::<Rcode>) {
            None => Rcode::NOERROR,
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                p.push(Problem::new(
                    "expect_rcode",
                    e,
                    Some("NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ... or a number 0-15".into()),
                ));
                Rcode::NOERROR
            }
        };
        if let Some(addr) = self.expect_address {
            let want = if addr.is_ipv4() {
                QType::A
            } else {
                QType::AAAA
            };
            if qtype != want {
                p.push(Problem::new(
                    "expect_address",
                    format!("{addr} cannot be in the answer to a {qtype} query"),
                    Some(format!("set qtype = \"{want}\"")),
                ));
            }
        }
        let mut d = DnsCheck::new(server?, name?.clone(), qtype);
        d.expect_rcode = rcode;
        d.expect_address = self.expect_address;
        Some(d)
    }

    fn exec(&self, p: &mut Vec<Problem>) -> Option<ExecCheck> {
        let cmd = self.required("command", &self.command, p)?;
        match cmd.split_first() {
            Some((prog, args)) if !prog.is_empty() => Some(ExecCheck {
                program: PathBuf::from(prog),
                args: args.to_vec(),
                dynamic: self.dynamic.unwrap_or(false),
            }),
            _ => {
                p.push(Problem::new(
                    "command",
                    "empty command",
                    Some("a program and its arguments, e.g. [\"/usr/local/bin/check-db\", \"--quick\"]".into()),
                ));
                None
            }
        }
    }

    fn file(&self, p: &mut Vec<Problem>) -> Option<FileCheck> {
        let path = PathBuf::from(self.required("path", &self.path, p)?);
        if !path.is_absolute() {
            p.push(Problem::new(
                "path",
                "the file must be an absolute path",
                Some("for example \"/run/appliance/weight\"".into()),
            ));
        }
        let multiplier = self.multiplier.unwrap_or(1);
        if multiplier == 0 {
            p.push(Problem::new(
                "multiplier",
                "a multiplier of 0 makes every value 0, which is down",
                Some("use 1 (the default), or a negative number to invert".into()),
            ));
        }
        Some(FileCheck { path, multiplier })
    }
}

/// A problem with one key of a check (`key` empty: the check as a whole).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub key: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    fn new(key: &'static str, message: impl Into<String>, hint: Option<String>) -> Self {
        Problem {
            key,
            message: message.into(),
            hint,
        }
    }
}

/// Check names appear in status, events, metrics labels and other sections' references.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub fn validate(checks: &std::collections::BTreeMap<String, CheckConfig>, issues: &mut Issues) {
    let root = KeyPath::root().key("checks");
    for (name, cfg) in checks {
        let table = root.key(name);
        if !valid_name(name) {
            issues.push(
                table.clone(),
                format!("`{name}` is not a valid check name"),
                Some(format!(
                    "1 to {NAME_MAX} characters: letters, digits, '-', '_' or '.'"
                )),
            );
            continue;
        }
        if let Err(problems) = cfg.to_spec(name) {
            for pr in problems {
                let path = if pr.key.is_empty() {
                    table.clone()
                } else {
                    table.key(pr.key)
                };
                issues.push(path, pr.message, pr.hint);
            }
        }
    }
}

/// A reference from another section to a check: an error naming the nearest declared one.
pub fn check_ref(
    checks: &std::collections::BTreeMap<String, CheckConfig>,
    name: &str,
    path: KeyPath,
    issues: &mut Issues,
) {
    if !checks.contains_key(name) {
        let hint = super::suggest::closest(name, checks.keys().map(String::as_str))
            .map(|c| format!("did you mean `{c}`?"))
            .unwrap_or_else(|| format!("declare it first as [checks.{name}]"));
        issues.push(path, format!("unknown check `{name}`"), Some(hint));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> super::super::Config {
        super::super::parse_str(text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_and_per_type_keys_reach_the_spec() {
        let cfg = parse(
            "[checks.web]\ntype = \"https\"\ntarget = \"198.18.0.10\"\npath = \"/healthz\"\n\
             expect_status = \"200-299,301\"\ntls_verify = false\nsni = \"www.example.net\"\n\
             [checks.ns]\ntype = \"dns\"\ntarget = \"[2001:db8::53]:5353\"\nname = \"example.net\"\n\
             qtype = \"aaaa\"\nexpect_rcode = \"NXDOMAIN\"\ninterval = \"1s\"\ntimeout = \"300ms\"\n",
        );
        let web = cfg.checks["web"].to_spec("web").unwrap();
        assert_eq!(web.interval, Duration::from_secs(2));
        assert_eq!(
            web.timeout, web.interval,
            "timeout defaults to the interval"
        );
        assert_eq!((web.rise, web.fall, web.initial), (2, 3, Initial::Down));
        let CheckKind::Http(h) = &web.kind else {
            panic!("{:?}", web.kind)
        };
        assert_eq!(h.target, "198.18.0.10:443".parse().unwrap());
        assert!(h.expect_status.contains(301) && !h.expect_status.contains(302));
        let tls = h.tls.as_ref().unwrap();
        assert!(!tls.verify);
        assert_eq!(tls.sni.as_deref(), Some("www.example.net"));

        let ns = cfg.checks["ns"].to_spec("ns").unwrap();
        assert_eq!(ns.timeout, Duration::from_millis(300));
        let CheckKind::Dns(d) = &ns.kind else {
            panic!("{:?}", ns.kind)
        };
        assert_eq!(d.server, "[2001:db8::53]:5353".parse().unwrap());
        assert_eq!((d.qtype, d.expect_rcode), (QType::AAAA, Rcode::NXDOMAIN));
    }

    #[test]
    fn every_problem_of_a_check_is_reported() {
        let errs = super::super::parse_str(
            "[checks.f]\ntype = \"file\"\npath = \"weight\"\nmultiplier = 0\nrise = 0\n",
            Path::new("t.toml"),
        )
        .unwrap_err();
        let keys: Vec<&str> = errs.0.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["checks.f.path", "checks.f.multiplier", "checks.f.rise"],
            "{errs}"
        );
    }

    #[test]
    fn timing_changes_keep_the_probe_but_target_changes_do_not() {
        let cfg = parse(
            "[checks.a]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\n\
             [checks.b]\ntype = \"tcp\"\ntarget = \"198.18.0.10:80\"\ninterval = \"1s\"\nrise = 5\n\
             [checks.c]\ntype = \"tcp\"\ntarget = \"198.18.0.11:80\"\n",
        );
        let (a, b, c) = (&cfg.checks["a"], &cfg.checks["b"], &cfg.checks["c"]);
        assert!(a.same_probe(b));
        assert!(!a.same_probe(c));
        assert_ne!(a, b);
    }
}
