//! Time-series stores Strata forwards to and receives from: VictoriaMetrics and Prometheus
//! (Debian's packages), started on a free loopback port, stopped and started again on the
//! same port and data, and read back sample by sample.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_testkit::http_get;
use strata_testkit::peer::Peer;

/// A series' labels (the name as `__name__`).
pub type SeriesLabels = BTreeMap<String, String>;
/// Samples by series, one value per timestamp.
pub type Samples = BTreeMap<SeriesLabels, BTreeMap<i64, f64>>;

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Victoria,
    Prometheus,
}

/// A store that receives remote write (and, for Prometheus, may scrape and send it).
pub struct TsdbPeer {
    kind: Kind,
    peer: Option<Peer>,
    /// `host:port` of its HTTP API.
    pub addr: String,
    data: PathBuf,
    log: PathBuf,
    /// More of Prometheus's YAML config (`{addr}`: its own address).
    extra: String,
}

fn binary(kind: Kind) -> &'static str {
    match kind {
        Kind::Victoria => "victoria-metrics",
        Kind::Prometheus => "prometheus",
    }
}

fn command(kind: Kind, data: &Path, addr: &str, extra: &str) -> Command {
    let mut c = Command::new(binary(kind));
    match kind {
        Kind::Victoria => {
            c.arg(format!("-storageDataPath={}", data.display()))
                .arg(format!("-httpListenAddr={addr}"))
                .arg("-retentionPeriod=100y");
        }
        Kind::Prometheus => {
            // at-least-once delivery re-sends samples older than a series' newest: the
            // out-of-order window accepts them (identical ones are kept once)
            let config = data.join("prometheus.yml");
            std::fs::create_dir_all(data).expect("create the receiver's directory");
            let yaml = format!(
                "storage:\n  tsdb:\n    out_of_order_time_window: 1d\n{}",
                extra.replace("{addr}", addr)
            );
            std::fs::write(&config, yaml).expect("write prometheus.yml");
            c.arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    data.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--web.enable-remote-write-receiver");
        }
    }
    c
}

fn healthy(addr: &str, kind: Kind) -> bool {
    let path = match kind {
        Kind::Victoria => "/health",
        Kind::Prometheus => "/-/ready",
    };
    http_get(addr, path).is_ok_and(|(s, _)| s == 200)
}

impl TsdbPeer {
    /// Starts `kind` with its data in `dir`; panics naming the package when it is missing.
    pub fn start(kind: Kind, dir: &Path) -> Self {
        Self::start_with(kind, dir, "")
    }

    /// As [`TsdbPeer::start`], Prometheus with more of its YAML config (`global:`,
    /// `scrape_configs:`, `remote_write:`; `{addr}` stands for its own address).
    pub fn start_with(kind: Kind, dir: &Path, extra: &str) -> Self {
        assert!(
            Command::new("which")
                .arg(binary(kind))
                .output()
                .is_ok_and(|o| o.status.success()),
            "{} is missing (make test installs it)",
            binary(kind)
        );
        let data = dir.join(binary(kind));
        let log = dir.join(format!("{}.log", binary(kind)));
        let peer = Peer::start_on_free_port(
            |addr| command(kind, &data, addr, extra),
            &log,
            |a| healthy(a, kind),
        )
        .unwrap_or_else(|e| panic!("start {}: {e}", binary(kind)));
        Self {
            kind,
            addr: peer.addr.clone(),
            peer: Some(peer),
            data,
            log,
            extra: extra.to_string(),
        }
    }

    /// The remote-write URL.
    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Stops it as its service would (SIGTERM: what it acknowledged is flushed; a
    /// VictoriaMetrics killed outright loses its last seconds of accepted samples): its port
    /// refuses connections until [`TsdbPeer::resume`].
    pub fn stop(&mut self) {
        if let Some(mut peer) = self.peer.take() {
            let _ = Command::new("kill")
                .arg(peer.child.id().to_string())
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = peer.child.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            panic!("{} did not stop within 30 s of SIGTERM", binary(self.kind));
        }
    }

    /// Starts it again on the same port and data.
    pub fn resume(&mut self) {
        let addr = self.addr.clone();
        // the port is the one it had (the address chosen for the attempt goes unused)
        let mut peer = Peer::start_on_free_port(
            |_| command(self.kind, &self.data, &addr, &self.extra),
            &self.log.with_extension("2.log"),
            |_| healthy(&addr, self.kind),
        )
        .unwrap_or_else(|e| panic!("restart {}: {e}", binary(self.kind)));
        peer.addr = addr;
        self.peer = Some(peer);
    }

    /// Every sample of the series matching the PromQL selector `selector` (e.g.
    /// `{region="west"}`) with a timestamp in `[from_ms, to_ms]`.
    pub fn samples(&self, selector: &str, from_ms: i64, to_ms: i64) -> Result<Samples, String> {
        match self.kind {
            Kind::Victoria => self.victoria_export(selector, from_ms, to_ms),
            Kind::Prometheus => self.prometheus_range(selector, from_ms, to_ms),
        }
    }

    fn victoria_export(&self, selector: &str, from_ms: i64, to_ms: i64) -> Result<Samples, String> {
        let _ = http_get(&self.addr, "/internal/force_flush");
        let path = format!(
            "/api/v1/export?match[]={}&start={}&end={}",
            encode(selector),
            from_ms as f64 / 1000.0,
            to_ms as f64 / 1000.0
        );
        let (status, body) = http_get(&self.addr, &path)?;
        if status != 200 {
            return Err(format!("export answered {status}: {body}"));
        }
        let mut out = Samples::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("export line {line}: {e}"))?;
            let labels = labels_of(&v["metric"]);
            let points = out.entry(labels).or_default();
            let (ts, values) = (v["timestamps"].as_array(), v["values"].as_array());
            for (t, x) in ts.into_iter().flatten().zip(values.into_iter().flatten()) {
                points.insert(t.as_i64().unwrap_or(0), x.as_f64().unwrap_or(f64::NAN));
            }
        }
        Ok(out)
    }

    fn prometheus_range(
        &self,
        selector: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Samples, String> {
        let (status, body) = http_get(&self.addr, &raw_samples_query(selector, from_ms, to_ms))?;
        if status != 200 {
            return Err(format!("query answered {status}: {body}"));
        }
        raw_samples(&body, from_ms)
    }
}

/// The Prometheus API's query (path and parameters) answering every raw sample of the series
/// of `selector` in `[from_ms, to_ms]`: a range selector over the whole window, evaluated at
/// its end.
pub fn raw_samples_query(selector: &str, from_ms: i64, to_ms: i64) -> String {
    let secs = ((to_ms - from_ms) / 1000 + 1).max(1);
    format!(
        "/api/v1/query?query={}&time={}",
        encode(&format!("{selector}[{secs}s]")),
        to_ms as f64 / 1000.0
    )
}

/// The samples of a matrix answer to [`raw_samples_query`], from `from_ms` on.
pub fn raw_samples(body: &str, from_ms: i64) -> Result<Samples, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("query answer: {e}"))?;
    let mut out = Samples::new();
    for series in v["data"]["result"].as_array().into_iter().flatten() {
        let points = out.entry(labels_of(&series["metric"])).or_default();
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

fn labels_of(metric: &serde_json::Value) -> SeriesLabels {
    metric
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// Percent-encodes a query parameter.
pub use strata_web::auth::policy::percent_encode as encode;

/// What is in `expected` but missing or different in `got`, described (empty: nothing);
/// values agree within `tolerance`, relative (0: bit for bit).
pub fn missing(expected: &Samples, got: &Samples, tolerance: f64) -> Vec<String> {
    let same = |a: f64, b: f64| {
        a.to_bits() == b.to_bits()
            || (a.is_nan() && b.is_nan())
            || (a - b).abs() <= tolerance * a.abs().max(b.abs())
    };
    let mut out = Vec::new();
    for (labels, points) in expected {
        let Some(have) = got.get(labels) else {
            out.push(format!(
                "series {labels:?} ({} samples) missing",
                points.len()
            ));
            continue;
        };
        let lost: Vec<_> = points
            .iter()
            .filter(|(ts, v)| !have.get(ts).is_some_and(|x| same(*x, **v)))
            .collect();
        if let Some((ts, v)) = lost.first() {
            out.push(format!(
                "series {labels:?}: {} of {} samples missing or different, first at {ts}: {v} \
                 expected, {:?} there",
                lost.len(),
                points.len(),
                have.get(ts)
            ));
        }
    }
    out
}

/// A series to write: its name, labels and samples.
pub type Written<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(i64, f64)]);

/// A snappy-compressed remote-write request of `series`.
pub fn write_body(series: &[Written<'_>]) -> Vec<u8> {
    use prost::Message;
    use strata_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
    let request = WriteRequest {
        timeseries: series
            .iter()
            .map(|(name, labels, samples)| {
                let mut l = vec![Label {
                    name: "__name__".into(),
                    value: name.to_string(),
                }];
                l.extend(labels.iter().map(|(k, v)| Label {
                    name: k.to_string(),
                    value: v.to_string(),
                }));
                l.sort_by(|a, b| a.name.cmp(&b.name));
                TimeSeries {
                    labels: l,
                    samples: samples
                        .iter()
                        .map(|(timestamp, value)| Sample {
                            value: *value,
                            timestamp: *timestamp,
                        })
                        .collect(),
                }
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy compression")
}
