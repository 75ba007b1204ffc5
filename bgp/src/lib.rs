#![forbid(unsafe_code)]

pub mod error;
pub mod packet;
