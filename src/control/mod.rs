//! The control socket: `appctl` requests in, status / events / reload results out.

pub mod client;
pub mod protocol;
pub mod server;
