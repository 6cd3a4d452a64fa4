//! Relabelling as Prometheus does it (`relabel_configs`, `write_relabel_configs`): rules that
//! keep or drop a series by its labels, or rewrite its labels, applied in order.
//!
//! Shared by the agent's scrapes and the sub-manager's remote write, so that an operator's
//! rules mean the same at both ends. A subset of Prometheus's actions: `keep`, `drop`,
//! `replace`, `labeldrop` and `labelkeep` (no `hashmod` nor `labelmap`). Regexes are
//! anchored at both ends, as Prometheus's are.

use regex::Regex;
use serde::Deserialize;

/// What a rule does.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Sets `target_label` to `replacement`, expanded with the match's groups.
    #[default]
    Replace,
    /// Keeps only the series whose joined source labels match.
    Keep,
    /// Drops the series whose joined source labels match.
    Drop,
    /// Removes the labels whose names match.
    LabelDrop,
    /// Removes the labels whose names do not match.
    LabelKeep,
}

/// One rule as written in a config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// What it does (default `replace`).
    #[serde(default)]
    pub action: Action,
    /// Labels whose values are joined with `separator` and matched (`__name__` is the name).
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// Joins the source labels' values (default `;`).
    #[serde(default = "default_separator")]
    pub separator: String,
    /// Matched against the joined values, anchored (default `(.*)`).
    #[serde(default = "default_regex")]
    pub regex: String,
    /// The label `replace` sets.
    #[serde(default)]
    pub target_label: Option<String>,
    /// What `replace` sets it to; `$1`, `${name}` name the match's groups (default `$1`).
    #[serde(default = "default_replacement")]
    pub replacement: String,
}

fn default_separator() -> String {
    ";".into()
}

fn default_regex() -> String {
    "(.*)".into()
}

fn default_replacement() -> String {
    "$1".into()
}

/// A checked rule, its regex compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    action: Action,
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    target_label: String,
    replacement: String,
}

/// Compiles `rules`; an error names the field (`{field}[i].regex`) and what is wrong.
pub fn compile(field: &str, rules: &[RuleConfig]) -> Result<Vec<Rule>, String> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let regex = Regex::new(&format!("^(?:{})$", r.regex))
                .map_err(|e| format!("{field}[{i}].regex: '{}' is not a regex: {e}", r.regex))?;
            let target_label = match (r.action, &r.target_label) {
                (Action::Replace, None) => {
                    return Err(format!(
                        "{field}[{i}].target_label: a replace rule needs one"
                    ));
                }
                (_, t) => t.clone().unwrap_or_default(),
            };
            if matches!(r.action, Action::Keep | Action::Drop) && r.source_labels.is_empty() {
                return Err(format!(
                    "{field}[{i}].source_labels: a {:?} rule needs at least one",
                    r.action
                ));
            }
            Ok(Rule {
                action: r.action,
                source_labels: r.source_labels.clone(),
                separator: r.separator.clone(),
                regex,
                target_label,
                replacement: r.replacement.clone(),
            })
        })
        .collect()
}

fn value<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Applies `rules` in order to `labels` (the name as `__name__`); false when the series is
/// dropped. Labels left are sorted by name, and none has an empty value.
pub fn apply(rules: &[Rule], labels: &mut Vec<(String, String)>) -> bool {
    for rule in rules {
        let joined = || {
            rule.source_labels
                .iter()
                .map(|n| value(labels, n))
                .collect::<Vec<_>>()
                .join(&rule.separator)
        };
        match rule.action {
            Action::Keep => {
                if !rule.regex.is_match(&joined()) {
                    return false;
                }
            }
            Action::Drop => {
                if rule.regex.is_match(&joined()) {
                    return false;
                }
            }
            Action::LabelDrop => labels.retain(|(n, _)| !rule.regex.is_match(n)),
            Action::LabelKeep => labels.retain(|(n, _)| rule.regex.is_match(n)),
            Action::Replace => {
                let source = joined();
                let Some(caps) = rule.regex.captures(&source) else {
                    continue;
                };
                let mut out = String::new();
                caps.expand(&rule.replacement, &mut out);
                labels.retain(|(n, _)| n != &rule.target_label);
                if !out.is_empty() {
                    labels.push((rule.target_label.clone(), out));
                }
            }
        }
    }
    labels.retain(|(_, v)| !v.is_empty());
    labels.sort();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<Rule> {
        #[derive(Deserialize)]
        struct File {
            rule: Vec<RuleConfig>,
        }
        let file: File = toml::from_str(text).unwrap();
        compile("rule", &file.rule).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn keep_drop_replace_and_label_rules_act_as_prometheus_does() {
        let r = rules(
            r#"
            [[rule]]
            action = "drop"
            source_labels = ["__name__"]
            regex = "go_.*"
            [[rule]]
            source_labels = ["instance"]
            regex = "([^:]+):\\d+"
            target_label = "host"
            [[rule]]
            action = "labeldrop"
            regex = "instance"
            "#,
        );
        let mut go = labels(&[("__name__", "go_goroutines")]);
        assert!(!apply(&r, &mut go), "dropped by name");
        let mut up = labels(&[("__name__", "up"), ("instance", "web-1:9100")]);
        assert!(apply(&r, &mut up));
        assert_eq!(up, labels(&[("__name__", "up"), ("host", "web-1")]));
        let mut other = labels(&[("__name__", "upx"), ("instance", "nohost")]);
        assert!(apply(&r, &mut other));
        assert_eq!(other, labels(&[("__name__", "upx")]), "no match: no host");

        let keep = rules(
            "[[rule]]\naction = \"keep\"\nsource_labels = [\"job\", \"__name__\"]\nregex = \"node;up\"",
        );
        assert!(apply(
            &keep,
            &mut labels(&[("__name__", "up"), ("job", "node")])
        ));
        assert!(!apply(
            &keep,
            &mut labels(&[("__name__", "up"), ("job", "x")])
        ));
        let labelkeep = rules("[[rule]]\naction = \"labelkeep\"\nregex = \"__name__|job\"");
        let mut l = labels(&[("__name__", "up"), ("job", "node"), ("x", "1")]);
        assert!(apply(&labelkeep, &mut l));
        assert_eq!(l, labels(&[("__name__", "up"), ("job", "node")]));
    }

    #[test]
    fn bad_rules_name_their_field() {
        let bad = |text: &str| {
            #[derive(Deserialize)]
            struct File {
                rule: Vec<RuleConfig>,
            }
            let file: File = toml::from_str(text).unwrap();
            compile("w", &file.rule).unwrap_err()
        };
        assert!(
            bad("[[rule]]\naction = \"drop\"\nsource_labels = [\"a\"]\nregex = \"(\"")
                .starts_with("w[0].regex")
        );
        assert!(bad("[[rule]]\nsource_labels = [\"a\"]").starts_with("w[0].target_label"));
        assert!(bad("[[rule]]\naction = \"keep\"").starts_with("w[0].source_labels"));
    }
}
