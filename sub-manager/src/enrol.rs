//! `SubManager.SignAgent`: a member that holds its region's CA (`region-ca.crt` and
//! `region-ca.key` in its `[tls] dir`) signs the certificates of the region's agents, when a
//! broker asks — the broker has checked the agent's join token, or its current certificate
//! for a renewal. The certificate names the agent's id in this member's region, whatever the
//! request says, and the verifiers everywhere refuse a region CA's certificate for anything
//! else: a region whose CA key leaks can mint agents of its own region only.

use std::time::Duration;

use strata_proto::identity::enrol::{RegionCa, millis};
use strata_proto::identity::{Identity, IdentityError, Role, Transport};
use strata_proto::v1::{EnrolRequest, EnrolResponse};
use tonic::Status;
use tracing::info;

/// The member's signer of agent certificates (none without a region CA).
pub struct Signer {
    ca: Option<RegionCa>,
    lifetime: Duration,
    transport: Transport,
    region: String,
}

impl Signer {
    /// The region CA in the node directory of `transport`, if any, signing certificates of
    /// `lifetime` for agents of `region`.
    pub fn load(
        transport: &Transport,
        region: &str,
        lifetime: Duration,
    ) -> Result<Self, IdentityError> {
        let ca = match transport.node_dir() {
            Some(dir) => RegionCa::load(&dir)?,
            None => None,
        };
        if let Some(ca) = &ca
            && ca.region != region
        {
            return Err(IdentityError::Certificate {
                what: "the region CA".into(),
                reason: format!(
                    "it signs for region '{}', this member serves '{region}'",
                    ca.region
                ),
            });
        }
        Ok(Self {
            ca,
            lifetime,
            transport: transport.clone(),
            region: region.to_string(),
        })
    }

    /// Signs the agent certificate `req` asks for.
    pub fn sign(&self, req: &EnrolRequest) -> Result<EnrolResponse, Status> {
        let ca = self.ca.as_ref().ok_or_else(|| {
            Status::failed_precondition(format!(
                "member of region '{}' holds no region CA: issue one with `strata ca issue \
                 --role region-ca --region {0} --id {0} --out <its [tls] dir>`",
                self.region
            ))
        })?;
        if req.region != self.region {
            return Err(Status::invalid_argument(format!(
                "sign: region '{}' is not this member's ('{}')",
                req.region, self.region
            )));
        }
        let identity = Identity::new(Role::Agent, &self.region, &req.agent_id)
            .map_err(|e| Status::invalid_argument(format!("sign: {e}")))?;
        if self
            .transport
            .trust()
            .is_some_and(|t| t.is_revoked(&identity))
        {
            return Err(Status::permission_denied(format!("{identity} is revoked")));
        }
        let (chain_pem, not_after) = ca
            .sign(&req.agent_id, &req.csr_pem, self.lifetime)
            .map_err(|e| Status::invalid_argument(format!("sign: {e}")))?;
        let dir = self.transport.node_dir().unwrap_or_default();
        let ca_pem = std::fs::read_to_string(dir.join("ca.crt"))
            .map_err(|e| Status::internal(format!("read the mesh CA: {e}")))?;
        let revoked = std::fs::read_to_string(dir.join("revoked.txt")).unwrap_or_default();
        info!(%identity, lifetime = ?self.lifetime, "agent certificate signed");
        Ok(EnrolResponse {
            chain_pem,
            ca_pem,
            revoked,
            not_after_ms: millis(not_after),
        })
    }
}
