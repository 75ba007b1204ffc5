//! A session's configuration: the operator's timers, multiplier, role and authentication.

use std::time::Duration;

use crate::auth::AuthType;
use crate::error::ConfigError;

/// The authentication a session uses (RFC 5880 §6.7): one key, selected by its Key ID.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// bfd.AuthType.
    pub auth_type: AuthType,
    /// Auth Key ID sent, and the only one accepted.
    pub key_id: u8,
    /// The password (Simple Password) or the key (Keyed MD5 / SHA1).
    pub key: Vec<u8>,
}

impl std::fmt::Debug for AuthConfig {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("auth_type", &self.auth_type)
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// One session's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// bfd.DesiredMinTxInterval once Up (§6.8.3 raises it to at least 1 s while not Up).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult.
    pub detect_mult: u8,
    /// §6.1: a passive system sends nothing until it has heard the remote system. At least
    /// one side must be active; the default is active.
    pub passive: bool,
    /// Authentication, or none (bfd.AuthType 0).
    pub auth: Option<AuthConfig>,
}

impl SessionConfig {
    /// Active, unauthenticated, `interval` both ways.
    pub fn new(interval: Duration, detect_mult: u8) -> Self {
        SessionConfig {
            desired_min_tx: interval,
            required_min_rx: interval,
            detect_mult,
            passive: false,
            auth: None,
        }
    }

    /// Refuses what the state machine cannot run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.detect_mult == 0 {
            return Err(ConfigError::DetectMult);
        }
        for d in [self.desired_min_tx, self.required_min_rx] {
            if micros(d).is_none() {
                return Err(ConfigError::Interval);
            }
        }
        if let Some(a) = &self.auth {
            let max = a.auth_type.max_key_len();
            // §4.2: a password is 1 to 16 bytes; a keyed type's key fills its field with
            // zeros, but an empty key would make the digest a checksum anyone can compute.
            if a.key.is_empty() || a.key.len() > max {
                return Err(ConfigError::KeyLength {
                    auth_type: a.auth_type.as_str(),
                    max,
                });
            }
        }
        Ok(())
    }
}

/// A duration as the wire's microseconds: 1 µs to u32::MAX µs, rounded up to whole µs.
pub fn micros(d: Duration) -> Option<u32> {
    let us = d.as_nanos().div_ceil(1000);
    u32::try_from(us).ok().filter(|us| *us > 0)
}
