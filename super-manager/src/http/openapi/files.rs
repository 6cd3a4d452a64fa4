//! The file distribution's paths of the OpenAPI document.

use serde_json::{Value, json};

use super::{get, ok, path_param};

/// `/api/v1/files`, `/api/v1/files/{name}` and its rollback, with their operations.
pub(super) fn paths() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/api/v1/files",
            json!({
                "get": {"summary": "The file bundles published: each one's latest version, who published it and when, its files, and its hosts counted as applied, refused and pending",
                        "parameters": [], "responses": ok("[{name, version, rollback_to, published_by, published_ms, files, hosts, applied, refused, pending}]", "array")},
                "post": {"summary": "Publishes a bundle (admins of all regions): its files with their modes, to the hosts the targets select (all of region, hosts pattern, service and component given); signed by this centre and handed to each host's agent, which writes it only under its own accept_files; audited",
                         "requestBody": {"required": true, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["name", "files", "targets"],
                             "properties": {
                                 "name": {"type": "string"},
                                 "files": {"type": "array", "items": {"type": "object", "required": ["path"], "properties": {
                                     "path": {"type": "string"}, "mode": {"type": "string", "description": "octal, default 0644"},
                                     "content": {"type": "string"}, "content_base64": {"type": "string"}}}},
                                 "targets": {"type": "object", "properties": {
                                     "region": {"type": "string"}, "hosts": {"type": "string", "description": "* and ? over host names"},
                                     "service": {"type": "string"}, "component": {"type": "string"}}}}}}}},
                         "responses": ok("{name, version, rollback_to, published_by, published_ms, files: [{path, mode, bytes}], hosts: {id: {state, version, reason, at_ms, attempts, next_ms}}}", "object")}
            }),
        ),
        (
            "/api/v1/files/{name}",
            get(
                "A bundle's latest version: its files, and where it stands on each host (state pending, applied or refused, the version the host has, the reason it refused or the last error reaching it, tries)",
                vec![path_param("name", "the bundle")],
                "{name, version, rollback_to, published_by, published_ms, files, hosts}",
                "object",
            ),
        ),
        (
            "/api/v1/files/{name}/rollback",
            json!({"post": {"summary": "Rolls a bundle back (admins of all regions): a new version that makes its hosts restore version `to` (default the one before the latest) from what they kept; audited",
                        "parameters": [path_param("name", "the bundle")],
                        "requestBody": {"required": false, "content": {"application/json": {"schema": {
                            "type": "object", "properties": {"to": {"type": "integer"}}}}}},
                        "responses": ok("the new version, as GET /api/v1/files/{name} answers it", "object")}}),
        ),
    ]
}
