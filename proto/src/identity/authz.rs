//! The one layer in front of every gRPC door's services: each call is judged by its
//! caller's identity before any handler runs.
//!
//! A door gives a [`Policy`]: which callers each method is open to, given the door's own
//! identity. The layer refuses a call with `UNAUTHENTICATED` when the caller proved nothing
//! (no certificate, another CA, expired at the handshake, or revoked — since, too: the
//! revocation list is read on every call; a connection ends when its peer's certificate
//! expires, so a renewed peer comes back with its new one)
//! and with `PERMISSION_DENIED` when the policy closes the method to that identity; each
//! message says what was missing, and each refusal is counted in the component's `/metrics`.
//! What depends on a request's content (a poll's poller, a heartbeat's member id) is checked
//! by the handler with [`caller_of`].

use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::codegen::http;
use tower::{Layer, Service};
use tracing::info;

use super::Identity;
use super::transport::{Auth, Caller, Transport};
use super::verify::Reason;

/// The metadata header in which a broker names the operator it routes a call for (the
/// operator's SPIFFE URI), so that the region judges the operator, not the broker.
pub const FOR: &str = "x-strata-for";

/// Which callers a door's method is open to: `Ok` or what the caller lacks. `caller` is
/// `None` for a TLS client without a certificate; `me` is the door's own identity.
pub type Policy = fn(method: &str, caller: Option<&Identity>, me: &Identity) -> Result<(), String>;

/// The identity the caller of `request` proved; `None` when the door runs insecure (or,
/// for methods a policy opens to them, for clients without a certificate).
pub fn caller_of<T>(request: &tonic::Request<T>) -> Option<&Identity> {
    request.extensions().get::<Caller>()?.identity()
}

/// Refuses, as `PERMISSION_DENIED`, a caller whose identity is not the one a request claims
/// (`what` names the claim, e.g. "poller"); nothing to check when the door is insecure.
pub fn require_claim<T>(
    request: &tonic::Request<T>,
    what: &str,
    claimed: &str,
) -> Result<(), Status> {
    match caller_of(request) {
        Some(caller) if caller.id != claimed => Err(Status::permission_denied(format!(
            "{caller} may not act as {what} '{claimed}'"
        ))),
        _ => Ok(()),
    }
}

/// The layer that puts a [`Policy`] in front of a door's services.
#[derive(Clone)]
pub struct AuthorizeLayer {
    transport: Transport,
    policy: Policy,
}

impl AuthorizeLayer {
    /// Judges every call with `policy`, against the identity and trust of `transport`.
    pub fn new(transport: Transport, policy: Policy) -> Self {
        Self { transport, policy }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Judged<S, AuthorizeLayer>;

    fn layer(&self, inner: S) -> Self::Service {
        Judged::new(inner, self.clone())
    }
}

/// What a layer in front of a door's services decides about each call: let it through
/// (with what the handlers need added to its extensions) or refuse it with a status.
pub trait Judge: Clone + Send + 'static {
    /// `Ok` to let `request` through, or the refusal.
    fn judge<B>(&self, request: &mut http::Request<B>) -> Result<(), Status>;

    /// Sees the head of the answer to a call it let through (a refusal by the service
    /// itself shows there: its `grpc-status`).
    fn answered(&self, _head: &http::HeaderMap) {}
}

/// A door's services behind a [`Judge`]: a refused call is answered with its status and
/// never reaches them.
#[derive(Clone)]
pub struct Judged<S, J> {
    inner: S,
    judge: J,
}

impl<S, J> Judged<S, J> {
    /// `inner` behind `judge`.
    pub fn new(inner: S, judge: J) -> Self {
        Self { inner, judge }
    }
}

impl Judge for AuthorizeLayer {
    /// Counts the refusals of the door's bounds: a message past its size limit (tonic's
    /// `OUT_OF_RANGE`) and a service at its bound (`RESOURCE_EXHAUSTED`).
    fn answered(&self, head: &http::HeaderMap) {
        let reason = match head.get("grpc-status").map(|v| v.as_bytes()) {
            Some(b"11") => Reason::TooLarge,
            Some(b"8") => Reason::Busy,
            _ => return,
        };
        self.transport.count_refusal(reason);
    }

    fn judge<B>(&self, request: &mut http::Request<B>) -> Result<(), Status> {
        let Some(me) = self.transport.identity() else {
            return Ok(()); // insecure: nobody is known
        };
        let method = request.uri().path();
        let refuse = |reason: Reason, status: Status| {
            self.transport.count_refusal(reason);
            info!(
                method,
                reason = reason.name(),
                message = status.message(),
                "call refused"
            );
            Err(status)
        };
        let Some(caller) = request.extensions().get::<Caller>() else {
            return refuse(
                Reason::NoCertificate,
                Status::unauthenticated("no TLS connection: this door needs mutual TLS"),
            );
        };
        match &caller.auth {
            Auth::Insecure => Ok(()),
            Auth::Anonymous => match (self.policy)(method, None, &me) {
                Ok(()) => Ok(()),
                Err(_) => refuse(
                    Reason::NoCertificate,
                    Status::unauthenticated(format!(
                        "{method}: no client certificate; this door needs mutual TLS with a \
                         certificate from the mesh's CA"
                    )),
                ),
            },
            Auth::Refused(refusal) => refuse(
                refusal.reason,
                Status::unauthenticated(format!("{method}: {}", refusal.message)),
            ),
            Auth::Verified(verified) => {
                let id = &verified.identity;
                if self.transport.trust().is_some_and(|t| t.is_revoked(id)) {
                    return refuse(
                        Reason::Revoked,
                        Status::unauthenticated(format!("{method}: {id} is revoked")),
                    );
                }
                match (self.policy)(method, Some(id), &me) {
                    Ok(()) => Ok(()),
                    Err(why) => refuse(
                        Reason::Forbidden,
                        Status::permission_denied(format!("{id} may not call {method}: {why}")),
                    ),
                }
            }
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, J, B, R> Service<http::Request<B>> for Judged<S, J>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
    J: Judge,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.judge.judge(&mut request) {
            Ok(()) => {
                let answer = self.inner.call(request);
                let judge = self.judge.clone();
                Box::pin(async move {
                    let answer = answer.await?;
                    judge.answered(answer.headers());
                    Ok(answer)
                })
            }
            Err(status) => {
                let response = status.into_http::<R>();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// The gRPC method of a path `/strata.v1.Service/Method`: `(service, method)`.
pub fn split_path(path: &str) -> (&str, &str) {
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    (
        service.strip_prefix("strata.v1.").unwrap_or(service),
        method,
    )
}
