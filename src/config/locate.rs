//! Maps a key path (`vrrp.instance[1].interface`) back to a line and column of the source text,
//! so validation, which works on typed values, can still point at the exact place in the file.

use std::fmt;
use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, Value};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the document root to a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// A copy of this path extended by a key.
    pub fn key(&self, k: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.into()));
        p
    }

    /// A copy of this path extended by an array index.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        let mut out = Vec::new();
        for seg in path.iter() {
            match seg {
                Segment::Seq { index } => out.push(Seg::Index(*index)),
                Segment::Map { key } => out.push(Seg::Key(key.clone())),
                Segment::Enum { variant } => out.push(Seg::Key(variant.clone())),
                Segment::Unknown => {}
            }
        }
        KeyPath(out)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "\"{k}\"")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn span(&self) -> Option<Range<usize>> {
        match *self {
            Node::Item(Item::Value(v)) | Node::Value(v) => v.span(),
            Node::Item(Item::Table(t)) | Node::Table(t) => t.span(),
            Node::Item(Item::ArrayOfTables(a)) => a.span(),
            Node::Item(Item::None) => None,
        }
    }

    /// Child by key; also returns the key's own span (used when the value has none).
    fn child_key(&self, key: &str) -> Option<(Node<'a>, Option<Range<usize>>)> {
        match *self {
            Node::Item(Item::Table(t)) | Node::Table(t) => t
                .get_key_value(key)
                .map(|(k, item)| (Node::Item(item), k.span())),
            Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)) => {
                t.get_key_value(key)
                    .map(|(k, item)| (Node::Item(item), k.span()))
            }
            _ => None,
        }
    }

    fn child_index(&self, i: usize) -> Option<Node<'a>> {
        match *self {
            Node::Item(Item::ArrayOfTables(a)) => a.get(i).map(Node::Table),
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                a.get(i).map(Node::Value)
            }
            _ => None,
        }
    }
}

/// The byte span that best represents `path`: the value itself if present, otherwise the
/// deepest enclosing table or key that exists (for a missing key, the table that lacks it).
pub fn span_of(doc: &ImDocument<&str>, path: &KeyPath) -> Option<Range<usize>> {
    let mut node = Node::Table(doc.as_table());
    let mut best: Option<Range<usize>> = None;
    for seg in &path.0 {
        let next = match seg {
            Seg::Key(k) => match node.child_key(k) {
                Some((n, key_span)) => {
                    // A table is best shown by its name in the header; a value by itself.
                    let is_table = matches!(
                        n,
                        Node::Item(Item::Table(_) | Item::ArrayOfTables(_)) | Node::Table(_)
                    );
                    match (is_table, key_span, n.span()) {
                        (true, Some(k), _) => best = Some(k),
                        (_, _, Some(v)) => best = Some(v),
                        (_, Some(k), None) => best = Some(k),
                        _ => {}
                    }
                    Some(n)
                }
                None => None,
            },
            Seg::Index(i) => {
                let n = node.child_index(*i);
                if let Some(s) = n.as_ref().and_then(|n| n.span()) {
                    best = Some(s);
                }
                n
            }
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    best
}

/// 1-based line and character column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values() {
        let text = "[daemon]\nstate_dir = \"/x\"\n\n[[vrrp.instance]]\nname = \"a\"\n[[vrrp.instance]]\nname = \"b\"\nvips = [\"1\", \"2\"]\n";
        let doc = ImDocument::parse(text).unwrap();
        let p = KeyPath::root()
            .key("vrrp")
            .key("instance")
            .index(1)
            .key("vips")
            .index(1);
        let span = span_of(&doc, &p).unwrap();
        assert_eq!(&text[span.clone()], "\"2\"");
        assert_eq!(line_col(text, span.start), (8, 14));
        let p = KeyPath::root().key("daemon").key("state_dir");
        let span = span_of(&doc, &p).unwrap();
        assert_eq!(line_col(text, span.start), (2, 13));
    }

    #[test]
    fn display_quotes_odd_keys() {
        let p = KeyPath::root()
            .key("interfaces")
            .key("eth0.10")
            .key("x")
            .index(2);
        assert_eq!(p.to_string(), "interfaces.\"eth0.10\".x[2]");
    }
}
