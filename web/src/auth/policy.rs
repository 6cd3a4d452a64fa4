//! What each path of the API needs: an action (read, operate, administer) and the region
//! it touches. Both consoles serve the same paths (a region's console a part of them), so
//! one table serves both doors, and a route added to a router without a line here is
//! refused to everyone but an all-regions admin until it has one.
//!
//! | path (under `/api/v1` unless shown) | method | action | region |
//! |---|---|---|---|
//! | `/`, `/assets/*`, `/healthz`, `login` | any | none: open | — |
//! | `session`, `logout`, `console`, `openapi.json` | any | read | any scope |
//! | `overview`, `resources`, `events`, `services`, `stream`, `/metrics` | GET | read | the answer holds only the caller's regions; `?region=` must be one |
//! | `query`, `query_range`, `series`, `labels` (GET, POST), `label/{name}/values`, `metadata`, `status/buildinfo` | GET | read | the series of the caller's regions only |
//! | `events/ack` | POST | operate | the region of the body's `resource_id` |
//! | `regions/{region}/rules`, `…/notifications`, `…/agents` | GET | read | `{region}` |
//! | `regions/{region}/rules` | PUT | admin | `{region}` |
//! | `regions/{region}/notify` | any | admin | `{region}` |
//! | `resources/{region}/{host}/…` (`metrics`, `snapshot`, `events`, `config`) | GET | read | `{region}` |
//! | `resources/{region}/{host}/config` | PUT | admin | `{region}` |
//! | `resources/{id}/metrics` | GET | read | the region of `{id}` |
//! | `services/{name}/…` | GET | read | every region of the service's components |
//! | `services/{name}` | PUT, DELETE | admin | all regions |
//! | `placement`, `reports/{kind}`, `reports/schedules`, `audit` | GET | read | all regions |
//! | `files`, `files/{name}` | GET | read | all regions |
//! | `files` (publish), `files/{name}/rollback` | POST | admin | all regions |
//! | `users…`, `tokens…` | any | admin | all regions |
//! | anything else | any | admin | all regions |

use axum::http::Method;

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Reads.
    Read,
    /// Acknowledges, silences, runs recovery actions.
    Operate,
    /// Changes configuration, users or tokens.
    Admin,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Operate => "operate",
            Self::Admin => "administer",
        })
    }
}

/// Which region a request touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Region {
    /// None in particular: any principal; the answer is cut to its regions (and a
    /// `region` query parameter must name one of them).
    Scoped,
    /// This one.
    Named(String),
    /// The region of the `resource_id` field of the JSON body.
    BodyResource,
    /// Every region of service `name`'s components.
    Service(String),
    /// Every region: what spans regions.
    All,
}

/// What a request needs: `None` from [`need`] is a request open to anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub action: Action,
    pub region: Region,
}

fn need_of(action: Action, region: Region) -> Option<Need> {
    Some(Need { action, region })
}

/// `text` percent-encoded for a URL's path segment or query value (all but the unreserved
/// characters `A-Z a-z 0-9 - _ . ~`).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `%2F` and the like in a path segment, decoded (a bad escape is kept as written).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `method` on `path` needs (`None`: open to anyone).
pub fn need(method: &Method, path: &str) -> Option<Need> {
    use Action::{Admin, Operate, Read};
    let read = *method == Method::GET || *method == Method::HEAD;
    if path == "/" || path.starts_with("/assets/") || path == "/healthz" {
        return None;
    }
    if path == "/metrics" {
        return need_of(Read, Region::Scoped);
    }
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return need_of(Admin, Region::All);
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let named = |s: &str| Region::Named(percent_decode(s));
    match parts.as_slice() {
        ["login"] => None,
        ["session" | "logout" | "console" | "openapi.json"] => need_of(Read, Region::Scoped),
        ["overview" | "resources" | "events" | "services" | "stream"] if read => {
            need_of(Read, Region::Scoped)
        }
        // the Prometheus HTTP API: reads by GET or form-encoded POST
        ["query" | "query_range" | "series" | "labels"] if read || *method == Method::POST => {
            need_of(Read, Region::Scoped)
        }
        ["label", _, "values"] | ["metadata"] | ["status", "buildinfo"] if read => {
            need_of(Read, Region::Scoped)
        }
        ["events", "ack"] if *method == Method::POST => need_of(Operate, Region::BodyResource),
        // remote write in, at a region's door (the gate checks that door's region)
        ["write"] if *method == Method::POST => need_of(Operate, Region::Scoped),
        [
            "regions",
            region,
            "rules" | "notifications" | "agents" | "forwarding",
        ] if read => need_of(Read, named(region)),
        ["regions", region, "rules"] if *method == Method::PUT => need_of(Admin, named(region)),
        ["regions", region, "notify"] => need_of(Admin, named(region)),
        [
            "resources",
            region,
            _host,
            "metrics" | "snapshot" | "events" | "config",
        ] if read => need_of(Read, named(region)),
        ["resources", region, _host, "config"] if *method == Method::PUT => {
            need_of(Admin, named(region))
        }
        ["resources", id, "metrics"] if read => need_of(
            Read,
            Region::Named(strata_proto::resource::region_of(&percent_decode(id)).to_string()),
        ),
        ["services", name, ..] if read => need_of(Read, Region::Service(percent_decode(name))),
        ["placement" | "audit", ..] | ["reports", _] if read => need_of(Read, Region::All),
        // which files went to which hosts, of every region
        ["files", ..] if read => need_of(Read, Region::All),
        _ => need_of(Admin, Region::All),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_path_with_its_action_and_region() {
        let n = |m: Method, p: &str| need(&m, p);
        assert_eq!(n(Method::GET, "/"), None);
        assert_eq!(n(Method::POST, "/api/v1/login"), None);
        assert_eq!(n(Method::GET, "/healthz"), None);
        assert_eq!(
            n(Method::POST, "/api/v1/events/ack").unwrap(),
            Need {
                action: Action::Operate,
                region: Region::BodyResource
            }
        );
        assert_eq!(
            n(Method::PUT, "/api/v1/regions/east/rules").unwrap(),
            Need {
                action: Action::Admin,
                region: Region::Named("east".into())
            }
        );
        assert_eq!(
            n(Method::GET, "/api/v1/resources/east%2Fweb-1/metrics")
                .unwrap()
                .region,
            Region::Named("east".into())
        );
        assert_eq!(
            n(Method::GET, "/api/v1/services/shop/sla").unwrap().region,
            Region::Service("shop".into())
        );
        assert_eq!(
            n(Method::PUT, "/api/v1/services/shop").unwrap().action,
            Action::Admin
        );
        assert_eq!(
            n(Method::GET, "/api/v1/reports/audit").unwrap().region,
            Region::All
        );
        assert_eq!(
            n(Method::DELETE, "/api/v1/nothing").unwrap().action,
            Action::Admin
        );
        assert_eq!(
            n(Method::GET, "/api/v1/regions/east/notify")
                .unwrap()
                .action,
            Action::Admin
        );
        assert_eq!(percent_decode("a%2Fb%zz"), "a/b%zz");
    }
}
