//! Web access log analysis: Common and Combined formats, with an optional response time
//! appended (Apache `%D`/`%T`, nginx `$request_time`).
//!
//! Each run reads what was appended since the last one and reports request rate, status
//! classes, bytes, the top paths and referrers, and latency percentiles when times are
//! present. Distinct paths are counted up to a bound per run, so a scan of random URLs
//! cannot grow memory.

use std::collections::HashMap;
use std::time::Instant;

use strata_proto::v1::CheckState;

use super::outcome::{Outcome, clip};
use super::spec::{AccessFormat, AccessLogSpec, TimeUnit};
use super::tail::Follower;
use crate::policy::AllowPaths;

/// Most distinct paths (and referrers) counted in one run; later ones count as "(other)".
const MAX_DISTINCT: usize = 10_000;
/// Most response times kept in one run for the percentiles.
const MAX_TIMES: usize = 200_000;

/// One parsed access-log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub bytes: u64,
    pub referrer: Option<&'a str>,
    /// Seconds, when the line carries a response time.
    pub seconds: Option<f64>,
}

/// Splits a line into fields: bare words, `[...]` and `"..."` (with `\"` escapes).
fn fields(line: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(12);
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' => i += 1,
            b'[' => {
                let end = line[i..].find(']').map_or(line.len(), |e| i + e);
                out.push(&line[i + 1..end]);
                i = end + 1;
            }
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                out.push(&line[i + 1..j.min(line.len())]);
                i = j + 1;
            }
            _ => {
                let end = line[i..].find([' ', '\t']).map_or(line.len(), |e| i + e);
                out.push(&line[i..end]);
                i = end;
            }
        }
    }
    out
}

/// Parses one line; None when it is not an access-log line.
pub fn parse_line(line: &str, format: AccessFormat, unit: TimeUnit) -> Option<Request<'_>> {
    let f = fields(line);
    if f.len() < 7 {
        return None;
    }
    let mut request = f[4].split(' ');
    let method = request.next().filter(|m| !m.is_empty())?;
    let target = request.next().unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    let status: u16 = f[5].parse().ok().filter(|s| (100..600).contains(s))?;
    let bytes = if f[6] == "-" { 0 } else { f[6].parse().ok()? };
    let combined = format == AccessFormat::Combined && f.len() >= 9;
    let referrer = combined
        .then(|| f[7])
        .filter(|r| *r != "-" && !r.is_empty());
    let time_field = if combined { f.get(9) } else { f.get(7) };
    let seconds = match (unit, time_field) {
        (TimeUnit::None, _) | (_, None) => None,
        (unit, Some(t)) => t.parse::<f64>().ok().map(|v| match unit {
            TimeUnit::Micros => v / 1e6,
            TimeUnit::Millis => v / 1e3,
            _ => v,
        }),
    };
    Some(Request {
        method,
        path,
        status,
        bytes,
        referrer,
        seconds,
    })
}

/// An access-log check and its running totals.
#[derive(Debug)]
pub struct AccessLogCheck {
    spec: AccessLogSpec,
    follower: Follower,
    last_run: Option<Instant>,
    requests_total: u64,
    /// By status class 1xx..5xx.
    classes_total: [u64; 5],
    bytes_total: u64,
    bad_total: u64,
}

/// The `q` quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The `n` largest counts, largest first, ties by name.
fn top(counts: HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

fn count(map: &mut HashMap<String, u64>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else if map.len() < MAX_DISTINCT {
        map.insert(key.to_string(), 1);
    } else {
        *map.entry("(other)".into()).or_insert(0) += 1;
    }
}

impl AccessLogCheck {
    /// Follows the spec's file; with `guard`, only if it lies under those paths.
    pub fn new(spec: AccessLogSpec, guard: Option<AllowPaths>) -> Self {
        // access-log lines are short; 16 KiB is far past any real one
        let follower = Follower::new(&spec.path, 16 * 1024, spec.from_start).guarded(guard);
        Self {
            spec,
            follower,
            last_run: None,
            requests_total: 0,
            classes_total: [0; 5],
            bytes_total: 0,
            bad_total: 0,
        }
    }

    /// What to keep with this run's samples: the place in the file and the totals.
    pub fn keep(&self) -> Option<String> {
        let mut counters = vec![self.requests_total];
        counters.extend(self.classes_total);
        counters.extend([self.bytes_total, self.bad_total]);
        self.follower.keep(counters)
    }

    /// Resumes at a place and totals kept by an earlier life (before the first run).
    pub fn resume(&mut self, kept: &str) {
        if let Some(k) = self.follower.resume(kept)
            && let [requests, c1, c2, c3, c4, c5, bytes, bad] = k.counters[..]
        {
            self.requests_total = requests;
            self.classes_total = [c1, c2, c3, c4, c5];
            self.bytes_total = bytes;
            self.bad_total = bad;
        }
    }

    /// Reads what was appended and reports on it.
    pub fn run(&mut self) -> Outcome {
        let now = Instant::now();
        let mut requests = 0u64;
        let mut classes = [0u64; 5];
        let mut bytes = 0u64;
        let mut bad = 0u64;
        let mut paths = HashMap::new();
        let mut referrers = HashMap::new();
        let mut times = Vec::new();
        let (format, unit) = (self.spec.format, self.spec.response_time);
        let read = self.follower.read(self.spec.max_read_bytes, |raw| {
            let line = String::from_utf8_lossy(raw);
            let Some(r) = parse_line(&line, format, unit) else {
                if !line.trim().is_empty() {
                    bad += 1;
                }
                return;
            };
            requests += 1;
            classes[usize::from(r.status / 100 - 1)] += 1;
            bytes += r.bytes;
            count(&mut paths, &format!("{} {}", r.method, r.path));
            if let Some(referrer) = r.referrer {
                count(&mut referrers, referrer);
            }
            if let Some(s) = r.seconds
                && times.len() < MAX_TIMES
            {
                times.push(s);
            }
        });
        let stats = match read {
            Ok(s) => s,
            Err(e) => {
                return Outcome::new(
                    CheckState::Unknown,
                    format!("cannot read {}: {e}", self.spec.path),
                );
            }
        };
        let elapsed = self
            .last_run
            .map(|t| now.duration_since(t).as_secs_f64())
            .filter(|s| *s > 0.0);
        self.last_run = Some(now);
        self.requests_total += requests;
        self.bytes_total += bytes;
        self.bad_total += bad;
        for (t, n) in self.classes_total.iter_mut().zip(classes) {
            *t += n;
        }
        let errors = classes[4] as f64 / requests.max(1) as f64;
        let state = if requests == 0 {
            CheckState::Ok
        } else if errors >= self.spec.error_critical {
            CheckState::Critical
        } else if errors >= self.spec.error_warning {
            CheckState::Warning
        } else {
            CheckState::Ok
        };
        let mut message = format!(
            "{requests} requests, {:.1}% 5xx, {bytes} bytes",
            errors * 100.0
        );
        let mut outcome = Outcome::new(state, String::new());
        if let Some(secs) = elapsed {
            outcome.metric(
                "strata_access_requests_per_second",
                &[],
                requests as f64 / secs,
            );
            message.push_str(&format!(", {:.1} req/s", requests as f64 / secs));
        }
        if !times.is_empty() {
            times.sort_by(f64::total_cmp);
            for (q, label) in [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99")] {
                outcome.metric(
                    "strata_access_latency_seconds",
                    &[("quantile", label)],
                    quantile(&times, q),
                );
            }
            message.push_str(&format!(
                ", p50 {:.1} ms, p99 {:.1} ms",
                quantile(&times, 0.5) * 1e3,
                quantile(&times, 0.99) * 1e3
            ));
        }
        if bad > 0 {
            message.push_str(&format!(", {bad} lines not understood"));
        }
        if stats.rotated {
            message.push_str("; file rotated");
        }
        outcome.message = message;
        outcome.metric(
            "strata_access_requests_total",
            &[],
            self.requests_total as f64,
        );
        for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            outcome.metric(
                "strata_access_responses_total",
                &[("class", class)],
                self.classes_total[i] as f64,
            );
        }
        outcome.metric("strata_access_bytes_total", &[], self.bytes_total as f64);
        outcome.metric("strata_access_bad_lines_total", &[], self.bad_total as f64);
        outcome.keep = self.keep();
        for (path, n) in top(paths, self.spec.top) {
            outcome.detail.push(clip(&format!("path {path}: {n}"), 512));
        }
        for (referrer, n) in top(referrers, self.spec.top) {
            outcome
                .detail
                .push(clip(&format!("referrer {referrer}: {n}"), 512));
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::spec::{CheckConfig, CheckSpec};
    use std::io::Write;

    #[test]
    fn common_and_combined_lines_parse() {
        let common = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326"#;
        let r = parse_line(common, AccessFormat::Combined, TimeUnit::None).unwrap();
        assert_eq!(
            (r.method, r.path, r.status, r.bytes),
            ("GET", "/apache_pb.gif", 200, 2326)
        );
        assert_eq!(r.referrer, None);
        let combined = r#"10.0.0.2 - - [10/Oct/2000:13:55:36 -0700] "POST /api/v1/x HTTP/1.1" 503 - "http://example.com/start" "Mozilla/5.0 (X11; \"quoted\")" 0.250"#;
        let r = parse_line(combined, AccessFormat::Combined, TimeUnit::Seconds).unwrap();
        assert_eq!((r.method, r.status, r.bytes), ("POST", 503, 0));
        assert_eq!(r.referrer, Some("http://example.com/start"));
        assert_eq!(r.seconds, Some(0.25));
        let with_micros = format!("{common} 1500");
        let r = parse_line(&with_micros, AccessFormat::Common, TimeUnit::Micros).unwrap();
        assert_eq!(r.seconds, Some(0.0015));
        for bad in [
            "",
            "garbage",
            "\u{0}\u{1} [ \" ",
            r#"a b c [d] "GET /" 999 1"#,
        ] {
            assert_eq!(
                parse_line(bad, AccessFormat::Combined, TimeUnit::Micros),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_run_reports_rates_classes_top_paths_and_percentiles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let text = format!(
            "name='web'\nkind='access_log'\npath='{}'\nresponse_time='millis'\nfrom_start=true",
            path.display()
        );
        let mut f = std::fs::File::create(&path).unwrap();
        for i in 0..100 {
            let status = if i % 10 == 0 { 500 } else { 200 };
            let p = if i % 3 == 0 { "/a" } else { "/b" };
            writeln!(
                f,
                r#"1.2.3.4 - - [t] "GET {p} HTTP/1.1" {status} 10 "http://ref/{}" "ua" {}"#,
                i % 2,
                i + 1
            )
            .unwrap();
        }
        f.write_all(b"\xff\xfe not a request\n").unwrap();
        let config = CheckConfig::from_table(toml::from_str(&text).unwrap()).unwrap();
        let CheckSpec::AccessLog(spec) = config.spec else {
            panic!()
        };
        let mut c = AccessLogCheck::new(spec, None);
        let o = c.run();
        assert_eq!(o.state, CheckState::Warning, "{}", o.message);
        assert!(
            o.message.starts_with("100 requests, 10.0% 5xx, 1000 bytes"),
            "{}",
            o.message
        );
        assert!(
            o.message.contains("1 lines not understood"),
            "{}",
            o.message
        );
        assert_eq!(o.detail[0], "path GET /b: 66");
        assert_eq!(o.detail[1], "path GET /a: 34");
        let p50 = o
            .metrics
            .iter()
            .find(|m| m.name == "strata_access_latency_seconds" && m.labels[0].1 == "0.5")
            .unwrap();
        assert!((p50.value - 0.050).abs() < 0.0015, "{}", p50.value);
        let five = o
            .metrics
            .iter()
            .find(|m| m.name == "strata_access_responses_total" && m.labels[0].1 == "5xx")
            .unwrap();
        assert_eq!(five.value, 10.0);
    }
}
