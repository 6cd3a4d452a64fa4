//! Partials evaluated in each part, combined, give what the raw series give; what does not
//! compose is not pushed down.

use std::sync::Mutex;

use promql_parser::parser::VectorSelector;

use super::*;
use crate::promql::memory::Memory;
use crate::promql::value::{Labels, NAME, RawSeries};
use crate::promql::{self, LabelsFuture, PartialFuture, SelectFuture, Source, selects};

/// Two regions' series: a counter and a gauge per host, three hosts in east, two in west.
fn regions() -> Vec<(String, Memory)> {
    let mut out = Vec::new();
    for (region, hosts) in [("east", 3), ("west", 2)] {
        let mut series = Vec::new();
        for h in 0..hosts {
            let labels = |name: &str, job: &str| -> Labels {
                [
                    (NAME, name),
                    ("job", job),
                    ("host", &format!("{region}-{h}")),
                    ("region", region),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
            };
            let per = (h + 1) as f64 * if region == "east" { 1.0 } else { 3.0 };
            series.push(RawSeries {
                labels: labels("requests_total", if h % 2 == 0 { "api" } else { "web" }),
                samples: (0..=40).map(|i| (i * 15_000, per * i as f64)).collect(),
            });
            series.push(RawSeries {
                labels: labels("load", "api"),
                samples: (0..=40)
                    .map(|i| (i * 15_000, per + (i % 7) as f64))
                    .collect(),
            });
        }
        out.push((region.to_string(), Memory(series)));
    }
    out
}

/// The regions as the centre sees them: selectors read every region; partials are evaluated
/// by each region's engine over its own series.
struct Parts {
    parts: Vec<(String, Memory)>,
    partials_asked: Mutex<Vec<String>>,
}

impl Source for Parts {
    fn select<'a>(&'a self, selector: &'a VectorSelector, from: i64, to: i64) -> SelectFuture<'a> {
        Box::pin(async move {
            let mut out = Vec::new();
            for (_, m) in &self.parts {
                out.extend(m.select(selector, from, to).await?);
            }
            Ok(out)
        })
    }

    fn series<'a>(&'a self, selector: &'a VectorSelector, from: i64, to: i64) -> LabelsFuture<'a> {
        Box::pin(async move {
            let all = self.select(selector, from, to).await?;
            Ok(all
                .into_iter()
                .map(|s| s.labels)
                .filter(|l| selects(selector, l))
                .collect())
        })
    }

    fn parts_label(&self) -> Option<&str> {
        Some("region")
    }

    fn partial<'a>(&'a self, expr: &'a str, start: i64, end: i64, step: i64) -> PartialFuture<'a> {
        self.partials_asked.lock().unwrap().push(expr.to_string());
        Box::pin(async move {
            let mut out = Vec::new();
            for (_, m) in &self.parts {
                out.extend(promql::range(m, expr, start, end, step).await?);
            }
            Ok(out)
        })
    }
}

#[tokio::test]
async fn partials_combined_answer_as_the_raw_series_do() {
    let parts = Parts {
        parts: regions(),
        partials_asked: Mutex::new(Vec::new()),
    };
    let raw = Memory(regions().into_iter().flat_map(|(_, m)| m.0).collect());
    for expr in [
        "sum(rate(requests_total[1m]))",
        "sum by (job) (rate(requests_total[1m]))",
        "sum without (host) (rate(requests_total[2m]))",
        "count by (job) (load > 2)",
        "max by (job) (load) - min by (job) (load)",
        "group by (region) (load)",
        "sum(load * 2 + 1)",
        "sum by (region) (rate(requests_total[1m])) / sum by (region) (load)",
        "count(requests_total)",
        "sum without (region) (load)",
        "avg by (job) (rate(requests_total[1m]))",
        "avg(load)",
        "avg without (host) (load) / sum without (host) (load)",
    ] {
        let pushed = promql::range(&parts, expr, 60_000, 600_000, 30_000)
            .await
            .unwrap();
        let direct = promql::range(&raw, expr, 60_000, 600_000, 30_000)
            .await
            .unwrap();
        assert_eq!(pushed.len(), direct.len(), "{expr}");
        for (a, b) in pushed.iter().zip(&direct) {
            assert_eq!(a.labels, b.labels, "{expr}");
            assert_eq!(a.points.len(), b.points.len(), "{expr}");
            for (p, q) in a.points.iter().zip(&b.points) {
                assert_eq!(p.0, q.0, "{expr}");
                assert!(
                    (p.1 - q.1).abs() <= 1e-9 * p.1.abs().max(1.0),
                    "{expr}: {p:?} {q:?}"
                );
            }
        }
        let (Value::Vector(a), Value::Vector(b)) = (
            promql::instant(&parts, expr, 300_000).await.unwrap(),
            promql::instant(&raw, expr, 300_000).await.unwrap(),
        ) else {
            panic!("{expr}: not vectors");
        };
        let sorted = |mut v: Vec<Sample>| {
            v.sort_by(|x, y| x.labels.cmp(&y.labels));
            v
        };
        let (a, b) = (sorted(a), sorted(b));
        assert_eq!(a.len(), b.len(), "{expr}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.labels, y.labels, "{expr}");
            assert!(
                (x.value - y.value).abs() <= 1e-9 * x.value.abs().max(1.0),
                "{expr}"
            );
        }
    }
    let asked = parts.partials_asked.lock().unwrap();
    assert!(
        asked.iter().any(|p| p.contains("by (job, region)")),
        "{asked:?}"
    );
}

#[test]
fn only_what_composes_over_one_part_at_a_time_is_pushed() {
    let plan = |text: &str| -> Vec<String> {
        let expr = promql::parse(text).unwrap();
        super::plan(&expr, "region")
            .into_iter()
            .map(|p| p.partial)
            .collect()
    };
    assert_eq!(
        plan("sum(rate(x[5m]))"),
        vec!["sum by (region) (rate(x[5m]))"]
    );
    assert_eq!(
        plan("count without (host) (x)"),
        vec!["count without (host) (x)"]
    );
    assert_eq!(plan("sum without (region) (x)"), vec!["sum without () (x)"]);
    // an average as a sum and a count
    assert_eq!(plan("avg(x)"), vec!["sum by (region) (x)"]);
    let expr = promql::parse("avg by (job) (x)").unwrap();
    assert_eq!(
        super::plan(&expr, "region")[0].count.as_deref(),
        Some("count by (job, region) (x)")
    );
    for not_pushed in [
        "stddev(x)",
        "topk(3, x)",
        "quantile(0.9, x)",
        "sum(x * on (job) group_left y)",
        "sum(x / on (host) y)",
        "sum(label_replace(x, \"region\", \"a\", \"\", \"\"))",
        "max_over_time(sum(x)[10m:1m])",
        "sum(rate(x[5m:1m]))",
    ] {
        assert!(
            plan(not_pushed).is_empty(),
            "{not_pushed}: {:?}",
            plan(not_pushed)
        );
    }
    // the parts of an expression that compose are pushed, the rest read raw
    assert_eq!(
        plan("sum(x) / quantile(0.5, y)"),
        vec!["sum by (region) (x)"]
    );
    assert_eq!(
        plan("sum(sum by (job) (x))"),
        vec!["sum by (job, region) (x)"]
    );
    assert_eq!(
        plan("sum(sum by (job, region) (x))"),
        vec!["sum by (region) (sum by (job, region) (x))"]
    );
}
