//! The Prometheus HTTP API on a regional console, against a real member and agent: PromQL
//! over the region's store, each series labelled with its region, in Prometheus's envelope,
//! behind the console's gate.

use std::time::Duration;

use serde_json::Value;
use strata_testkit::{Mesh, Region, get_json, http_request_as, wait_for};
use strata_web::auth::policy::percent_encode as encode;

/// `path` at `console` as the test kit's admin: the status and the JSON body.
fn ask(console: &str, path: &str) -> (u16, Value) {
    let (status, body) = http_request_as(
        console,
        "GET",
        path,
        "",
        Some(strata_testkit::access::admin_token()),
    )
    .unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn a_regional_console_answers_promql_for_its_region() {
    let mut mesh = Mesh::builder()
        .interval(Duration::from_secs(1))
        .region(
            Region::new("east")
                .agent("id = 'east-host'\ncollect_interval = '1s'\n")
                .consoles(),
        )
        .start();
    let console = strata_tests::console_addr(&mesh.region("east").members[0]);
    let load = format!("/api/v1/query?query={}", encode("host_load1"));
    let series = wait_for("host_load1 over PromQL", Duration::from_secs(30), || {
        let (status, body) = ask(&console, &load);
        match body["data"]["result"].as_array() {
            Some(r) if status == 200 && !r.is_empty() => Ok(r.clone()),
            _ => Err(format!("{status} {body}")),
        }
    });
    assert_eq!(series[0]["metric"]["__name__"], "host_load1");
    assert_eq!(series[0]["metric"]["region"], "east");
    assert!(
        series[0]["value"][1]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .is_ok()
    );

    // a ratio of two aggregations, as a dashboard would ask it
    let used =
        "sum by (region) (host_memory_used_bytes) / sum by (region) (host_memory_total_bytes)";
    let (status, body) = ask(&console, &format!("/api/v1/query?query={}", encode(used)));
    assert_eq!(status, 200, "{body}");
    let ratio: f64 = body["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.0..=1.0).contains(&ratio), "{body}");
    assert_eq!(
        body["data"]["result"][0]["metric"],
        serde_json::json!({"region": "east"})
    );

    // a range query over the last 20 s, a point every 5 s (once the agent has been
    // polled for that long)
    let range = |now: f64| {
        format!(
            "/api/v1/query_range?query={}&start={}&end={now}&step=5",
            encode("max_over_time(host_load1[10s])"),
            now - 20.0
        )
    };
    wait_for("20 s of host_load1", Duration::from_secs(60), || {
        let now = strata_testkit::now_ms() as f64 / 1000.0;
        let (status, body) = ask(&console, &range(now));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["resultType"], "matrix");
        match body["data"]["result"][0]["values"].as_array() {
            Some(points) if points.len() == 5 => Ok(()),
            _ => Err(body.to_string()),
        }
    });

    // names and labels, as Grafana lists them
    let names = get_json(&console, "/api/v1/label/__name__/values").unwrap();
    assert!(
        names["data"]
            .as_array()
            .unwrap()
            .contains(&"host_load1".into()),
        "{names}"
    );
    let labels = get_json(&console, "/api/v1/labels").unwrap();
    assert!(
        labels["data"]
            .as_array()
            .unwrap()
            .contains(&"region".into()),
        "{labels}"
    );

    // errors: Prometheus's, and the gate's
    let (status, body) = ask(&console, &format!("/api/v1/query?query={}", encode("sum(")));
    assert_eq!(
        (status, &body["errorType"]),
        (400, &Value::from("bad_data")),
        "{body}"
    );
    let (status, _) = http_request_as(&console, "GET", &load, "", None).unwrap();
    assert_eq!(status, 401);
    // a viewer of another region is refused at this region's door
    let mut made = strata_web::auth::Principals::default();
    let (_, west) = made
        .create_token(
            "promql-west",
            strata_web::auth::Role::Viewer,
            strata_web::auth::Scope::parse("west").unwrap(),
            0,
            1,
        )
        .unwrap();
    // the centre pushes its principals to the region, replacing the member's: both carry
    // the test's token
    strata_tests::login::add_principals(
        &[mesh.dir().join("super"), mesh.dir().join("east-1")],
        &made,
    );
    wait_for(
        "west's viewer refused",
        Duration::from_secs(10),
        || match http_request_as(&console, "GET", &load, "", Some(&west)).unwrap() {
            (403, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        },
    );
}

#[test]
fn the_centre_answers_promql_over_the_regions_a_caller_covers_and_warns_of_those_silent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut mesh = Mesh::builder()
        .dir(dir)
        .interval(Duration::from_secs(1))
        .region(Region::new("east").sim("sim", "east-sim-", 2))
        .region(Region::new("west").sim("sim", "west-sim-", 3))
        .start();
    let http = mesh.http();
    let count = format!(
        "/api/v1/query?query={}",
        encode("count by (region) (count by (region, agent) (host_cpu_usage_ratio))")
    );
    let by_region = |body: &Value| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = body["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|s| {
                        (
                            s["metric"]["region"].as_str().unwrap_or("").to_string(),
                            s["value"][1].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    };
    let want = vec![
        ("east".to_string(), "2".to_string()),
        ("west".to_string(), "3".to_string()),
    ];
    wait_for(
        "both regions' hosts over PromQL",
        Duration::from_secs(60),
        || {
            let (_, body) = ask(&http, &count);
            if by_region(&body) == want {
                Ok(())
            } else {
                Err(body.to_string())
            }
        },
    );

    // those aggregations were computed in the regions, no raw sample read at the centre;
    // an aggregation that does not compose (topk) is read raw, and both agree
    let counter = |name: &str| -> u64 {
        let (_, text) = strata_testkit::http_request(&http, "GET", "/metrics", "").unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    let (pushed, raw) = (
        counter("strata_super_manager_promql_pushdowns_total"),
        counter("strata_super_manager_promql_raw_selects_total"),
    );
    let (_, body) = ask(&http, &count);
    assert_eq!(by_region(&body), want);
    assert_eq!(
        counter("strata_super_manager_promql_pushdowns_total"),
        pushed + 1
    );
    assert_eq!(
        counter("strata_super_manager_promql_raw_selects_total"),
        raw
    );
    // (at a time 5 s past, once both regions have samples that old: none comes in later)
    let sum = |q: &str, at: f64| {
        let (_, body) = ask(
            &http,
            &format!("/api/v1/query?query={}&time={at}", encode(q)),
        );
        by_region(&body)
    };
    let (at, pushed_sum) = wait_for(
        "both regions' samples 5 s old",
        Duration::from_secs(30),
        || {
            let at = strata_testkit::now_ms() as f64 / 1000.0 - 5.0;
            match sum("sum by (region) (sim_sample_number)", at) {
                s if s.len() == 2 => Ok((at, s)),
                s => Err(format!("{s:?}")),
            }
        },
    );
    assert_eq!(
        pushed_sum,
        sum("sum by (region) (topk(100, sim_sample_number))", at)
    );
    assert!(counter("strata_super_manager_promql_raw_selects_total") > raw);
    // what a region refuses (a many-to-one match, pushed down) the centre refuses as
    // Prometheus would, not as a partial answer
    let (status, body) = ask(
        &http,
        &format!(
            "/api/v1/query?query={}",
            encode("sum(host_load1 / on (region) count by (region) (host_load1))")
        ),
    );
    assert_eq!(
        (status, &body["errorType"]),
        (422, &Value::from("execution")),
        "{body}"
    );

    // a viewer of east sees east alone
    let mut made = strata_web::auth::Principals::default();
    let (_, viewer) = made
        .create_token(
            "promql-east",
            strata_web::auth::Role::Viewer,
            strata_web::auth::Scope::parse("east").unwrap(),
            0,
            1,
        )
        .unwrap();
    strata_tests::login::add_principals(&[dir.join("super")], &made);
    wait_for("east's viewer answered", Duration::from_secs(10), || {
        let (status, body) = http_request_as(&http, "GET", &count, "", Some(&viewer)).unwrap();
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status == 200 && by_region(&body) == want[..1] {
            Ok(())
        } else {
            Err(format!("{status} {body}"))
        }
    });

    // a region that cannot answer: the rest, and a warning naming it
    for member in &mut mesh.region("west").members {
        member.kill();
    }
    wait_for(
        "a partial answer with a warning",
        Duration::from_secs(30),
        || {
            let (status, body) = ask(&http, &count);
            let warned = body["warnings"]
                .as_array()
                .is_some_and(|w| w.iter().any(|m| m.as_str().unwrap_or("").contains("west")));
            if status == 200 && warned && by_region(&body) == want[..1] {
                Ok(())
            } else {
                Err(format!("{status} {body}"))
            }
        },
    );
}
