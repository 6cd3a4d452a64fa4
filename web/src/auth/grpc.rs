//! The principals at the gRPC doors. A person's or script's gRPC tool proves itself with an
//! operator certificate from the mesh's CA (`spiffe://strata/operator/<id>`); the
//! certificate speaks for the user `<id>` of the principals file, whose role and regions
//! then judge each call as they judge the same person's requests on a console. So one
//! account has one set of rights, whichever door it comes through, and removing the user
//! ends its gRPC calls as it ends its sessions (the principals file is read again within a
//! second of a change).
//!
//! The layer sits behind the certificate's own check
//! ([`strata_proto::identity::AuthorizeLayer`]), which has already decided which roles may
//! call a method at all; here only operators are judged further. Mesh components (brokers,
//! super-managers) act for the mesh and are trusted as their certificates say — except that
//! a broker routing an operator's call names that operator ([`FOR`]), and the region judges
//! the operator, not the broker. What a method needs is the door's [`MethodTable`]; the
//! region is the door's own (a region's member) or, at the centre, read from the request by
//! the handler with the [`Caller`] this layer leaves in the request's extensions.

use std::sync::Arc;

use strata_proto::identity::authz::{FOR, Judge, Judged, split_path};
use strata_proto::identity::{Identity, Role};
use tonic::Status;
use tonic::codegen::http;
use tower::Layer;
use tracing::info;

use super::gate::Caller;
use super::policy::Action;
use super::{Principal, PrincipalsFile, judge};

/// What each gRPC method of a door needs of a user: `None` closes the method to users.
pub type MethodTable = fn(service: &str, method: &str) -> Option<Action>;

/// The layer that judges operators' gRPC calls by their users.
#[derive(Clone)]
pub struct PrincipalLayer {
    principals: Arc<PrincipalsFile>,
    table: MethodTable,
    home_region: Option<String>,
}

impl PrincipalLayer {
    /// Judges operators by the users of `principals`, each method needing what `table` says.
    pub fn new(principals: Arc<PrincipalsFile>, table: MethodTable) -> Self {
        Self {
            principals,
            table,
            home_region: None,
        }
    }

    /// A region's door: its callers must cover `region`.
    pub fn home_region(mut self, region: &str) -> Self {
        self.home_region = Some(region.to_string());
        self
    }

    /// The user an operator's identity speaks for, or why it speaks for none.
    fn principal(&self, operator: &Identity) -> Result<Principal, Status> {
        let principals = self.principals.current();
        let user = principals.users.get(&operator.id).ok_or_else(|| {
            Status::permission_denied(format!(
                "{operator} speaks for user '{}', who is not in the principals file \
                 (`strata user add {}`)",
                operator.id, operator.id
            ))
        })?;
        Ok(Principal {
            name: operator.id.clone(),
            role: user.role,
            scope: user.scope.clone(),
        })
    }

    /// The caller to hand to the handlers (`None`: a mesh component, trusted as its
    /// certificate says), or the refusal.
    fn caller<B>(&self, request: &http::Request<B>) -> Result<Option<Caller>, Status> {
        let Some(caller) = request.extensions().get::<strata_proto::identity::Caller>() else {
            return Ok(None); // no TLS at all: the certificate's layer has decided
        };
        let Some(identity) = caller.identity() else {
            return Ok(None); // insecure, or a method open without a certificate
        };
        let routed = request
            .headers()
            .get(FOR)
            .filter(|_| identity.role == Role::Broker);
        let operator = match routed {
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|uri| Identity::parse_uri(uri).ok())
                .ok_or_else(|| {
                    Status::invalid_argument(format!("{FOR}: not a mesh identity: {value:?}"))
                })?,
            None => identity.clone(),
        };
        if operator.role != Role::Operator {
            return Ok(None);
        }
        let path = request.uri().path();
        let principal = self.principal(&operator)?;
        let (service, method) = split_path(path);
        let action = (self.table)(service, method)
            .ok_or_else(|| Status::permission_denied(format!("{path}: not open to users")))?;
        let home = self.home_region.as_deref();
        let regions: Vec<String> = home.into_iter().map(str::to_string).collect();
        judge(&principal, action, Some(&regions), home)
            .map_err(|why| Status::permission_denied(format!("{path}: {why}")))?;
        Ok(Some(Caller {
            principal,
            address: caller.addr.map(|a| a.to_string()).unwrap_or_default(),
        }))
    }
}

impl<S> Layer<S> for PrincipalLayer {
    type Service = Judged<S, PrincipalLayer>;

    fn layer(&self, inner: S) -> Self::Service {
        Judged::new(inner, self.clone())
    }
}

impl Judge for PrincipalLayer {
    fn judge<B>(&self, request: &mut http::Request<B>) -> Result<(), Status> {
        match self.caller(request) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    request.extensions_mut().insert(caller);
                }
                Ok(())
            }
            Err(status) => {
                info!(
                    method = request.uri().path(),
                    message = status.message(),
                    "call refused by the caller's user"
                );
                Err(status)
            }
        }
    }
}

/// The caller a gRPC handler was handed: `None` for a mesh component.
pub fn caller_of<T>(request: &tonic::Request<T>) -> Option<&Caller> {
    request.extensions().get::<Caller>()
}

/// Refuses, as `PERMISSION_DENIED`, an operator's user that may not do `action` over
/// `regions` (`None`: every region); a mesh component may.
pub fn require<T>(
    request: &tonic::Request<T>,
    action: Action,
    regions: Option<&[String]>,
) -> Result<(), Status> {
    match caller_of(request) {
        Some(caller) => {
            judge(&caller.principal, action, regions, None).map_err(Status::permission_denied)
        }
        None => Ok(()),
    }
}
