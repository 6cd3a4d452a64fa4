//! Acknowledging an incident: an operator says "I have it", which stops its escalation and
//! repeated notifications in the region. The region's members are asked through the brokers
//! (each acknowledges its own copy of the event, and the change comes back up the region
//! stream); the centre's own incidents (SLO alerts of services) are acknowledged here, and
//! at the other centres through this one's journal.
//! Every acknowledgement is signed with the caller's name (never a name typed in) and
//! written to the audit log, refused ones too.

use strata_proto::v1::AcknowledgeEventRequest;
use strata_web::auth::Caller;
use strata_web::views::{AckRequest, EventJson};
use tracing::{Instrument, info, info_span};

use crate::error::{Result, SuperManagerError};
use crate::shared::Shared;

/// Acknowledges, as `by`, the open incident of `req.rule` on `req.resource_id`: the copies
/// acknowledged (NotFound when none is open). Audited, whatever the outcome.
pub async fn acknowledge(shared: &Shared, by: &Caller, req: &AckRequest) -> Result<Vec<EventJson>> {
    let mut req = req.clone();
    req.by = by.principal.name.clone();
    let done = acknowledge_as(shared, &req).await;
    let subject = format!("{}/{}", req.resource_id, req.rule);
    crate::audit::record(
        shared,
        by,
        "acknowledge",
        &subject,
        req.comment.clone(),
        &done,
    )?;
    done
}

async fn acknowledge_as(shared: &Shared, req: &AckRequest) -> Result<Vec<EventJson>> {
    let bad = SuperManagerError::BadRequest;
    for (field, value) in [("resource_id", &req.resource_id), ("rule", &req.rule)] {
        if value.trim().is_empty() {
            return Err(bad(format!("{field}: must not be empty")));
        }
    }
    let now = strata_proto::now_ms();
    let region = strata_proto::resource::region_of(&req.resource_id);
    if region.is_empty() {
        return Err(bad(format!(
            "resource_id: '{}' is not '<region>/<host>' or 'services/<name>'",
            req.resource_id
        )));
    }
    let events: Vec<EventJson> = if region == "services" {
        let acked: Vec<EventJson> = shared
            .overview
            .write()
            .expect("overview lock poisoned")
            .acknowledge_local(&req.resource_id, &req.rule, &req.by, &req.comment, now)
            .into_iter()
            .collect();
        // the other centres hold the same incident: they are told through the journal
        if !acked.is_empty() {
            let ack = crate::services::replica::Ack {
                resource_id: req.resource_id.clone(),
                rule: req.rule.clone(),
                by: req.by.clone(),
                comment: req.comment.clone(),
                at_ms: now,
            };
            shared
                .services
                .journal_ack(ack)
                .map_err(SuperManagerError::Refused)?;
        }
        acked
    } else {
        shared.known_region(Some(region))?;
        let span = info_span!("acknowledge", resource = %req.resource_id, rule = %req.rule);
        let answer = shared
            .brokers
            .acknowledge_event(AcknowledgeEventRequest {
                region: region.to_string(),
                resource_id: req.resource_id.clone(),
                rule: req.rule.clone(),
                by: req.by.clone(),
                comment: req.comment.clone(),
            })
            .instrument(span)
            .await
            .map_err(|s| {
                SuperManagerError::region(
                    s,
                    format!("acknowledge {} {}", req.resource_id, req.rule),
                )
            })?;
        answer.events.iter().map(EventJson::from_event).collect()
    };
    if events.is_empty() {
        return Err(SuperManagerError::NotFound(format!(
            "no open event of rule '{}' on '{}'",
            req.rule, req.resource_id
        )));
    }
    info!(resource = %req.resource_id, rule = %req.rule, by = %req.by, "incident acknowledged");
    Ok(events)
}
