//! The namespace integration tests of the appliance (`tests/`) and their test command
//! (`test-all`). The harness they use is the `lab` crate (`src/lab`), re-exported here whole so
//! that a test names everything it needs from one place.

pub use lab::*;
