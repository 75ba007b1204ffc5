//! Connection collision resolution (RFC 4271 §6.8, RFC 6286 §2.3).
//!
//! When the peer and we dial each other at the same time, two connections
//! reach OpenConfirm. Both speakers must pick the same survivor without
//! talking about it, so the rule depends only on what both know: keep the
//! connection initiated by the speaker with the higher BGP Identifier, and
//! with equal identifiers (allowed between eBGP peers by RFC 6286) the one
//! initiated by the speaker with the higher AS number.

use std::net::Ipv4Addr;

use crate::events::State;

/// Which of two connections to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loser {
    /// The connection whose OPEN just arrived.
    This,
    /// The connection that was already there.
    Other,
    /// No decision yet (the other connection has not received an OPEN).
    Undecided,
}

/// Decides a collision between the connection that just received the peer's
/// OPEN (`this_outgoing`: we dialled it) and another live connection in
/// `other_state`.
pub fn resolve(
    local: (Ipv4Addr, u32),
    remote: (Ipv4Addr, u32),
    this_outgoing: bool,
    other_outgoing: bool,
    other_state: State,
) -> Loser {
    match other_state {
        // "a connection collision with an existing BGP connection that is in
        // the Established state causes closing of the newly created
        // connection".
        State::Established => Loser::This,
        // Only connections whose OPEN has arrived take part.
        State::OpenConfirm => {
            if this_outgoing == other_outgoing {
                // Two connections from the same side: the peer gave up on
                // the older one.
                return Loser::Other;
            }
            let local_wins = (u32::from(local.0), local.1) > (u32::from(remote.0), remote.1);
            // Keep the connection the winner initiated.
            if this_outgoing == local_wins {
                Loser::Other
            } else {
                Loser::This
            }
        }
        _ => Loser::Undecided,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOW: (Ipv4Addr, u32) = (Ipv4Addr::new(10, 0, 0, 1), 65001);
    const HIGH: (Ipv4Addr, u32) = (Ipv4Addr::new(10, 0, 0, 2), 65002);

    #[test]
    fn both_sides_agree_on_the_survivor() {
        // We (LOW) dialled connection X; the peer (HIGH) dialled Y. On our
        // side X is outgoing, on theirs X is incoming. Whatever order the
        // OPENs arrive in, both must close X.
        assert_eq!(
            resolve(LOW, HIGH, true, false, State::OpenConfirm),
            Loser::This
        );
        assert_eq!(
            resolve(LOW, HIGH, false, true, State::OpenConfirm),
            Loser::Other
        );
        assert_eq!(
            resolve(HIGH, LOW, false, true, State::OpenConfirm),
            Loser::This
        );
        assert_eq!(
            resolve(HIGH, LOW, true, false, State::OpenConfirm),
            Loser::Other
        );
    }

    #[test]
    fn equal_identifiers_fall_back_to_as_number() {
        let a = (Ipv4Addr::new(10, 0, 0, 1), 65001);
        let b = (Ipv4Addr::new(10, 0, 0, 1), 65002);
        assert_eq!(resolve(a, b, true, false, State::OpenConfirm), Loser::This);
        assert_eq!(resolve(b, a, false, true, State::OpenConfirm), Loser::This);
    }

    #[test]
    fn established_wins_and_opensent_waits() {
        assert_eq!(
            resolve(HIGH, LOW, true, false, State::Established),
            Loser::This
        );
        assert_eq!(
            resolve(HIGH, LOW, true, false, State::OpenSent),
            Loser::Undecided
        );
    }
}
