//! Probe and runner tests against small real servers on 127.0.0.1 / ::1, started inside each
//! test. One test binary (modules below) keeps link time down.

mod dns;
mod exec;
mod file;
mod halfopen;
mod http;
mod icmp;
mod runner;
mod servers;
mod tcp;
mod tls;
mod udp;
