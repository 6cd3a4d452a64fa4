//! Users and API tokens through the API (the centre's; admins of all regions only, by the
//! path table): list, add, change and remove accounts; make (the text shown once), list and
//! revoke tokens. Every change is written to the principals file, whose new version the
//! centre hands to the regions, and audited with who made it before it is answered.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::gate::{AuditSink, Caller};
use super::principals::{TokenView, UserView};
use super::{AuthError, PrincipalsFile, Role, Scope};
use crate::ApiError;

/// What the routes need: the principals and where changes are audited.
#[derive(Clone)]
struct Manage {
    principals: Arc<PrincipalsFile>,
    audit: AuditSink,
}

/// The routes `/api/v1/users…` and `/api/v1/tokens…` over `principals`.
pub fn routes(principals: Arc<PrincipalsFile>, audit: AuditSink) -> Router {
    Router::new()
        .route("/api/v1/users", get(users).post(add_user))
        .route("/api/v1/users/{name}", put(change_user).delete(remove_user))
        .route("/api/v1/tokens", get(tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .with_state(Manage { principals, audit })
}

/// The body of `POST /api/v1/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub password: String,
    pub role: String,
    /// `all` (the default) or a comma-separated list.
    #[serde(default)]
    pub regions: String,
}

/// The body of `PUT /api/v1/users/{name}`: what changes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub password: Option<String>,
    pub role: Option<String>,
    pub regions: Option<String>,
}

/// The body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub regions: String,
    /// How long it works (`30d`; default `90d`; `never`).
    #[serde(default)]
    pub expires: String,
}

/// A token made: its text, shown this once.
#[derive(Debug, Serialize)]
pub struct MadeToken {
    pub id: String,
    pub token: String,
    pub expires_ms: i64,
}

fn bad(e: AuthError) -> ApiError {
    match e {
        AuthError::Invalid(m) => ApiError::bad_request(m),
        other => ApiError::internal(other.to_string()),
    }
}

fn role_scope(role: &str, regions: &str) -> Result<(Role, Scope), ApiError> {
    Ok((
        Role::parse(role).map_err(ApiError::bad_request)?,
        Scope::parse(regions).map_err(ApiError::bad_request)?,
    ))
}

impl Manage {
    /// Applies `change`, audits it as `action` on `subject` by `by` with its outcome.
    fn change<T>(
        &self,
        by: &Caller,
        action: &str,
        subject: &str,
        detail: String,
        change: impl FnOnce(&mut super::Principals) -> Result<T, AuthError>,
    ) -> Result<T, ApiError> {
        let done = self.principals.change(change).map_err(bad);
        let outcome = match &done {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("failed: {}", e.message),
        };
        (self.audit)(by.audit(action, subject, &outcome, detail));
        done
    }
}

async fn users(State(m): State<Manage>) -> Json<Vec<UserView>> {
    Json(m.principals.current().user_views())
}

async fn tokens(State(m): State<Manage>) -> Json<Vec<TokenView>> {
    Json(m.principals.current().token_views())
}

async fn add_user(
    State(m): State<Manage>,
    Extension(by): Extension<Caller>,
    Json(u): Json<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let (role, scope) = role_scope(&u.role, &u.regions)?;
    let detail = format!("{role}, regions {scope}");
    let now = strata_proto::now_ms();
    m.change(&by, "add user", &u.name, detail, |p| {
        p.add_user(&u.name, &u.password, role, scope, now)
    })?;
    let view = m
        .principals
        .current()
        .user_views()
        .into_iter()
        .find(|v| v.name == u.name);
    view.map(|v| (StatusCode::CREATED, Json(v)))
        .ok_or_else(|| ApiError::internal("the user was added but is not listed"))
}

async fn change_user(
    State(m): State<Manage>,
    Extension(by): Extension<Caller>,
    Path(name): Path<String>,
    Json(c): Json<UserChange>,
) -> Result<Json<UserView>, ApiError> {
    let role = c
        .role
        .as_deref()
        .map(Role::parse)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let scope = c
        .regions
        .as_deref()
        .map(Scope::parse)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let mut said = Vec::new();
    if c.password.is_some() {
        said.push("password".to_string());
    }
    if let Some(r) = role {
        said.push(format!("role {r}"));
    }
    if let Some(s) = &scope {
        said.push(format!("regions {s}"));
    }
    let now = strata_proto::now_ms();
    m.change(&by, "change user", &name, said.join(", "), |p| {
        if let Some(password) = &c.password {
            p.set_password(&name, password, now)?;
        }
        let user = p
            .users
            .get_mut(&name)
            .ok_or_else(|| AuthError::Invalid(format!("name: no user '{name}'")))?;
        if let Some(r) = role {
            user.role = r;
        }
        if let Some(s) = scope {
            user.scope = s;
        }
        // a session opened before the change ends
        user.changed_ms = now;
        Ok(())
    })?;
    let view = m
        .principals
        .current()
        .user_views()
        .into_iter()
        .find(|v| v.name == name);
    view.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no user '{name}'")))
}

async fn remove_user(
    State(m): State<Manage>,
    Extension(by): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    m.change(&by, "remove user", &name, String::new(), |p| {
        p.remove_user(&name)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_token(
    State(m): State<Manage>,
    Extension(by): Extension<Caller>,
    Json(t): Json<NewToken>,
) -> Result<(StatusCode, Json<MadeToken>), ApiError> {
    let (role, scope) = role_scope(&t.role, &t.regions)?;
    let now = strata_proto::now_ms();
    let expires_ms = super::principals::expires_at(&t.expires, now).map_err(bad)?;
    let detail = format!("{role}, regions {scope}");
    let (id, token) = m.change(&by, "create token", &t.name, detail, |p| {
        p.create_token(&t.name, role, scope, expires_ms, now)
    })?;
    Ok((
        StatusCode::CREATED,
        Json(MadeToken {
            id,
            token,
            expires_ms,
        }),
    ))
}

async fn revoke_token(
    State(m): State<Manage>,
    Extension(by): Extension<Caller>,
    Path(which): Path<String>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let now = strata_proto::now_ms();
    let id = m.change(&by, "revoke token", &which, String::new(), |p| {
        p.revoke_token(&which, now)
    })?;
    Ok(Json(
        m.principals
            .current()
            .token_views()
            .into_iter()
            .filter(|t| t.id == id)
            .collect(),
    ))
}
