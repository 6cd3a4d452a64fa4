//! The Prometheus HTTP API at the centre: PromQL over every region's store, each series
//! labelled with its `region`. A selector is asked of each region the caller covers (and
//! its `region` matchers admit) through the brokers, concurrently; a region that does not
//! answer leaves a warning in the answer, as Thanos's partial response does, never a silent
//! hole. The engine and the API are [`strata_web::promql`]'s.

use std::sync::{Arc, Mutex};

use futures::future::join_all;
use promql_parser::parser::VectorSelector;
use strata_proto::v1::QueryRangeRequest;
use strata_web::auth::Caller;
use strata_web::promql::http::Backend;
use strata_web::promql::{
    LabelsFuture, PartialFuture, PromqlError, RawSeries, SelectFuture, Series, Source, label_sets,
    selects, wire,
};
use tonic::Status;

use crate::shared::Shared;

/// The label every series is given: the region it lives in.
pub const REGION_LABEL: &str = wire::REGION;

/// The regions one caller may read, as a PromQL source.
pub struct Regions {
    shared: Arc<Shared>,
    regions: Vec<String>,
    warnings: Mutex<Vec<String>>,
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
        let mut req = wire::raw_request(region, selector, from_ms, to_ms);
        if one_point {
            req.step_ms = (to_ms - from_ms).max(1) + 1;
            req.aggregation = strata_proto::v1::Aggregation::Last as i32;
        }
        let answer = self
            .shared
            .brokers
            .query_range(req)
            .await
            .map_err(|s| format!("region {region}: {}", s.message()))?;
        Ok(answer
            .series
            .into_iter()
            .map(|s| wire::raw_series(region, s))
            .filter(|s| selects(selector, &s.labels))
            .collect())
    }
}

impl Regions {
    /// `expr` evaluated by `region`'s member at every `step_ms` from `from_ms` to `to_ms`.
    async fn region_partial(
        &self,
        region: &str,
        expr: &str,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<Series>, Status> {
        let req = QueryRangeRequest {
            region: region.to_string(),
            promql: expr.to_string(),
            from_ms,
            to_ms,
            step_ms,
            ..Default::default()
        };
        let answer = self.shared.brokers.query_range(req).await?;
        Ok(answer
            .series
            .into_iter()
            .map(|s| wire::evaluated_series(region, s))
            .collect())
    }

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
        self.gathered(answers)
    }

    /// The regions' answers put together; each region that failed is a warning.
    fn gathered<T>(&self, answers: Vec<Result<Vec<T>, String>>) -> Vec<T> {
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
        Box::pin(async move {
            self.shared
                .metrics
                .promql_raw_selects
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(self.all(selector, from_ms, to_ms, false).await)
        })
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

    /// The regions: aggregations are pushed down to each.
    fn parts_label(&self) -> Option<&str> {
        Some(REGION_LABEL)
    }

    /// `expr` evaluated in every region the caller covers, concurrently; a region that does
    /// not answer is a warning (the answer is partial, as with raw reads).
    fn partial<'a>(
        &'a self,
        expr: &'a str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> PartialFuture<'a> {
        Box::pin(async move {
            self.shared
                .metrics
                .promql_pushdowns
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let answers = join_all(
                self.regions
                    .iter()
                    .map(|r| self.region_partial(r, expr, start_ms, end_ms, step_ms)),
            )
            .await;
            // a region that refuses the expression refuses the query, as Prometheus would
            // (a many-to-one match, say); one that cannot answer leaves a warning
            let mut kept = Vec::with_capacity(answers.len());
            for (region, answer) in self.regions.iter().zip(answers) {
                kept.push(match answer {
                    Err(s) if s.code() == tonic::Code::InvalidArgument => {
                        return Err(PromqlError::Execution(format!(
                            "region {region}: {}",
                            s.message()
                        )));
                    }
                    other => other.map_err(|s| format!("region {region}: {}", s.message())),
                });
            }
            Ok(self.gathered(kept))
        })
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
