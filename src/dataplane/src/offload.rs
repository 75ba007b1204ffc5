//! Established-flow offload: the rules by which the XDP program forwards a flow's packets on
//! its own once the worker that owns the flow has seen it established. The worker stays the
//! authority: it learns each direction's rule from a packet it forwarded itself
//! ([`derive`]), checks it against the model of the program ([`model`]), offers it through the
//! conntrack table's offload log, and withdraws it when the flow leaves the established state,
//! ends, or the configuration changes. The map layout is in [`crate::wire::offload`].

mod derive;
pub mod model;
#[cfg(test)]
mod tests;

pub use derive::derive;
