//! What `appctl` prints.

pub mod bfd;
pub mod bgp;
pub mod bond;
pub mod dataplane;
pub mod gateway;
pub mod reload;
pub mod render;
pub mod sync;
