//! Strata's PromQL answers as Prometheus 2.42 (Debian's) does: the small version of
//! `strata bench promql` — one simulated host for an hour, in both stores, every query of
//! the bench's set asked of both as an instant and a range query — must find no difference.

#[test]
fn every_query_of_the_set_answers_as_prometheus_does() {
    let out = strata_testkit::cli()
        .args(["bench", "promql", "--hosts", "1", "--hours", "1", "--json"])
        .output()
        .expect("run strata bench promql");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("is not installed"),
        "prometheus is missing (make test installs it): {stderr}"
    );
    let Ok(report) = serde_json::from_str::<serde_json::Value>(stdout.trim()) else {
        panic!("no report: {stdout} {stderr}");
    };
    let queries = report["queries"].as_u64().unwrap_or(0);
    assert!(queries >= 300, "{report}");
    assert_eq!(
        report["identical"].as_u64(),
        Some(queries),
        "{report}\n{stderr}"
    );
    for figure in ["strata_p50_ms", "prometheus_p50_ms"] {
        assert!(report[figure].as_f64().is_some_and(|v| v > 0.0), "{report}");
    }
}
