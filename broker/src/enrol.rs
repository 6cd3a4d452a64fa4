//! `Broker.Enrol`: the broker checks who asks — a new agent with its region's join token, or
//! an agent renewing with its own certificate — and has a healthy member of the region sign
//! (`SubManager.SignAgent`, with the region's CA). The broker holds no CA key: a broker that
//! is broken into can ask members for agent certificates, never mint any itself.

use std::sync::Arc;

use strata_proto::identity::{Identity, Role, caller_of};
use strata_proto::v1::{EnrolRequest, EnrolResponse};
use tonic::{Request, Status};
use tracing::{info, warn};

use crate::router::MemberClients;
use crate::state::BrokerState;

/// Most bytes of a signing request.
const MAX_CSR_BYTES: usize = 16 * 1024;

/// Answers an enrolment (or renewal) through a member of the agent's region.
pub async fn enrol(
    state: &BrokerState,
    clients: &Arc<dyn MemberClients>,
    request: Request<EnrolRequest>,
) -> Result<EnrolResponse, Status> {
    let caller = caller_of(&request).cloned();
    let req = request.into_inner();
    let agent = Identity::new(Role::Agent, &req.region, &req.agent_id)
        .map_err(|e| Status::invalid_argument(format!("enrol: {e}")))?;
    if req.csr_pem.len() > MAX_CSR_BYTES {
        return Err(Status::invalid_argument(format!(
            "enrol: field 'csr_pem' is over {MAX_CSR_BYTES} bytes"
        )));
    }
    match &caller {
        // a renewal: the agent's own certificate stands for the token
        Some(c) if *c == agent => {}
        Some(c) => {
            return Err(Status::permission_denied(format!(
                "{c} may not enrol as {agent}"
            )));
        }
        None => match state.config.join_token(&req.region) {
            None => {
                return Err(Status::failed_precondition(format!(
                    "enrol: region '{}' has no join token on this broker; agents of it are \
                     issued certificates with `strata ca issue`",
                    req.region
                )));
            }
            Some(token) if token != req.token => {
                warn!(%agent, "enrolment with a wrong join token refused");
                return Err(Status::unauthenticated(format!(
                    "enrol: wrong or missing join token for region '{}'",
                    req.region
                )));
            }
            Some(_) => {}
        },
    }
    let members = state.with_membership(|m, now| m.healthy_sub_managers(&req.region, now));
    if members.is_empty() {
        return Err(Status::unavailable(format!(
            "enrol: no healthy sub-manager in region '{}' to sign",
            req.region
        )));
    }
    let mut last = None;
    for member in &members {
        let mut client = clients.client(member)?;
        let call = client.sign_agent(req.clone());
        match tokio::time::timeout(state.config.call_timeout, call).await {
            Ok(Ok(answer)) => {
                info!(%agent, member = %member.id, renewal = caller.is_some(), "agent certified");
                return Ok(answer.into_inner());
            }
            Ok(Err(status)) => last = Some(status),
            Err(_) => {
                last = Some(Status::deadline_exceeded(format!(
                    "{} did not answer",
                    member.id
                )))
            }
        }
    }
    Err(last.unwrap_or_else(|| Status::unavailable("enrol: no member signed")))
}
