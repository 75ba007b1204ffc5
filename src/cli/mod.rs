//! What `appctl` prints.

pub mod render;
