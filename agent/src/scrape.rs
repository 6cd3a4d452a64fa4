//! Exporters scraped by the agent (`[[scrape]]`): their samples go into the agent's own
//! buffer, so they ride the same polled, acknowledged path as the host's series and survive
//! a sub-manager's failover; the region stores them as Prometheus would have.
//!
//! Targets come from the local config file only: the sub-manager's `Configure` cannot add
//! one, so an agent fetches only the URLs its host's administrator wrote. Each target is
//! labelled `job` and `instance` (the URL's `host:port`), with `honor_labels` deciding
//! conflicts as Prometheus does (`exported_` prefixes, or the exporter's values kept); each
//! scrape also stores `up`, `scrape_duration_seconds`, `scrape_samples_scraped` and
//! `scrape_samples_post_metric_relabeling`. A target exposing more than `sample_limit`
//! samples fails its scrape (`up` 0), as Prometheus's `sample_limit` does.
//!
//! - `parse`: the text exposition formats.

pub mod parse;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Deserialize;
use strata_proto::labels::LabelMap;
use strata_proto::relabel::{self, Rule, RuleConfig};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use crate::buffer::{SampleBuffer, SeriesIdx};
use crate::checks::http::{fetch, parse_url};
use crate::checks::spec::HttpSpec;
use crate::entry::AgentEntry;
use crate::registry::Registry;
use parse::{Format, Line};

/// One exporter to scrape.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The `job` label of its series.
    pub job: String,
    /// The exporter's metrics URL (`http://` or `https://`).
    pub url: String,
    /// Time between scrapes (default 15 s).
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Timeout of one scrape (default the shorter of 10 s and the interval; at most the
    /// interval).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Keep the exporter's values of labels that clash with the target's (`job`,
    /// `instance`, `labels`); by default the exporter's go to `exported_<name>`.
    #[serde(default)]
    pub honor_labels: bool,
    /// Keep the timestamps the exporter writes (default true); else the scrape's time.
    #[serde(default = "yes")]
    pub honor_timestamps: bool,
    /// Labels added to every series of the target.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Relabelling of each scraped series (Prometheus's `metric_relabel_configs`).
    #[serde(default)]
    pub metric_relabel: Vec<RuleConfig>,
    /// Most samples one scrape may expose; more fails the scrape (default 50,000).
    #[serde(default = "default_sample_limit")]
    pub sample_limit: usize,
    /// Largest body read (default 32 MiB); a larger one fails the scrape.
    #[serde(default = "default_body_limit")]
    pub body_size_limit: usize,
    /// Headers sent with each scrape (e.g. `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// PEM file of CAs trusted beside the system's, for an `https://` URL.
    pub ca_file: Option<String>,
}

fn default_interval() -> Duration {
    Duration::from_secs(15)
}
fn yes() -> bool {
    true
}
fn default_sample_limit() -> usize {
    50_000
}
fn default_body_limit() -> usize {
    32 << 20
}

impl ScrapeConfig {
    /// What is wrong with it, each problem naming `field` and its key.
    pub fn problems(&self, field: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if self.job.trim().is_empty() {
            errors.push(format!("{field}.job: must not be empty"));
        }
        if let Err(e) = parse_url(&self.url) {
            errors.push(format!("{field}.url: {e}"));
        }
        if self.interval < Duration::from_millis(100) {
            errors.push(format!(
                "{field}.interval: {:?} is below the minimum of 100ms",
                self.interval
            ));
        }
        let timeout = self.timeout();
        if timeout.is_zero() || timeout > self.interval {
            errors.push(format!(
                "{field}.timeout: {timeout:?} must be above zero and at most the interval ({:?})",
                self.interval
            ));
        }
        if let Err(e) = relabel::compile(&format!("{field}.metric_relabel"), &self.metric_relabel) {
            errors.push(e);
        }
        if self.sample_limit == 0 || self.body_size_limit == 0 {
            errors.push(format!(
                "{field}: sample_limit and body_size_limit must be above zero"
            ));
        }
        errors
    }

    /// The timeout of one scrape.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .unwrap_or_else(|| self.interval.min(Duration::from_secs(10)))
    }

    /// The `instance` label: the URL's `host:port`.
    fn instance(&self) -> String {
        match parse_url(&self.url) {
            Ok(t) if t.host.contains(':') => format!("[{}]:{}", t.host, t.port),
            Ok(t) => format!("{}:{}", t.host, t.port),
            Err(_) => self.url.clone(),
        }
    }
}

/// Problems of every `[[scrape]]`, and jobs scraping one URL twice.
pub fn problems(list: &[ScrapeConfig]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, s) in list.iter().enumerate() {
        let field = format!("scrape[{i}]");
        errors.extend(s.problems(&field));
        if !seen.insert((&s.job, &s.url)) {
            errors.push(format!("{field}: job '{}' scrapes {} twice", s.job, s.url));
        }
    }
    errors
}

/// Starts one scrape loop per target; they end on `shutdown`.
pub fn start(
    configs: &[ScrapeConfig],
    entry: Arc<AgentEntry>,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    configs
        .iter()
        .filter_map(|config| match Target::new(config.clone()) {
            Ok(target) => Some(target),
            Err(problem) => {
                warn!(job = %config.job, %problem, "scrape target not started");
                None
            }
        })
        .map(|target| {
            let span = info_span!("scrape", job = %target.config.job, instance = %target.instance);
            tokio::spawn(
                target
                    .run(entry.clone(), registry.clone(), shutdown.clone())
                    .instrument(span),
            )
        })
        .collect()
}

/// The series the scrape's own figures are stored under (None: the buffer refused it).
struct Meta {
    up: Option<SeriesIdx>,
    duration: Option<SeriesIdx>,
    scraped: Option<SeriesIdx>,
    kept: Option<SeriesIdx>,
}

/// One target and what it remembers between scrapes.
pub struct Target {
    config: ScrapeConfig,
    rules: Vec<Rule>,
    instance: String,
    spec: HttpSpec,
    /// The target's labels (`job`, `instance`, `labels`).
    target_labels: Vec<(String, String)>,
    /// Each series text seen, with its index in the buffer (None: relabelling drops it, or
    /// the buffer's dictionary is full).
    series: HashMap<Box<str>, Option<SeriesIdx>>,
    meta: Option<Meta>,
    /// The buffer's dictionary generation the indexes belong to.
    generation: u64,
}

/// What one scrape gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scraped {
    pub samples: usize,
    pub kept: usize,
}

impl Target {
    /// A target for `config`; an error says which setting is unusable.
    pub fn new(config: ScrapeConfig) -> Result<Self, String> {
        let rules = relabel::compile("metric_relabel", &config.metric_relabel)?;
        let instance = config.instance();
        let mut target_labels = vec![
            ("job".to_string(), config.job.clone()),
            ("instance".to_string(), instance.clone()),
        ];
        for (k, v) in &config.labels {
            target_labels.retain(|(n, _)| n != k);
            target_labels.push((k.clone(), v.clone()));
        }
        let mut headers = config.headers.clone();
        headers.insert(
            "Accept".into(),
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=1".into(),
        );
        let spec = HttpSpec {
            url: config.url.clone(),
            method: "GET".into(),
            expect_status: vec![200],
            body_match: None,
            headers,
            body: None,
            warn_after: None,
            cert_warn_days: 0,
            max_body_bytes: config.body_size_limit,
            ca_file: config.ca_file.clone(),
            insecure: false,
        };
        Ok(Self {
            config,
            rules,
            instance,
            spec,
            target_labels,
            series: HashMap::new(),
            meta: None,
            generation: 0,
        })
    }

    async fn run(
        mut self,
        entry: Arc<AgentEntry>,
        registry: Arc<Registry>,
        shutdown: CancellationToken,
    ) {
        let metrics = &registry.metrics;
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let started = Instant::now();
            let ts = strata_proto::now_ms();
            let body = self.fetch().await;
            let mut buffer = entry.buffer.lock().expect("buffer lock poisoned");
            let outcome =
                body.and_then(|(text, format)| self.store(&text, format, ts, &mut buffer));
            let meta = self.meta(&mut buffer);
            let (up, scraped) = match &outcome {
                Ok(s) => (1.0, s),
                Err(_) => (0.0, &Scraped::default()),
            };
            let figures = [
                (meta.up, up),
                (meta.duration, started.elapsed().as_secs_f64()),
                (meta.scraped, scraped.samples as f64),
                (meta.kept, scraped.kept as f64),
            ];
            for (idx, value) in figures {
                if let Some(idx) = idx {
                    buffer.push(idx, ts, value);
                }
            }
            buffer.commit();
            drop(buffer);
            metrics.scrapes.fetch_add(1, Ordering::Relaxed);
            match outcome {
                Ok(s) => debug!(samples = s.samples, kept = s.kept, "scraped"),
                Err(error) => {
                    metrics.scrape_failures.fetch_add(1, Ordering::Relaxed);
                    warn!(url = %self.config.url, %error, "scrape failed");
                }
            }
        }
    }

    /// The body of one scrape and its format.
    async fn fetch(&self) -> Result<(String, Format), String> {
        let response = fetch(&self.spec, self.config.timeout()).await?;
        if response.status != 200 {
            return Err(format!("status {}", response.status));
        }
        if response.body.len() >= self.config.body_size_limit {
            return Err(format!(
                "body larger than body_size_limit ({} bytes)",
                self.config.body_size_limit
            ));
        }
        let format = Format::of_content_type(response.content_type.as_deref());
        let text = String::from_utf8(response.body).map_err(|_| "body is not UTF-8".to_string())?;
        Ok((text, format))
    }

    /// Forgets the indexes held when the buffer renumbered its dictionary.
    fn follow_generation(&mut self, buffer: &SampleBuffer) {
        if buffer.generation() != self.generation {
            self.series.clear();
            self.meta = None;
            self.generation = buffer.generation();
        }
    }

    /// The scrape's own series, interned once per dictionary generation.
    fn meta(&mut self, buffer: &mut SampleBuffer) -> &Meta {
        self.follow_generation(buffer);
        let labels: LabelMap = self.target_labels.iter().cloned().collect();
        self.meta.get_or_insert_with(|| Meta {
            up: buffer.intern("up", &labels),
            duration: buffer.intern("scrape_duration_seconds", &labels),
            scraped: buffer.intern("scrape_samples_scraped", &labels),
            kept: buffer.intern("scrape_samples_post_metric_relabeling", &labels),
        })
    }

    /// Parses `text` and pushes its samples, stamped `ts` unless they carry their own.
    pub fn store(
        &mut self,
        text: &str,
        format: Format,
        ts: i64,
        buffer: &mut SampleBuffer,
    ) -> Result<Scraped, String> {
        let mut lines: Vec<Line<'_>> = Vec::new();
        let limit = self.config.sample_limit;
        let mut over = false;
        self.follow_generation(buffer);
        parse::for_each(text, format, |line| {
            if lines.len() < limit {
                lines.push(line);
            } else {
                over = true;
            }
        })
        .map_err(|e| e.to_string())?;
        if over {
            return Err(format!("more than sample_limit ({limit}) samples"));
        }
        let mut kept = 0;
        for line in &lines {
            let idx = match self.series.get(line.series) {
                Some(known) => *known,
                None => {
                    let resolved = self.resolve(line.series, buffer)?;
                    self.series.insert(line.series.into(), resolved);
                    resolved
                }
            };
            let Some(idx) = idx else { continue };
            let at = match line.ts_ms {
                Some(own) if self.config.honor_timestamps => own,
                _ => ts,
            };
            buffer.push(idx, at, line.value);
            kept += 1;
        }
        Ok(Scraped {
            samples: lines.len(),
            kept,
        })
    }

    /// The buffer index of a series seen for the first time (None: relabelling drops it).
    fn resolve(
        &self,
        series: &str,
        buffer: &mut SampleBuffer,
    ) -> Result<Option<SeriesIdx>, String> {
        let (name, scraped) = parse::series_labels(series)?;
        let mut labels: Vec<(String, String)> = Vec::with_capacity(scraped.len() + 4);
        labels.push(("__name__".to_string(), name));
        for (k, v) in scraped {
            let clash = self.target_labels.iter().any(|(n, _)| *n == k);
            if clash && !self.config.honor_labels {
                labels.push((format!("exported_{k}"), v));
            } else {
                labels.push((k, v));
            }
        }
        for (k, v) in &self.target_labels {
            if !labels.iter().any(|(n, _)| n == k) {
                labels.push((k.clone(), v.clone()));
            }
        }
        if !relabel::apply(&self.rules, &mut labels) {
            return Ok(None);
        }
        let Some(at) = labels.iter().position(|(n, _)| n == "__name__") else {
            return Ok(None);
        };
        let (_, name) = labels.remove(at);
        let map: LabelMap = labels.into_iter().collect();
        Ok(buffer.intern(&name, &map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> ScrapeConfig {
        toml::from_str(&format!(
            "job = \"node\"\nurl = \"http://127.0.0.1:9100/metrics\"\n{extra}"
        ))
        .unwrap()
    }

    /// A stored sample: its series' name and labels, its value.
    type Stored = (String, Vec<(String, String)>, f64);

    fn series_of(buffer: &mut SampleBuffer) -> Vec<Stored> {
        let answer = buffer.poll("p", 0, 0, (0, 0), 1000, std::time::Instant::now());
        answer
            .samples
            .iter()
            .map(|s| {
                let d = &answer.series[s.series as usize];
                let labels = d
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                (d.name.clone(), labels, s.value)
            })
            .collect()
    }

    #[test]
    fn scraped_series_get_target_labels_clashes_are_exported_and_relabelling_drops() {
        let mut target = Target::new(config(
            "[[metric_relabel]]\naction = \"drop\"\nsource_labels = [\"__name__\"]\nregex = \"go_.*\"",
        ))
        .unwrap();
        let mut buffer = SampleBuffer::new(100, Duration::from_secs(60));
        let body =
            "go_goroutines 7\nnode_load1{job=\"other\"} 0.5\nnode_load1{job=\"other\"} 0.6 1000\n";
        let got = target.store(body, Format::Text, 5000, &mut buffer).unwrap();
        assert_eq!(
            got,
            Scraped {
                samples: 3,
                kept: 2
            }
        );
        let stored = series_of(&mut buffer);
        let expected_labels: Vec<(String, String)> = [
            ("exported_job", "other"),
            ("instance", "127.0.0.1:9100"),
            ("job", "node"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(stored[0], ("node_load1".into(), expected_labels, 0.5));
        assert_eq!(target.series.len(), 2, "each series text resolved once");

        let mut honoured = Target::new(config("honor_labels = true")).unwrap();
        let mut buffer = SampleBuffer::new(100, Duration::from_secs(60));
        honoured
            .store(body, Format::Text, 5000, &mut buffer)
            .unwrap();
        let stored = series_of(&mut buffer);
        assert!(
            stored[1]
                .1
                .contains(&("job".to_string(), "other".to_string()))
        );
    }

    #[test]
    fn a_scrape_over_its_sample_limit_or_malformed_stores_nothing() {
        let mut target = Target::new(config("sample_limit = 2")).unwrap();
        let mut buffer = SampleBuffer::new(100, Duration::from_secs(60));
        let err = target
            .store("a 1\nb 2\nc 3\n", Format::Text, 1, &mut buffer)
            .unwrap_err();
        assert!(err.contains("sample_limit (2)"), "{err}");
        let err = target
            .store("a 1\nb{ 2\n", Format::Text, 1, &mut buffer)
            .unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(buffer.is_empty());
    }

    #[test]
    fn bad_targets_are_named_by_field() {
        let errs = problems(&[
            config("interval = \"5s\"\ntimeout = \"20s\""),
            toml::from_str("job = \"\"\nurl = \"ftp://x\"").unwrap(),
        ])
        .join("\n");
        for needle in ["scrape[0].timeout", "scrape[1].job", "scrape[1].url"] {
            assert!(errs.contains(needle), "{needle}: {errs}");
        }
    }
}
