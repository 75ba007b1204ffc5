//! What a reload does to `[checks]`, as `apply` in this module's parent carries it out: a check
//! whose change is limited to timing keys gets a new runner that continues from the verdict it
//! had (applied: consumers see no transition); one that probes something else starts again from
//! its `initial` state (restarted); unchanged checks are not touched.

use std::collections::BTreeMap;

use crate::config::diff;
use crate::config::CheckConfig;
use crate::control::protocol::ReloadAction;

pub fn reload_plan(
    old: &BTreeMap<String, CheckConfig>,
    new: &BTreeMap<String, CheckConfig>,
) -> Vec<(String, ReloadAction, String)> {
    let mut out = Vec::new();
    for name in old.keys().filter(|n| !new.contains_key(*n)) {
        out.push((name.clone(), ReloadAction::Removed, "check".into()));
    }
    for (name, cfg) in new {
        match old.get(name) {
            None => out.push((
                name.clone(),
                ReloadAction::Added,
                format!("{} {}", cfg.kind.as_str(), cfg.describe_target()),
            )),
            Some(o) if o == cfg => {}
            Some(o) if o.same_probe(cfg) => out.push((
                name.clone(),
                ReloadAction::Applied,
                format!("{}; keeps its state", diff::summary(o, cfg, "changed")),
            )),
            Some(o) => out.push((
                name.clone(),
                ReloadAction::Restarted,
                format!(
                    "{}; probes something else, starts from its initial state",
                    diff::summary(o, cfg, "changed")
                ),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_str;

    fn checks(text: &str) -> BTreeMap<String, CheckConfig> {
        parse_str(text, Path::new("t.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
            .checks
    }

    const BASE: &str =
        "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.2:80\"\ninterval = \"1s\"\n\
                        [checks.db]\ntype = \"tcp\"\ntarget = \"198.18.0.3:5432\"\n";

    #[test]
    fn timing_is_applied_a_new_target_restarts_and_tables_add_and_remove() {
        let old = checks(BASE);
        assert!(reload_plan(&old, &old).is_empty());

        let timing = checks(&BASE.replace("interval = \"1s\"", "interval = \"2s\"\nfall = 5"));
        let plan = reload_plan(&old, &timing);
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert_eq!(plan[0].0, "web");
        assert_eq!(plan[0].1, ReloadAction::Applied);
        assert!(plan[0].2.contains("interval 1s → 2s"), "{}", plan[0].2);
        assert!(plan[0].2.contains("fall 3 → 5"), "{}", plan[0].2);

        let target = checks(&BASE.replace("198.18.0.2:80", "198.18.0.2:81"));
        let plan = reload_plan(&old, &target);
        assert_eq!(plan[0].1, ReloadAction::Restarted, "{plan:?}");
        assert!(plan[0].2.contains("target"), "{}", plan[0].2);

        let added = checks(&format!(
            "{}[checks.dns]\ntype = \"tcp\"\ntarget = \"198.18.0.4:53\"\n",
            BASE.replace(
                "[checks.db]\ntype = \"tcp\"\ntarget = \"198.18.0.3:5432\"\n",
                ""
            )
        ));
        let plan = reload_plan(&old, &added);
        assert!(plan.contains(&("db".into(), ReloadAction::Removed, "check".into())));
        assert!(plan
            .iter()
            .any(|(n, a, w)| n == "dns" && *a == ReloadAction::Added && w.contains("198.18.0.4")));
    }
}
