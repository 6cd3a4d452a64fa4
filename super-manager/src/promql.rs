//! The Prometheus HTTP API at the centre: PromQL over every region's store, each series
//! labelled with its `region`. A selector is asked of each region the caller covers (and
//! its `region` matchers admit) through the brokers, concurrently; a region that does not
//! answer leaves a warning in the answer, as Thanos's partial response does, never a silent
//! hole. The engine and the API are [`strata_web::promql`]'s.

use std::sync::{Arc, Mutex};

use futures::future::join_all;
use promql_parser::label::MatchOp;
use promql_parser::parser::VectorSelector;
use strata_proto::v1::{LabelMatcher, QueryRangeRequest};
use strata_web::auth::Caller;
use strata_web::promql::http::Backend;
use strata_web::promql::value::NAME;
use strata_web::promql::{LabelsFuture, RawSeries, SelectFuture, Source, label_sets, selects};

use crate::shared::Shared;

/// The label every series is given: the region it lives in.
pub const REGION_LABEL: &str = "region";

/// The regions one caller may read, as a PromQL source.
pub struct Regions {
    shared: Arc<Shared>,
    regions: Vec<String>,
    warnings: Mutex<Vec<String>>,
}

/// `selector`'s matchers as the regional API's (those on `region` are the centre's).
fn wire_matchers(selector: &VectorSelector) -> Vec<LabelMatcher> {
    use strata_proto::v1::MatchOp as Op;
    let all = selector
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name != REGION_LABEL && selector.matchers.or_matchers.is_empty());
    all.map(|m| {
        let op = match m.op {
            MatchOp::Equal => Op::Equal,
            MatchOp::NotEqual => Op::NotEqual,
            MatchOp::Re(_) => Op::Regex,
            MatchOp::NotRe(_) => Op::NotRegex,
        };
        LabelMatcher {
            name: m.name.clone(),
            op: op as i32,
            value: m.value.clone(),
        }
    })
    .collect()
}

impl Regions {
    /// The series of `selector` in `region`, with their samples in `[from_ms, to_ms]` (raw,
    /// or with `one_point`, the last of the window only: for listing series).
    async fn region(
        &self,
        region: &str,
        selector: &VectorSelector,
        from_ms: i64,
        to_ms: i64,
        one_point: bool,
    ) -> Result<Vec<RawSeries>, String> {
        let mut label_matchers = wire_matchers(selector);
        if selector.name.is_none() && label_matchers.is_empty() {
            // every series of the region; the selector's own test follows
            label_matchers.push(LabelMatcher {
                name: NAME.into(),
                op: strata_proto::v1::MatchOp::Regex as i32,
                value: ".+".into(),
            });
        }
        let req = QueryRangeRequest {
            region: region.to_string(),
            name: selector.name.clone().unwrap_or_default(),
            label_matchers,
            from_ms,
            to_ms,
            step_ms: if one_point {
                (to_ms - from_ms).max(1) + 1
            } else {
                0
            },
            aggregation: if one_point {
                strata_proto::v1::Aggregation::Last as i32
            } else {
                strata_proto::v1::Aggregation::Unspecified as i32
            },
            ..Default::default()
        };
        let answer = self
            .shared
            .brokers
            .query_range(req)
            .await
            .map_err(|s| format!("region {region}: {}", s.message()))?;
        Ok(answer
            .series
            .into_iter()
            .map(|s| {
                let mut labels = strata_proto::labels::to_map(&s.labels);
                labels.insert(NAME.into(), s.name);
                labels.insert(REGION_LABEL.into(), region.to_string());
                RawSeries {
                    labels,
                    samples: s.points.into_iter().map(|p| (p.ts_ms, p.value)).collect(),
                }
            })
            .filter(|s| selects(selector, &s.labels))
            .collect())
    }
}

impl Regions {
    /// The series of `selector` in every region asked (see [`Self::region`]); a region that
    /// does not answer is a warning.
    async fn all(
        &self,
        selector: &VectorSelector,
        from_ms: i64,
        to_ms: i64,
        one_point: bool,
    ) -> Vec<RawSeries> {
        // the regions a `region` matcher admits
        let asked: Vec<&String> = self
            .regions
            .iter()
            .filter(|r| {
                selector
                    .matchers
                    .matchers
                    .iter()
                    .filter(|m| m.name == REGION_LABEL)
                    .all(|m| m.is_match(r))
            })
            .collect();
        let answers = join_all(
            asked
                .iter()
                .map(|r| self.region(r, selector, from_ms, to_ms, one_point)),
        )
        .await;
        let mut out = Vec::new();
        for answer in answers {
            match answer {
                Ok(series) => out.extend(series),
                Err(warning) => self
                    .warnings
                    .lock()
                    .expect("warnings lock poisoned")
                    .push(warning),
            }
        }
        out
    }
}

impl Source for Regions {
    fn select<'a>(
        &'a self,
        selector: &'a VectorSelector,
        from_ms: i64,
        to_ms: i64,
    ) -> SelectFuture<'a> {
        Box::pin(async move { Ok(self.all(selector, from_ms, to_ms, false).await) })
    }

    /// The series with a sample in the window, each read as one point.
    fn series<'a>(
        &'a self,
        selector: &'a VectorSelector,
        from_ms: i64,
        to_ms: i64,
    ) -> LabelsFuture<'a> {
        Box::pin(async move { Ok(label_sets(self.all(selector, from_ms, to_ms, true).await)) })
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .expect("warnings lock poisoned")
            .clone()
    }
}

/// The centre's backend: each caller reads the regions it covers.
pub struct Centre(pub Arc<Shared>);

impl Backend for Centre {
    fn source(&self, caller: &Caller) -> Arc<dyn Source> {
        let regions = self
            .0
            .overview
            .read()
            .expect("overview lock poisoned")
            .region_names()
            .into_iter()
            .filter(|r| caller.covers(r))
            .collect();
        Arc::new(Regions {
            shared: self.0.clone(),
            regions,
            warnings: Mutex::new(Vec::new()),
        })
    }
}
