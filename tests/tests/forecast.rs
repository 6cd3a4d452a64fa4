//! Capacity forecasts with seasonality, through the real binaries: two weeks of a host's CPU
//! with a known daily swing, written into a region by remote write, are forecast by the
//! centre's capacity report with a daily Holt-Winters season whose error over the held-out
//! day is well under the straight line's; a series that grows in a straight line keeps the
//! line.

use std::time::Duration;

use strata_testkit::http::http_post_bytes_as;
use strata_testkit::{Mesh, Region, get_json, now_ms, wait_for};
use strata_tests::tsdb_peers::write_body;

const DAY_MS: i64 = 86_400_000;
const STEP_MS: i64 = 600_000;

/// A deterministic noise in [-1, 1].
fn noise(i: i64) -> f64 {
    let x = (i as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .rotate_left(17);
    (x % 20_001) as f64 / 10_000.0 - 1.0
}

/// Fourteen days every ten minutes until `now`: 0.35 on average, a daily swing of ±0.25
/// peaking at 06:00 UTC, growth of 0.004 a day and ±0.01 of noise.
fn seasonal_cpu(now: i64) -> Vec<(i64, f64)> {
    let n = 14 * DAY_MS / STEP_MS;
    (0..n)
        .map(|i| {
            let t = now - (n - i) * STEP_MS;
            let phase = t.rem_euclid(DAY_MS) as f64 / DAY_MS as f64;
            let v = 0.35
                + 0.004 * ((i * STEP_MS) as f64 / DAY_MS as f64)
                + 0.25 * (2.0 * std::f64::consts::PI * phase).sin()
                + 0.01 * noise(i);
            (t, v)
        })
        .collect()
}

#[test]
fn a_seasonal_series_is_forecast_better_than_by_the_line() {
    let mut mesh = Mesh::builder()
        .region(Region::new("west").consoles())
        .start();
    let console = strata_tests::console_addr(&mesh.region("west").members[0]);
    let now = now_ms();
    let cpu = seasonal_cpu(now);
    let memory: Vec<(i64, f64)> = cpu
        .iter()
        .enumerate()
        .map(|(i, &(t, _))| (t, 0.2 + 0.02 * (i as i64 * STEP_MS) as f64 / DAY_MS as f64))
        .collect();
    let body = write_body(&[
        (
            "host_cpu_usage_ratio",
            &[("agent", "app-1"), ("cpu", "total")],
            &cpu,
        ),
        ("host_memory_used_ratio", &[("agent", "app-1")], &memory),
    ]);
    let (status, answer) = http_post_bytes_as(
        &console,
        "/api/v1/write",
        "application/x-protobuf",
        &body,
        Some(strata_testkit::access::admin_token()),
    )
    .unwrap();
    assert_eq!(status, 204, "remote write: {answer}");

    let http = mesh.http();
    let report = wait_for(
        "the capacity report of both series",
        Duration::from_secs(30),
        || {
            let r = get_json(
                &http,
                "/api/v1/reports/capacity?resources=west/app-1&period=14d&limit=0.8",
            )?;
            let rows = r["rows"].as_array().cloned().unwrap_or_default();
            if rows.len() >= 2 {
                Ok(rows)
            } else {
                Err(r.to_string())
            }
        },
    );
    let row = |metric: &str| {
        report
            .iter()
            .find(|r| r["metric"] == metric)
            .unwrap_or_else(|| panic!("no {metric} row: {report:?}"))
            .clone()
    };
    let cpu_row = row("host_cpu_usage_ratio");
    let (error, line_error) = (
        cpu_row["error"].as_f64().unwrap(),
        cpu_row["line_error"].as_f64().unwrap(),
    );
    eprintln!(
        "CPU with a daily swing: {} (season {} h), error {error:.4} vs the line's {line_error:.4}; peak over the next day {:.3}, {:.2} days to 0.8",
        cpu_row["method"],
        cpu_row["season_hours"],
        cpu_row["peak_next_day"].as_f64().unwrap(),
        cpu_row["days_to_limit"].as_f64().unwrap_or(f64::NAN),
    );
    assert_eq!(cpu_row["method"], "holt-winters", "{cpu_row}");
    assert_eq!(cpu_row["season_hours"], 24, "{cpu_row}");
    assert!(error * 3.0 < line_error, "{cpu_row}");
    // the daily peak (0.35 + 0.056 + 0.25 ≈ 0.66) heads for 0.8 at 0.004 a day: in about
    // five weeks, where the line, seeing only the average, says months
    let peak = cpu_row["peak_next_day"].as_f64().unwrap();
    assert!((peak - 0.66).abs() < 0.05, "{cpu_row}");
    let days = cpu_row["days_to_limit"].as_f64().unwrap();
    assert!(days > 10.0 && days < 70.0, "{cpu_row}");

    let memory_row = row("host_memory_used_ratio");
    eprintln!(
        "memory growing in a line: {}, error {:.6}",
        memory_row["method"], memory_row["error"]
    );
    assert_eq!(memory_row["method"], "linear", "{memory_row}");
    let per_day = memory_row["per_day"].as_f64().unwrap();
    assert!((per_day - 0.02).abs() < 1e-3, "{memory_row}");
}
