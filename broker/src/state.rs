//! State shared by the broker's services: the membership table and the client channels to
//! sub-managers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use strata_proto::v1::Member;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use tonic::transport::Channel;

use crate::config::BrokerConfig;
use crate::membership::Membership;
use crate::metrics::BrokerMetrics;
use crate::server;

/// The broker's state, shared by its gRPC services and background tasks.
#[derive(Debug)]
pub struct BrokerState {
    pub config: BrokerConfig,
    pub membership: Mutex<Membership>,
    pub metrics: BrokerMetrics,
    channels: Mutex<HashMap<String, Channel>>,
}

impl BrokerState {
    /// Fresh state for a broker with `config`.
    pub fn new(config: BrokerConfig) -> Self {
        Self {
            membership: Mutex::new(Membership::new(config.lease)),
            metrics: BrokerMetrics::default(),
            channels: Mutex::new(HashMap::new()),
            config,
        }
    }

    /// Runs `f` on the membership table.
    pub fn with_membership<T>(&self, f: impl FnOnce(&mut Membership, Instant) -> T) -> T {
        let mut m = self.membership.lock().expect("membership lock poisoned");
        f(&mut m, Instant::now())
    }

    /// A client for a sub-manager, over a channel cached per address.
    pub fn sub_manager(&self, member: &Member) -> Result<SubManagerClient<Channel>, tonic::Status> {
        let mut channels = self.channels.lock().expect("channel lock poisoned");
        if let Some(ch) = channels.get(&member.address) {
            return Ok(server::sub_manager_client(ch.clone()));
        }
        let ch = server::channel(&member.address, &self.config).map_err(|e| {
            tonic::Status::internal(format!(
                "bad address '{}' of member {}: {e}",
                member.address, member.id
            ))
        })?;
        channels.insert(member.address.clone(), ch.clone());
        Ok(server::sub_manager_client(ch))
    }
}
