//! The document against the router: every served path described, nothing else.

use super::*;

#[test]
fn every_served_path_is_described_and_nothing_else() {
    let doc = document();
    let described: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    let mut want: Vec<&str> = PATHS.to_vec();
    want.extend(strata_web::promql::http::PATHS);
    want.sort_unstable();
    let mut got: Vec<&str> = described.iter().map(|s| s.as_str()).collect();
    got.sort_unstable();
    assert_eq!(got, want);
    // the router's source (or the gate's, for login, logout and session) names each
    let router = concat!(
        include_str!("../../http.rs"),
        include_str!("../../../../web/src/auth/gate.rs"),
        include_str!("../../../../web/src/auth/manage.rs")
    );
    for p in PATHS {
        assert!(
            router.contains(&format!("\"{p}\"")),
            "{p} is not routed in http.rs"
        );
    }
    // and every route of http.rs is in PATHS
    let routed: Vec<&str> = include_str!("../../http.rs")
        .split(".route(")
        .skip(1)
        .filter_map(|r| r.trim_start().strip_prefix('"')?.split('"').next())
        // the console's page and assets are not part of the API
        .filter(|r| *r != "/" && !r.starts_with("/assets/"))
        .collect();
    // all but login, logout and session (the gate's), users and tokens (web's) and one
    // path of two methods
    assert!(routed.len() >= PATHS.len() - 8, "{routed:?}");
    for r in routed {
        assert!(PATHS.contains(&r), "{r} is routed but not described");
    }
    assert_eq!(doc["openapi"], "3.0.3");
}
