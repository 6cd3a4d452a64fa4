//! The OpenAPI 3 document of the REST API, served at `/api/v1/openapi.json`, so that clients
//! can be generated and the API browsed with the usual tools. Kept beside the router
//! (`http.rs`): a route added there and not here is caught by the test below.

use axum::Json;
use serde_json::{Value, json};

/// `GET /api/v1/openapi.json`: the document, built once.
pub(super) async fn openapi() -> Json<&'static Value> {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(document))
}

/// Every path the router serves under `/api/v1` (and the two outside it).
pub const PATHS: &[&str] = &[
    "/api/v1/overview",
    "/api/v1/resources",
    "/api/v1/events",
    "/api/v1/events/ack",
    "/api/v1/regions/{region}/rules",
    "/api/v1/regions/{region}/notifications",
    "/api/v1/regions/{region}/notify",
    "/api/v1/regions/{region}/agents",
    "/api/v1/regions/{region}/forwarding",
    "/api/v1/resources/{id}/metrics",
    "/api/v1/resources/{region}/{host}/metrics",
    "/api/v1/resources/{region}/{host}/snapshot",
    "/api/v1/resources/{region}/{host}/events",
    "/api/v1/resources/{region}/{host}/config",
    "/api/v1/services",
    "/api/v1/services/{name}",
    "/api/v1/services/{name}/versions",
    "/api/v1/services/{name}/sla",
    "/api/v1/services/{name}/rca",
    "/api/v1/services/{name}/qos",
    "/api/v1/services/{name}/slo",
    "/api/v1/reports/schedules",
    "/api/v1/files",
    "/api/v1/files/{name}",
    "/api/v1/files/{name}/rollback",
    "/api/v1/reports/{kind}",
    "/api/v1/openapi.json",
    "/api/v1/placement",
    "/api/v1/stream",
    "/api/v1/console",
    "/healthz",
    "/metrics",
    "/api/v1/login",
    "/api/v1/logout",
    "/api/v1/session",
    "/api/v1/users",
    "/api/v1/users/{name}",
    "/api/v1/tokens",
    "/api/v1/tokens/{id}",
];

/// The paths open without credentials (every other answers 401 without them).
pub const OPEN: &[&str] = &["/healthz", "/api/v1/login"];

fn query(name: &str, description: &str, kind: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "schema": {"type": kind}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string"}})
}

fn ok(description: &str, kind: &str) -> Value {
    json!({
        "200": {"description": description,
                "content": {"application/json": {"schema": {"type": kind}}}},
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"},
        "403": {"$ref": "#/components/responses/Error"},
        "404": {"$ref": "#/components/responses/Error"}
    })
}

fn get(summary: &str, parameters: Vec<Value>, description: &str, kind: &str) -> Value {
    json!({"get": {"summary": summary, "parameters": parameters, "responses": ok(description, kind)}})
}

/// The document.
pub fn document() -> Value {
    let region = query("region", "only this region", "string");
    let metric_params = vec![
        query("name", "metric name (required)", "string"),
        query(
            "from_ms",
            "start, ms since the epoch (default: an hour ago)",
            "integer",
        ),
        query("to_ms", "end, ms since the epoch (default: now)", "integer"),
        query("step_ms", "bucket width; 0 = raw points", "integer"),
        query(
            "agg",
            "avg, min, max, last, sum, count, increase, rate, quantile",
            "string",
        ),
        query("q", "the quantile for agg=quantile, 0 to 1", "number"),
        query(
            "across",
            "combine series: sum, avg, min, max, count",
            "string",
        ),
        query(
            "by",
            "labels to group `across` by, comma-separated",
            "string",
        ),
    ];
    let name = path_param("name", "the service");
    let mut by_id = metric_params.clone();
    by_id.push(path_param("id", "<region>%2F<host>"));
    let mut by_parts = metric_params;
    by_parts.push(path_param("region", "the region"));
    by_parts.push(path_param("host", "the host"));
    let service = json!({
        "get": {"summary": "A service drilled down to its components, hosts and their incidents",
                "parameters": [name.clone()], "responses": ok("the service", "object")},
        "put": {"summary": "Store a definition as the service's next version (validated with the whole set)",
                "parameters": [name.clone()],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServiceDef"}}}},
                "responses": ok("{name, version}", "object")},
        "delete": {"summary": "Remove the service (409 while others depend on it)",
                   "parameters": [name.clone()],
                   "responses": {"204": {"description": "removed"},
                                 "404": {"$ref": "#/components/responses/Error"},
                                 "409": {"$ref": "#/components/responses/Error"}}}
    });
    let mut paths = serde_json::Map::new();
    let mut put = |p: &str, v: Value| {
        paths.insert(p.to_string(), v);
    };
    put(
        "/api/v1/overview",
        get(
            "Every region: sub-managers, resource and incident counts",
            vec![],
            "the overview",
            "object",
        ),
    );
    put(
        "/api/v1/resources",
        get(
            "Resources with their state",
            vec![region.clone()],
            "resources",
            "array",
        ),
    );
    put(
        "/api/v1/events",
        get(
            "Incidents: open ones, critical first; with include=resolved the resolved ones too",
            vec![
                region,
                query("include", "open (default) or resolved", "string"),
            ],
            "incidents",
            "array",
        ),
    );
    put(
        "/api/v1/resources/{region}/{host}/config",
        json!({"get": {"summary": "The configuration pushed to the host's agent and in force there, with the local commands a pushed script check may run and the allow_paths a pushed log check may read",
                       "parameters": [path_param("region", "the region"), path_param("host", "the host")],
                       "responses": ok("{pushed_toml, commands, allow_paths}", "object")},
               "put": {"summary": "Push a configuration to the host's agent (items and intervals, checks and probes, as TOML); the agent applies it only when all of it is valid (400 listing each problem)",
                       "parameters": [path_param("region", "the region"), path_param("host", "the host")],
                       "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}}}},
                       "responses": ok("{applied, checks}", "object")}}),
    );
    put(
        "/api/v1/events/ack",
        json!({"post": {"summary": "Acknowledge an open incident: its escalation and repeated notifications stop",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["resource_id", "rule", "by"],
                            "properties": {"resource_id": {"type": "string", "description": "<region>/<host> or services/<name>"},
                                           "rule": {"type": "string"}, "by": {"type": "string"},
                                           "comment": {"type": "string"}}}}}},
                        "responses": ok("{acknowledged, events}", "object")}}),
    );
    let region_param = path_param("region", "the region");
    put(
        "/api/v1/regions/{region}/rules",
        json!({
            "get": {"summary": "The alerting rules in force in a region (built-in thresholds, its rules file, its API rules), as TOML",
                    "parameters": [region_param.clone()], "responses": ok("{rules_toml, count, file, loaded_ms}", "object")},
            "put": {"summary": "Replace the region's API rules with a rules file (TOML body); validated whole, every problem named",
                    "parameters": [region_param.clone()],
                    "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "responses": ok("{rules_toml, count, file, loaded_ms}", "object")}
        }),
    );
    put(
        "/api/v1/regions/{region}/agents",
        get(
            "The region's agents as their pollers last saw them: buffer held, capacity and samples dropped, samples of the last poll, series known (one row per agent and poller)",
            vec![region_param.clone()],
            "[{agent_id, address, member_id, pollers, polled_ms, samples, series, buffer: {len, capacity, dropped_total, epoch} | null}]",
            "array",
        ),
    );
    put(
        "/api/v1/regions/{region}/forwarding",
        get(
            "The region's remote-write destinations, one row per destination and member: samples sent, failed and retried requests, samples dropped and filtered, lag, writes pending",
            vec![region_param.clone()],
            "[{member_id, name, url, sent, failed, retried, dropped, filtered, lag_seconds, pending_records, last_success_ms}]",
            "array",
        ),
    );
    let channels = "{notify_toml, source, loaded_ms, receivers, routes, silences}";
    put(
        "/api/v1/regions/{region}/notify",
        json!({
            "get": {"summary": "The region's notification channels in force (receivers, routes, silences, delivery settings) as TOML, secrets shown as <hidden>, and whether they come from its config file or the API",
                    "parameters": [region_param.clone()], "responses": ok(channels, "object")},
            "put": {"summary": "Replace the region's notification channels (TOML body, the [notify] section's content); validated whole, every problem named; a secret given as <hidden> keeps the receiver's current one",
                    "parameters": [region_param.clone()],
                    "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "responses": ok(channels, "object")},
            "delete": {"summary": "Drop the channels put through the API: the region's config file's are in force again",
                       "parameters": [region_param.clone()], "responses": ok(channels, "object")}
        }),
    );
    put(
        "/api/v1/regions/{region}/notifications",
        get(
            "Notifications the region's members sent, are sending and failed to send, newest first",
            vec![
                region_param,
                query("limit", "how many (1 to 1000, default 100)", "integer"),
            ],
            "notifications",
            "array",
        ),
    );
    put(
        "/api/v1/resources/{id}/metrics",
        get(
            "Metric history of a resource, from its region",
            by_id,
            "series",
            "object",
        ),
    );
    put(
        "/api/v1/resources/{region}/{host}/metrics",
        get(
            "Metric history of a resource, from its region",
            by_parts,
            "series",
            "object",
        ),
    );
    let host_params = vec![
        path_param("region", "the region"),
        path_param("host", "the host (its agent's id)"),
    ];
    put(
        "/api/v1/resources/{region}/{host}/snapshot",
        get(
            "The host's live detail from its agent: top processes by CPU, connections, interfaces, check results",
            {
                let mut p = host_params.clone();
                p.push(query(
                    "top",
                    "processes listed (default 20, at most 500)",
                    "integer",
                ));
                p
            },
            "{agent_id, ts_ms, process_count, processes, connections, interfaces, checks}",
            "object",
        ),
    );
    put(
        "/api/v1/resources/{region}/{host}/events",
        get(
            "The host's incidents, open first, then resolved, newest first",
            host_params,
            "incidents",
            "array",
        ),
    );
    put(
        "/api/v1/services",
        get(
            "Every business service with its health",
            vec![],
            "services",
            "array",
        ),
    );
    put("/api/v1/services/{name}", service);
    put(
        "/api/v1/services/{name}/versions",
        get(
            "Every stored version of a service",
            vec![name.clone()],
            "versions",
            "array",
        ),
    );
    let period = query(
        "period",
        "day, week, month, year (the last complete one), today, this-week, this-month, this-year, \
         2026, 2026-10, 2026-10-31, or a duration ending now (24h, 7d); UTC",
        "string",
    );
    put(
        "/api/v1/services/{name}/sla",
        get(
            "Availability, time and minutes lost, error budget and outages over a period (maintenance left out)",
            vec![
                name.clone(),
                period.clone(),
                query(
                    "from_ms",
                    "start, without period (default: the SLO window, or 30 days, before to_ms)",
                    "integer",
                ),
                query("to_ms", "end, without period (default: now)", "integer"),
            ],
            "the SLA report",
            "object",
        ),
    );
    put(
        "/api/v1/services/{name}/qos",
        get(
            "Response-time percentiles, mean phases and error rate of the service's probes, whole and step by step",
            vec![
                name.clone(),
                period.clone(),
                query(
                    "from_ms",
                    "start, without period (default: an hour ago)",
                    "integer",
                ),
                query("to_ms", "end, without period (default: now)", "integer"),
                query(
                    "step_ms",
                    "step (default: a minute, or an hour past the minutes kept)",
                    "integer",
                ),
            ],
            "{summary: {runs, failures, error_rate, p50_ms, p90_ms, p99_ms, phases_ms}, points: [...]}",
            "object",
        ),
    );
    put(
        "/api/v1/services/{name}/slo",
        get(
            "The objective, the error budget left and the burn-rate alerts (1 h & 5 min > 14.4, 6 h & 30 min > 6)",
            vec![name.clone()],
            "{objective, budget_remaining, alerts: [{rule, long, short, firing}]}",
            "object",
        ),
    );
    for (path, op) in files::paths() {
        put(path, op);
    }
    put(
        "/api/v1/reports/schedules",
        get(
            "The scheduled reports ([[reports.schedules]]): each one's report, cadence, time zone and receivers, when it is next due, and what was last done (due_ms, sent_ms, late, missed, pending_ms, delivered, attempts, error)",
            vec![],
            "[{name, report, every, at, time_zone, receivers, next_due_ms, last}]",
            "array",
        ),
    );
    put(
        "/api/v1/reports/{kind}",
        get(
            "A report as a table: availability, performance, failure (MTTR, MTBF), operations, audit, comparison, capacity (forecasts with seasonality) or recovery (automatic recovery's record)",
            vec![
                path_param("kind", "the report kind"),
                period,
                query("format", "json (default) or csv", "string"),
                query("service", "only this service (or its resources)", "string"),
                query(
                    "resources",
                    "comparison, capacity: region/host,region/host",
                    "string",
                ),
                query(
                    "metric",
                    "comparison: the metric (default host_cpu_usage_ratio)",
                    "string",
                ),
                query(
                    "limit",
                    "capacity: the limit as a ratio (default 0.9)",
                    "number",
                ),
            ],
            "{kind, from_ms, to_ms, columns, rows}",
            "object",
        ),
    );
    put(
        "/api/v1/services/{name}/rca",
        get(
            "Likely causes of the service's state, best first, with their evidence",
            vec![
                name,
                query(
                    "window_ms",
                    "how far back to look (default 15 minutes)",
                    "integer",
                ),
            ],
            "the analysis",
            "object",
        ),
    );
    put(
        "/api/v1/openapi.json",
        get("This document", vec![], "OpenAPI 3", "object"),
    );
    put(
        "/api/v1/placement",
        get(
            "The hosts of a service's component ranked by live load (CPU, memory, network), least loaded first",
            vec![
                query("service", "the service (required)", "string"),
                query("component", "its component, the group (required)", "string"),
                query(
                    "window_ms",
                    "how far back the load is averaged (default 60000)",
                    "integer",
                ),
                query("w_cpu", "weight of CPU (default 0.5)", "number"),
                query("w_memory", "weight of memory (default 0.3)", "number"),
                query(
                    "w_network",
                    "weight of network throughput relative to the busiest node (default 0.2)",
                    "number",
                ),
            ],
            "{nodes: [{resource_id, score, cpu, memory, network_bytes_per_second}], excluded}",
            "object",
        ),
    );
    put(
        "/api/v1/stream",
        json!({"get": {"summary": "Server-sent events: an `overview` event (the overview's JSON) at once and every 2 s",
        "responses": {"200": {"description": "an event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}}}),
    );
    put(
        "/api/v1/console",
        get(
            "What this console covers: {scope: enterprise} here, {scope: region, region, member} on a sub-manager's regional console",
            vec![],
            "scope",
            "object",
        ),
    );
    put("/healthz", {
        let mut h = get("The super-manager's own health", vec![], "health", "object");
        h["get"]["security"] = json!([]);
        h
    });
    put(
        "/api/v1/login",
        json!({"post": {"summary": "Log in with a name and password: opens a session (an HttpOnly, SameSite=Strict cookie) and answers {name, role, regions, csrf, expires_ms}; every change made with the session carries `csrf` in X-CSRF-Token",
            "security": [],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                "required": ["name", "password"], "properties": {"name": {"type": "string"}, "password": {"type": "string"}}}}}},
            "responses": {"200": {"description": "logged in", "content": {"application/json": {"schema": {"type": "object"}}}},
                          "401": {"$ref": "#/components/responses/Error"}}}}),
    );
    put(
        "/api/v1/logout",
        json!({"post": {"summary": "Ends the session of the cookie",
            "responses": {"204": {"description": "logged out"}}}}),
    );
    let body = |props: Value, required: Vec<&str>| {
        json!({"required": true, "content": {"application/json": {"schema": {"type": "object",
            "required": required, "properties": props}}}})
    };
    let user_props = json!({"name": {"type": "string"}, "password": {"type": "string"},
        "role": {"type": "string", "enum": ["viewer", "operator", "admin"]},
        "regions": {"type": "string", "description": "all, or a comma-separated list"}});
    put(
        "/api/v1/users",
        json!({
            "get": {"summary": "The local accounts (no hashes); admins of all regions", "responses": ok("users", "array")},
            "post": {"summary": "Adds an account (a password of 8 characters or more); audited",
                "requestBody": body(user_props.clone(), vec!["name", "password", "role"]),
                "responses": {"201": {"description": "added"}, "400": {"$ref": "#/components/responses/Error"},
                              "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}
        }),
    );
    put(
        "/api/v1/users/{name}",
        json!({
            "parameters": [path_param("name", "the account")],
            "put": {"summary": "Changes an account's password, role or regions (its sessions end); audited",
                "requestBody": body(user_props, vec![]), "responses": ok("the account", "object")},
            "delete": {"summary": "Removes an account (its sessions end); audited",
                "responses": {"204": {"description": "removed"}, "400": {"$ref": "#/components/responses/Error"},
                              "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}
        }),
    );
    put(
        "/api/v1/tokens",
        json!({
            "get": {"summary": "The API tokens (never their text)", "responses": ok("tokens", "array")},
            "post": {"summary": "Makes an API token: {id, token, expires_ms}, the token's text shown this once; audited",
                "requestBody": body(json!({"name": {"type": "string"}, "role": {"type": "string"},
                    "regions": {"type": "string"}, "expires": {"type": "string", "description": "30d, 12h, never (default 90d)"}}),
                    vec!["name", "role"]),
                "responses": {"201": {"description": "made"}, "400": {"$ref": "#/components/responses/Error"},
                              "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}
        }),
    );
    put(
        "/api/v1/tokens/{id}",
        json!({
            "parameters": [path_param("id", "the token's id, or its name when one token has it")],
            "delete": {"summary": "Revokes a token (in force in the regions at their next push); audited",
                "responses": ok("the token revoked", "array")}
        }),
    );
    put(
        "/api/v1/session",
        get(
            "Who is calling: {name, role, regions} and, for a console's session, its csrf token",
            vec![],
            "the caller",
            "object",
        ),
    );
    put(
        "/metrics",
        json!({"get": {"summary": "The super-manager's own metrics (Prometheus text)",
        "responses": {"200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}}),
    );
    paths.extend(strata_web::promql::http::openapi_paths());
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Strata super-manager", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The enterprise view: regions, resources, incidents, services, SLA and root cause."},
        "paths": paths,
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (strata token create): strata_<id>_<secret>"},
                "session": {"type": "apiKey", "in": "cookie", "name": "strata_session_<port>", "description": "a console's login (POST /api/v1/login), named after the port it is served on"}
            },
            "responses": {"Error": {"description": "the request was refused; the message names the parameter or field",
                "content": {"application/json": {"schema": {"type": "object",
                    "properties": {"error": {"type": "string"}}}}}}},
            "schemas": {"ServiceDef": {"type": "object", "required": ["name", "components"],
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "depends_on": {"type": "array", "items": {"type": "string"}},
                    "rollup": {"type": "string", "enum": ["worst", "k-of-n", "weighted"]},
                    "k": {"type": "integer"},
                    "degraded_below": {"type": "number"},
                    "down_below": {"type": "number"},
                    "slo": {"type": "object", "properties": {"objective": {"type": "number"}, "window": {"type": "string"}}},
                    "components": {"type": "array", "items": {"type": "object", "required": ["name"],
                        "properties": {"name": {"type": "string"}, "region": {"type": "string"},
                                       "host": {"type": "string"}, "check": {"type": "string"},
                                       "weight": {"type": "number"}}}}
                }}}
        }
    })
}

mod files;
#[cfg(test)]
mod tests;
