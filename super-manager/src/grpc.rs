//! The `SuperManager` gRPC service: the REST API's services, root cause, SLA, QoS, reports,
//! placement and the drill-down below a resource over gRPC, on the same address.
//!
//! Each method calls the REST handler itself and reads its JSON answer into the message
//! (the messages are generated with serde's `Deserialize`, their fields named as the JSON's),
//! so the two APIs cannot drift apart: a field added to one and not the other shows as a
//! default value in a test, not as a second implementation to keep in step.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strata_proto::v1::super_manager_server::SuperManager;
use strata_proto::v1::{
    AgentSnapshotRequest, GetServiceRequest, ListServicesRequest, ListServicesResponse,
    PlacementRequest, PlacementResponse, QosRequest, QosResponse, QueryRangeRequest,
    QueryRangeResponse, ReportRequest, ReportRow, ReportTable, ResourceEventsRequest,
    ResourceEventsResponse, RootCauseRequest, RootCauseResponse, ServiceDetail, SlaRequest,
    SlaResponse, SnapshotResponse,
};
use tonic::{Code, Request, Response, Status};

use crate::Shared;
use crate::api::ApiError;

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
}

/// The REST error as a gRPC status with the same message.
fn status(e: ApiError) -> Status {
    let code = match e.status.as_u16() {
        400 => Code::InvalidArgument,
        404 => Code::NotFound,
        409 => Code::FailedPrecondition,
        503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ => Code::Internal,
    };
    Status::new(code, e.message)
}

/// `value`'s JSON read into the message `M`.
fn message<T: Serialize, M: DeserializeOwned>(value: &T) -> Result<M, Status> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| Status::internal(format!("answer does not fit its message: {e}")))
}

/// Query parameters from the non-empty `(name, value)` pairs.
fn params(pairs: &[(&str, String)]) -> Query<HashMap<String, String>> {
    Query(
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty() && v != "0")
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
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
        _request: Request<ListServicesRequest>,
    ) -> Result<Response<ListServicesResponse>, Status> {
        let Json(list) = crate::service_api::list(State(self.shared.clone())).await;
        Ok(Response::new(ListServicesResponse {
            services: message(&list)?,
        }))
    }

    async fn get_service(
        &self,
        request: Request<GetServiceRequest>,
    ) -> Result<Response<ServiceDetail>, Status> {
        let name = request.into_inner().name;
        let Json(detail) = crate::service_api::detail(State(self.shared.clone()), Path(name))
            .await
            .map_err(status)?;
        Ok(Response::new(message(&detail)?))
    }

    async fn root_cause(
        &self,
        request: Request<RootCauseRequest>,
    ) -> Result<Response<RootCauseResponse>, Status> {
        let r = request.into_inner();
        let q = params(&[("window_ms", r.window_ms.to_string())]);
        let Json(analysis) = crate::rca_api::rca(State(self.shared.clone()), Path(r.name), q)
            .await
            .map_err(status)?;
        Ok(Response::new(message(&analysis)?))
    }

    async fn sla(&self, request: Request<SlaRequest>) -> Result<Response<SlaResponse>, Status> {
        let r = request.into_inner();
        let q = params(&period(&r.period, r.from_ms, r.to_ms));
        let Json(report) = crate::service_api::sla(State(self.shared.clone()), Path(r.name), q)
            .await
            .map_err(status)?;
        Ok(Response::new(message(&report)?))
    }

    async fn qos(&self, request: Request<QosRequest>) -> Result<Response<QosResponse>, Status> {
        let r = request.into_inner();
        let mut pairs = period(&r.period, r.from_ms, r.to_ms);
        pairs.push(("step_ms", r.step_ms.to_string()));
        let Json(qos) =
            crate::service_api::qos(State(self.shared.clone()), Path(r.name), params(&pairs))
                .await
                .map_err(status)?;
        Ok(Response::new(message(&qos)?))
    }

    async fn report(
        &self,
        request: Request<ReportRequest>,
    ) -> Result<Response<ReportTable>, Status> {
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
        let Query(q) = params(&pairs);
        let t = crate::reports::table(self.shared.clone(), &r.kind, &q)
            .await
            .map_err(status)?;
        let rows = t
            .rows
            .iter()
            .map(|row| ReportRow {
                cells: t
                    .columns
                    .iter()
                    .map(|c| crate::reports::table::cell(row.get(c)))
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
        let r = request.into_inner();
        let q = params(&[
            ("service", r.service),
            ("component", r.component),
            ("window_ms", r.window_ms.to_string()),
        ]);
        let Json(p) = crate::placement::placement(State(self.shared.clone()), q)
            .await
            .map_err(status)?;
        Ok(Response::new(message(&p)?))
    }

    async fn resource_metrics(
        &self,
        request: Request<QueryRangeRequest>,
    ) -> Result<Response<QueryRangeResponse>, Status> {
        let r = request.into_inner();
        let (region, _) = resource_of(&r.resource_id)?;
        if r.region != region {
            return Err(Status::invalid_argument(format!(
                "region: '{}' is not the region of {}",
                r.region, r.resource_id
            )));
        }
        if r.name.is_empty() {
            return Err(Status::invalid_argument("name: a metric name is required"));
        }
        crate::api::known_region(&self.shared, Some(&r.region)).map_err(status)?;
        self.shared.brokers.query_range(r).await.map(Response::new)
    }

    async fn resource_snapshot(
        &self,
        request: Request<AgentSnapshotRequest>,
    ) -> Result<Response<SnapshotResponse>, Status> {
        let mut r = request.into_inner();
        let (region, _) = resource_of(&r.resource_id)?;
        region.clone_into(&mut r.region);
        crate::api::known_region(&self.shared, Some(&r.region)).map_err(status)?;
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
        let id = request.into_inner().resource_id;
        let (region, host) = resource_of(&id)?;
        let Json(events) = crate::drill::events(
            State(self.shared.clone()),
            Path((region.to_string(), host.to_string())),
        )
        .await
        .map_err(status)?;
        Ok(Response::new(ResourceEventsResponse {
            incidents: message(&events)?,
        }))
    }
}

/// The (region, host) of a resource id, or the error naming the field.
fn resource_of(id: &str) -> Result<(&str, &str), Status> {
    id.split_once('/')
        .filter(|(r, h)| !r.is_empty() && !h.is_empty() && !h.contains('/'))
        .ok_or_else(|| {
            Status::invalid_argument(format!("resource_id: '{id}' is not '<region>/<host>'"))
        })
}
