//! An agent scrapes Debian's node_exporter and blackbox_exporter (`[[scrape]]`): the series
//! the region stores are those of a direct scrape, labelled `job` and `instance` as
//! Prometheus labels them, with the values a direct scrape reads.
//!
//! Exporters' values move between scrapes, so the region's last stored scrape is taken
//! between two direct ones, A and B: every series in both must be stored and every stored
//! series be in one of them; a counter's stored value lies between its values in A and B;
//! a value equal in A and B is the stored one (gauges that wander and come back, such as
//! go_goroutines, are named and may not pass one in a hundred series).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use strata_agent::scrape::parse::{self, Format};
use strata_testkit::peer::{Output, Peer, listening_on};
use strata_testkit::{Mesh, Region, http_get, now_ms, wait_for};
use strata_tsdb::{Matcher, Tsdb, TsdbOptions};

type Series = BTreeMap<String, String>;

/// A direct scrape of `url_path` at `addr`: value per series (name as `__name__`).
fn direct(addr: &str, path: &str) -> BTreeMap<Series, f64> {
    let (status, body) = http_get(addr, path).unwrap();
    assert_eq!(status, 200, "{body}");
    let mut out = BTreeMap::new();
    parse::for_each(&body, Format::Text, |line| {
        let (name, labels) = parse::series_labels(line.series).unwrap();
        // an empty label is no label, to Prometheus as to Strata
        let mut s: Series = labels.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        s.insert("__name__".into(), name);
        out.insert(s, line.value);
    })
    .unwrap();
    out
}

fn start_exporter(binary: &str, args: &[&str], dir: &std::path::Path) -> Peer {
    assert!(
        Command::new("which")
            .arg(binary)
            .output()
            .is_ok_and(|o| o.status.success()),
        "{binary} is missing (make test installs it)"
    );
    let mut c = Command::new(binary);
    c.args(args).arg("--web.listen-address=127.0.0.1:0");
    Peer::start(
        c,
        Output::Stderr,
        &dir.join(format!("{binary}.log")),
        listening_on,
    )
    .unwrap_or_else(|e| panic!("start {binary}: {e}"))
}

fn is_counter(name: &str) -> bool {
    name.ends_with("_total")
        || name.ends_with("_count")
        || name.ends_with("_sum")
        || name.ends_with("_bucket")
        || name.ends_with("_seconds_total")
}

/// Compares the last scrape stored for `instance` with direct scrapes `a` and `b`.
fn compare(
    what: &str,
    stored: &BTreeMap<Series, (i64, f64)>,
    a: &BTreeMap<Series, f64>,
    b: &BTreeMap<Series, f64>,
) {
    let meta = [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
    ];
    let exported: BTreeMap<&Series, f64> = stored
        .iter()
        .filter(|(s, _)| !meta.contains(&s["__name__"].as_str()))
        .map(|(s, (_, v))| (s, *v))
        .collect();
    let both: BTreeSet<&Series> = a.keys().filter(|s| b.contains_key(*s)).collect();
    let missing: Vec<_> = both
        .iter()
        .filter(|s| !exported.contains_key(**s))
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: {} series of the exporter not stored, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let unknown: Vec<_> = exported
        .keys()
        .filter(|s| !a.contains_key(**s) && !b.contains_key(**s))
        .collect();
    assert!(
        unknown.is_empty(),
        "{what}: stored series the exporter never had, e.g. {:?}",
        unknown.first()
    );
    let mut wandered = Vec::new();
    for s in &both {
        let (va, vb, got) = (a[*s], b[*s], exported[*s]);
        if is_counter(&s["__name__"]) {
            let (lo, hi) = (va.min(vb), va.max(vb));
            assert!(
                got >= lo && got <= hi,
                "{what}: counter {s:?} stored {got}, not within {va}..{vb}"
            );
        } else if va.to_bits() == vb.to_bits() && got.to_bits() != va.to_bits() {
            wandered.push(format!("{}: {va} in A and B, {got} stored", s["__name__"]));
        }
    }
    assert!(
        wandered.len() * 100 <= both.len(),
        "{what}: {} of {} series stored a value neither direct scrape read: {wandered:?}",
        wandered.len(),
        both.len()
    );
    eprintln!(
        "{what}: {} series as scraped directly ({} wandering gauges: {wandered:?})",
        both.len(),
        wandered.len()
    );
}

#[test]
fn an_agent_stores_what_node_exporter_and_blackbox_exporter_expose() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_exporter("prometheus-node-exporter", &[], dir.path());
    let blackbox_config = dir.path().join("blackbox.yml");
    std::fs::write(
        &blackbox_config,
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n",
    )
    .unwrap();
    let blackbox = start_exporter(
        "prometheus-blackbox-exporter",
        &[&format!("--config.file={}", blackbox_config.display())],
        dir.path(),
    );
    let probe_path = format!("/probe?module=http_2xx&target=http://{}/", node.addr);
    let agent_toml = format!(
        "id = \"host-1\"\ncollect_interval = \"1s\"\n\
         [[scrape]]\njob = \"node\"\nurl = \"http://{}/metrics\"\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         [[scrape]]\njob = \"blackbox\"\nurl = \"http://{}{probe_path}\"\ninterval = \"1s\"\ntimeout = \"1s\"\n",
        node.addr, blackbox.addr
    );
    let mut mesh = Mesh::builder()
        .interval(Duration::from_millis(500))
        .region(Region::new("west").agent(&agent_toml).consoles().listed())
        .start();
    let console = strata_tests::console_addr(&mesh.region("west").members[0]);
    let member_dir = mesh.dir().join("west-1");

    let a_node = direct(&node.addr, "/metrics");
    let a_box = direct(&blackbox.addr, &probe_path);
    let after_a = now_ms();
    // a scrape of each target taken after A is stored
    wait_for("a scrape after A stored", Duration::from_secs(30), || {
        let path = format!(
            "/api/v1/query?query={}",
            strata_web::auth::policy::percent_encode("timestamp(up{instance=~\"127.0.0.1:.*\"})")
        );
        let (status, body) = strata_testkit::http_request_as(
            &console,
            "GET",
            &path,
            "",
            Some(strata_testkit::access::admin_token()),
        )?;
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let fresh = v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["value"][1]
                    .as_str()
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(|t| t * 1000.0 > after_a as f64 + 1000.0)
            })
            .count();
        if status == 200 && fresh == 2 {
            Ok(())
        } else {
            Err(format!("{status}: {fresh} of 2 targets fresh: {body}"))
        }
    });
    // no scrape after this is stored: the agent goes, then B is read and the member stopped
    mesh.region("west").agents[0].kill();
    let b_node = direct(&node.addr, "/metrics");
    let b_box = direct(&blackbox.addr, &probe_path);
    assert!(mesh.region("west").members[0].terminate(Duration::from_secs(20)));

    let tsdb = Tsdb::open(&member_dir, TsdbOptions::keep_forever()).unwrap();
    for (job, instance, a, b) in [
        ("node", node.addr.clone(), &a_node, &b_node),
        ("blackbox", blackbox.addr.clone(), &a_box, &b_box),
    ] {
        let selected = tsdb
            .select_matching(&[
                Matcher::equal("job", job),
                Matcher::equal("instance", &instance),
            ])
            .unwrap();
        let mut last = BTreeMap::new();
        for series in selected {
            let mut labels: Series = series.labels.clone();
            assert_eq!(labels.remove("agent").as_deref(), Some("host-1"));
            labels.remove("job");
            labels.remove("instance");
            labels.insert("__name__".into(), series.name.clone());
            let points = tsdb.range(series.id, 0, i64::MAX / 2).unwrap();
            last.insert(labels, *points.last().unwrap());
        }
        let up: Vec<_> = last
            .iter()
            .filter(|(s, _)| s["__name__"] == "up")
            .map(|(_, p)| p.1)
            .collect();
        assert_eq!(up, vec![1.0], "{job}: up");
        // the newest stored scrape is one instant: keep its samples only
        let newest = last.values().map(|p| p.0).max().unwrap();
        last.retain(|_, p| p.0 == newest);
        compare(job, &last, a, b);
    }
}
