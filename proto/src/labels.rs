//! Label lists travel as repeated `Label`; code works with sorted maps so that a series has
//! exactly one identity whatever order its labels came in.

use std::collections::BTreeMap;

use crate::v1::{Label, LabelMatcher, MatchOp};

/// Sorted label map, the canonical form of a series' labels.
pub type LabelMap = BTreeMap<String, String>;

/// Builds a sorted map from wire labels (a later duplicate name wins).
pub fn to_map(labels: &[Label]) -> LabelMap {
    labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

/// Builds wire labels, sorted by name, from a map.
pub fn from_map(map: &LabelMap) -> Vec<Label> {
    map.iter()
        .map(|(name, value)| Label {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// Builds one wire label.
pub fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_string(),
        value: value.to_string(),
    }
}

/// A label matcher from its text form, as the REST API's `label.<name>=<value>` and rules
/// write it: `value` is `=`; a value starting with `!`, `~` or `!~` makes it `!=`, `=~` or
/// `!~` (regular expressions are anchored).
pub fn label_matcher(label: &str, value: &str) -> LabelMatcher {
    let (op, value) = if let Some(v) = value.strip_prefix("!~") {
        (MatchOp::NotRegex, v)
    } else if let Some(v) = value.strip_prefix('~') {
        (MatchOp::Regex, v)
    } else if let Some(v) = value.strip_prefix('!') {
        (MatchOp::NotEqual, v)
    } else {
        (MatchOp::Equal, value)
    };
    LabelMatcher {
        name: label.to_string(),
        op: op as i32,
        value: value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_round_trip_sorts_and_keeps_values() {
        let wire = vec![label("z", "1"), label("a", "2")];
        let map = to_map(&wire);
        assert_eq!(map.keys().cloned().collect::<Vec<_>>(), vec!["a", "z"]);
        let back = from_map(&map);
        assert_eq!(back, vec![label("a", "2"), label("z", "1")]);
    }

    #[test]
    fn matcher_text_forms() {
        for (text, op, value) in [
            ("idle", MatchOp::Equal, "idle"),
            ("!lo", MatchOp::NotEqual, "lo"),
            ("~eth.*", MatchOp::Regex, "eth.*"),
            ("!~[0-9]+", MatchOp::NotRegex, "[0-9]+"),
        ] {
            let m = label_matcher("l", text);
            assert_eq!((m.op(), m.value.as_str()), (op, value), "{text}");
        }
    }
}
