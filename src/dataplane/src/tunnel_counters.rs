//! Per-tunnel counters of one worker, indexed by zone: packets and bytes each way and drops by
//! reason. Plain integers written per packet; the worker copies them out off the packet path
//! (they are too many to publish every batch), and readers sum the workers' copies.

use super::counters::DropReason;
use super::gateway::MAX_TUNNELS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TunnelCounters {
    /// Inner packets and bytes taken out of the tunnel.
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Inner packets and bytes sent into the tunnel.
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub frag_needed_sent: u64,
    /// ICMP time exceeded errors sent back into the tunnel.
    pub time_exceeded_sent: u64,
    pub mss_clamped: u64,
    /// Drops by [`DropReason`] position.
    pub drops: [u64; super::counters::DROP_REASONS],
}

impl TunnelCounters {
    pub fn drop(&mut self, r: DropReason) {
        self.drops[r as usize] += 1;
    }

    pub fn accumulate(&mut self, o: &TunnelCounters) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.frag_needed_sent += o.frag_needed_sent;
        self.time_exceeded_sent += o.time_exceeded_sent;
        self.mss_clamped += o.mss_clamped;
        for (a, b) in self.drops.iter_mut().zip(o.drops) {
            *a += b;
        }
    }

    /// `(reason, count)` of the non-zero drops.
    pub fn named_drops(&self) -> Vec<(&'static str, u64)> {
        DropReason::ALL
            .iter()
            .map(|r| (r.name(), self.drops[*r as usize]))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// One worker's counters for every zone (zone 0 unused), allocated once.
pub struct PerTunnel {
    v: Box<[TunnelCounters]>,
}

impl Default for PerTunnel {
    fn default() -> Self {
        PerTunnel {
            v: vec![TunnelCounters::default(); MAX_TUNNELS + 1].into_boxed_slice(),
        }
    }
}

impl PerTunnel {
    #[inline(always)]
    pub fn zone(&mut self, zone: u16) -> &mut TunnelCounters {
        let i = usize::from(zone).min(MAX_TUNNELS);
        &mut self.v[i]
    }

    pub fn get(&self, zone: u16) -> TunnelCounters {
        self.v.get(usize::from(zone)).copied().unwrap_or_default()
    }
}
