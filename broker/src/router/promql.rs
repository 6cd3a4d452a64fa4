//! PromQL evaluated at the broker for the centre: a partial aggregation pushed down to a
//! region (`QueryRange` with `promql`) is evaluated here, over the region's series as the
//! broker merges them from the members (a resource's history can lie on several members,
//! and with two replicas each sample on two), so that only the partial crosses to the
//! centre. The engine is strata-web's.

use std::sync::Arc;

use promql_parser::parser::VectorSelector;
use strata_proto::v1::{Aggregation, QueryRangeRequest, Series};
use strata_web::promql::node_names::NodeNames;
use strata_web::promql::{RawSeries, SelectFuture, Source, selects, wire};
use tonic::Status;

use super::merge::merge_series;
use super::{For, Router};

/// One region's series, read from its members and merged, as a PromQL source.
struct RegionSource {
    router: Router,
    region: String,
    on: For,
}

impl RegionSource {
    async fn read(
        &self,
        selector: &VectorSelector,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<RawSeries>, String> {
        let req = wire::raw_request(&self.region, selector, from_ms, to_ms);
        let answers = self
            .router
            .fan_out(&self.region, "QueryRange", |mut c| {
                let req = self.on.wrap(req.clone());
                async move { c.query_range(req).await }
            })
            .await
            .map_err(|s| s.message().to_string())?;
        let merged = merge_series(
            answers.into_iter().flat_map(|a| a.series),
            Aggregation::Unspecified,
            self.router.copies(&self.region),
        );
        Ok(merged
            .into_iter()
            .map(|s| wire::raw_series(&self.region, s))
            .filter(|s| selects(selector, &s.labels))
            .collect())
    }
}

impl Source for RegionSource {
    fn select<'a>(
        &'a self,
        selector: &'a VectorSelector,
        from_ms: i64,
        to_ms: i64,
    ) -> SelectFuture<'a> {
        Box::pin(self.read(selector, from_ms, to_ms))
    }
}

/// `req.promql` evaluated over `req.region`'s series at every `req.step_ms`.
pub(super) async fn evaluate(
    router: &Router,
    on: For,
    req: &QueryRangeRequest,
) -> Result<Vec<Series>, Status> {
    let source = NodeNames::wrap(Arc::new(RegionSource {
        router: router.clone(),
        region: req.region.clone(),
        on,
    }));
    let series = strata_web::promql::range(
        source.as_ref(),
        &req.promql,
        req.from_ms,
        req.to_ms,
        req.step_ms.max(1),
    )
    .await
    .map_err(|e| match e {
        strata_web::promql::PromqlError::Source(m) => {
            Status::unavailable(format!("region {}: {m}", req.region))
        }
        other => Status::invalid_argument(format!("evaluating {}: {other}", req.promql)),
    })?;
    Ok(series.into_iter().map(wire::to_wire).collect())
}
