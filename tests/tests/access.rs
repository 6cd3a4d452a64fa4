//! Who may call what over HTTP, walked path by path: every path of the centre's OpenAPI
//! document (and the regional console's), each method, with no credentials (401), with a
//! principal whose role or regions the path does not allow (403), and with one it allows
//! (2xx); then what a region-scoped viewer sees: nothing of another region.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use axum::http::Method;
use serde_json::Value;
use strata_testkit::{Mesh, Region, get_json, send_request_as, wait_for};
use strata_web::auth::policy::{self, Action, Region as Needs};
use strata_web::auth::principals::PrincipalsFile;
use strata_web::auth::{Role, Scope};

/// The API tokens of the principals the walk uses.
struct Tokens {
    viewer_all: String,
    viewer_east: String,
    viewer_west: String,
    operator_east: String,
    admin_all: String,
}

/// Makes the walk's tokens (and user `vera`, viewer of east) in the principals file of
/// each data directory of `dirs`.
fn tokens(dirs: &[&Path]) -> Tokens {
    let east = || Scope::parse("east").unwrap();
    let west = Scope::parse("west").unwrap();
    let mut made = strata_web::auth::Principals::default();
    let mut token = |name: &str, role, scope| made.create_token(name, role, scope, 0, 1).unwrap().1;
    let t = Tokens {
        viewer_all: token("viewer-all", Role::Viewer, Scope::All),
        viewer_east: token("viewer-east", Role::Viewer, east()),
        viewer_west: token("viewer-west", Role::Viewer, west),
        operator_east: token("operator-east", Role::Operator, east()),
        admin_all: token("admin-all", Role::Admin, Scope::All),
    };
    made.add_user("vera", "vera's long password", Role::Viewer, east(), 1)
        .unwrap();
    let dirs: Vec<std::path::PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    strata_tests::login::add_principals(&dirs, &made);
    t
}

/// The status of `method path` sent with `token` (the body, when any, as JSON or text),
/// read from the answer's first line only (a live stream never ends).
fn status(addr: &str, method: &str, path: &str, body: &str, token: Option<&str>) -> u16 {
    let mut stream = send_request_as(
        addr,
        method,
        path,
        body.as_bytes(),
        Duration::from_secs(30),
        token,
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status line in '{line}'"))
}

/// A documented path with its parameters filled in, and the query it needs.
fn concrete(path: &str) -> String {
    let filled = path
        .replace("/users/{name}", "/users/walker")
        .replace("/tokens/{id}", "/tokens/walk")
        .replace("{region}", "east")
        .replace("{host}", "east-host")
        .replace("{id}", "east%2Feast-sim-0001")
        .replace("{name}", "shop")
        .replace("{kind}", "availability");
    let query = if filled.ends_with("/metrics") && filled.starts_with("/api/") {
        "?name=host_cpu_usage_ratio"
    } else if filled.starts_with("/api/v1/reports/") {
        "?period=today"
    } else if filled == "/api/v1/placement" {
        "?service=shop&component=web"
    } else if filled == "/api/v1/query" {
        "?query=sum(host_load1)"
    } else if filled == "/api/v1/query_range" {
        "?query=sum(host_load1)&start=0&end=60&step=15"
    } else if filled == "/api/v1/series" {
        "?match[]=host_load1"
    } else {
        ""
    };
    format!("{filled}{query}")
}

const SHOP: &str = r#"{"name":"shop","components":[{"name":"web","region":"east","host":"~east-sim-.*"}],
  "slo":{"objective":0.99,"window":"30d"}}"#;

/// A bundle for east's hosts: published once before the walk (so that `files/shop` is
/// there to read), again by the walk's publish, then rolled back by the walk.
const WALK_BUNDLE: &str = r#"{"name":"shop","files":[{"path":"/etc/strata-walk/x.conf","content":"x"}],"targets":{"region":"east"}}"#;

/// The body an allowed request sends.
fn body(method: &Method, path: &str, hot: &(String, String)) -> String {
    match (method.as_str(), path) {
        ("POST", "/api/v1/events/ack") => {
            format!(r#"{{"resource_id":"{}","rule":"{}"}}"#, hot.0, hot.1)
        }
        ("POST", "/api/v1/login") => r#"{"name":"vera","password":"vera's long password"}"#.into(),
        ("PUT", "/api/v1/services/{name}") => SHOP.into(),
        ("POST", "/api/v1/users") => {
            r#"{"name":"walker","password":"walker's password","role":"viewer","regions":"east"}"#
                .into()
        }
        ("PUT", "/api/v1/users/{name}") => r#"{"role":"operator"}"#.into(),
        ("POST", "/api/v1/tokens") => r#"{"name":"walk","role":"viewer","expires":"1h"}"#.into(),
        ("POST", "/api/v1/files") => WALK_BUNDLE.into(),
        ("PUT", "/api/v1/resources/{region}/{host}/config") => {
            "[items.processes]\ninterval = '30s'\n".into()
        }
        _ => String::new(),
    }
}

/// Who is refused `need` (none when every principal may: what is cut to its regions).
fn refused<'a>(need: &policy::Need, t: &'a Tokens) -> Option<&'a str> {
    match (need.action, &need.region) {
        (Action::Admin | Action::Operate, _) => Some(&t.viewer_all),
        (Action::Read, Needs::All) => Some(&t.viewer_east),
        (Action::Read, Needs::Named(_) | Needs::Service(_)) => Some(&t.viewer_west),
        (Action::Read, _) => None,
    }
}

/// Who is allowed `need`: the least principal that may.
fn allowed<'a>(need: &policy::Need, t: &'a Tokens) -> &'a str {
    match (need.action, &need.region) {
        (Action::Admin, _) => &t.admin_all,
        (Action::Operate, _) => &t.operator_east,
        (Action::Read, Needs::All) => &t.viewer_all,
        (Action::Read, _) => &t.viewer_east,
    }
}

#[test]
fn every_path_answers_401_without_credentials_403_out_of_role_or_region_and_2xx_within() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mesh = Mesh::builder()
        .dir(dir)
        .interval(Duration::from_secs(1))
        .region(
            Region::new("east")
                .sim("sim", "east-sim-", 8)
                .agent("id = 'east-host'")
                .consoles(),
        )
        .region(Region::new("west").sim("sim", "west-sim-", 8))
        .start();
    let http = mesh.http();
    let t = tokens(&[&dir.join("super"), &dir.join("east-1")]);
    // the principals file is read again within a second
    wait_for(
        "the new tokens known",
        Duration::from_secs(10),
        || match status(&http, "GET", "/api/v1/session", "", Some(&t.viewer_east)) {
            200 => Ok(()),
            s => Err(format!("{s}")),
        },
    );
    // both regions' hot hosts have an open incident (every region's sim-0007 runs hot)
    let hot = wait_for("both hot incidents", Duration::from_secs(60), || {
        let events = get_json(&http, "/api/v1/events")?;
        let list = events.as_array().cloned().unwrap_or_default();
        let of = |id: &str| list.iter().find(|e| e["resource_id"] == id).cloned();
        match (of("east/east-sim-0007"), of("west/west-sim-0007")) {
            (Some(e), Some(_)) => Ok((
                "east/east-sim-0007".to_string(),
                e["rule"].as_str().unwrap_or_default().to_string(),
            )),
            _ => Err(events.to_string()),
        }
    });
    let (status_code, _) =
        strata_testkit::http_request(&http, "PUT", "/api/v1/services/shop", SHOP).unwrap();
    assert_eq!(status_code, 200);
    let (status_code, answer) =
        strata_testkit::http_request(&http, "POST", "/api/v1/files", WALK_BUNDLE).unwrap();
    assert_eq!(status_code, 200, "{answer}");

    let doc = get_json(&http, "/api/v1/openapi.json").unwrap();
    let mut walk: Vec<(Method, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            // an operation's key; `parameters` is shared by a path's operations
            if ["get", "post", "put", "delete"].contains(&method.as_str()) {
                walk.push((method.to_uppercase().parse().unwrap(), path.clone()));
            }
        }
    }
    // reads first, the service's deletion last
    let order = |m: &Method| {
        ["GET", "POST", "PUT", "DELETE"]
            .iter()
            .position(|x| *x == m.as_str())
    };
    walk.sort_by_key(|(m, p)| (order(m), p.clone()));
    let open: Vec<&str> = vec!["/healthz", "/api/v1/login"];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path) in &walk {
        let url = concrete(path);
        let m = method.as_str();
        let send = body(method, path, &hot);
        let need = policy::need(method, url.split('?').next().unwrap());
        let mut check = |who: &str, token: Option<&str>, want: &dyn Fn(u16) -> bool| {
            let got = status(&http, m, &url, &send, token);
            checked += 1;
            if !want(got) {
                let said = strata_testkit::http_request_as(&http, m, &url, &send, token)
                    .map(|(_, b)| b)
                    .unwrap_or_default();
                failures.push(format!("{m} {url} {who}: {got} {said}"));
            }
        };
        match &need {
            None => {
                assert!(
                    open.contains(&path.as_str()),
                    "{m} {path} is open but not documented so"
                );
                check("anyone", None, &|s| (200..300).contains(&s));
            }
            Some(need) => {
                check("no credentials", None, &|s| s == 401);
                check(
                    "a forged token",
                    Some("strata_0000_0000000000000000000000000000000000"),
                    &|s| s == 401,
                );
                if let Some(token) = refused(need, &t) {
                    check("out of role or region", Some(token), &|s| s == 403);
                }
                check("allowed", Some(allowed(need, &t)), &|s| {
                    (200..300).contains(&s)
                });
            }
        }
    }
    // an operator of east acknowledging in west
    let west_ack = r#"{"resource_id":"west/west-sim-0007","rule":"x"}"#;
    if status(
        &http,
        "POST",
        "/api/v1/events/ack",
        west_ack,
        Some(&t.operator_east),
    ) != 403
    {
        failures.push("an east operator acknowledged in west".into());
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 4 * 25, "{checked} checks");

    // the principals changed through the API, each audited with who did it
    let audit = get_json(&http, "/api/v1/reports/audit?period=today").unwrap();
    for (action, subject) in [
        ("add user", "walker"),
        ("change user", "walker"),
        ("remove user", "walker"),
        ("create token", "walk"),
        ("revoke token", "walk"),
    ] {
        let found = audit["rows"].as_array().is_some_and(|rows| {
            rows.iter().any(|r| {
                r["action"] == action
                    && r["subject"] == subject
                    && r["who"] == "token:admin-all"
                    && r["outcome"] == "ok"
            })
        });
        assert!(found, "{action} {subject} not audited: {audit}");
    }
    // and found again by who and what
    let mine = get_json(
        &http,
        "/api/v1/reports/audit?period=today&who=admin-all&action=token",
    )
    .unwrap();
    let rows = mine["rows"].as_array().cloned().unwrap_or_default();
    assert!(
        rows.len() == 2
            && rows
                .iter()
                .all(|r| r["who"] == "token:admin-all" && r["subject"] == "walk"),
        "{mine}"
    );
    // the regional console of east: the same gate, for its region alone
    let console = strata_tests::console_addr(&mesh.regions[0].members[0]);
    for path in [
        "/api/v1/overview",
        "/api/v1/events",
        "/api/v1/resources",
        "/api/v1/regions/east/rules",
    ] {
        assert_eq!(status(&console, "GET", path, "", None), 401, "{path}");
        assert_eq!(
            status(&console, "GET", path, "", Some(&t.viewer_west)),
            403,
            "{path}"
        );
        assert_eq!(
            status(&console, "GET", path, "", Some(&t.viewer_east)),
            200,
            "{path}"
        );
    }
    assert_eq!(
        status(
            &console,
            "PUT",
            "/api/v1/regions/east/rules",
            "",
            Some(&t.operator_east)
        ),
        403
    );

    // what a viewer of east sees: nothing of west
    let as_east = |path: &str| -> Value {
        let stream = send_request_as(
            &http,
            "GET",
            path,
            b"",
            Duration::from_secs(10),
            Some(&t.viewer_east),
        )
        .unwrap();
        let mut text = String::new();
        let _ = { stream }.read_to_string(&mut text);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    };
    let overview = as_east("/api/v1/overview");
    let regions: Vec<&str> = overview["regions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(regions, vec!["east"], "{overview}");
    for path in ["/api/v1/resources", "/api/v1/events", "/api/v1/services"] {
        let list = as_east(path);
        assert!(!list.to_string().contains("west"), "{path}: {list}");
        assert!(list.as_array().is_some(), "{path}: {list}");
    }
    assert!(
        as_east("/api/v1/resources")
            .as_array()
            .is_some_and(|l| l.len() == 9)
    );
    assert!(
        as_east("/api/v1/events")
            .to_string()
            .contains("east-sim-0007")
    );
    assert_eq!(
        status(
            &http,
            "GET",
            "/api/v1/resources/west/west-sim-0001/metrics?name=host_cpu_usage_ratio",
            "",
            Some(&t.viewer_east)
        ),
        403
    );
    assert_eq!(
        status(
            &http,
            "GET",
            "/api/v1/resources/west%2Fwest-sim-0001/metrics?name=host_cpu_usage_ratio",
            "",
            Some(&t.viewer_east)
        ),
        403
    );
    assert_eq!(
        status(
            &http,
            "GET",
            "/api/v1/events?region=west",
            "",
            Some(&t.viewer_east)
        ),
        403
    );
}

#[test]
fn the_centre_hands_its_principals_to_the_regions_which_decide_alone_when_cut_off() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut mesh = Mesh::builder()
        .dir(dir)
        .region(Region::new("east").sim("sim", "east-sim-", 2).consoles())
        .start();
    let console = strata_tests::console_addr(&mesh.regions[0].members[0]);
    // tokens made at the centre alone reach the region
    let t = tokens(&[&dir.join("super")]);
    let regional = |token: &str| status(&console, "GET", "/api/v1/overview", "", Some(token));
    wait_for(
        "the centre's tokens in the region",
        Duration::from_secs(20),
        || match regional(&t.viewer_east) {
            200 => Ok(()),
            s => Err(format!("{s}")),
        },
    );
    // a revocation at the centre reaches the region (at once, within a push)
    let centre = PrincipalsFile::open(dir.join("super/principals.json")).unwrap();
    centre
        .change(|p| p.revoke_token("viewer-east", 2).map(|_| ()))
        .unwrap();
    let revoked_at = std::time::Instant::now();
    wait_for(
        "the revocation in the region",
        Duration::from_secs(20),
        || match regional(&t.viewer_east) {
            401 => Ok(()),
            s => Err(format!("{s}")),
        },
    );
    println!(
        "revocation in force in the region after {:?}",
        revoked_at.elapsed()
    );
    // with the centre stopped, the region still decides: who may, who may not
    for sup in &mut mesh.super_managers {
        sup.kill();
    }
    assert_eq!(regional(&t.viewer_all), 200);
    assert_eq!(regional(&t.viewer_east), 401);
    assert_eq!(regional(&t.viewer_west), 403);
    assert_eq!(
        regional("strata_0000_0000000000000000000000000000000000"),
        401
    );
}
