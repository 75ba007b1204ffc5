//! What `appctl` prints.

pub mod dataplane;
pub mod render;
