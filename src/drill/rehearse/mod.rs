//! `applianced drill [CONFIG_A [CONFIG_B]]`: rehearses the operator's own HA pair in network
//! namespaces.

pub mod addr;
pub mod pair;
pub mod plan;
