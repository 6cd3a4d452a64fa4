//! Calls through the brokers, failing over from one broker to the next: the channels
//! themselves are built by [`crate::door`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use strata_proto::v1::broker_client::BrokerClient;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{
    AgentSnapshotRequest, QueryRangeRequest, QueryRangeResponse, SnapshotResponse,
};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tracing::warn;

/// Largest message decoded from a broker.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Lazily connected channels to every configured broker.
#[derive(Debug)]
pub struct Brokers {
    addrs: Vec<String>,
    channels: Vec<Channel>,
    /// Where the next call starts, so that a broker that failed is not tried first again.
    preferred: AtomicUsize,
    call_timeout: Duration,
}

impl Brokers {
    /// Calls over `channels`, those of the brokers at `addrs` in the same order (see
    /// [`crate::door::broker_channels`]), each within `call_timeout`.
    pub fn new(addrs: Vec<String>, channels: Vec<Channel>, call_timeout: Duration) -> Self {
        debug_assert_eq!(addrs.len(), channels.len());
        Self {
            addrs,
            channels,
            preferred: AtomicUsize::new(0),
            call_timeout,
        }
    }

    /// Number of brokers.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether no broker is configured.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// The address of broker `i`.
    pub fn addr(&self, i: usize) -> &str {
        &self.addrs[i % self.addrs.len()]
    }

    /// The index of the broker to try first.
    pub fn preferred(&self) -> usize {
        self.preferred.load(Ordering::Relaxed) % self.len().max(1)
    }

    /// Moves the preference past broker `i`, which just failed.
    pub fn failed(&self, i: usize) {
        let _ = self.preferred.compare_exchange(
            i,
            (i + 1) % self.len().max(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// A Broker client for broker `i`.
    pub fn broker(&self, i: usize) -> BrokerClient<Channel> {
        BrokerClient::new(self.channels[i % self.channels.len()].clone())
    }

    /// A SubManager client routed through broker `i`.
    pub fn router(&self, i: usize) -> SubManagerClient<Channel> {
        SubManagerClient::new(self.channels[i % self.channels.len()].clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// QueryRange through the brokers, failing over on errors a retry elsewhere can fix.
    pub async fn query_range(&self, req: QueryRangeRequest) -> Result<QueryRangeResponse, Status> {
        self.routed(|mut c| {
            let req = req.clone();
            async move { c.query_range(req).await }
        })
        .await
    }

    /// AgentSnapshot (live processes, connections, interfaces, check results of one host)
    /// through the brokers, failing over as [`Self::query_range`].
    pub async fn agent_snapshot(
        &self,
        req: AgentSnapshotRequest,
    ) -> Result<SnapshotResponse, Status> {
        self.routed(|mut c| {
            let req = req.clone();
            async move { c.agent_snapshot(req).await }
        })
        .await
    }

    /// AcknowledgeEvent through the brokers (each member of the region acknowledges its copy).
    pub async fn acknowledge_event(
        &self,
        req: strata_proto::v1::AcknowledgeEventRequest,
    ) -> Result<strata_proto::v1::AcknowledgeEventResponse, Status> {
        self.routed(|mut c| {
            let req = req.clone();
            async move { c.acknowledge_event(req).await }
        })
        .await
    }

    /// One routed call, `call`, made through each broker in turn (the preferred first), each
    /// within the call timeout, until one answers or fails with an error a retry elsewhere
    /// cannot fix.
    pub async fn routed<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: Fn(SubManagerClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    {
        if self.is_empty() {
            return Err(Status::unavailable("no broker is configured"));
        }
        let start = self.preferred();
        let mut last = Status::unavailable("no broker answered");
        for k in 0..self.len() {
            let i = (start + k) % self.len();
            let result = match tokio::time::timeout(self.call_timeout, call(self.router(i))).await {
                Ok(r) => r.map(tonic::Response::into_inner),
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "broker {} did not answer within {:?}",
                    self.addr(i),
                    self.call_timeout
                ))),
            };
            match result {
                Ok(answer) => return Ok(answer),
                Err(status) if retryable(&status) => {
                    warn!(broker = %self.addr(i), error = %status.message(), "broker call failed; trying the next");
                    self.failed(i);
                    last = status;
                }
                Err(status) => return Err(status),
            }
        }
        Err(last)
    }
}

/// Whether another broker might answer where this one failed.
pub fn retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
    )
}
