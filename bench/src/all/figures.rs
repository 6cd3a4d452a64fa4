//! A bench's figures read out of the document by name, and written as the pages show
//! them. A figure missing from a bench that ran is an error naming the bench and the
//! field, so that a page never shows a blank where a bench's JSON changed shape.

use anyhow::Context;

use super::{Document, Run};

/// One bench's figures in the document (none when it has not run).
pub struct Figures<'a> {
    key: &'a str,
    run: Option<&'a Run>,
}

impl Document {
    /// The figures of bench `key`.
    pub fn figures<'a>(&'a self, key: &'a str) -> Figures<'a> {
        Figures {
            key,
            run: self.benches.get(key),
        }
    }
}

impl<'a> Figures<'a> {
    /// Whether the bench has run.
    pub fn ran(&self) -> bool {
        self.run.is_some()
    }

    /// The bench's run, or an error saying it has not run.
    pub fn run(&self) -> anyhow::Result<&'a Run> {
        self.run
            .with_context(|| format!("bench {} has not run", self.key))
    }

    /// The value at `path` (fields separated by dots).
    pub fn value(&self, path: &str) -> Option<&'a serde_json::Value> {
        let mut v = &self.run?.figures;
        for field in path.split('.') {
            v = v.get(field)?;
        }
        (!v.is_null()).then_some(v)
    }

    /// The number at `path`.
    pub fn num(&self, path: &str) -> anyhow::Result<f64> {
        self.value(path)
            .and_then(|v| v.as_f64().or_else(|| v.as_bool().map(f64::from)))
            .with_context(|| format!("bench {}: no number {path} in its figures", self.key))
    }

    /// The number at `path`, when the bench gave one.
    pub fn opt(&self, path: &str) -> Option<f64> {
        self.value(path).and_then(serde_json::Value::as_f64)
    }

    /// The text at `path`.
    pub fn text(&self, path: &str) -> anyhow::Result<&'a str> {
        self.value(path)
            .and_then(serde_json::Value::as_str)
            .with_context(|| format!("bench {}: no text {path} in its figures", self.key))
    }

    /// The boolean at `path`.
    pub fn flag(&self, path: &str) -> anyhow::Result<bool> {
        self.value(path)
            .and_then(serde_json::Value::as_bool)
            .with_context(|| format!("bench {}: no flag {path} in its figures", self.key))
    }

    /// The command that reproduces the figures.
    pub fn command(&self) -> String {
        match self.run {
            Some(r) => format!("./target/release/strata bench {}", r.args.join(" ")),
            None => format!("./target/release/strata bench all --only {}", self.key),
        }
    }

    /// When and from which commit, for a section's first line.
    pub fn provenance(&self) -> String {
        match self.run {
            Some(r) => format!(
                "measured {} (commit `{}`, {:.0} s)",
                r.date.split('T').next().unwrap_or(&r.date),
                r.commit,
                r.seconds
            ),
            None => format!(
                "not measured yet: `strata bench all --only {}` runs it",
                self.key
            ),
        }
    }
}

/// `x` with `decimals` decimals and thousands separated by commas.
pub fn num(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "—".into();
    }
    let text = format!("{:.*}", decimals, x.abs());
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// `x` in millions, two decimals: "9.74 M".
pub fn millions(x: f64) -> String {
    format!("{} M", num(x / 1e6, 2))
}

/// Bytes as megabytes with one decimal ("10.5 MB"), from a gigabyte on as gigabytes with
/// two ("1.83 GB").
pub fn mb(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{} GB", num(bytes / 1e9, 2))
    } else {
        format!("{} MB", num(bytes / 1e6, 1))
    }
}

/// A ratio, two decimals: "0.16×".
pub fn ratio(x: f64) -> String {
    format!("{}×", num(x, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands_and_rounded() {
        assert_eq!(num(1234567.891, 2), "1,234,567.89");
        assert_eq!(num(999.0, 0), "999");
        assert_eq!(num(1000.0, 0), "1,000");
        assert_eq!(num(-0.0004, 3), "0.000");
        assert_eq!(num(-1500.0, 1), "-1,500.0");
        assert_eq!(num(f64::NAN, 1), "—");
        assert_eq!(millions(9_740_000.0), "9.74 M");
        assert_eq!(mb(10_500_000.0), "10.5 MB");
        assert_eq!(mb(1_830_350_848.0), "1.83 GB");
    }

    #[test]
    fn a_missing_figure_names_the_bench_and_the_field() {
        let mut doc = Document::default();
        doc.benches.insert(
            "tsdb".into(),
            Run {
                args: vec!["tsdb".into()],
                commit: "abc".into(),
                date: "2026-12-05T10:00:00Z".into(),
                seconds: 1.0,
                figures: serde_json::json!({"strata": {"bytes_per_sample": 0.96}}),
            },
        );
        let f = doc.figures("tsdb");
        assert_eq!(f.num("strata.bytes_per_sample").unwrap(), 0.96);
        let e = f.num("strata.ingest").unwrap_err().to_string();
        assert!(e.contains("tsdb") && e.contains("strata.ingest"), "{e}");
        assert!(!doc.figures("agent").ran());
        assert!(doc.figures("agent").provenance().contains("--only agent"));
    }
}
