//! Business services end to end with the real binaries: a services file read at start, each
//! service's health from the hosts its components select (and from the services it depends
//! on), changes through the REST API validated and versioned, and `strata services` /
//! `strata drill` printing them.
//!
//! Twenty simulated agents: sim-0007 runs at warning CPU and sim-0013 at critical from their
//! first poll on, so their hosts are degraded; the others are ok.

use std::time::Duration;

use serde_json::Value;
use strata_testkit::{Mesh, Region, get_json, http_request, wait_for};

const SERVICES: &str = r#"
[[services]]
name = "payments"
description = "card payments"
[[services.components]]
name = "db"
host = "~sim-001[0-4]"

[[services]]
name = "shop"
depends_on = ["payments"]
rollup = "k-of-n"
k = 1
[[services.components]]
name = "web"
region = "west"
host = "~sim-000[1-5]"
[[services.components]]
name = "cache"
host = "sim-0007"
"#;

fn service(http: &str, name: &str) -> Result<Value, String> {
    get_json(http, &format!("/api/v1/services/{name}"))
}

fn health(http: &str, name: &str) -> Result<String, String> {
    Ok(service(http, name)?["health"]
        .as_str()
        .unwrap_or("")
        .to_string())
}

#[test]
fn services_roll_up_their_hosts_and_change_through_the_api() {
    let mut mesh = Mesh::builder()
        .file("services.toml", SERVICES)
        .super_toml("services_file = \"{dir}/services.toml\"")
        .region(Region::new("west").sim("sim", "sim-", 20))
        .start();
    let http = mesh.http();

    // payments: one of its five db hosts is critical; shop: web ok, cache at warning (one of
    // two components ok suffices), but it depends on payments.
    let shop = wait_for("services judged", Duration::from_secs(30), || {
        let payments = health(&http, "payments")?;
        let shop = service(&http, "shop")?;
        let settled = payments == "degraded"
            && shop["health"] == "degraded"
            && shop["components"][0]["health"] == "ok"
            && shop["components"][1]["health"] == "degraded";
        if settled {
            Ok(shop)
        } else {
            Err(format!("payments {payments}, shop {shop}"))
        }
    });
    assert_eq!(shop["version"], 1);
    assert_eq!(shop["source"], "file");
    assert!(
        shop["reason"]
            .as_str()
            .unwrap()
            .contains("depends on payments (degraded)"),
        "{shop}"
    );
    let cache = &shop["components"][1];
    assert_eq!(cache["health"], "degraded");
    assert_eq!(cache["resources"][0]["id"], "west/sim-0007");
    assert_eq!(cache["resources"][0]["incidents"][0]["rule"], "cpu");
    assert_eq!(shop["components"][0]["health"], "ok");
    assert_eq!(
        shop["components"][0]["resources"].as_array().unwrap().len(),
        5
    );
    let list = get_json(&http, "/api/v1/services").unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    // Placement: the web tier's five hosts ranked by their live load, least loaded first.
    let placed = wait_for("the web tier ranked", Duration::from_secs(20), || {
        let p = get_json(&http, "/api/v1/placement?service=shop&component=web")?;
        let nodes = p["nodes"].as_array().cloned().unwrap_or_default();
        let complete = nodes.len() == 5
            && nodes.iter().all(|n| {
                n["cpu"].is_f64() && n["memory"].is_f64() && n["network_bytes_per_second"].is_f64()
            });
        if complete {
            Ok(nodes)
        } else {
            Err(p.to_string())
        }
    });
    let scores: Vec<f64> = placed
        .iter()
        .map(|n| n["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{placed:?}");
    assert!(placed.iter().all(|n| {
        n["resource_id"]
            .as_str()
            .unwrap()
            .starts_with("west/sim-000")
    }));
    let (status, body) = strata_testkit::http_get(&http, "/api/v1/placement?service=shop").unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("component"), "{body}");
    let doc = get_json(&http, "/api/v1/openapi.json").unwrap();
    assert!(
        doc["paths"]["/api/v1/services/{name}/sla"]["get"].is_object(),
        "{doc}"
    );

    // Changes through the API: validated with the field named, versioned, refused when
    // another service depends on the one deleted.
    let bad = r#"{"name":"shop","depends_on":["nowhere"],"components":[{"name":"web"}]}"#;
    let (status, body) = http_request(&http, "PUT", "/api/v1/services/shop", bad).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("depends_on[0]: no service 'nowhere'"),
        "{body}"
    );
    let (status, body) =
        http_request(&http, "PUT", "/api/v1/services/shop", r#"{"name":"shop"}"#).unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("components"), "{body}");
    let good = r#"{"name":"shop","depends_on":["payments"],"components":[{"name":"web","region":"west","host":"~sim-000[1-5]"}]}"#;
    let (status, body) = http_request(&http, "PUT", "/api/v1/services/shop", good).unwrap();
    assert_eq!(
        (status, body.contains("\"version\":2")),
        (200, true),
        "{body}"
    );
    let (status, body) = http_request(&http, "DELETE", "/api/v1/services/payments", "").unwrap();
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("shop"), "{body}");
    let versions = get_json(&http, "/api/v1/services/shop/versions").unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 2);
    assert_eq!(versions[1]["source"], "token:testkit");

    // The CLI prints the same.
    let api = format!("http://{http}");
    let out = strata_testkit::cli()
        .args(["drill", "shop", "--api", &api])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with("shop (version 2): degraded") && text.contains("west/sim-0001 (ok)"),
        "{text}"
    );
    let out = strata_testkit::cli()
        .args(["services", "--api", &api])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("payments  degraded"), "{text}");

    // Every host gone: both services down.
    mesh.region("west").sim("sim").kill();
    wait_for("services down", Duration::from_secs(30), || {
        let (p, s) = (health(&http, "payments")?, health(&http, "shop")?);
        if p == "down" && s == "down" {
            Ok(())
        } else {
            Err(format!("payments {p}, shop {s}"))
        }
    });
}
