//! The Actor_State / Partner_State octet (§6.4.2.3 items k and u): eight flags, bit 0 first.

/// One port's state flags as carried in an LACPDU and kept in the
/// Actor_Oper_Port_State / Partner_Oper_Port_State variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortState(pub u8);

macro_rules! flag {
    ($get:ident, $set:ident, $bit:expr, $doc:literal) => {
        #[doc = $doc]
        pub fn $get(self) -> bool {
            self.0 & $bit != 0
        }

        #[doc = concat!("Sets or clears: ", $doc)]
        pub fn $set(&mut self, on: bool) {
            if on {
                self.0 |= $bit;
            } else {
                self.0 &= !$bit;
            }
        }
    };
}

impl PortState {
    /// LACP_Activity: 1 = Active LACP, 0 = Passive.
    pub const ACTIVITY: u8 = 0x01;
    /// LACP_Timeout: 1 = Short Timeout, 0 = Long Timeout.
    pub const TIMEOUT: u8 = 0x02;
    /// Aggregation: 1 = potential candidate for aggregation, 0 = Individual.
    pub const AGGREGATION: u8 = 0x04;
    /// Synchronization: the link is allocated to the right Link Aggregation Group.
    pub const SYNCHRONIZATION: u8 = 0x08;
    /// Collecting: collection of incoming frames is enabled.
    pub const COLLECTING: u8 = 0x10;
    /// Distributing: distribution of outgoing frames is enabled.
    pub const DISTRIBUTING: u8 = 0x20;
    /// Defaulted: the partner information in use is the administrative default.
    pub const DEFAULTED: u8 = 0x40;
    /// Expired: the Receive machine is in the EXPIRED state.
    pub const EXPIRED: u8 = 0x80;

    flag!(
        activity,
        set_activity,
        Self::ACTIVITY,
        "LACP_Activity (Active)."
    );
    flag!(
        timeout,
        set_timeout,
        Self::TIMEOUT,
        "LACP_Timeout (Short Timeout)."
    );
    flag!(
        aggregation,
        set_aggregation,
        Self::AGGREGATION,
        "Aggregation (aggregatable)."
    );
    flag!(
        synchronization,
        set_synchronization,
        Self::SYNCHRONIZATION,
        "Synchronization (IN_SYNC)."
    );
    flag!(collecting, set_collecting, Self::COLLECTING, "Collecting.");
    flag!(
        distributing,
        set_distributing,
        Self::DISTRIBUTING,
        "Distributing."
    );
    flag!(defaulted, set_defaulted, Self::DEFAULTED, "Defaulted.");
    flag!(expired, set_expired, Self::EXPIRED, "Expired.");
}

impl std::fmt::Display for PortState {
    /// The set flags by name, comma-separated, the way `ovs-appctl lacp/show` lists them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (Self::ACTIVITY, "activity"),
            (Self::TIMEOUT, "timeout"),
            (Self::AGGREGATION, "aggregation"),
            (Self::SYNCHRONIZATION, "synchronized"),
            (Self::COLLECTING, "collecting"),
            (Self::DISTRIBUTING, "distributing"),
            (Self::DEFAULTED, "defaulted"),
            (Self::EXPIRED, "expired"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_in_the_standard_order() {
        let mut s = PortState::default();
        s.set_activity(true);
        s.set_aggregation(true);
        s.set_defaulted(true);
        // tcpdump's "State=45<Activity,Aggregation,Default>" from an OpenBSD trunk.
        assert_eq!(s.0, 0x45);
        assert_eq!(s.to_string(), "activity,aggregation,defaulted");
        s.set_aggregation(false);
        assert_eq!(s.0, 0x41);
        assert!(!s.expired() && s.activity());
    }
}
