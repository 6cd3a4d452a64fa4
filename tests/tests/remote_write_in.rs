//! Prometheus 2.42 remote-writes into a region: what it sent is what the region stores,
//! compared sample by sample through both query APIs; a sender without a token, or with one
//! that may only read, is refused; a sender over its rate is answered 429.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use strata_testkit::http::http_post_bytes_as;
use strata_testkit::{Mesh, Region, http_request_as, now_ms, wait_for};
use strata_tests::tsdb_peers::{Kind, Samples, TsdbPeer, encode, missing, write_body};

/// Raw samples of `selector` over `[from_ms, to_ms]` from the regional console's PromQL API,
/// without the `region` label the console adds.
fn region_samples(
    console: &str,
    selector: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Samples, String> {
    let secs = (to_ms - from_ms) / 1000 + 1;
    let path = format!(
        "/api/v1/query?query={}&time={}",
        encode(&format!("{selector}[{secs}s]")),
        to_ms as f64 / 1000.0
    );
    let (status, body) = http_request_as(
        console,
        "GET",
        &path,
        "",
        Some(strata_testkit::access::admin_token()),
    )?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let mut out = Samples::new();
    for series in v["data"]["result"].as_array().into_iter().flatten() {
        let labels: BTreeMap<String, String> = series["metric"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "region")
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let points = out.entry(labels).or_default();
        for p in series["values"].as_array().into_iter().flatten() {
            let ts = (p[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
            let x = p[1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            if ts >= from_ms {
                points.insert(ts, x);
            }
        }
    }
    Ok(out)
}

#[test]
fn what_prometheus_sends_is_what_the_region_stores() {
    let mut mesh = Mesh::builder()
        .region(Region::new("west").consoles())
        .start();
    let console = strata_tests::console_addr(&mesh.region("west").members[0]);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['{{addr}}']\n\
         remote_write:\n  - url: http://{console}/api/v1/write\n    authorization:\n      credentials: {}\n\
         \x20   queue_config:\n      batch_send_deadline: 1s\n",
        strata_testkit::access::admin_token()
    );
    let prometheus = TsdbPeer::start_with(Kind::Prometheus, dir.path(), &yaml);
    let up = "{job=\"prometheus\"}";
    let started = now_ms();
    // Ten seconds of scrapes, then everything up to then compared.
    let until = wait_for(
        "ten seconds of samples in the region",
        Duration::from_secs(60),
        || {
            let now = now_ms();
            let got = region_samples(&console, "up", started - 60_000, now)?;
            let newest = got
                .values()
                .flat_map(|p| p.keys())
                .max()
                .copied()
                .unwrap_or(0);
            if newest >= started + 10_000 {
                Ok(newest)
            } else {
                Err(format!("newest sample at {newest}"))
            }
        },
    );
    let from = started - 60_000;
    let sent = prometheus.samples(up, from, until).unwrap();
    let count: usize = sent.values().map(|p| p.len()).sum();
    assert!(
        sent.len() > 100 && count > 1000,
        "{} series, {count} samples sent",
        sent.len()
    );
    let stored = wait_for(
        "every sample Prometheus holds in the region",
        Duration::from_secs(30),
        || {
            let stored = region_samples(&console, up, from, until)?;
            let lost = missing(&sent, &stored, 0.0);
            if lost.is_empty() {
                Ok(stored)
            } else {
                Err(format!("{} series differ, e.g. {}", lost.len(), lost[0]))
            }
        },
    );
    let extra = missing(&stored, &sent, 0.0);
    assert!(
        extra.is_empty(),
        "the region holds what Prometheus does not: {extra:?}"
    );
    eprintln!(
        "{} series, {count} samples: the same in Prometheus and the region",
        sent.len()
    );
}

#[test]
fn a_remote_write_without_the_right_is_refused_and_one_over_its_rate_is_held_back() {
    let mut mesh = Mesh::builder()
        .region(
            Region::new("west")
                .consoles()
                .member_toml("[receive]\nmax_samples_per_second = 1\nburst_seconds = 10\n"),
        )
        .start();
    let console = strata_tests::console_addr(&mesh.region("west").members[0]);
    let mut made = strata_web::auth::Principals::default();
    let mut token = |name: &str, role| {
        let scope = strata_web::auth::Scope::parse("west").unwrap();
        made.create_token(name, role, scope, 0, 1).unwrap().1
    };
    let viewer = token("viewer-west", strata_web::auth::Role::Viewer);
    let operator = token("prometheus-west", strata_web::auth::Role::Operator);
    strata_tests::login::add_principals(&[mesh.dir().join("west-1")], &made);
    let now = now_ms();
    let body = write_body(&[("m", &[("a", "1")], &[(now, 1.0), (now + 1, 2.0)])]);
    let post = |token: Option<&str>, body: &[u8]| {
        http_post_bytes_as(
            &console,
            "/api/v1/write",
            "application/x-protobuf",
            body,
            token,
        )
        .unwrap()
    };
    let (status, _) = post(None, &body);
    assert_eq!(status, 401, "no credentials");
    wait_for(
        "the new tokens known",
        Duration::from_secs(10),
        || match post(Some(&viewer), &body) {
            (403, _) => Ok(()),
            (s, answer) => Err(format!("a viewer may not write: {s} {answer}")),
        },
    );
    let (status, answer) = post(Some(&operator), &body);
    assert_eq!(status, 204, "{answer}");
    let (status, answer) = post(Some(&operator), b"not snappy");
    assert!(
        status == 400 && answer.contains("snappy"),
        "{status} {answer}"
    );
    // a sample a second, ten at once: eight are left, and nine more come well within a
    // second
    let nine: Vec<(i64, f64)> = (10..19).map(|i| (now + i, i as f64)).collect();
    let (status, answer) = post(Some(&operator), &write_body(&[("m", &[("a", "1")], &nine)]));
    assert_eq!(status, 429, "{answer}");
    assert!(answer.contains("samples per second"), "{answer}");
}
