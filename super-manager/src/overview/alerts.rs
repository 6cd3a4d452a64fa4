//! Incidents the centre raises itself, about services rather than hosts (SLO burn-rate
//! alerts): they are kept, listed and resolved like the regions' incidents.

use strata_proto::v1::{Event, Severity};

use super::Overview;

/// The resource id the centre's incidents about service `name` carry.
pub fn service_resource(name: &str) -> String {
    format!("services/{name}")
}

impl Overview {
    /// Opens (when `firing` and not open) or resolves (when not `firing` and open) the
    /// incident `rule` of service `name`; returns whether anything changed.
    pub fn service_alert(
        &mut self,
        name: &str,
        rule: &str,
        severity: Severity,
        firing: bool,
        (value, message): (f64, String),
        now_ms: i64,
    ) -> bool {
        let resource_id = service_resource(name);
        let open = self.incidents.open_of(&resource_id).any(|e| e.rule == rule);
        if open == firing {
            return false;
        }
        let event = Event {
            id: format!("{resource_id}/{rule}/{now_ms}"),
            resource_id,
            rule: rule.to_string(),
            severity: severity as i32,
            message,
            opened_ms: now_ms,
            resolved_ms: if firing { 0 } else { now_ms },
            value,
            ..Default::default()
        };
        let mut ops = Vec::new();
        self.incidents.on_event(&event, &mut ops);
        self.persist(&ops);
        self.touch(strata_proto::resource::region_of(&event.resource_id));
        true
    }
}

impl Overview {
    /// Acknowledges the centre's own open incident of `rule` on `resource_id`.
    pub fn acknowledge_local(
        &mut self,
        resource_id: &str,
        rule: &str,
        by: &str,
        comment: &str,
        now_ms: i64,
    ) -> Option<strata_web::views::EventJson> {
        let mut event = self
            .incidents
            .open_of(resource_id)
            .find(|e| e.rule == rule)?
            .clone();
        event.acknowledged_ms = now_ms;
        event.acknowledged_by = by.to_string();
        event.ack_comment = comment.to_string();
        let mut ops = Vec::new();
        self.incidents.on_event(&event, &mut ops);
        self.persist(&ops);
        self.touch(strata_proto::resource::region_of(&event.resource_id));
        Some(strata_web::views::EventJson::from_event(&event))
    }
}

impl Overview {
    /// The recovery actions reported in `batch` that the incidents do not hold yet, with
    /// the incident they belong to (`<resource id>/<rule>`).
    pub fn new_action_runs(
        &self,
        batch: &[strata_proto::v1::RegionUpdate],
    ) -> Vec<(String, strata_proto::v1::ActionRun)> {
        use strata_proto::v1::region_update::Kind;
        let mut out = Vec::new();
        for update in batch {
            let Some(Kind::Event(e)) = &update.kind else {
                continue;
            };
            if e.actions.is_empty() {
                continue;
            }
            let held: Vec<&strata_proto::v1::ActionRun> = self
                .incidents
                .open_of(&e.resource_id)
                .filter(|i| i.rule == e.rule)
                .flat_map(|i| i.actions.iter())
                .collect();
            for run in &e.actions {
                let seen = held.contains(&run) || out.iter().any(|(_, r)| r == run);
                if !seen {
                    out.push((format!("{}/{}", e.resource_id, e.rule), run.clone()));
                }
            }
        }
        out
    }
}
