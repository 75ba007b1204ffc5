//! `[vrrp]` in the reload's plan, as the VRRP subsystem behaves today: an instance whose
//! settings (or sync group) changed is stopped and started again, which resigns mastership.
//!
//! Stands in until `crate::vrrpd::reload_plan::reload_plan(&old.vrrp, &new.vrrp)` (which says
//! what changes in place) lands: `reload_plan::plan` then calls that instead of this.

use crate::config::diff;
use crate::config::vrrp::VrrpConfig;
use crate::control::protocol::ReloadAction;

fn group_of(v: &VrrpConfig, name: &str) -> Option<String> {
    v.sync_group
        .iter()
        .find(|g| g.instances.iter().any(|i| i == name))
        .map(|g| g.name.clone())
}

pub fn reload_plan(old: &VrrpConfig, new: &VrrpConfig) -> Vec<(String, ReloadAction, String)> {
    let mut out = Vec::new();
    for i in old
        .instance
        .iter()
        .filter(|i| !new.instance.iter().any(|n| n.name == i.name))
    {
        out.push((i.name.clone(), ReloadAction::Removed, "instance".into()));
    }
    for n in &new.instance {
        match old.instance.iter().find(|o| o.name == n.name) {
            None => out.push((
                n.name.clone(),
                ReloadAction::Added,
                format!("VRID {} on {}", n.vrid, n.interface),
            )),
            Some(o) => {
                let (ga, gb) = (group_of(old, &o.name), group_of(new, &n.name));
                if o == n && ga == gb {
                    continue;
                }
                let mut what = diff::changed_keys(o, n);
                if ga != gb {
                    what.push(format!(
                        "sync group {} → {}",
                        ga.as_deref().unwrap_or("(none)"),
                        gb.as_deref().unwrap_or("(none)")
                    ));
                }
                out.push((n.name.clone(), ReloadAction::Restarted, what.join(", ")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_str;

    fn vrrp(prio: u8) -> VrrpConfig {
        parse_str(
            &format!(
                "[interfaces.eth0]\nstatic_addresses = [\"198.18.0.1/24\"]\n\
                 [[vrrp.instance]]\nname = \"vi\"\ninterface = \"eth0\"\nvrid = 7\npriority = {prio}\n\
                 virtual_addresses = [\"198.18.0.100/24\"]\n"
            ),
            Path::new("t.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .vrrp
    }

    #[test]
    fn a_changed_instance_is_reported_restarted() {
        assert!(reload_plan(&vrrp(100), &vrrp(100)).is_empty());
        assert_eq!(
            reload_plan(&vrrp(100), &vrrp(150)),
            vec![(
                "vi".into(),
                ReloadAction::Restarted,
                "priority 100 → 150".into()
            )]
        );
    }
}
