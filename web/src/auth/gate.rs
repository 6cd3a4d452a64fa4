//! The gate in front of both consoles: one layer that every request passes, so that no
//! handler has to remember who may call it. In order it checks that the `Host` (and any
//! `Origin`) is this server's (against DNS rebinding and cross-site requests), finds what
//! the path needs ([`super::policy`]), who the caller is (an API token in `Authorization:
//! Bearer`, or a session cookie with its CSRF token on a change), and whether their role
//! and regions allow it; the caller then goes with the request ([`Caller`]) for the
//! handlers to cut answers to its regions and to sign what they record. It also serves
//! `login`, `logout` and `session`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::policy::{self, Action, Region};
use super::sessions::{Sessions, cookie_name};
use super::{AuditRecord, Principal, PrincipalsFile, judge};
use crate::ApiError;

/// The live stream's path: its answer lasts, so its credentials are looked at again.
const STREAM_PATH: &str = "/api/v1/stream";

/// How often a live stream's credentials are looked at again.
pub const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The largest request body the gate reads (a login, or to find the region it touches).
pub const MAX_BODY: usize = 1 << 20;

/// Password checks run at once; a login waits for one at most `Limits::login_wait`, then
/// is 429.
pub const PASSWORD_CHECKS: usize = 4;

/// What one request may use: its time, its body, and its principal's requests at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_timeout: std::time::Duration,
    pub max_concurrent: usize,
    /// Live streams one principal may keep open.
    pub max_streams: usize,
    pub max_body_bytes: usize,
    /// How long a login waits for a password check (default 5 s).
    pub login_wait: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: std::time::Duration::from_secs(60),
            max_concurrent: 32,
            max_streams: 8,
            max_body_bytes: MAX_BODY,
            login_wait: std::time::Duration::from_secs(5),
        }
    }
}

/// A request in flight of a principal, counted until it is answered.
struct InFlight {
    gate: Arc<Gate>,
    name: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = self.gate.in_flight.lock().expect("in-flight lock poisoned");
        if let Some(n) = counts.get_mut(&self.name) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.name);
            }
        }
    }
}

/// The regions of a service's components, when the service is known.
pub type ServiceRegions = Arc<dyn Fn(&str) -> Option<BTreeSet<String>> + Send + Sync>;

/// Where the gate's own audit records (logins) go.
pub type AuditSink = Arc<dyn Fn(AuditRecord) + Send + Sync>;

/// Who is calling: set by the gate on every request it lets through to a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    /// `ip:port`, empty when not known.
    pub address: String,
}

impl Caller {
    /// Whether the caller covers `region`.
    pub fn covers(&self, region: &str) -> bool {
        self.principal.scope.covers(region)
    }

    /// An audit record of `action` on `subject` by this caller, now.
    pub fn audit(&self, action: &str, subject: &str, outcome: &str, detail: String) -> AuditRecord {
        AuditRecord {
            at_ms: strata_proto::now_ms(),
            who: self.principal.name.clone(),
            address: self.address.clone(),
            action: action.to_string(),
            subject: subject.to_string(),
            outcome: outcome.to_string(),
            detail,
        }
    }
}

/// The gate of one console: its principals, its sessions and what it accepts.
pub struct Gate {
    principals: Arc<PrincipalsFile>,
    sessions: Arc<Sessions>,
    /// A regional console's region: its callers must cover it.
    home_region: Option<String>,
    /// Host names (beside IP addresses and `localhost`) this server answers to.
    allowed_hosts: Vec<String>,
    /// Whether the console is served over HTTPS (the cookie is then `Secure`).
    secure: bool,
    services: Option<ServiceRegions>,
    audit: Option<AuditSink>,
    limits: Limits,
    /// Password checks at once (each is memory-hard): logins beyond wait, then are refused.
    password_checks: tokio::sync::Semaphore,
    /// Failed logins by name and address: who kept failing waits.
    lockout: super::lockout::Lockout,
    /// Requests in flight by principal.
    in_flight: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("principals", &self.principals.path())
            .field("home_region", &self.home_region)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish_non_exhaustive()
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    let mut answer = ApiError::new(status, message).into_response();
    if status == StatusCode::UNAUTHORIZED {
        answer.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"strata\""),
        );
    }
    answer
}

/// A request refused before any handler: its status and why.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refuse(self.0, self.1)
    }
}

/// The value of cookie `name` in `headers`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The host of a `Host` header's value (no port; an IPv6 address without its brackets).
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// How a request proved who it is.
enum Proof {
    Token,
    Session { csrf: String },
}

impl Gate {
    /// A gate over `principals` whose sessions last `session_ttl`.
    pub fn new(principals: Arc<PrincipalsFile>, session_ttl: std::time::Duration) -> Self {
        Self {
            principals,
            sessions: Arc::new(Sessions::new(session_ttl)),
            home_region: None,
            allowed_hosts: Vec::new(),
            secure: false,
            services: None,
            audit: None,
            limits: Limits::default(),
            password_checks: tokio::sync::Semaphore::new(PASSWORD_CHECKS),
            lockout: Default::default(),
            in_flight: Default::default(),
        }
    }

    /// The gate of a manager's `[auth]` section over `principals`.
    pub fn from_config(principals: Arc<PrincipalsFile>, config: &super::AuthConfig) -> Self {
        Self::new(principals, config.session_ttl)
            .allowed_hosts(config.allowed_hosts.clone())
            .limits(Limits {
                request_timeout: config.request_timeout,
                max_concurrent: config.max_concurrent,
                max_streams: config.max_streams,
                max_body_bytes: config.max_body_bytes,
                ..Limits::default()
            })
    }

    /// What one request may use.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Counts a request of `name` in flight (under `name`, or a live stream of it under
    /// `name` and a NUL), unless it has `max` already.
    fn enter(self: &Arc<Self>, name: &str, max: usize) -> Option<InFlight> {
        let mut counts = self.in_flight.lock().expect("in-flight lock poisoned");
        let n = counts.entry(name.to_string()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(InFlight {
            gate: self.clone(),
            name: name.to_string(),
        })
    }

    /// A regional console's gate: every caller must cover `region`.
    pub fn home_region(mut self, region: &str) -> Self {
        self.home_region = Some(region.to_string());
        self
    }

    /// Host names, beside IP addresses and `localhost`, that browsers may reach this server by.
    pub fn allowed_hosts(mut self, hosts: Vec<String>) -> Self {
        self.allowed_hosts = hosts;
        self
    }

    /// Served over HTTPS: the session cookie is `Secure`.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// How the regions of a service are found (the centre's services).
    pub fn services(mut self, regions: ServiceRegions) -> Self {
        self.services = Some(regions);
        self
    }

    /// Keeps its logins in `sessions` (shared with other servers) instead of its own.
    pub fn sessions_in(mut self, sessions: Arc<Sessions>) -> Self {
        self.sessions = sessions;
        self
    }

    /// Where logins (and failed ones) are recorded.
    pub fn audit(mut self, sink: AuditSink) -> Self {
        self.audit = Some(sink);
        self
    }

    /// The principals this gate checks.
    pub fn principals(&self) -> &Arc<PrincipalsFile> {
        &self.principals
    }

    /// Its sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// `router` behind the gate, with `login`, `logout` and `session` added.
    pub fn wrap(self: Arc<Self>, router: Router) -> Router {
        let own = Router::new()
            .route("/api/v1/login", post(login::login))
            .route("/api/v1/logout", post(login::logout))
            .route("/api/v1/session", get(login::session))
            .with_state(self.clone());
        let body_limit = axum::extract::DefaultBodyLimit::max(self.limits.max_body_bytes);
        router
            .merge(own)
            .layer(middleware::from_fn_with_state(self, check))
            .layer(body_limit)
    }

    fn record(&self, record: AuditRecord) {
        if let Some(sink) = &self.audit {
            sink(record);
        }
    }

    /// Refuses a `Host` that is not this server's and an `Origin` that is not the `Host`.
    fn check_origin(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return Ok(());
        };
        let name = host_name(host);
        let ours = name.parse::<std::net::IpAddr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || self
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name));
        if !ours {
            return Err(Refusal(
                StatusCode::FORBIDDEN,
                format!(
                    "Host '{host}' is not one this server answers to (add it to allowed_hosts)"
                ),
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
            if !authority.eq_ignore_ascii_case(host) {
                return Err(Refusal(
                    StatusCode::FORBIDDEN,
                    format!(
                        "Origin '{origin}' is not this console ({host}): cross-site requests are refused"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Who sent `request`, and how they proved it.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        now_ms: i64,
    ) -> Result<(Principal, Proof), Refusal> {
        let principals = self.principals.current();
        if let Some(auth) = headers
            .get(header::AUTHORIZATION)
            .and_then(|a| a.to_str().ok())
        {
            let token = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
                .unwrap_or("");
            return principals
                .check_token(token, now_ms)
                .map(|p| (p, Proof::Token))
                .ok_or_else(|| {
                    Refusal(
                        StatusCode::UNAUTHORIZED,
                        "Authorization: not a known, live API token (unknown, expired or revoked)"
                            .into(),
                    )
                });
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if let Some(value) = cookie(headers, &cookie_name(host)) {
            let session = self.sessions.get(value, now_ms);
            // the account as it is now: removed, or its password changed, ends the session
            let user = session.as_ref().and_then(|s| {
                principals
                    .users
                    .get(&s.user)
                    .filter(|u| u.changed_ms <= s.created_ms)
            });
            if let (Some(s), Some(u)) = (session, user) {
                let principal = Principal {
                    name: s.user.clone(),
                    role: u.role,
                    scope: u.scope.clone(),
                };
                return Ok((principal, Proof::Session { csrf: s.csrf }));
            }
            return Err(Refusal(
                StatusCode::UNAUTHORIZED,
                "the session has ended: log in again".into(),
            ));
        }
        Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "log in, or send an API token as 'Authorization: Bearer strata_…'".into(),
        ))
    }

    /// The regions `region` stands for in this request; `None` is every region.
    fn regions_of(
        &self,
        region: &Region,
        query: Option<&str>,
        body_region: Option<String>,
    ) -> Option<Vec<String>> {
        match region {
            Region::Named(r) => Some(vec![r.clone()]),
            Region::BodyResource => Some(body_region.into_iter().collect()),
            Region::Service(name) => self
                .services
                .as_ref()
                .and_then(|f| f(name))
                .map(|set| set.into_iter().collect()),
            Region::Scoped => Some(
                query
                    .unwrap_or("")
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .filter(|(k, _)| *k == "region")
                    .map(|(_, v)| policy::percent_decode(v))
                    .collect(),
            ),
            Region::All => None,
        }
    }

    /// `answer` (a live stream) cut off once the credentials in `headers` no longer prove
    /// `principal` as it was (a token revoked or expired, a session ended, the user removed
    /// or given another role or regions): looked at every [`RECHECK`], so a stream does not
    /// outlive what opened it; the client reconnects and is judged anew.
    fn while_valid(
        self: Arc<Self>,
        answer: Response,
        headers: HeaderMap,
        principal: Principal,
        slot: InFlight,
    ) -> Response {
        use futures::StreamExt;
        let ended = async move {
            // the stream's slot is given back when it ends
            let _slot = slot;
            loop {
                tokio::time::sleep(RECHECK).await;
                let now = strata_proto::now_ms();
                match self.authenticate(&headers, now) {
                    Ok((p, _)) if p == principal => {}
                    _ => {
                        tracing::info!(who = %principal.name, "live stream ended: its credentials no longer hold");
                        return;
                    }
                }
            }
        };
        let (parts, body) = answer.into_parts();
        let body = body.into_data_stream().take_until(Box::pin(ended));
        Response::from_parts(parts, Body::from_stream(body))
    }

    /// Whether `principal` may do `action` over `regions` (`None`: every region) here.
    fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        regions: Option<&[String]>,
    ) -> Result<(), String> {
        judge(principal, action, regions, self.home_region.as_deref())
    }
}

/// The region of the `resource_id` field of a JSON body.
fn body_region(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct WithResource {
        resource_id: String,
    }
    serde_json::from_slice::<WithResource>(bytes)
        .ok()
        .map(|w| strata_proto::resource::region_of(&w.resource_id).to_string())
}

/// The layer: every request passes here first.
async fn check(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    if let Err(refused) = gate.check_origin(request.headers()) {
        return refused.into_response();
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > gate.limits.max_body_bytes) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body: more than {} bytes", gate.limits.max_body_bytes),
        );
    }
    let Some(need) = policy::need(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let now = strata_proto::now_ms();
    let (principal, proof) = match gate.authenticate(request.headers(), now) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if let Proof::Session { csrf } = &proof
        && !safe
    {
        let sent = request
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !super::secret::same(sent, csrf) {
            return refuse(
                StatusCode::FORBIDDEN,
                "X-CSRF-Token: missing or not this session's (a change from a console page carries it)".into(),
            );
        }
    }
    let (request, body_region) = if need.region == Region::BodyResource {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body: more than {MAX_BODY} bytes"),
            );
        };
        let region = body_region(&bytes);
        (Request::from_parts(parts, Body::from(bytes)), region)
    } else {
        (request, None)
    };
    let regions = gate.regions_of(&need.region, request.uri().query(), body_region);
    if let Err(message) = gate.authorize(&principal, need.action, regions.as_deref()) {
        return refuse(StatusCode::FORBIDDEN, message);
    }
    let address = login::address_of(request.extensions().get::<ConnectInfo<SocketAddr>>());
    let Some(_in_flight) = gate.enter(&principal.name, gate.limits.max_concurrent) else {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} has {} requests in flight already: wait for their answers",
                principal.name, gate.limits.max_concurrent
            ),
        );
    };
    let long_lived = request.uri().path() == STREAM_PATH;
    let stream = match long_lived {
        false => None,
        true => match gate.enter(&format!("{}\0", principal.name), gate.limits.max_streams) {
            Some(slot) => Some((request.headers().clone(), slot)),
            None => {
                return refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{} has {} live streams open already (auth.max_streams): close a console page",
                        principal.name, gate.limits.max_streams
                    ),
                );
            }
        },
    };
    let mut request = request;
    request.extensions_mut().insert(Caller {
        principal: principal.clone(),
        address,
    });
    let timeout = gate.limits.request_timeout;
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(answer) => match stream {
            Some((headers, slot)) => gate.clone().while_valid(answer, headers, principal, slot),
            None => answer,
        },
        Err(_) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the answer took longer than {timeout:?}: try a smaller question"),
        ),
    }
}

mod login;
pub use login::{LoginRequest, SessionJson};

#[cfg(test)]
mod tests;
