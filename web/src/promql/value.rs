//! What PromQL expressions evaluate to, and the series a source hands the engine.

use std::collections::BTreeMap;

/// A series' labels, `__name__` among them; ordered, so that two equal sets compare equal.
pub type Labels = BTreeMap<String, String>;

/// The label that holds a metric's name.
pub const NAME: &str = "__name__";

/// One series as a source returns it: labels and raw samples, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSeries {
    pub labels: Labels,
    /// `(ms, value)`, oldest first.
    pub samples: Vec<(i64, f64)>,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

/// One series of a range vector or of a range query's answer: `(ms, value)`, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// What an expression evaluates to at one time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

impl Value {
    /// The kind's name, as Prometheus's `resultType` says it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Scalar(_) => "scalar",
            Self::String(_) => "string",
            Self::Vector(_) => "vector",
            Self::Matrix(_) => "matrix",
        }
    }
}

/// `labels` without the metric's name.
pub fn without_name(mut labels: Labels) -> Labels {
    labels.remove(NAME);
    labels
}

/// A copy of `labels` without the metric's name (built once, not copied then trimmed).
pub fn copy_without_name(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| *k != NAME)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A range vector as functions read it: each series' labels and samples in the window,
/// borrowed from what a selector fetched, or made by a subquery.
pub enum RangeVector<'a> {
    Fetched(Vec<(&'a Labels, &'a [(i64, f64)])>),
    Computed(Vec<Series>),
}

impl RangeVector<'_> {
    /// Each series' labels and samples.
    pub fn each(&self) -> Vec<(&Labels, &[(i64, f64)])> {
        match self {
            Self::Fetched(v) => v.clone(),
            Self::Computed(v) => v.iter().map(|s| (&s.labels, s.points.as_slice())).collect(),
        }
    }

    /// Whether it holds no series.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Fetched(v) => v.is_empty(),
            Self::Computed(v) => v.is_empty(),
        }
    }
}

/// The labels of `labels` that a `by`/`on` list (`Include`) keeps, or all but the name and
/// those a `without`/`ignoring` list (`Exclude`) names; `None` when there is no list.
pub fn kept_by(
    labels: &Labels,
    modifier: Option<&promql_parser::parser::LabelModifier>,
) -> Option<Labels> {
    use promql_parser::parser::LabelModifier;
    Some(match modifier? {
        LabelModifier::Include(keep) => keep
            .labels
            .iter()
            .filter_map(|l| labels.get(l).map(|v| (l.clone(), v.clone())))
            .collect(),
        LabelModifier::Exclude(drop) => labels
            .iter()
            .filter(|(k, _)| *k != NAME && !drop.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

/// A float as Prometheus writes it in JSON: shortest round-trip form, `+Inf`, `-Inf`, `NaN`.
pub fn format_value(v: f64) -> String {
    let mut out = Vec::new();
    write_value(&mut out, v);
    String::from_utf8(out).expect("ASCII")
}

/// [`format_value`] into `out`.
pub fn write_value(out: &mut Vec<u8>, v: f64) {
    use std::io::Write;
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}
