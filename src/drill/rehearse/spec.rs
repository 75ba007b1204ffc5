//! What the client (and each SNAT user) sends: the traffic's specification from the plan and
//! the options, and its description for the report.

use std::time::Duration;

use super::plan::{self, Plan};
use super::traffic::Spec;
use super::Options;

pub fn traffic_spec(plan: &Plan, opts: &Options) -> Spec {
    use crate::config::dataplane::Protocol;
    let addr = |s: &plan::ServicePlan| std::net::SocketAddrV4::new(s.vip, s.port);
    Spec {
        http: plan
            .services
            .iter()
            .filter(|s| s.protocol == Protocol::Tcp)
            .map(addr)
            .collect(),
        udp: plan
            .services
            .iter()
            .filter(|s| s.protocol == Protocol::Udp)
            .map(addr)
            .collect(),
        icmp: if plan.services.is_empty() {
            plan.front.vip.into_iter().collect()
        } else {
            Vec::new()
        },
        http_rate: opts.rate.max(1),
        udp_rate: (opts.rate / 2).max(1),
        connections: opts.connections,
        period: Duration::from_millis(500),
        request_timeout: Duration::from_secs(1),
        connection_timeout: Duration::from_secs(3),
    }
}

/// An inside host's (or a GRE site user's) traffic to the client at `to` through the SNAT
/// gateway: half the services' rate, a fifth of their connections.
pub fn snat_spec(to: std::net::Ipv4Addr, opts: &Options) -> Spec {
    Spec {
        http: vec![std::net::SocketAddrV4::new(to, plan::OUTSIDE_TCP)],
        udp: vec![std::net::SocketAddrV4::new(to, plan::OUTSIDE_UDP)],
        icmp: Vec::new(),
        http_rate: (opts.rate / 2).max(1),
        udp_rate: (opts.rate / 4).max(1),
        connections: opts.connections / 5,
        period: Duration::from_millis(500),
        request_timeout: Duration::from_secs(1),
        connection_timeout: Duration::from_secs(3),
    }
}

pub fn describe_traffic(s: &Spec) -> String {
    let list = |v: &[std::net::SocketAddrV4]| {
        v.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut parts = Vec::new();
    if !s.http.is_empty() {
        parts.push(format!(
            "{} HTTP requests/s to {} (failed without an answer in {} ms), {} connections \
             exchanging every {} ms (broken without an answer in {} ms)",
            s.http_rate,
            list(&s.http),
            s.request_timeout.as_millis(),
            s.connections,
            s.period.as_millis(),
            s.connection_timeout.as_millis()
        ));
    }
    if !s.udp.is_empty() {
        parts.push(format!("{} UDP requests/s to {}", s.udp_rate, list(&s.udp)));
    }
    if !s.icmp.is_empty() {
        let to: Vec<String> = s.icmp.iter().map(|a| a.to_string()).collect();
        parts.push(format!(
            "{} echo requests/s to {} (no service: the virtual address itself)",
            s.http_rate,
            to.join(" ")
        ));
    }
    if parts.is_empty() {
        "none (no TCP or UDP service)".into()
    } else {
        parts.join("; ")
    }
}
