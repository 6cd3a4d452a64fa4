//! Prometheus 2.42 remote-writes into a region: what it sent is what the region stores,
//! compared sample by sample through both query APIs; a sender without a token, with one
//! that may only read or with one of another region, is refused (as are the member's
//! forwarding figures to all but the region's readers); a sender over its rate is answered
//! 429.

use std::time::Duration;

use strata_testkit::http::http_post_bytes_as;
use strata_testkit::{Mesh, Region, http_request_as, now_ms, wait_for};
use strata_tests::tsdb_peers::{
    Kind, Samples, TsdbPeer, missing, raw_samples, raw_samples_query, write_body,
};

/// Raw samples of `selector` over `[from_ms, to_ms]` from the regional console's PromQL API,
/// without the `region` label the console adds.
fn region_samples(
    console: &str,
    selector: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Samples, String> {
    let (status, body) = http_request_as(
        console,
        "GET",
        &raw_samples_query(selector, from_ms, to_ms),
        "",
        Some(strata_testkit::access::admin_token()),
    )?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    Ok(raw_samples(&body, from_ms)?
        .into_iter()
        .map(|(mut labels, points)| {
            labels.remove("region");
            (labels, points)
        })
        .collect())
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
    let mut token = |name: &str, role, region: &str| {
        let scope = strata_web::auth::Scope::parse(region).unwrap();
        made.create_token(name, role, scope, 0, 1).unwrap().1
    };
    let viewer = token("viewer-west", strata_web::auth::Role::Viewer, "west");
    let operator = token("prometheus-west", strata_web::auth::Role::Operator, "west");
    let elsewhere = token("prometheus-east", strata_web::auth::Role::Operator, "east");
    // the centre pushes its principals to the region, replacing the member's: both carry
    // the test's tokens
    strata_tests::login::add_principals(
        &[mesh.dir().join("super"), mesh.dir().join("west-1")],
        &made,
    );
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
    let (status, answer) = post(Some(&elsewhere), &body);
    assert_eq!(
        status, 403,
        "an operator of another region may not write: {answer}"
    );
    // the member's forwarding figures: readers of the region only
    let forwarding = |token: Option<&str>| {
        http_request_as(
            &console,
            "GET",
            "/api/v1/regions/west/forwarding",
            "",
            token,
        )
        .unwrap()
        .0
    };
    assert_eq!(forwarding(None), 401);
    assert_eq!(forwarding(Some(&elsewhere)), 403);
    assert_eq!(forwarding(Some(&viewer)), 200);
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
