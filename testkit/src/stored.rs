//! What the parts report, read as the tests' operator reads it: the values a member has
//! stored of one series, and one sample of a `/metrics` text.

use strata_proto::v1::QueryRangeRequest;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use tonic::transport::Channel;

use crate::wait::{block_on, now_ms};

/// The values of `name` stored for `resource_id` (`<region>/<host>`) since `from_ms`, in
/// time order, asked of the member at `sub` (the first series when several match).
pub fn stored_values(
    sub: &Channel,
    resource_id: &str,
    name: &str,
    from_ms: i64,
) -> Result<Vec<f64>, String> {
    let region = resource_id.split('/').next().unwrap_or_default();
    block_on(async {
        let answer = SubManagerClient::new(sub.clone())
            .query_range(QueryRangeRequest {
                region: region.into(),
                resource_id: resource_id.into(),
                name: name.into(),
                from_ms,
                to_ms: now_ms() + 60_000,
                ..Default::default()
            })
            .await
            .map_err(|s| format!("QueryRange {resource_id} {name}: {}", s.message()))?
            .into_inner();
        Ok(answer
            .series
            .first()
            .map(|s| s.points.iter().map(|p| p.value).collect())
            .unwrap_or_default())
    })
}

/// The value of the sample `series` (its name, and its labels as they are written) in a
/// `/metrics` text.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}
