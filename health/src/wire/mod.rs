//! Wire codecs written for the probes: pure functions over byte slices, no IO.

pub mod dns;
pub mod http;
pub mod icmp;
pub mod tcp;
