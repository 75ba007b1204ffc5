//! `appctl reload`: the generation now running and one line per change.

use std::fmt::Write;

use crate::control::protocol::ReloadReply;

pub fn reload(r: &ReloadReply) -> String {
    let mut o = format!("reloaded: configuration generation {}\n", r.generation);
    if r.changes.is_empty() {
        o.push_str("no changes\n");
    }
    for c in &r.changes {
        let _ = write!(
            o,
            "{:<10} {:<28} {:<9}",
            c.subsystem,
            c.object,
            c.action.as_str()
        );
        if c.what.is_empty() {
            o.push('\n');
        } else {
            let _ = writeln!(o, " {}", c.what);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::{ReloadAction, ReloadChange};

    #[test]
    fn one_line_per_change_or_no_changes() {
        let mut r = ReloadReply {
            generation: 4,
            changes: Vec::new(),
        };
        assert_eq!(
            reload(&r),
            "reloaded: configuration generation 4\nno changes\n"
        );
        r.changes.push(ReloadChange {
            subsystem: "health".into(),
            object: "web".into(),
            action: ReloadAction::Applied,
            what: "interval 1s → 2s; keeps its state".into(),
        });
        let out = reload(&r);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(
            out.lines().nth(1).unwrap().starts_with("health     web"),
            "{out}"
        );
        assert!(out.contains("applied   interval 1s → 2s"), "{out}");
    }
}
