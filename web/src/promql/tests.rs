//! The engine against answers worked out by Prometheus 2.x's rules, over series held in
//! memory.

use super::memory::Memory;
use super::value::NAME;
use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn series(pairs: &[(&str, &str)], samples: Vec<(i64, f64)>) -> RawSeries {
    RawSeries {
        labels: labels(pairs),
        samples,
    }
}

const S: i64 = 1000;

/// Two counters of job api growing by 10 (instance a) and 20 (b) every 15 s from 0 to 300 s,
/// one that resets, a histogram, and a gauge seen last at 0.
fn memory() -> Memory {
    let every15 = |per: f64| {
        (0..=20)
            .map(|i| (i * 15 * S, per * i as f64))
            .collect::<Vec<_>>()
    };
    Memory(vec![
        series(
            &[
                (NAME, "http_requests_total"),
                ("job", "api"),
                ("instance", "a"),
            ],
            every15(10.0),
        ),
        series(
            &[
                (NAME, "http_requests_total"),
                ("job", "api"),
                ("instance", "b"),
            ],
            every15(20.0),
        ),
        series(
            &[(NAME, "resets_total"), ("job", "batch")],
            vec![
                (0, 0.0),
                (15 * S, 10.0),
                (30 * S, 20.0),
                (45 * S, 5.0),
                (60 * S, 15.0),
            ],
        ),
        series(&[(NAME, "lat_bucket"), ("le", "0.1")], vec![(0, 10.0)]),
        series(&[(NAME, "lat_bucket"), ("le", "0.5")], vec![(0, 30.0)]),
        series(&[(NAME, "lat_bucket"), ("le", "1")], vec![(0, 40.0)]),
        series(&[(NAME, "lat_bucket"), ("le", "+Inf")], vec![(0, 40.0)]),
        series(
            &[(NAME, "info"), ("instance", "a"), ("version", "1.2")],
            vec![(0, 1.0)],
        ),
        series(&[(NAME, "gauge")], vec![(0, 7.0)]),
    ])
}

fn at(text: &str, t: i64) -> Value {
    futures::executor::block_on(instant(&memory(), text, t))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The vector `text` gives at `t`, by labels.
fn vector_at(text: &str, t: i64) -> Vec<(Labels, f64)> {
    match at(text, t) {
        Value::Vector(v) => {
            let mut out: Vec<(Labels, f64)> = v.into_iter().map(|s| (s.labels, s.value)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("{text}: {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn rate_and_increase_extrapolate_as_prometheus_does() {
    let r = vector_at("rate(http_requests_total{instance=\"a\"}[1m])", 300 * S);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, labels(&[("job", "api"), ("instance", "a")]));
    assert!(close(r[0].1, 40.0 / 60.0), "{r:?}");
    // a window whose edges lie between samples: extrapolated by the edges' distance
    let r = vector_at(
        "increase(http_requests_total{instance=\"a\"}[50s])",
        300 * S,
    );
    // samples at 255..300 (4; 170 to 200), 45 s end to end, 5 s from the window's start
    assert!(close(r[0].1, 30.0 * 50.0 / 45.0), "{r:?}");
    // a counter reset is added back; extrapolation stops where the counter was zero
    let r = vector_at("increase(resets_total[1m])", 60 * S);
    assert!(close(r[0].1, 35.0), "{r:?}");
    let r = vector_at("irate(http_requests_total{instance=\"b\"}[1m])", 300 * S);
    assert!(close(r[0].1, 20.0 / 15.0), "{r:?}");
    let r = vector_at("resets(resets_total[1m])", 60 * S);
    assert_eq!(r[0].1, 1.0);
    let r = vector_at("deriv(http_requests_total{instance=\"a\"}[1m])", 300 * S);
    assert!(close(r[0].1, 10.0 / 15.0), "{r:?}");
}

#[test]
fn instant_selectors_look_back_five_minutes_and_honour_offset() {
    assert_eq!(
        vector_at("gauge", 300 * S).len(),
        1,
        "a sample 5 m old is seen"
    );
    assert!(vector_at("gauge", 300 * S + 1).is_empty(), "older is not");
    let r = vector_at("http_requests_total{instance=\"a\"} offset 1m", 300 * S);
    assert_eq!(r[0].1, 160.0);
    let r = vector_at("http_requests_total{instance=\"a\"} @ 60", 300 * S);
    assert_eq!(r[0].1, 40.0);
}

#[test]
fn aggregations_group_as_by_and_without_say() {
    let r = vector_at("sum by (job) (http_requests_total)", 300 * S);
    assert_eq!(r, vec![(labels(&[("job", "api")]), 600.0)]);
    let r = vector_at("sum without (instance) (http_requests_total)", 300 * S);
    assert_eq!(r, vec![(labels(&[("job", "api")]), 600.0)]);
    let r = vector_at("avg(http_requests_total)", 300 * S);
    assert_eq!(r[0].1, 300.0);
    let r = vector_at("topk(1, http_requests_total)", 300 * S);
    assert_eq!(r[0].0.get("instance").map(String::as_str), Some("b"));
    assert_eq!(
        r[0].0.get(NAME).map(String::as_str),
        Some("http_requests_total")
    );
    let r = vector_at("quantile(0.5, http_requests_total)", 300 * S);
    assert_eq!(r[0].1, 300.0);
    let r = vector_at("count_values(\"v\", http_requests_total)", 300 * S);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].0.get("v").map(String::as_str), Some("200"));
    let r = vector_at("stddev(http_requests_total)", 300 * S);
    assert_eq!(r[0].1, 100.0);
}

#[test]
fn binary_operators_match_vectors_and_filter_comparisons() {
    let r = vector_at(
        "http_requests_total / on(instance) group_left(version) info",
        300 * S,
    );
    assert_eq!(
        r,
        vec![(
            labels(&[("instance", "a"), ("job", "api"), ("version", "1.2")]),
            200.0
        )]
    );
    let r = vector_at("http_requests_total > 250", 300 * S);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].0.get(NAME).map(String::as_str),
        Some("http_requests_total")
    );
    let r = vector_at("http_requests_total > bool 250", 300 * S);
    assert_eq!(r.iter().map(|x| x.1).collect::<Vec<_>>(), vec![0.0, 1.0]);
    let r = vector_at("http_requests_total and on(instance) info", 300 * S);
    assert_eq!(r.len(), 1);
    let r = vector_at("http_requests_total unless on(instance) info", 300 * S);
    assert_eq!(r[0].0.get("instance").map(String::as_str), Some("b"));
    assert_eq!(at("1 + 2 * 3", 0), Value::Scalar(7.0));
    assert_eq!(at("2 ^ 3 ^ 2", 0), Value::Scalar(512.0));
    let err = futures::executor::block_on(instant(
        &memory(),
        "http_requests_total + on(job) http_requests_total",
        300 * S,
    ));
    assert!(matches!(err, Err(PromqlError::Execution(_))), "{err:?}");
}

#[test]
fn functions_of_instant_vectors() {
    let r = vector_at("histogram_quantile(0.5, lat_bucket)", 0);
    assert!(close(r[0].1, 0.3), "{r:?}");
    let r = vector_at(
        "label_replace(info, \"v\", \"$1\", \"version\", \"(\\\\d+)\\\\..*\")",
        0,
    );
    assert_eq!(r[0].0.get("v").map(String::as_str), Some("1"));
    let r = vector_at("absent(nothing{job=\"x\"})", 0);
    assert_eq!(r, vec![(labels(&[("job", "x")]), 1.0)]);
    assert!(vector_at("absent(gauge)", 0).is_empty());
    let r = vector_at("day_of_week(vector(86400 * 3))", 0); // 1970-01-04 was a Sunday
    assert_eq!(r[0].1, 0.0);
    let r = vector_at("days_in_month(vector(86400 * 40))", 0); // in February 1970
    assert_eq!(r[0].1, 28.0);
    assert_eq!(at("time()", 42 * S), Value::Scalar(42.0));
    let r = vector_at("round(gauge / 3, 0.5)", 0);
    assert_eq!(r[0].1, 2.5);
    let r = vector_at(
        "max_over_time(http_requests_total{instance=\"a\"}[1m:30s])",
        300 * S,
    );
    assert_eq!(r[0].1, 200.0);
}

#[test]
fn a_range_query_evaluates_at_each_step_and_what_is_missing_is_refused() {
    let out = futures::executor::block_on(range(
        &memory(),
        "sum(http_requests_total)",
        0,
        60 * S,
        30 * S,
    ))
    .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].points,
        vec![(0, 0.0), (30 * S, 60.0), (60 * S, 120.0)]
    );
    let bad = futures::executor::block_on(range(
        &memory(),
        "http_requests_total[1m]",
        0,
        60 * S,
        30 * S,
    ));
    assert!(matches!(bad, Err(PromqlError::BadData(_))), "{bad:?}");
    let bad = futures::executor::block_on(instant(
        &memory(),
        "double_exponential_smoothing(gauge[1m], 0.5, 0.5)",
        0,
    ));
    assert!(matches!(bad, Err(PromqlError::Unsupported(_))), "{bad:?}");
    let bad = futures::executor::block_on(instant(&memory(), "sum(", 0));
    assert!(matches!(bad, Err(PromqlError::BadData(_))), "{bad:?}");
}
