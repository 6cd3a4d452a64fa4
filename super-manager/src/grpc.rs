//! The `SuperManager` gRPC service: the services, root cause, SLA, QoS, reports, placement
//! and the drill-down below a resource over gRPC, on the REST API's address (the listener is
//! built by [`crate::door`]). A thin adapter: each method asks the same question the REST
//! API asks ([`crate::catalog`], [`crate::root_cause`], [`crate::reports`],
//! [`crate::placement`], [`crate::drill`]), with the request's fields as its parameters.
//!
//! Operators' users are judged as at the REST API: the door's layer
//! ([`strata_web::auth::grpc`]) lets a user's call in by role; each method here checks the
//! regions of what it is asked (a service's, a resource's, or every region for reports and
//! placement), with the same rules as the REST paths that ask the same question, and the
//! list of services is cut to the caller's.
//!
//! The answers are read into the messages through their JSON (the messages are generated
//! with serde's `Deserialize`, their fields named as the REST API's JSON), so the two APIs
//! cannot drift apart: a field added to one and not the other shows as a default value in a
//! test, not as a second implementation to keep in step.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde::de::DeserializeOwned;
use strata_proto::ResourceId;
use strata_proto::v1::super_manager_server::SuperManager;
use strata_proto::v1::{
    AgentSnapshotRequest, CentreChange, GetServiceRequest, ListServicesRequest,
    ListServicesResponse, PlacementRequest, PlacementResponse, QosRequest, QosResponse,
    QueryRangeRequest, QueryRangeResponse, ReportRequest, ReportRow, ReportTable,
    ResourceEventsRequest, ResourceEventsResponse, RootCauseRequest, RootCauseResponse,
    ServiceDetail, SlaRequest, SlaResponse, SnapshotResponse, WatchCentreRequest,
};
use tonic::{Code, Request, Response, Status};

use strata_web::auth::Action;
use strata_web::auth::grpc::{caller_of, require};

use crate::error::SuperManagerError;
use crate::http::scope;
use crate::services::Refused;
use crate::shared::Shared;
use crate::{catalog, drill, placement, reports, root_cause};

/// The gRPC service over the super-manager's state.
#[derive(Clone)]
pub struct Grpc {
    shared: Arc<Shared>,
}

impl Grpc {
    /// The service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Refuses an operator's user who may not read service `name`: every region its
    /// components may select must be theirs (an unknown service needs every region), as
    /// at the REST API.
    fn may_read_service<T>(&self, request: &Request<T>, name: &str) -> Result<(), Status> {
        let regions: Option<Vec<String>> =
            scope::service_regions(&self.shared, name).map(|set| set.into_iter().collect());
        require(request, Action::Read, regions.as_deref())
    }

    /// Refuses an operator's user who may not read resource `id` (`<region>/<host>`) in
    /// its region.
    fn may_read_resource<T>(&self, request: &Request<T>, id: &str) -> Result<(), Status> {
        let id = resource_of(id)?;
        require(request, Action::Read, Some(&[id.region().to_string()]))
    }

    /// Counts a request answered, as the REST API counts its own.
    fn count(&self) {
        self.shared
            .metrics
            .http_requests
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// A refused question as a gRPC status with the REST answer's message: the one place the
/// domain's errors meet gRPC codes. A region's status is told as the REST API tells it
/// (400 → `InvalidArgument`, 404 → `NotFound`, 503 → `Unavailable`, 504 →
/// `DeadlineExceeded`, 502 → `Internal`).
fn status(e: SuperManagerError) -> Status {
    let code = match &e {
        SuperManagerError::BadRequest(_) => Code::InvalidArgument,
        SuperManagerError::NotFound(_) => Code::NotFound,
        SuperManagerError::Refused(Refused::Invalid(_)) => Code::InvalidArgument,
        SuperManagerError::Refused(Refused::NotFound(_)) => Code::NotFound,
        SuperManagerError::Refused(Refused::InUse(_)) => Code::FailedPrecondition,
        SuperManagerError::Region { status, .. } => match status.code() {
            Code::InvalidArgument | Code::OutOfRange => Code::InvalidArgument,
            Code::NotFound => Code::NotFound,
            Code::Unavailable => Code::Unavailable,
            Code::DeadlineExceeded => Code::DeadlineExceeded,
            _ => Code::Internal,
        },
        _ => Code::Internal,
    };
    Status::new(code, e.to_string())
}

/// `value`'s JSON read into the message `M`.
fn message<T: Serialize, M: DeserializeOwned>(value: &T) -> Result<M, Status> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| Status::internal(format!("answer does not fit its message: {e}")))
}

/// Query parameters from the non-empty `(name, value)` pairs.
fn params(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty() && v != "0")
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The period parameters of a request: `period`, or `from_ms` and `to_ms`.
fn period(period: &str, from_ms: i64, to_ms: i64) -> Vec<(&'static str, String)> {
    vec![
        ("period", period.to_string()),
        ("from_ms", from_ms.to_string()),
        ("to_ms", to_ms.to_string()),
    ]
}

#[tonic::async_trait]
impl SuperManager for Grpc {
    async fn list_services(
        &self,
        request: Request<ListServicesRequest>,
    ) -> Result<Response<ListServicesResponse>, Status> {
        self.count();
        let mut list = catalog::list(&self.shared);
        if let Some(caller) = caller_of(&request) {
            list.retain(|s| scope::sees_service(&self.shared, caller, &s.name));
        }
        Ok(Response::new(ListServicesResponse {
            services: message(&list)?,
        }))
    }

    async fn get_service(
        &self,
        request: Request<GetServiceRequest>,
    ) -> Result<Response<ServiceDetail>, Status> {
        self.count();
        self.may_read_service(&request, &request.get_ref().name)?;
        let name = request.into_inner().name;
        let detail = catalog::detail(&self.shared, &name).map_err(status)?;
        Ok(Response::new(message(&detail)?))
    }

    async fn root_cause(
        &self,
        request: Request<RootCauseRequest>,
    ) -> Result<Response<RootCauseResponse>, Status> {
        self.count();
        self.may_read_service(&request, &request.get_ref().name)?;
        let r = request.into_inner();
        let q = params(&[("window_ms", r.window_ms.to_string())]);
        let analysis = root_cause::analysis(&self.shared, &r.name, &q)
            .await
            .map_err(status)?;
        Ok(Response::new(message(&analysis)?))
    }

    async fn sla(&self, request: Request<SlaRequest>) -> Result<Response<SlaResponse>, Status> {
        self.count();
        self.may_read_service(&request, &request.get_ref().name)?;
        let r = request.into_inner();
        let q = params(&period(&r.period, r.from_ms, r.to_ms));
        let report = catalog::sla(&self.shared, &r.name, &q).map_err(status)?;
        Ok(Response::new(message(&report)?))
    }

    async fn qos(&self, request: Request<QosRequest>) -> Result<Response<QosResponse>, Status> {
        self.count();
        self.may_read_service(&request, &request.get_ref().name)?;
        let r = request.into_inner();
        let mut pairs = period(&r.period, r.from_ms, r.to_ms);
        pairs.push(("step_ms", r.step_ms.to_string()));
        let qos = catalog::qos(self.shared.clone(), &r.name, &params(&pairs))
            .await
            .map_err(status)?;
        Ok(Response::new(message(&qos)?))
    }

    async fn report(
        &self,
        request: Request<ReportRequest>,
    ) -> Result<Response<ReportTable>, Status> {
        self.count();
        require(&request, Action::Read, None)?;
        let r = request.into_inner();
        let mut pairs = period(&r.period, r.from_ms, r.to_ms);
        pairs.extend([
            ("service", r.service),
            ("resources", r.resources),
            ("metric", r.metric),
        ]);
        if r.limit != 0.0 {
            pairs.push(("limit", r.limit.to_string()));
        }
        let t = reports::table(self.shared.clone(), &r.kind, &params(&pairs))
            .await
            .map_err(status)?;
        let rows = t
            .rows
            .iter()
            .map(|row| ReportRow {
                cells: t
                    .columns
                    .iter()
                    .map(|c| reports::table::cell(row.get(c)))
                    .collect(),
            })
            .collect();
        Ok(Response::new(ReportTable {
            kind: t.kind,
            from_ms: t.from_ms,
            to_ms: t.to_ms,
            columns: t.columns,
            rows,
        }))
    }

    async fn placement(
        &self,
        request: Request<PlacementRequest>,
    ) -> Result<Response<PlacementResponse>, Status> {
        self.count();
        require(&request, Action::Read, None)?;
        let r = request.into_inner();
        let q = params(&[
            ("service", r.service),
            ("component", r.component),
            ("window_ms", r.window_ms.to_string()),
        ]);
        let p = placement::placement(&self.shared, &q)
            .await
            .map_err(status)?;
        Ok(Response::new(message(&p)?))
    }

    async fn resource_metrics(
        &self,
        request: Request<QueryRangeRequest>,
    ) -> Result<Response<QueryRangeResponse>, Status> {
        self.count();
        self.may_read_resource(&request, &request.get_ref().resource_id)?;
        let r = request.into_inner();
        let id = resource_of(&r.resource_id)?;
        if r.region != id.region() {
            return Err(Status::invalid_argument(format!(
                "region: '{}' is not the region of {}",
                r.region, r.resource_id
            )));
        }
        if r.name.is_empty() {
            return Err(Status::invalid_argument("name: a metric name is required"));
        }
        self.shared.known_region(Some(&r.region)).map_err(status)?;
        self.shared.brokers.query_range(r).await.map(Response::new)
    }

    async fn resource_snapshot(
        &self,
        request: Request<AgentSnapshotRequest>,
    ) -> Result<Response<SnapshotResponse>, Status> {
        self.count();
        self.may_read_resource(&request, &request.get_ref().resource_id)?;
        let mut r = request.into_inner();
        let id = resource_of(&r.resource_id)?;
        id.region().clone_into(&mut r.region);
        self.shared.known_region(Some(&r.region)).map_err(status)?;
        self.shared
            .brokers
            .agent_snapshot(r)
            .await
            .map(Response::new)
    }

    async fn resource_events(
        &self,
        request: Request<ResourceEventsRequest>,
    ) -> Result<Response<ResourceEventsResponse>, Status> {
        self.count();
        self.may_read_resource(&request, &request.get_ref().resource_id)?;
        let id = request.into_inner().resource_id;
        let id = resource_of(&id)?;
        let events = drill::events(&self.shared, id.region(), id.host()).map_err(status)?;
        Ok(Response::new(ResourceEventsResponse {
            incidents: message(&events)?,
        }))
    }

    type WatchCentreStream = tokio_stream::wrappers::ReceiverStream<Result<CentreChange, Status>>;

    async fn watch_centre(
        &self,
        request: Request<WatchCentreRequest>,
    ) -> Result<Response<Self::WatchCentreStream>, Status> {
        // the door lets super-managers alone in (crate::door::policy)
        let rx = crate::replication::serve::watch(self.shared.clone(), request.into_inner());
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }
}

/// The resource a request names, or the error naming the field.
fn resource_of(id: &str) -> Result<ResourceId, Status> {
    ResourceId::parse(id).map_err(|e| Status::invalid_argument(format!("resource_id: {e}")))
}
