//! Label matchers, as in PromQL: `=`, `!=`, `=~`, `!~`. Regular expressions are anchored
//! (they must match the whole value), and a label a series does not have has the value "".

use regex::Regex;

use crate::error::{Result, TsdbError};

/// The metric name as a label, for matchers on it.
pub const NAME_LABEL: &str = "__name__";

/// How a matcher compares a label's value.
#[derive(Debug, Clone)]
pub enum MatchOp {
    Equal(String),
    NotEqual(String),
    Regex(Regex),
    NotRegex(Regex),
}

/// A condition on one label.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
}

impl Matcher {
    /// `name = value`.
    pub fn equal(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal(value.into()),
        }
    }

    /// `name != value`.
    pub fn not_equal(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::NotEqual(value.into()),
        }
    }

    /// `name =~ pattern` (anchored); an invalid pattern is an error naming it.
    pub fn regex(name: &str, pattern: &str) -> Result<Self> {
        Ok(Self {
            name: name.into(),
            op: MatchOp::Regex(anchored(pattern)?),
        })
    }

    /// `name !~ pattern` (anchored).
    pub fn not_regex(name: &str, pattern: &str) -> Result<Self> {
        Ok(Self {
            name: name.into(),
            op: MatchOp::NotRegex(anchored(pattern)?),
        })
    }

    /// Compiles a selector as written in config files and APIs: `value` (=), `!value` (!=),
    /// `~regex` (=~) or `!~regex` (!~).
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        if let Some(p) = text.strip_prefix("!~") {
            Self::not_regex(name, p)
        } else if let Some(p) = text.strip_prefix('~') {
            Self::regex(name, p)
        } else if let Some(v) = text.strip_prefix('!') {
            Ok(Self::not_equal(name, v))
        } else {
            Ok(Self::equal(name, text))
        }
    }

    /// Whether a label value (`""` when the series lacks the label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal(v) => value == v,
            MatchOp::NotEqual(v) => value != v,
            MatchOp::Regex(r) => r.is_match(value),
            MatchOp::NotRegex(r) => !r.is_match(value),
        }
    }
}

fn anchored(pattern: &str) -> Result<Regex> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| TsdbError::Invalid {
        field: "label matcher",
        reason: format!("regular expression '{pattern}': {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_follow_promql() {
        assert!(Matcher::equal("a", "x").matches("x"));
        assert!(Matcher::not_equal("a", "x").matches(""));
        assert!(Matcher::regex("a", "web-.*").unwrap().matches("web-1"));
        assert!(
            !Matcher::regex("a", "web").unwrap().matches("web-1"),
            "anchored"
        );
        assert!(Matcher::not_regex("a", "db.*").unwrap().matches("web-1"));
        let err = Matcher::regex("a", "(").unwrap_err().to_string();
        assert!(err.contains("regular expression '('"), "{err}");
    }
}
