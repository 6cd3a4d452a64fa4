//! `GET /api/v1/overview`: every region now — its sub-managers, resource counts and open
//! incident counts (also what each event of the live stream carries).

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use strata_web::auth::Caller;
use strata_web::views::OverviewJson;

use crate::shared::Shared;

pub(super) async fn overview(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Json<OverviewJson> {
    Json(seen_by(&shared, &caller))
}

/// The overview of the regions `caller` covers, now.
pub(super) fn seen_by(shared: &Shared, caller: &Caller) -> OverviewJson {
    let mut o = now(shared);
    o.regions.retain(|r| caller.covers(&r.name));
    o
}

/// The overview of every region, now.
pub(super) fn now(shared: &Shared) -> OverviewJson {
    // One region at a time, so that region streams applying updates wait for one region's
    // count at most; a region's counts are computed again only when it changed since.
    let names = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .region_names();
    let mut cache = shared.region_views.lock().expect("region views poisoned");
    cache.retain(|name, _| names.contains(name));
    let regions = names
        .iter()
        .filter_map(|name| {
            let overview = shared.overview.read().expect("overview lock poisoned");
            let at = overview.changed_at(name);
            match cache.get(name) {
                Some((seen, json)) if *seen == at => Some(json.clone()),
                _ => {
                    let json = overview.region_json(name)?;
                    drop(overview);
                    cache.insert(name.clone(), (at, json.clone()));
                    Some(json)
                }
            }
        })
        .collect();
    drop(cache);
    OverviewJson {
        regions,
        generated_at_ms: strata_proto::now_ms(),
        scope: None,
    }
}
