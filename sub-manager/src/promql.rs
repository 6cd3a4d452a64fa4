//! The Prometheus HTTP API on the regional console: PromQL over this member's store, every
//! series labelled with its `region` (as the centre labels it), so that a dashboard made
//! against the region reads the same at the centre. The engine and the API are
//! [`strata_web::promql`]'s; here is only where the series come from.

use std::sync::Arc;

use promql_parser::label::MatchOp;
use promql_parser::parser::VectorSelector;
use strata_tsdb::Tsdb;
use strata_tsdb::matcher::{Matcher, NAME_LABEL};
use strata_web::auth::Caller;
use strata_web::promql::http::Backend;
use strata_web::promql::node_names::NodeNames;
use strata_web::promql::{Labels, LabelsFuture, RawSeries, SelectFuture, Source, selects};

/// The label every series is given: the region it lives in.
pub const REGION_LABEL: &str = "region";

/// This member's store as a PromQL source.
pub struct Store {
    tsdb: Arc<Tsdb>,
    region: String,
}

impl Store {
    /// The series of `tsdb`, of region `region`.
    pub fn new(tsdb: Arc<Tsdb>, region: &str) -> Self {
        Self {
            tsdb,
            region: region.to_string(),
        }
    }
}

/// `selector`'s name and matchers as the store's (those on `region` are checked after).
fn store_matchers(selector: &VectorSelector) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    if let Some(name) = &selector.name {
        out.push(Matcher::equal(NAME_LABEL, name));
    }
    for m in &selector.matchers.matchers {
        if m.name == REGION_LABEL {
            continue;
        }
        out.push(match &m.op {
            MatchOp::Equal => Matcher::equal(&m.name, &m.value),
            MatchOp::NotEqual => Matcher::not_equal(&m.name, &m.value),
            MatchOp::Re(_) => Matcher::regex(&m.name, &m.value).map_err(|e| e.to_string())?,
            MatchOp::NotRe(_) => {
                Matcher::not_regex(&m.name, &m.value).map_err(|e| e.to_string())?
            }
        });
    }
    if out.is_empty() || !selector.matchers.or_matchers.is_empty() {
        // every series, then the selector's own test (`or` groups, region alone)
        out = vec![Matcher::regex(NAME_LABEL, ".+").map_err(|e| e.to_string())?];
    }
    Ok(out)
}

/// The series of `selector` with their labels as PromQL sees them (blocking).
fn matching(
    tsdb: &Tsdb,
    region: &str,
    selector: &VectorSelector,
) -> Result<Vec<(strata_tsdb::SeriesId, Labels)>, String> {
    let matchers = store_matchers(selector)?;
    let found = tsdb.select_matching(&matchers).map_err(|e| e.to_string())?;
    Ok(found
        .into_iter()
        .filter_map(|s| {
            let mut labels = s.labels;
            labels.insert(NAME_LABEL.to_string(), s.name);
            labels.insert(REGION_LABEL.to_string(), region.to_string());
            selects(selector, &labels).then_some((s.id, labels))
        })
        .collect())
}

/// The series of `selector` with their samples in `[from_ms, to_ms]` (blocking).
fn read(
    tsdb: &Tsdb,
    region: &str,
    selector: &VectorSelector,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<RawSeries>, String> {
    let found = matching(tsdb, region, selector)?;
    let ids: Vec<_> = found.iter().map(|(id, _)| *id).collect();
    let ranges = tsdb
        .ranges(&ids, from_ms, to_ms)
        .map_err(|e| e.to_string())?;
    Ok(found
        .into_iter()
        .zip(ranges)
        .filter(|(_, samples)| !samples.is_empty())
        .map(|((_, labels), samples)| RawSeries { labels, samples })
        .collect())
}

/// `read` run where it may block: in place on a multi-threaded runtime (the worker's other
/// tasks move to another worker; a store read is short, and handing it to the blocking pool
/// cost more than the read itself), else on the blocking pool.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(read)
    } else {
        tokio::task::spawn_blocking(read)
            .await
            .map_err(|e| format!("query task: {e}"))?
    }
}

impl Source for Store {
    fn select<'a>(
        &'a self,
        selector: &'a VectorSelector,
        from_ms: i64,
        to_ms: i64,
    ) -> SelectFuture<'a> {
        let (tsdb, region, selector) = (self.tsdb.clone(), self.region.clone(), selector.clone());
        Box::pin(blocking(move || {
            read(&tsdb, &region, &selector, from_ms, to_ms)
        }))
    }

    /// The series the store holds for `selector`, whatever their samples' times (reading
    /// no samples: what `labels` and label values ask is cheap).
    fn series<'a>(
        &'a self,
        selector: &'a VectorSelector,
        _from_ms: i64,
        _to_ms: i64,
    ) -> LabelsFuture<'a> {
        let (tsdb, region, selector) = (self.tsdb.clone(), self.region.clone(), selector.clone());
        Box::pin(blocking(move || {
            matching(&tsdb, &region, &selector)
                .map(|found| found.into_iter().map(|(_, l)| l).collect())
        }))
    }
}

/// `expr` evaluated over the member's store at every `step_ms` from `from_ms` to `to_ms`
/// (node_exporter's names answered too), for a centre pushing an aggregation down: each
/// series named apart from its labels, as `QueryRange` answers.
pub async fn evaluate(
    tsdb: Arc<Tsdb>,
    region: &str,
    expr: &str,
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
) -> Result<Vec<strata_proto::v1::Series>, tonic::Status> {
    let source = NodeNames::wrap(Arc::new(Store::new(tsdb, region)));
    let series = strata_web::promql::range(source.as_ref(), expr, from_ms, to_ms, step_ms)
        .await
        .map_err(|e| tonic::Status::invalid_argument(format!("evaluating {expr}: {e}")))?;
    Ok(series
        .into_iter()
        .map(strata_web::promql::wire::to_wire)
        .collect())
}

/// The regional console's backend: one store, which every caller of the console may read
/// (its gate has checked that they cover this region).
pub struct Region(pub Arc<Store>);

impl Backend for Region {
    fn source(&self, _caller: &Caller) -> Arc<dyn Source> {
        self.0.clone()
    }
}
