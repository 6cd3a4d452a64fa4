//! Strata's PromQL answers as Prometheus 2.42 (Debian's) does: the small version of
//! `strata bench promql` — one simulated host for an hour, in both stores (Prometheus's also
//! under node_exporter's names) — must find no difference in the query set (the Node
//! Exporter Full dashboard's queries among them, each an instant and a range query), in the
//! requests Grafana sends when that dashboard opens, or in each endpoint's errors.

use std::sync::OnceLock;

use serde_json::Value;

/// The report of one small bench run (shared by the tests of this file) and its stderr.
fn report() -> &'static (Value, String) {
    static REPORT: OnceLock<(Value, String)> = OnceLock::new();
    REPORT.get_or_init(|| {
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
        let Ok(report) = serde_json::from_str::<Value>(stdout.trim()) else {
            panic!("no report: {stdout} {stderr}");
        };
        (report, stderr)
    })
}

#[test]
fn every_query_of_the_set_answers_as_prometheus_does() {
    let (report, stderr) = report();
    let queries = report["queries"].as_u64().unwrap_or(0);
    assert!(queries >= 450, "{report}");
    assert_eq!(
        report["identical"].as_u64(),
        Some(queries),
        "{report}\n{stderr}"
    );
    for figure in ["strata_p50_ms", "prometheus_p50_ms"] {
        assert!(report[figure].as_f64().is_some_and(|v| v > 0.0), "{report}");
    }
}

#[test]
fn grafana_requests_and_each_endpoint_s_errors_are_answered_as_prometheus_answers_them() {
    let (report, stderr) = report();
    let requests = report["grafana_requests"].as_u64().unwrap_or(0);
    assert!(requests >= 25, "{report}");
    assert_eq!(
        report["grafana_identical"].as_u64(),
        Some(requests),
        "{report}\n{stderr}"
    );
}
