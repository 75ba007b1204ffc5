//! Sync groups: instances that change state together (keepalived
//! `vrrp_sync_group`), as a pure helper the shell drives.
//!
//! keepalived semantics (vrrp_sync.c), which we follow:
//! * a member in Fault puts every other member in Fault, until no member has
//!   a fault of its own;
//! * a member that steps down from Master to Backup takes every Master
//!   member down with it;
//! * a member that becomes Master takes every Backup member up with it;
//! * a member whose Master_Down_Timer fires does not promote itself alone:
//!   it waits (`wants_master`) until every member either wants Master or
//!   already is Master, "prefer backup state to avoid thrashing".
//!
//! Members must be configured with [`crate::Config::sync_group`] = true.
//!
//! The shell's loop: after every call that drives a member (`handle_*`,
//! `set_*`, `force_*`), call [`SyncGroup::update`] with that member's
//! [`crate::Instance::sync_view`], apply each returned [`SyncCommand`] to the
//! named member, and call `update` again for each member a command drove,
//! until no command is returned. Commands only move members towards the
//! group's state, so the loop ends after at most one round per member.

use crate::fsm::{State, SyncView};

/// An order for one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncCommand {
    /// Call [`crate::Instance::force_master`].
    ForceMaster,
    /// Call [`crate::Instance::force_backup`].
    ForceBackup,
    /// Call [`crate::Instance::set_group_fault`] with this value.
    SetGroupFault(bool),
}

#[derive(Debug, Clone)]
struct Member<K> {
    key: K,
    view: SyncView,
    group_fault_applied: bool,
}

/// The members of one sync group, keyed by whatever the shell uses to find
/// an instance (a name, an index).
#[derive(Debug, Clone)]
pub struct SyncGroup<K> {
    members: Vec<Member<K>>,
}

impl<K: Clone + PartialEq> SyncGroup<K> {
    /// A group of members, all assumed in Initialize.
    pub fn new(keys: impl IntoIterator<Item = K>) -> Self {
        SyncGroup {
            members: keys
                .into_iter()
                .map(|key| Member {
                    key,
                    view: SyncView {
                        state: State::Initialize,
                        own_fault: false,
                        wants_master: false,
                    },
                    group_fault_applied: false,
                })
                .collect(),
        }
    }

    /// The member keys.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.members.iter().map(|m| &m.key)
    }

    /// Records a member's new view and returns what the other members must
    /// do. Unknown keys are ignored.
    pub fn update(&mut self, key: &K, view: SyncView) -> Vec<(K, SyncCommand)> {
        let Some(index) = self.members.iter().position(|m| &m.key == key) else {
            return Vec::new();
        };
        let previous = std::mem::replace(&mut self.members[index].view, view).state;
        let mut commands = Vec::new();

        // Fault spreads to everyone else while any member has its own fault.
        for i in 0..self.members.len() {
            let others_faulted = self
                .members
                .iter()
                .enumerate()
                .any(|(j, m)| j != i && m.view.own_fault);
            if self.members[i].group_fault_applied != others_faulted {
                self.members[i].group_fault_applied = others_faulted;
                commands.push((
                    self.members[i].key.clone(),
                    SyncCommand::SetGroupFault(others_faulted),
                ));
            }
        }
        if self.members.iter().any(|m| m.view.own_fault) {
            return commands;
        }

        if previous == State::Master && view.state == State::Backup {
            self.push_for_state(
                index,
                State::Master,
                SyncCommand::ForceBackup,
                &mut commands,
            );
        } else if view.state == State::Master && previous != State::Master {
            self.push_for_state(
                index,
                State::Backup,
                SyncCommand::ForceMaster,
                &mut commands,
            );
        } else {
            // The gate: promote the waiting members once nobody holds back.
            let ready = self
                .members
                .iter()
                .all(|m| m.view.state == State::Master || m.view.wants_master);
            let any_waiting = self
                .members
                .iter()
                .any(|m| m.view.state == State::Backup && m.view.wants_master);
            if ready && any_waiting {
                for m in &self.members {
                    if m.view.state == State::Backup && m.view.wants_master {
                        commands.push((m.key.clone(), SyncCommand::ForceMaster));
                    }
                }
            }
        }
        commands
    }

    fn push_for_state(
        &self,
        except: usize,
        state: State,
        command: SyncCommand,
        commands: &mut Vec<(K, SyncCommand)>,
    ) {
        for (i, m) in self.members.iter().enumerate() {
            if i != except && m.view.state == state {
                commands.push((m.key.clone(), command));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: State, own_fault: bool, wants_master: bool) -> SyncView {
        SyncView {
            state,
            own_fault,
            wants_master,
        }
    }

    #[test]
    fn fault_spreads_and_clears() {
        let mut g = SyncGroup::new(["a", "b", "c"]);
        g.update(&"a", view(State::Backup, false, false));
        g.update(&"b", view(State::Backup, false, false));
        g.update(&"c", view(State::Backup, false, false));
        let cmds = g.update(&"a", view(State::Fault, true, false));
        assert_eq!(
            cmds,
            vec![
                ("b", SyncCommand::SetGroupFault(true)),
                ("c", SyncCommand::SetGroupFault(true))
            ]
        );
        let cmds = g.update(&"a", view(State::Backup, false, false));
        assert_eq!(
            cmds,
            vec![
                ("b", SyncCommand::SetGroupFault(false)),
                ("c", SyncCommand::SetGroupFault(false))
            ]
        );
    }

    #[test]
    fn master_to_backup_pulls_the_others_down() {
        let mut g = SyncGroup::new([1, 2]);
        g.update(&1, view(State::Master, false, false));
        g.update(&2, view(State::Master, false, false));
        assert_eq!(
            g.update(&1, view(State::Backup, false, false)),
            vec![(2, SyncCommand::ForceBackup)]
        );
    }

    #[test]
    fn promotion_waits_for_everyone() {
        let mut g = SyncGroup::new([1, 2]);
        g.update(&1, view(State::Backup, false, false));
        g.update(&2, view(State::Backup, false, false));
        assert!(g.update(&1, view(State::Backup, false, true)).is_empty());
        assert_eq!(
            g.update(&2, view(State::Backup, false, true)),
            vec![(1, SyncCommand::ForceMaster), (2, SyncCommand::ForceMaster)]
        );
    }

    #[test]
    fn a_master_member_lifts_the_backups() {
        let mut g = SyncGroup::new([1, 2]);
        g.update(&2, view(State::Backup, false, false));
        assert_eq!(
            g.update(&1, view(State::Master, false, false)),
            vec![(2, SyncCommand::ForceMaster)]
        );
    }
}
