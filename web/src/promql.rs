//! PromQL over Strata's stores, with Prometheus 2.x's semantics, for the Prometheus HTTP API
//! both consoles answer (Grafana, promtool, people's dashboards and scripts).
//!
//! An expression is parsed with the `promql-parser` crate, then evaluated in two steps:
//! every selector it holds is fetched once from a [`Source`] over the whole window the query
//! needs (its range, lookback, offsets, `@` and subqueries taken into account), then the
//! expression is evaluated at each step over what was fetched, without further reads. The
//! source is the role's: a sub-manager's store (its region), or the centre's regions
//! through the brokers. What the engine does not support is refused with an error that
//! names it, never answered with a wrong number.
//!
//! # Layout
//! - [`value`]: samples, series and the values an expression evaluates to.
//! - `eval`: the evaluator (selectors, lookback, offsets, `@`, subqueries, dispatch).
//! - `binary`: operators between scalars and vectors, with vector matching.
//! - `aggregate`: `sum`, `avg`, `topk`, `quantile`, `count_values`... with `by`/`without`.
//! - `functions`: the functions of instant vectors; `functions/range`: those of range
//!   vectors (`rate`, `*_over_time`...).
//! - [`http`]: the Prometheus HTTP API v1 over the engine, mounted by each console.
//! - [`memory`]: series held in memory as a source.
//! - [`node_names`]: node_exporter's metric names answered from Strata's series.
//! - [`pushdown`]: aggregations a source computes where the data lives (the centre's regions).
//! - [`wire`]: selectors and series as the regional API's `QueryRange` carries them.

mod aggregate;
mod binary;
mod eval;
mod functions;
pub mod http;
pub mod memory;
pub mod node_names;
pub mod pushdown;
pub mod value;
pub mod wire;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use promql_parser::parser::{Expr, VectorSelector};

pub use value::{Labels, RangeVector, RawSeries, Sample, Series, Value};

/// What the functions ask of the evaluator (so that they need not know it).
trait Evaluator {
    /// The value of `expr` at `t`.
    fn eval(&self, expr: &Expr, t: i64) -> Result<Value, PromqlError>;
    /// A function's range-vector argument at `t`, and the window (ms) it covers.
    fn range_arg(&self, expr: &Expr, t: i64) -> Result<(RangeVector<'_>, i64, i64), PromqlError>;
    /// `timestamp(vs)` at `t`: the time (in seconds) of each selected sample.
    fn sample_times(&self, vs: &VectorSelector, t: i64) -> Result<Value, PromqlError>;
}

/// How far back an instant selector looks for a sample (Prometheus's default).
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// The step of a subquery that names none.
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60 * 1000;
/// Most steps a range query may take.
pub const MAX_STEPS: i64 = 11_000;
/// How long a query may run when it names no `timeout` (Prometheus's default).
pub const DEFAULT_TIMEOUT_MS: i64 = 2 * 60 * 1000;
/// Most samples the selectors of one query may fetch, all together.
pub const MAX_SAMPLES: usize = 50_000_000;

/// Why a query was not answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromqlError {
    /// The expression or a parameter is not valid (Prometheus's `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// Valid PromQL that this engine does not evaluate (said as `bad_data`, naming it).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The evaluation failed (Prometheus's `execution`).
    #[error("{0}")]
    Execution(String),
    /// The store could not be read.
    #[error("reading the store: {0}")]
    Source(String),
    /// The query ran longer than its `timeout` (Prometheus's `timeout`).
    #[error("query timed out in {0}")]
    Timeout(String),
}

impl PromqlError {
    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::BadData(_) | Self::Unsupported(_) => "bad_data",
            Self::Execution(_) => "execution",
            Self::Source(_) => "unavailable",
            Self::Timeout(_) => "timeout",
        }
    }
}

/// A future a [`Source`] answers with.
pub type SelectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<RawSeries>, String>> + Send + 'a>>;

/// Where selectors read their series: every series that `selector`'s name and matchers
/// select, with its raw samples in `[from_ms, to_ms]`.
pub trait Source: Send + Sync {
    /// The series `selector` selects, with their samples in `[from_ms, to_ms]`.
    fn select<'a>(
        &'a self,
        selector: &'a VectorSelector,
        from_ms: i64,
        to_ms: i64,
    ) -> SelectFuture<'a>;

    /// What went wrong without failing the answer (a region that did not answer), said in
    /// the answer's `warnings`.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// The label that tells this source's parts apart (the centre's `region`), when it can
    /// evaluate partial aggregations in each part ([`Self::partial`]); `None`: it cannot.
    fn parts_label(&self) -> Option<&str> {
        None
    }

    /// The series of the PromQL expression `expr` evaluated in each part of the source at
    /// every `step_ms` from `start_ms` to `end_ms` (see [`pushdown`]).
    fn partial<'a>(
        &'a self,
        expr: &'a str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> PartialFuture<'a> {
        let _ = (start_ms, end_ms, step_ms);
        Box::pin(async move {
            Err(PromqlError::Source(format!(
                "{expr}: this source evaluates no partials"
            )))
        })
    }

    /// The label sets of the series `selector` selects with samples in `[from_ms, to_ms]`
    /// (for `series`, `labels` and label values; a source may answer without the samples).
    fn series<'a>(
        &'a self,
        selector: &'a VectorSelector,
        from_ms: i64,
        to_ms: i64,
    ) -> LabelsFuture<'a> {
        Box::pin(async move { Ok(label_sets(self.select(selector, from_ms, to_ms).await?)) })
    }
}

/// A future [`Source::partial`] answers with.
pub type PartialFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Series>, PromqlError>> + Send + 'a>>;

/// A future [`Source::series`] answers with.
pub type LabelsFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Labels>, String>> + Send + 'a>>;

/// Whether `selector` selects a series with `labels` (its name, matchers and `or` groups).
pub fn selects(selector: &VectorSelector, labels: &Labels) -> bool {
    let get = |n: &str| labels.get(n).map(String::as_str).unwrap_or("");
    if selector
        .name
        .as_deref()
        .is_some_and(|n| get(value::NAME) != n)
    {
        return false;
    }
    let all = |ms: &[promql_parser::label::Matcher]| ms.iter().all(|m| m.is_match(get(&m.name)));
    all(&selector.matchers.matchers)
        && (selector.matchers.or_matchers.is_empty()
            || selector.matchers.or_matchers.iter().any(|g| all(g)))
}

/// The label sets of the series of `series` that have samples.
pub fn label_sets(series: Vec<RawSeries>) -> Vec<Labels> {
    series
        .into_iter()
        .filter(|s| !s.samples.is_empty())
        .map(|s| s.labels)
        .collect()
}

/// `text` parsed, or the parser's message as `bad_data`.
pub fn parse(text: &str) -> Result<Expr, PromqlError> {
    promql_parser::parser::parse(text).map_err(PromqlError::BadData)
}

/// The value of `text` at `at_ms`.
pub async fn instant(source: &dyn Source, text: &str, at_ms: i64) -> Result<Value, PromqlError> {
    let expr = parse(text)?;
    let partials = pushed(source, &expr, at_ms, at_ms, 1).await?;
    let data = fetch(source, &expr, at_ms, at_ms, &partials).await?;
    let ctx = eval::Ctx::new(&data, &partials, at_ms, at_ms);
    Evaluator::eval(&ctx, &expr, at_ms)
}

/// The values of `text` at every `step_ms` from `start_ms` to `end_ms`, one series per label
/// set, ordered by labels.
pub async fn range(
    source: &dyn Source,
    text: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<Vec<Series>, PromqlError> {
    if step_ms <= 0 {
        return Err(PromqlError::BadData(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if end_ms < start_ms {
        return Err(PromqlError::BadData(
            "end timestamp must not be before start time".into(),
        ));
    }
    if (end_ms - start_ms) / step_ms > MAX_STEPS {
        return Err(PromqlError::BadData(format!(
            "exceeded maximum resolution of {MAX_STEPS} points per timeseries. Try decreasing the query resolution (?step=XX)"
        )));
    }
    let expr = parse(text)?;
    match expr.value_type() {
        promql_parser::parser::value::ValueType::Vector
        | promql_parser::parser::value::ValueType::Scalar => {}
        other => {
            return Err(PromqlError::BadData(format!(
                "invalid expression type \"{other}\" for range query, must be Scalar or instant Vector"
            )));
        }
    }
    let partials = pushed(source, &expr, start_ms, end_ms, step_ms).await?;
    let data = fetch(source, &expr, start_ms, end_ms, &partials).await?;
    let ctx = eval::Ctx::new(&data, &partials, start_ms, end_ms);
    if let Some(series) = ctx.range_by_series(&expr, start_ms, end_ms, step_ms)? {
        return Ok(series);
    }
    let mut out: std::collections::BTreeMap<Labels, Vec<(i64, f64)>> = Default::default();
    let mut t = start_ms;
    while t <= end_ms {
        match ctx.eval(&expr, t)? {
            Value::Scalar(v) => out.entry(Labels::new()).or_default().push((t, v)),
            Value::Vector(samples) => {
                for s in samples {
                    out.entry(s.labels).or_default().push((t, s.value));
                }
            }
            other => {
                return Err(PromqlError::Execution(format!(
                    "a range query step evaluated to a {}",
                    other.kind()
                )));
            }
        }
        t += step_ms;
    }
    Ok(out
        .into_iter()
        .map(|(labels, points)| Series { labels, points })
        .collect())
}

/// The partials of the aggregations of `expr` that `source` evaluates in its parts, by
/// node (none when it cannot).
async fn pushed(
    source: &dyn Source,
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<pushdown::Partials, PromqlError> {
    let mut out = pushdown::Partials::new();
    let Some(label) = source.parts_label() else {
        return Ok(out);
    };
    for p in pushdown::plan(expr, label) {
        let ask =
            |text: String| async move { source.partial(&text, start_ms, end_ms, step_ms).await };
        let values = ask(p.partial).await?;
        let counts = match p.count {
            Some(count) => Some(ask(count).await?),
            None => None,
        };
        out.insert(p.node, pushdown::Parts { values, counts });
    }
    Ok(out)
}

/// The series of each selector of `expr` (but those under an aggregation pushed down), read
/// once over the window the query evaluated from `start_ms` to `end_ms` needs of it.
async fn fetch(
    source: &dyn Source,
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    pushed: &pushdown::Partials,
) -> Result<HashMap<String, Vec<RawSeries>>, PromqlError> {
    let mut needs = eval::Needs {
        windows: HashMap::new(),
        pushed,
    };
    eval::windows(expr, start_ms, end_ms, start_ms, end_ms, &mut needs)?;
    let mut data = HashMap::new();
    let mut total = 0usize;
    for (key, (selector, from, to)) in needs.windows {
        let series = source
            .select(&selector, from, to)
            .await
            .map_err(PromqlError::Source)?;
        let mut series = series;
        // in label order, as Prometheus's storage hands them (what keeps among equals)
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        total += series.iter().map(|s| s.samples.len()).sum::<usize>();
        if total > MAX_SAMPLES {
            return Err(PromqlError::Execution(format!(
                "query processing would load too many samples into memory (over {MAX_SAMPLES})"
            )));
        }
        data.insert(key, series);
    }
    Ok(data)
}

#[cfg(test)]
mod tests;
