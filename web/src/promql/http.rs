//! The Prometheus HTTP API v1 over the engine: `query`, `query_range`, `series`, `labels`,
//! `label/<name>/values`, `metadata` and `status/buildinfo`, by GET or form-encoded POST,
//! with Prometheus's envelope (`status`, `data`, `errorType`, `error`, `warnings`), its
//! status codes (400 `bad_data`, 422 `execution`, 503 `unavailable`) and its time formats
//! (Unix seconds with decimals, or RFC 3339; steps in seconds or as durations).
//!
//! Each console mounts [`router`] with its own [`Backend`]: the source of a caller's series
//! (a region's store, or the centre's regions cut to the caller's scope).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value as Json_, json};

use super::node_names::NodeNames;
use super::value::{Labels, Series, Value, format_value, write_value};
use super::{PromqlError, Source};
use crate::auth::Caller;

/// What a console gives the API: where a caller's series come from.
pub trait Backend: Send + Sync + 'static {
    /// The source of the series `caller` may read.
    fn source(&self, caller: &Caller) -> Arc<dyn Source>;
    /// The version this server reports in `status/buildinfo`.
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }
}

/// The API's paths, for a console's OpenAPI document.
pub const PATHS: &[&str] = &[
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/{name}/values",
    "/api/v1/metadata",
    "/api/v1/status/buildinfo",
];

/// The API's operations as OpenAPI 3 path items (Prometheus's own document describes them
/// in full: <https://prometheus.io/docs/prometheus/latest/querying/api/>).
pub fn openapi_paths() -> serde_json::Map<String, Json_> {
    let q = |name: &str, description: &str| {
        json!({"name": name, "in": "query", "required": false, "description": description,
               "schema": {"type": "string"}})
    };
    let op = |summary: &str, params: Vec<Json_>| {
        let responses = json!({
            "200": {"description": "Prometheus's envelope: {status, data, warnings}",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "bad_data"},
            "401": {"description": "no credentials"},
            "422": {"description": "execution"},
            "503": {"description": "unavailable"}
        });
        json!({"summary": summary, "parameters": params, "responses": responses})
    };
    let time = q(
        "time",
        "evaluation time: Unix seconds or RFC 3339 (default: now)",
    );
    let (start, end) = (
        q("start", "Unix seconds or RFC 3339"),
        q("end", "Unix seconds or RFC 3339"),
    );
    let query = q("query", "a PromQL expression");
    let matches = q("match[]", "series selectors (repeatable)");
    let listing = || vec![matches.clone(), start.clone(), end.clone()];
    let mut values = listing();
    values.push(
        json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}),
    );
    let step = q("step", "seconds or a duration (15s)");
    // (path, summary, parameters, also by form POST)
    let table = [
        (
            PATHS[0],
            "PromQL at one time",
            vec![query.clone(), time],
            true,
        ),
        (
            PATHS[1],
            "PromQL over a range, a point every step",
            vec![query, start.clone(), end.clone(), step],
            true,
        ),
        (PATHS[2], "The series selectors select", listing(), true),
        (PATHS[3], "Label names", listing(), true),
        (PATHS[4], "A label's values", values, false),
        (PATHS[5], "Metric names (type unknown)", vec![], false),
        (PATHS[6], "The server's version, for Grafana", vec![], false),
    ];
    let mut out = serde_json::Map::new();
    for (path, summary, params, post) in table {
        let operation = op(summary, params);
        let item = if post {
            json!({"get": operation.clone(), "post": operation})
        } else {
            json!({"get": operation})
        };
        out.insert(path.into(), item);
    }
    out
}

/// The API's routes (`/api/v1/query`...), answered from `backend`.
pub fn router(backend: Arc<dyn Backend>) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .with_state(backend)
}

/// An answer in Prometheus's envelope, with its warnings when there are any.
fn success(data: Json_, warnings: Vec<String>) -> Response {
    if warnings.is_empty() {
        Json(json!({"status": "success", "data": data})).into_response()
    } else {
        Json(json!({"status": "success", "data": data, "warnings": warnings})).into_response()
    }
}

/// A refusal in Prometheus's envelope, with its status code.
fn failure(e: &PromqlError) -> Response {
    let status = match e {
        PromqlError::BadData(_) | PromqlError::Unsupported(_) => StatusCode::BAD_REQUEST,
        PromqlError::Execution(_) => StatusCode::UNPROCESSABLE_ENTITY,
        PromqlError::Source(_) | PromqlError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (
        status,
        Json(json!({"status": "error", "errorType": e.error_type(), "error": e.to_string()})),
    )
        .into_response()
}

fn bad(message: String) -> PromqlError {
    PromqlError::BadData(message)
}

/// The parameters of a GET's query string and a POST's form body, each name with its values.
fn params(
    query: Option<&str>,
    headers: &HeaderMap,
    method: &Method,
    body: &[u8],
) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let mut add = |text: &str| {
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.entry(form_decode(k)).or_default().push(form_decode(v));
        }
    };
    if let Some(q) = query {
        add(q);
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if *method == Method::POST && form {
        add(&String::from_utf8_lossy(body));
    }
    out
}

/// `a+b%20c` as `a b c`.
fn form_decode(text: &str) -> String {
    crate::auth::policy::percent_decode(&text.replace('+', " "))
}

fn one<'a>(p: &'a HashMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    p.get(name).and_then(|v| v.last()).map(String::as_str)
}

/// A time parameter in ms: Unix seconds (with decimals) or RFC 3339.
pub fn parse_time(name: &str, text: &str) -> Result<i64, PromqlError> {
    if let Ok(secs) = text.parse::<f64>() {
        if !secs.is_finite() || secs.abs() > 1e14 {
            return Err(bad(format!(
                "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid timestamp"
            )));
        }
        return Ok((secs * 1000.0).round() as i64);
    }
    rfc3339(text).ok_or_else(|| {
        bad(format!(
            "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid timestamp"
        ))
    })
}

/// `2026-12-04T11:00:00.5Z` (or with an offset `+01:00`) in ms.
fn rfc3339(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (clock, offset_ms) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (c, off) = rest.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
        if !(0..=23).contains(&oh) || !(0..=59).contains(&om) {
            return None;
        }
        (c, sign * (oh * 3600 + om * 60) * 1000)
    };
    let mut c = clock.split(':');
    let (h, mi): (i64, i64) = (c.next()?.parse().ok()?, c.next()?.parse().ok()?);
    let s: f64 = c.next()?.parse().ok()?;
    // RFC 3339's years have four digits: nothing beyond them can overflow the sums below
    if !(0..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || h > 23
        || mi > 59
        || !(0.0..61.0).contains(&s)
    {
        return None;
    }
    // days from the civil date (Howard Hinnant's algorithm)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(
        ((days * 86_400 + h * 3600 + mi * 60) as f64 * 1000.0 + s * 1000.0).round() as i64
            - offset_ms,
    )
}

/// A step or duration in ms: seconds (with decimals) or `1m30s`-style.
pub fn parse_step(name: &str, text: &str) -> Result<i64, PromqlError> {
    let invalid = || {
        bad(format!(
            "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid duration"
        ))
    };
    if let Ok(secs) = text.parse::<f64>() {
        // a number is seconds, or nothing: the duration parser panics on one too large
        // ("1e30", "Inf") rather than refusing it
        return (secs.is_finite() && secs.abs() < 1e12)
            .then(|| (secs * 1000.0).round() as i64)
            .ok_or_else(invalid);
    }
    promql_parser::util::parse_duration(text)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(invalid)
}

/// A timestamp in seconds, as Prometheus writes it (a number).
fn seconds(ms: i64) -> Json_ {
    json!(ms as f64 / 1000.0)
}

fn labels_json(labels: &Labels) -> Json_ {
    json!(labels)
}

fn matrix_json(series: &[Series]) -> Json_ {
    Json_::Array(
        series
            .iter()
            .map(|s| {
                let values: Vec<Json_> = s
                    .points
                    .iter()
                    .map(|(t, v)| json!([seconds(*t), format_value(*v)]))
                    .collect();
                json!({"metric": labels_json(&s.labels), "values": values})
            })
            .collect(),
    )
}

/// An instant query's value at `t`, as the API writes it.
fn value_json(value: &Value, t: i64) -> Json_ {
    match value {
        Value::Scalar(v) => {
            json!({"resultType": "scalar", "result": [seconds(t), format_value(*v)]})
        }
        Value::String(s) => json!({"resultType": "string", "result": [seconds(t), s]}),
        Value::Vector(samples) => {
            let result: Vec<Json_> = samples
                .iter()
                .map(|s| json!({"metric": labels_json(&s.labels), "value": [seconds(t), format_value(s.value)]}))
                .collect();
            json!({"resultType": "vector", "result": result})
        }
        Value::Matrix(series) => json!({"resultType": "matrix", "result": matrix_json(series)}),
    }
}

/// The parameters of a request: its query string's and, for a form-encoded POST, its
/// body's, each name with its values.
struct Form(HashMap<String, Vec<String>>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, crate::auth::gate::MAX_BODY)
            .await
            .map_err(|e| failure(&bad(format!("reading the form: {e}"))))?;
        Ok(Self(params(
            parts.uri.query(),
            &parts.headers,
            &parts.method,
            &bytes,
        )))
    }
}

/// A parameter that must be given.
fn needed<'a>(p: &'a HashMap<String, Vec<String>>, name: &str) -> Result<&'a str, PromqlError> {
    one(p, name).ok_or_else(|| bad(format!("invalid parameter \"{name}\": missing")))
}

async fn query(
    State(backend): State<Arc<dyn Backend>>,
    Extension(caller): Extension<Caller>,
    Form(p): Form,
) -> Response {
    let run = async {
        let text = needed(&p, "query")?;
        let t = match one(&p, "time") {
            Some(t) => parse_time("time", t)?,
            None => strata_proto::now_ms(),
        };
        let limit = timeout(&p)?;
        let source = NodeNames::wrap(backend.source(&caller));
        let value = within(limit, super::instant(source.as_ref(), text, t)).await?;
        Ok((value_json(&value, t), source.warnings()))
    };
    answer(run.await)
}

async fn query_range(
    State(backend): State<Arc<dyn Backend>>,
    Extension(caller): Extension<Caller>,
    Form(p): Form,
) -> Response {
    let run = async {
        let text = needed(&p, "query")?;
        let start = parse_time("start", needed(&p, "start")?)?;
        let end = parse_time("end", needed(&p, "end")?)?;
        let step = parse_step("step", needed(&p, "step")?)?;
        let limit = timeout(&p)?;
        let source = NodeNames::wrap(backend.source(&caller));
        let series = within(limit, super::range(source.as_ref(), text, start, end, step)).await?;
        Ok(matrix_body(&series, &source.warnings()))
    };
    match run.await {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => failure(&e),
    }
}

/// A range query's answer, written straight out (a large matrix would cost more as a tree
/// of JSON values): Prometheus's envelope with `warnings` when there are any.
fn matrix_body(series: &[Series], warnings: &[String]) -> Vec<u8> {
    let points: usize = series.iter().map(|s| s.points.len()).sum();
    let mut out = Vec::with_capacity(128 + series.len() * 128 + points * 32);
    out.extend_from_slice(br#"{"status":"success","data":{"resultType":"matrix","result":["#);
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"metric":"#);
        serde_json::to_writer(&mut out, &s.labels).expect("labels are strings");
        out.extend_from_slice(br#","values":["#);
        for (j, (t, v)) in s.points.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.push(b'[');
            serde_json::to_writer(&mut out, &(*t as f64 / 1000.0)).expect("a finite time");
            out.extend_from_slice(b",\"");
            write_value(&mut out, *v);
            out.extend_from_slice(b"\"]");
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    if !warnings.is_empty() {
        out.extend_from_slice(br#","warnings":"#);
        serde_json::to_writer(&mut out, warnings).expect("warnings are strings");
    }
    out.push(b'}');
    out
}

/// The `timeout` parameter in ms (Prometheus's default when none is given).
fn timeout(p: &HashMap<String, Vec<String>>) -> Result<i64, PromqlError> {
    match one(p, "timeout") {
        Some(t) => parse_step("timeout", t).and_then(|ms| {
            if ms > 0 {
                Ok(ms)
            } else {
                Err(bad(format!(
                    "invalid parameter \"timeout\": {t} is not a positive duration"
                )))
            }
        }),
        None => Ok(super::DEFAULT_TIMEOUT_MS),
    }
}

/// `evaluation`, ended with a `timeout` error after `limit_ms`.
async fn within<T>(
    limit_ms: i64,
    evaluation: impl std::future::Future<Output = Result<T, PromqlError>>,
) -> Result<T, PromqlError> {
    let limit = std::time::Duration::from_millis(limit_ms.unsigned_abs());
    tokio::time::timeout(limit, evaluation)
        .await
        .map_err(|_| PromqlError::Timeout(format!("{limit:?}")))?
}

/// Whether `name` is a label name Prometheus accepts (`[a-zA-Z_][a-zA-Z0-9_]*`).
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn answer(result: Result<(Json_, Vec<String>), PromqlError>) -> Response {
    match result {
        Ok((data, warnings)) => success(data, warnings),
        Err(e) => failure(&e),
    }
}

/// The label sets of the series the `match[]` selectors select in `[start, end]` (every
/// series when none is given and `any` is true), and the source's warnings.
async fn matched(
    backend: &Arc<dyn Backend>,
    caller: &Caller,
    p: &HashMap<String, Vec<String>>,
    any: bool,
) -> Result<(BTreeSet<Labels>, Vec<String>), PromqlError> {
    let end = match one(p, "end") {
        Some(t) => parse_time("end", t)?,
        None => strata_proto::now_ms(),
    };
    let start = match one(p, "start") {
        Some(t) => parse_time("start", t)?,
        None => end - 24 * 3600 * 1000,
    };
    let mut selectors: Vec<String> = p.get("match[]").cloned().unwrap_or_default();
    if selectors.is_empty() {
        if !any {
            return Err(bad("no match[] parameter provided".into()));
        }
        selectors.push("{__name__=~\".+\"}".into());
    }
    let source = NodeNames::wrap(backend.source(caller));
    let mut out = BTreeSet::new();
    for text in selectors {
        let expr = super::parse(&text)?;
        let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
            return Err(bad(format!(
                "invalid parameter \"match[]\": {text} is not a series selector"
            )));
        };
        let series = source
            .series(&vs, start, end)
            .await
            .map_err(PromqlError::Source)?;
        out.extend(series);
    }
    Ok((out, source.warnings()))
}

/// What the listing endpoints make of the label sets selected.
type Listing = fn(&BTreeSet<Labels>, &str) -> Json_;

/// A listing endpoint: the series selected (all of them when `any`), as `list` shows them.
async fn listing(
    backend: Arc<dyn Backend>,
    caller: Caller,
    p: HashMap<String, Vec<String>>,
    any: bool,
    label: &str,
    list: Listing,
) -> Response {
    answer(
        matched(&backend, &caller, &p, any)
            .await
            .map(|(set, w)| (list(&set, label), w)),
    )
}

async fn series(
    State(backend): State<Arc<dyn Backend>>,
    Extension(caller): Extension<Caller>,
    Form(p): Form,
) -> Response {
    listing(backend, caller, p, false, "", |set, _| {
        Json_::Array(set.iter().map(labels_json).collect())
    })
    .await
}

async fn labels(
    State(backend): State<Arc<dyn Backend>>,
    Extension(caller): Extension<Caller>,
    Form(p): Form,
) -> Response {
    listing(backend, caller, p, true, "", |set, _| {
        json!(set.iter().flat_map(|l| l.keys()).collect::<BTreeSet<_>>())
    })
    .await
}

async fn label_values(
    State(backend): State<Arc<dyn Backend>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Form(p): Form,
) -> Response {
    if !is_label_name(&name) {
        return failure(&bad(format!("invalid label name: {name:?}")));
    }
    listing(backend, caller, p, true, &name, |set, label| {
        json!(
            set.iter()
                .filter_map(|l| l.get(label))
                .collect::<BTreeSet<_>>()
        )
    })
    .await
}

/// `metadata`: each metric name with what is known of it (Strata keeps no type or help).
async fn metadata(
    State(backend): State<Arc<dyn Backend>>,
    Extension(caller): Extension<Caller>,
    Form(p): Form,
) -> Response {
    listing(backend, caller, p, true, "", |set, _| {
        let names: BTreeSet<&String> = set
            .iter()
            .filter_map(|l| l.get(super::value::NAME))
            .collect();
        let unknown = json!([{"type": "unknown", "help": "", "unit": ""}]);
        json!(
            names
                .into_iter()
                .map(|n| (n.clone(), unknown.clone()))
                .collect::<BTreeMap<_, _>>()
        )
    })
    .await
}

/// `status/buildinfo`, as Grafana asks for it when a data source is added.
async fn buildinfo(State(backend): State<Arc<dyn Backend>>) -> Response {
    success(
        json!({
        "version": backend.version(),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
        }),
        Vec::new(),
    )
}

#[cfg(test)]
mod tests;
