//! What a caller sees: the gate ([`strata_web::auth::Gate`]) decides whether a request may
//! be made at all; here the centre's answers that span regions are cut to the caller's
//! regions. A service is within a caller's scope when every region its components may
//! select is (a component without a region matcher may select every region known).

use std::collections::BTreeSet;
use std::sync::Arc;

use strata_web::auth::{Caller, Gate};

use crate::shared::Shared;

/// The regions service `name`'s components may select, among the regions known; `None`
/// when there is no such service.
pub(crate) fn service_regions(shared: &Shared, name: &str) -> Option<BTreeSet<String>> {
    let service = shared.services.get(name)?;
    let known = shared
        .overview
        .read()
        .expect("overview lock poisoned")
        .region_names();
    // each component's selector built once (its patterns compiled), not once per region
    let selectors: Vec<_> = service
        .def
        .components
        .iter()
        .map(|c| c.selector())
        .collect();
    Some(
        known
            .into_iter()
            .filter(|r| selectors.iter().any(|s| s.may_select_region(r)))
            .collect(),
    )
}

/// Whether `caller` sees service `name`.
pub(crate) fn sees_service(shared: &Shared, caller: &Caller, name: &str) -> bool {
    caller.principal.scope.is_all()
        || service_regions(shared, name).is_some_and(|rs| rs.iter().all(|r| caller.covers(r)))
}

/// Whether `caller` sees the resource `id` (`<region>/<host>`, or `services/<name>` for a
/// service's own incidents).
pub(crate) fn sees_resource(shared: &Shared, caller: &Caller, id: &str) -> bool {
    match id.split_once('/') {
        Some(("services", name)) => sees_service(shared, caller, name),
        Some((region, _)) => caller.covers(region),
        None => caller.principal.scope.is_all(),
    }
}

/// The gate of the centre's HTTP door: its principals, sessions and audit log.
pub(super) fn gate(shared: &Arc<Shared>) -> Gate {
    let config = &shared.config.auth;
    let (services, audit) = (shared.clone(), shared.clone());
    Gate::from_config(shared.principals.clone(), config)
        .sessions_in(shared.sessions.clone())
        .services(Arc::new(move |name| service_regions(&services, name)))
        .audit(Arc::new(move |record| audit.services.record_audit(&record)))
}
