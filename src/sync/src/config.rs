//! An endpoint's settings, checked once when it is made.

use std::time::Duration;

use crate::record::{Hello, Record, Settings};
use crate::wire::{self, HEADER_LEN, MAC_LEN, SACK_BITS};

#[derive(Debug, Clone)]
pub struct Config {
    /// This node's id (peers tell each other apart by it; our own looped-back datagrams too).
    pub node_id: u64,
    /// The shared secret every datagram is signed with (HMAC-SHA256).
    pub key: Vec<u8>,
    /// Largest datagram sent, header and HMAC included (UDP payload).
    pub max_datagram: usize,
    /// Data datagrams in flight unacknowledged, at most 64 (the selective ack's reach).
    pub window: u32,
    /// Records waiting to be sent; beyond it `queue` refuses (see the crate docs).
    pub queue_capacity: usize,
    /// Bulk entries the endpoint pulls ahead of the link: pacing, and room for live records.
    pub bulk_backlog: usize,
    /// Entries asked of the table per bulk page.
    pub bulk_page: usize,
    pub hello_interval: Duration,
    /// Hellos missed before the peer is declared down.
    pub dead_after: u32,
    pub rto_initial: Duration,
    pub rto_min: Duration,
    pub rto_max: Duration,
    /// What the peer must agree on.
    pub settings: Settings,
}

impl Config {
    pub fn new(node_id: u64, key: Vec<u8>, settings: Settings) -> Config {
        Config {
            node_id,
            key,
            max_datagram: 1400,
            window: 32,
            queue_capacity: 65_536,
            bulk_backlog: 4096,
            bulk_page: 256,
            hello_interval: Duration::from_secs(1),
            dead_after: 3,
            rto_initial: Duration::from_millis(200),
            rto_min: Duration::from_millis(10),
            rto_max: Duration::from_secs(2),
            settings,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let hello = Record::Hello(Hello {
            table_size: 0,
            settings: self.settings.clone(),
        });
        if self.settings.pools.len() > wire::MAX_POOLS {
            return Err(ConfigError::TooManyPools);
        }
        // Room for the largest record besides the hello, and the hello itself.
        let least = HEADER_LEN + MAC_LEN + 64;
        if self.max_datagram < least.max(HEADER_LEN + MAC_LEN + wire::record_len(&hello))
            || self.max_datagram > usize::from(u16::MAX)
        {
            return Err(ConfigError::MaxDatagram);
        }
        if self.window == 0 || self.window > SACK_BITS {
            return Err(ConfigError::Window);
        }
        if self.queue_capacity < 4 || self.bulk_page == 0 || self.bulk_backlog == 0 {
            return Err(ConfigError::Capacity);
        }
        if self.hello_interval.is_zero() || self.dead_after == 0 {
            return Err(ConfigError::Liveness);
        }
        if self.rto_min.is_zero() || self.rto_min > self.rto_max {
            return Err(ConfigError::Rto);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("more SNAT pools than a hello carries (255)")]
    TooManyPools,
    #[error("max datagram size must hold the header, the HMAC and the hello, and at most 65535")]
    MaxDatagram,
    #[error("window must be 1 to 64 datagrams")]
    Window,
    #[error("queue capacity at least 4, bulk page and bulk backlog nonzero")]
    Capacity,
    #[error("hello interval and dead-after must be nonzero")]
    Liveness,
    #[error("rto bounds: 0 < min <= max")]
    Rto,
    #[error("the epoch must be nonzero")]
    Epoch,
}
