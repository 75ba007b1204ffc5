//! Every event the daemon writes, by subsystem: the one list of `subsystem`/`kind` pairs that
//! `appctl events`, the `appliance_events_total` metric, the namespace tests and the operations
//! guide rely on. Emitters name a variant; the strings exist only here.

/// Declares one enum per subsystem and [`EventKind`] over all of them, with their strings.
macro_rules! catalogue {
    ($(
        $(#[$sub_doc:meta])*
        $sub:ident = $sub_name:literal, $enum:ident {
            $( $(#[$kind_doc:meta])* $kind:ident = $kind_name:literal, )+
        }
    )+) => {
        $(
            $(#[$sub_doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $enum {
                $( $(#[$kind_doc])* $kind, )+
            }

            impl $enum {
                pub const ALL: &'static [$enum] = &[$($enum::$kind),+];

                /// The `kind` string of the event's JSON.
                pub fn as_str(self) -> &'static str {
                    match self {
                        $($enum::$kind => $kind_name,)+
                    }
                }
            }

            impl From<$enum> for EventKind {
                fn from(k: $enum) -> EventKind {
                    EventKind::$sub(k)
                }
            }
        )+

        /// Any event of any subsystem.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $( $sub($enum), )+
        }

        impl EventKind {
            /// The `subsystem` string of the event's JSON.
            pub fn subsystem(self) -> &'static str {
                match self {
                    $(EventKind::$sub(_) => $sub_name,)+
                }
            }

            /// The `kind` string of the event's JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$sub(k) => k.as_str(),)+
                }
            }

            /// Every kind of every subsystem, in catalogue order.
            pub fn all() -> Vec<EventKind> {
                let mut all = Vec::new();
                $( all.extend($enum::ALL.iter().map(|k| EventKind::$sub(*k))); )+
                all
            }
        }
    };
}

catalogue! {
    /// The supervisor (object: the node name, or the kernel object for `leftover_removed`).
    Daemon = "daemon", DaemonEvent {
        /// The daemon is up and serving its control socket; fields `config`.
        Started = "started",
        /// SIGTERM or SIGINT arrived and the subsystems are being stopped; fields `signal`.
        Stopping = "stopping",
        /// A kernel object recorded in the ledger was removed: left by a run that did not stop
        /// cleanly (at start), or not removed by its subsystem (at stop); fields: the object.
        LeftoverRemoved = "leftover_removed",
    }

    /// Configuration reloads (object: the configuration file).
    Config = "config", ConfigEvent {
        /// A reload was accepted; fields `generation`, `changed`, `trigger`.
        Reloaded = "reloaded",
        /// A reload was rejected and the running configuration kept; fields `error`, `trigger`.
        ReloadFailed = "reload_failed",
    }

    /// Managed interfaces (object: the interface).
    Interfaces = "interfaces", InterfacesEvent {
        /// A configured static address was installed; fields `address`.
        AddressAdded = "address_added",
        /// A static address the file no longer lists was removed; fields `address`.
        AddressRemoved = "address_removed",
        /// A configured interface's operational state changed; fields `from`, `to`.
        LinkState = "link_state",
    }

    /// VRRP instances (object: the instance).
    Vrrp = "vrrp", VrrpEvent {
        /// The instance changed state; fields `from`, `to`, `reason`, `priority`, `vrid`.
        StateChange = "state_change",
        /// Another router became master, or the master went away; fields `previous`,
        /// `current`.
        MasterChanged = "master_changed",
        /// Another master advertises the VRID while this instance is master; fields `peer`,
        /// `peer_priority`, `vrid`.
        SplitBrain = "split_brain",
        /// The other master stopped advertising; fields `peer`.
        SplitBrainCleared = "split_brain_cleared",
        /// A peer advertises a different list of virtual addresses; fields `peer`,
        /// `advertised`.
        AddressListMismatch = "address_list_mismatch",
        /// Tracking changed the effective priority; fields `from`, `to`.
        PriorityChanged = "priority_changed",
    }

    /// Health checks (object: the check).
    Health = "health", HealthEvent {
        /// The effective state became up; fields `from`, `to`, `reason`.
        CheckUp = "check_up",
        /// The effective state became down; fields `from`, `to`, `reason`.
        CheckDown = "check_down",
        /// The effective state became unknown (a check never returns there once decided);
        /// fields `from`, `to`, `reason`.
        CheckUnknown = "check_unknown",
        /// `appctl health set` changed the operator override; fields `override`.
        Override = "override",
        /// A reload added a check.
        CheckAdded = "check_added",
        /// A reload removed a check.
        CheckRemoved = "check_removed",
        /// A reload changed a check; fields `carried_state` when it continues from its state.
        CheckChanged = "check_changed",
        /// A check could not start (its CA file vanished after validation) and counts as down;
        /// fields `error`.
        CheckFailed = "check_failed",
    }

    /// BGP sessions (object: the neighbour) and announcements (object: the prefix).
    Bgp = "bgp", BgpEvent {
        /// A prefix is announced, fully or degraded (`on_failure`); fields `reason`, `degraded`.
        Announce = "announce",
        /// A prefix is withdrawn; fields `reason`, `degraded`.
        Withdraw = "withdraw",
        /// A session reached Established; fields `remote_as`.
        PeerEstablished = "peer_established",
        /// A session left Established; fields `state`.
        PeerDown = "peer_down",
        /// A NOTIFICATION was sent to the neighbour.
        NotificationSent = "notification_sent",
        /// A NOTIFICATION came from the neighbour.
        NotificationReceived = "notification_received",
        /// The neighbour's BFD session failed and the BGP session was torn down at once
        /// (RFC 5882 §4.3); fields `state` (the BGP state it was in).
        BfdDown = "bfd_down",
    }

    /// BFD sessions (object: the peer address).
    Bfd = "bfd", BfdEvent {
        /// A reload or the start added a session; fields `local_discriminator`.
        SessionAdded = "session_added",
        /// A reload removed a session (it goes AdminDown first); no fields.
        SessionRemoved = "session_removed",
        /// A reload changed a session's timers in place (Poll Sequence); fields `interval`,
        /// `multiplier`.
        SessionChanged = "session_changed",
        /// The session came Up; fields `from`, `timing` (discriminators, `tx_interval_ms`,
        /// `detection_time_ms`).
        SessionUp = "session_up",
        /// The session left Up; fields `to`, `diag`, `remote_state`, `failure` (false when the
        /// peer went AdminDown or we did: not a path failure, RFC 5882 §3.2).
        SessionDown = "session_down",
    }

    /// The data plane (object: `dataplane`).
    Dataplane = "dataplane", DataplaneEvent {
        /// The workers run and the steering programs are attached; fields `workers`,
        /// `interfaces`.
        Started = "started",
        /// The data plane could not start; fields `error`.
        Failed = "failed",
        /// A reload changed `[dataplane]`, which applies only at the next start.
        RestartNeeded = "restart_needed",
        /// The established-flow offload was configured but cannot run: the workers forward
        /// every packet; fields `reason`.
        OffloadUnavailable = "offload_unavailable",
    }

    /// Bonds of NICs (object: the bond's name).
    Bond = "bond", BondEvent {
        /// The bond's tap exists and its thread runs; fields `mode`, `members`.
        Started = "started",
        /// A member started carrying the bond's traffic (802.3ad: Collecting_Distributing in
        /// the selected aggregator; active-backup: it became active; balance-xor: carrier);
        /// fields `member`, `carrier`.
        MemberUp = "member_up",
        /// A member stopped carrying the bond's traffic; fields `member`, `carrier`.
        MemberDown = "member_down",
        /// Active-backup: another member became active (gratuitous ARP and unsolicited NA
        /// follow); fields `from`, `to`.
        Failover = "failover",
        /// At least `min_links` members carry the bond: the tap has carrier; fields `members`.
        Up = "up",
        /// No member carries the bond: the tap lost carrier; fields `members`.
        Down = "down",
    }

    /// Session sync with the HA peers (object: the peer address, or `sync`).
    Sync = "sync", SyncEvent {
        /// The sync thread runs; fields `peers`, `port`.
        Started = "started",
        /// Sync could not start (socket, key); fields `error`.
        Failed = "failed",
        /// A peer is heard (again); fields `node_id`, `epoch`.
        PeerUp = "peer_up",
        /// Nothing heard from the peer for the dead interval; no fields.
        PeerDown = "peer_down",
        /// The peer came back with a new epoch (it lost its tables): a bulk resync to it
        /// begins; fields `node_id`, `epoch`.
        PeerRestarted = "peer_restarted",
        /// The peer's settings differ from ours: nothing is exchanged until they agree;
        /// fields `ours`, `theirs`.
        SettingsMismatch = "settings_mismatch",
        /// The peer's settings agree with ours; no fields.
        SettingsAgreed = "settings_agreed",
        /// Changes were lost (a full queue or ring): a bulk resync repairs them; fields `lost`.
        RecordsLost = "records_lost",
        /// Our whole table reached the peer; fields `entries`.
        BulkSent = "bulk_sent",
        /// The peer's whole table arrived; fields `entries`, `total`, `ms`.
        BulkReceived = "bulk_received",
        /// VRRP may preempt again: the bulk arrived, or `preempt_hold` ran out, or no peer
        /// answered; fields `reason`.
        PreemptReleased = "preempt_released",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn name(k: EventKind) -> String {
        format!("{}/{}", k.subsystem(), k.as_str())
    }

    #[test]
    fn every_kind_is_named_once() {
        let all = EventKind::all();
        let names: BTreeSet<String> = all.iter().map(|k| name(*k)).collect();
        assert_eq!(names.len(), all.len(), "two kinds share a name: {names:?}");
        assert!(all.contains(&EventKind::from(VrrpEvent::StateChange)));
        assert_eq!(name(HealthEvent::CheckDown.into()), "health/check_down");
    }

    /// The `subsystem/kind` names the operations guide's events section lists.
    fn documented() -> BTreeSet<String> {
        let doc = include_str!("../../docs/operations.md");
        let section = doc
            .split_once("### Events")
            .map(|(_, rest)| rest)
            .expect("docs/operations.md has an events section");
        let section = section.split("\n## ").next().unwrap_or(section);
        section
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                s.split_once('/').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && (a.chars().chain(b.chars())).all(|c| c.is_ascii_lowercase() || c == '_')
                })
            })
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_operations_guide_lists_the_catalogue() {
        let catalogue: BTreeSet<String> = EventKind::all().into_iter().map(name).collect();
        let doc = documented();
        let missing: Vec<_> = catalogue.difference(&doc).collect();
        let unknown: Vec<_> = doc.difference(&catalogue).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "docs/operations.md lacks {missing:?} and lists unknown {unknown:?}"
        );
    }
}
