//! Which keys differ between two values of a section, for the reload's reply: `interval 1s →
//! 2s` for a scalar, `backends changed` for a table or an array.

use serde::Serialize;
use serde_json::Value;

/// The top-level keys of `old` and `new` (serialised as the file writes them) that differ, in
/// key order. Secrets serialise redacted, so a changed secret does not show here: callers that
/// hold one compare it themselves.
pub fn changed_keys<T: Serialize>(old: &T, new: &T) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (
                a.get(k).unwrap_or(&Value::Null),
                b.get(k).unwrap_or(&Value::Null),
            );
            (x != y).then(|| describe(k, x, y))
        })
        .collect()
}

/// `changed_keys` joined with `, `, or `fallback` when no key shows the difference.
pub fn summary<T: Serialize>(old: &T, new: &T, fallback: &str) -> String {
    let keys = changed_keys(old, new);
    if keys.is_empty() {
        fallback.to_string()
    } else {
        keys.join(", ")
    }
}

fn describe(key: &str, old: &Value, new: &Value) -> String {
    match (scalar(old), scalar(new)) {
        (Some(a), Some(b)) => format!("{key} {a} → {b}"),
        _ => format!("{key} changed"),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("(unset)".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct S {
        a: u32,
        b: Vec<u32>,
        c: Option<String>,
    }

    #[test]
    fn scalars_show_both_values_and_lists_only_their_name() {
        let x = S {
            a: 1,
            b: vec![1],
            c: None,
        };
        let y = S {
            a: 2,
            b: vec![1, 2],
            c: Some("x".into()),
        };
        assert_eq!(
            changed_keys(&x, &y),
            vec!["a 1 → 2", "b changed", "c (unset) → x"]
        );
        assert!(changed_keys(&x, &x).is_empty());
        assert_eq!(summary(&x, &x, "secret changed"), "secret changed");
    }
}
