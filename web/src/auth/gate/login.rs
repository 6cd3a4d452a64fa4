//! The gate's own routes: `login` (a name and password against the principals, a session
//! opened in an HttpOnly, SameSite=Strict cookie, every attempt audited, a name or address
//! that kept failing made to wait: [`crate::auth::lockout`]), `logout` and
//! `session` (who is calling, and the session's token against cross-site request forgery).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{Caller, Gate, MAX_BODY, cookie, refuse};
use crate::ApiError;
use crate::auth::lockout;
use crate::auth::policy::Action;
use crate::auth::sessions::cookie_name;
use crate::auth::{AuditRecord, Role};

/// The body of `POST /api/v1/login`.
#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    pub name: String,
    pub password: String,
}

/// Who is logged in: the answer of `login` and `session`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SessionJson {
    pub name: String,
    pub role: Role,
    pub regions: String,
    /// The token every change from this session must send in `X-CSRF-Token` (absent for
    /// an API token, which needs none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
}

pub(super) fn address_of(request_info: Option<&ConnectInfo<SocketAddr>>) -> String {
    request_info.map(|c| c.0.to_string()).unwrap_or_default()
}

/// `POST /api/v1/login`: checks a name and password and opens a session (the cookie).
pub(super) async fn login(State(gate): State<Arc<Gate>>, request: Request) -> Response {
    let address = address_of(request.extensions().get::<ConnectInfo<SocketAddr>>());
    let cookie_name = cookie_name(
        request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok()),
    );
    let req = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(bytes) => match serde_json::from_slice::<LoginRequest>(&bytes) {
            Ok(req) => req,
            Err(e) => return ApiError::bad_request(format!("login: {e}")).into_response(),
        },
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body: more than {MAX_BODY} bytes"),
            );
        }
    };
    let principals = gate.principals.current();
    let name = req.name.clone();
    let record = |outcome: &str| AuditRecord {
        at_ms: strata_proto::now_ms(),
        who: name.clone(),
        address: address.clone(),
        action: "login".into(),
        subject: name.clone(),
        outcome: outcome.into(),
        detail: String::new(),
    };
    // a name or an address that kept failing waits before its password is checked again
    let keys = lockout::keys(&name, &address);
    if let Some((wait, failures)) = gate.lockout.wait(&keys, Instant::now()) {
        let secs = wait.as_secs().max(1);
        gate.record(record(&format!(
            "refused: {failures} failed logins in a row, wait {secs} s"
        )));
        let mut response = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{failures} failed logins in a row: try again in {secs} s"),
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    // each check is memory-hard: a few at once, so that a flood of logins cannot exhaust
    // the manager's memory or threads
    let wait = gate.limits.login_wait;
    let Ok(Ok(_permit)) = tokio::time::timeout(wait, gate.password_checks.acquire()).await else {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many logins at once: try again in a moment".into(),
        );
    };
    let checked =
        tokio::task::spawn_blocking(move || principals.check_password(&req.name, &req.password))
            .await
            .ok()
            .flatten();
    let Some(principal) = checked else {
        gate.lockout.failed(&keys, Instant::now());
        gate.record(record("refused: wrong name or password"));
        return refuse(StatusCode::UNAUTHORIZED, "wrong name or password".into());
    };
    if let Err(message) = gate.authorize(&principal, Action::Read, Some(&[])) {
        gate.record(record("refused: out of scope"));
        return refuse(StatusCode::FORBIDDEN, message);
    }
    gate.lockout.succeeded(&keys[0]);
    let (value, s) = gate.sessions.open(&principal.name, strata_proto::now_ms());
    gate.record(record("ok"));
    let cookie = format!(
        "{cookie_name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        gate.sessions.ttl().as_secs(),
        if gate.secure { "; Secure" } else { "" }
    );
    let answer = SessionJson {
        name: principal.name,
        role: principal.role,
        regions: principal.scope.to_string(),
        csrf: Some(s.csrf),
        expires_ms: Some(s.expires_ms),
    };
    let mut response = Json(answer).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// `POST /api/v1/logout`: ends the session of the cookie.
pub(super) async fn logout(State(gate): State<Arc<Gate>>, headers: HeaderMap) -> Response {
    let name = cookie_name(headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    if let Some(value) = cookie(&headers, &name) {
        gate.sessions.close(value);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// `GET /api/v1/session`: who is calling (and, for a console's session, its CSRF token).
pub(super) async fn session(
    State(gate): State<Arc<Gate>>,
    headers: HeaderMap,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Json<SessionJson> {
    let name = cookie_name(headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    let s = cookie(&headers, &name).and_then(|v| gate.sessions.get(v, strata_proto::now_ms()));
    Json(SessionJson {
        name: caller.principal.name,
        role: caller.principal.role,
        regions: caller.principal.scope.to_string(),
        csrf: s.as_ref().map(|s| s.csrf.clone()),
        expires_ms: s.map(|s| s.expires_ms),
    })
}
