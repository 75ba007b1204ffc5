//! The offload map ABI as the loader needs it: entry sizes, where the program keeps its
//! counters in a value, and the meaning of each `ol_stats` slot. The full layout (which the
//! data plane's `offload` module encodes) is in the crate's README.md and `bpf/ol_abi.h`.

/// `struct ol_key`: the flow as received.
pub const KEY_LEN: usize = 28;
/// `struct ol_action`: what to do with it, and the program's counters.
pub const VALUE_LEN: usize = 96;

pub type Key = [u8; KEY_LEN];
pub type Value = [u8; VALUE_LEN];

/// Offsets of the counters the program updates in a value (host byte order).
const PACKETS: usize = 72;
const BYTES: usize = 80;
const LAST_SEEN: usize = 88;

/// What the program has counted in one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryCounters {
    /// Packets forwarded.
    pub packets: u64,
    /// Their bytes as received (frame length).
    pub bytes: u64,
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) of the last one; 0 if none yet.
    pub last_seen_ns: u64,
}

impl EntryCounters {
    pub fn of(value: &Value) -> EntryCounters {
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&value[at..at + 8]);
            u64::from_ne_bytes(b)
        };
        EntryCounters {
            packets: word(PACKETS),
            bytes: word(BYTES),
            last_seen_ns: word(LAST_SEEN),
        }
    }
}

/// The slots of `ol_stats`, summed over CPUs by [`crate::Offload::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Stat {
    Forwarded = 0,
    ForwardedBytes = 1,
    /// To the worker: no entry, or one that does not fit the packet or whose port is gone.
    Miss = 2,
    /// To the worker: TTL would expire.
    Ttl = 3,
    /// To the worker: longer than the entry's `max_len`.
    TooLong = 4,
    /// To the worker: TCP SYN, FIN or RST.
    TcpFlags = 5,
    /// To the worker: no DF, to be encapsulated.
    NotDf = 6,
    /// To the worker: not IPv4, options, bad checksum, fragment, truncated, unsupported GRE,
    /// protocol or ICMP type.
    NotParsed = 7,
    /// To the worker: the daemon stopped renewing the program's deadline (`ol_alive`).
    Orphaned = 8,
}

pub const STATS: usize = 9;

impl Stat {
    pub const ALL: [Stat; STATS] = [
        Stat::Forwarded,
        Stat::ForwardedBytes,
        Stat::Miss,
        Stat::Ttl,
        Stat::TooLong,
        Stat::TcpFlags,
        Stat::NotDf,
        Stat::NotParsed,
        Stat::Orphaned,
    ];

    /// A name for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Stat::Forwarded => "forwarded",
            Stat::ForwardedBytes => "forwarded_bytes",
            Stat::Miss => "miss",
            Stat::Ttl => "ttl",
            Stat::TooLong => "too_long",
            Stat::TcpFlags => "tcp_flags",
            Stat::NotDf => "not_df",
            Stat::NotParsed => "not_parsed",
            Stat::Orphaned => "orphaned",
        }
    }
}
