//! node_exporter's names answered from Strata's series, through the engine.

use super::*;
use crate::promql::memory::Memory;
use crate::promql::{self, Value};

fn raw(pairs: &[(&str, &str)], samples: Vec<(i64, f64)>) -> RawSeries {
    RawSeries {
        labels: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        samples,
    }
}

/// Two agents' memory, CPU and network series, as agents store them.
fn source() -> Arc<dyn Source> {
    let mut all = Vec::new();
    for (agent, free) in [("web-1", 100.0), ("web-2", 300.0)] {
        let memory = |kind: &str, v: f64| {
            raw(
                &[
                    (NAME, "host_memory_detail_bytes"),
                    ("agent", agent),
                    ("kind", kind),
                    ("region", "eu"),
                ],
                vec![(0, v), (60_000, v)],
            )
        };
        all.push(memory("mem_free", free));
        all.push(memory("mem_total", 1000.0));
        all.push(raw(
            &[
                (NAME, "host_network_receive_bytes_total"),
                ("agent", agent),
                ("interface", "eth0"),
                ("region", "eu"),
            ],
            vec![(0, 0.0), (60_000, 6000.0)],
        ));
        all.push(raw(
            &[(NAME, "host_load1"), ("agent", agent), ("region", "eu")],
            vec![(0, 0.5), (60_000, 0.75)],
        ));
    }
    NodeNames::wrap(Arc::new(Memory(all)))
}

fn vector(v: Value) -> Vec<(Labels, f64)> {
    match v {
        Value::Vector(samples) => samples.into_iter().map(|s| (s.labels, s.value)).collect(),
        other => panic!("a vector, not {other:?}"),
    }
}

/// The vector `text` evaluates to over `source` at 60 s.
async fn instant(source: &Arc<dyn Source>, text: &str) -> Vec<(Labels, f64)> {
    vector(
        promql::instant(source.as_ref(), text, 60_000)
            .await
            .unwrap(),
    )
}

fn label(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn node_exporter_names_read_the_agents_series_with_its_labels() {
    let source = source();
    let got = instant(
        &source,
        r#"node_memory_MemFree_bytes{instance="web-2",job="node"}"#,
    )
    .await;
    assert_eq!(
        got,
        vec![(
            label(&[
                (NAME, "node_memory_MemFree_bytes"),
                ("instance", "web-2"),
                ("job", "node"),
                ("region", "eu"),
            ]),
            300.0
        )]
    );
    // a dashboard's expression over two mapped names, matched on their labels
    let got = instant(
        &source,
        r#"100 * (1 - node_memory_MemFree_bytes / node_memory_MemTotal_bytes)"#,
    )
    .await;
    let values: Vec<f64> = got.iter().map(|(_, v)| *v).collect();
    assert_eq!(values, vec![90.0, 70.0]);
    // network: `device` is the interface; rates as over the agent's own name
    let got = instant(
        &source,
        r#"rate(node_network_receive_bytes_total{device="eth0",instance="web-1"}[2m])"#,
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.get("device").map(String::as_str), Some("eth0"));
    assert!(!got[0].0.contains_key("interface"));
    let own = instant(
        &source,
        r#"rate(host_network_receive_bytes_total{interface="eth0",agent="web-1"}[2m])"#,
    )
    .await;
    assert_eq!(got[0].1, own[0].1);
}

#[tokio::test]
async fn selectors_that_cannot_hold_refuse_and_strata_names_still_answer() {
    let source = source();
    for text in [
        r#"node_load1{job="other"}"#,
        r#"node_load1{agent="web-1"}"#,
        r#"node_memory_MemFree_bytes{kind="mem_free"}"#,
        r#"node_network_receive_bytes_total{interface="eth0"}"#,
    ] {
        let got = instant(&source, text).await;
        assert!(got.is_empty(), "{text} selected {got:?}");
    }
    let got = instant(&source, "host_load1").await;
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|(l, _)| l.contains_key("agent")));
}

#[tokio::test]
async fn a_selector_without_a_name_sees_both_names() {
    let source = source();
    let selector = match promql::parse(r#"{__name__=~".*load1"}"#).unwrap() {
        promql_parser::parser::Expr::VectorSelector(vs) => vs,
        other => panic!("{other:?}"),
    };
    let names: BTreeSet<String> = source
        .series(&selector, 0, 60_000)
        .await
        .unwrap()
        .into_iter()
        .map(|l| {
            format!(
                "{}/{}",
                l[NAME],
                l.get("instance").or(l.get("agent")).unwrap()
            )
        })
        .collect();
    let want = [
        "host_load1/web-1",
        "host_load1/web-2",
        "node_load1/web-1",
        "node_load1/web-2",
    ];
    assert_eq!(names, want.iter().map(|s| s.to_string()).collect());
}

#[test]
fn the_table_maps_each_name_one_way_and_back() {
    let mut nodes = BTreeSet::new();
    for e in ENTRIES.iter() {
        assert!(nodes.insert(e.node.clone()), "{} twice", e.node);
        let mut labels = label(&[(NAME, &e.host), ("agent", "a")]);
        for (k, v) in &e.fixed {
            labels.insert(k.to_string(), v.clone());
        }
        let node = to_node(&labels).unwrap_or_else(|| panic!("{} not mapped", e.host));
        assert_eq!(node[NAME], e.node);
        assert_eq!(node["instance"], "a");
        assert_eq!(node["job"], "node");
    }
    assert!(to_node(&label(&[(NAME, "host_memory_detail_bytes"), ("kind", "x")])).is_none());
    assert!(to_node(&label(&[(NAME, "sim_sample_number")])).is_none());
}

#[test]
fn a_selector_without_a_name_reads_only_the_entries_it_may_select() {
    let entries = |text: &str| {
        let promql_parser::parser::Expr::VectorSelector(vs) = promql::parse(text).unwrap() else {
            panic!("{text}");
        };
        candidates(&vs).len()
    };
    // node_exporter's series carry no agent, their job is node
    assert_eq!(entries(r#"{agent="web-1"}"#), 0);
    assert_eq!(entries(r#"{job="other"}"#), 0);
    assert_eq!(
        entries(r#"{kind="mem_free",__name__=~"node_memory_.*"}"#),
        0
    );
    assert_eq!(
        entries(r#"{interface="eth0",__name__=~"node_network_.*"}"#),
        0
    );
    assert_eq!(entries(r#"{instance="web-1"}"#), ENTRIES.len());
    assert_eq!(entries(r#"{job="node",__name__=~"node_load.*"}"#), 3);
}
