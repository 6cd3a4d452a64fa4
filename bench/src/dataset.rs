//! The benchmark dataset in VictoriaMetrics' JSON-lines import format: one line per series,
//! `{"metric":{"__name__":..,labels..},"values":[..],"timestamps":[..]}`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use strata_agent::sim::{self, Profile, SimConfig};

/// One series of the dataset.
#[derive(Debug, Serialize, Deserialize)]
pub struct Line {
    pub metric: BTreeMap<String, String>,
    pub values: Vec<f64>,
    pub timestamps: Vec<i64>,
}

/// Writes `hosts` simulated hosts (the node_exporter-like host profile, about 200 series
/// each) × `hours` of samples at `interval`, ending now.
pub fn generate(path: &Path, hosts: usize, hours: u64, interval: Duration) -> anyhow::Result<()> {
    let step = interval.as_millis().max(1) as i64;
    let ticks = (hours as i64 * 3_600_000 / step).max(1) as u64;
    let end = strata_proto::now_ms() / step * step;
    let start = end - (ticks as i64 - 1) * step;
    let config = SimConfig {
        interval,
        profile: Profile::Host,
        ..SimConfig::default()
    };
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let timestamps: Vec<i64> = (0..ticks).map(|t| start + t as i64 * step).collect();
    for n in 1..=hosts {
        if hosts >= 10 && n % (hosts / 10) == 0 {
            eprintln!("dataset: {n} of {hosts} hosts written");
        }
        for (s, (name, labels)) in sim::series(Profile::Host).enumerate() {
            let mut metric: BTreeMap<String, String> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            metric.insert("__name__".into(), name.into());
            metric.insert("agent".into(), sim::agent_id("sim-", n));
            let values = timestamps
                .iter()
                .enumerate()
                .map(|(i, ts)| sim::sample_value(&config, n, s, i as u64 + 1, *ts))
                .collect();
            let line = Line {
                metric,
                values,
                timestamps: timestamps.clone(),
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Calls `f` with every series of the dataset, in file order.
pub fn for_each(path: &Path, mut f: impl FnMut(Line) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("open dataset {}", path.display()))?;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("read {} line {}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = parse_line(&line).with_context(|| {
            format!("{} line {}: not a JSON-lines series", path.display(), i + 1)
        })?;
        anyhow::ensure!(
            parsed.values.len() == parsed.timestamps.len(),
            "{} line {}: {} values but {} timestamps",
            path.display(),
            i + 1,
            parsed.values.len(),
            parsed.timestamps.len()
        );
        f(parsed)?;
    }
    Ok(())
}

/// Parses one line: the usual key order `{"metric":{..},"values":[..],"timestamps":[..]}`
/// with a fast path for the arrays of numbers, anything else through serde_json.
fn parse_line(line: &str) -> anyhow::Result<Line> {
    match parse_usual(line) {
        Some(parsed) => Ok(parsed),
        None => Ok(serde_json::from_str(line)?),
    }
}

fn parse_usual(line: &str) -> Option<Line> {
    let rest = line.trim().strip_prefix("{\"metric\":")?;
    let mut stream =
        serde_json::Deserializer::from_str(rest).into_iter::<BTreeMap<String, String>>();
    let metric = stream.next()?.ok()?;
    let rest = rest[stream.byte_offset()..].strip_prefix(",\"values\":[")?;
    let (values, rest) = rest.split_once(']')?;
    let rest = rest.strip_prefix(",\"timestamps\":[")?;
    let (timestamps, rest) = rest.split_once(']')?;
    if rest.trim() != "}" {
        return None;
    }
    fn numbers<T: std::str::FromStr>(list: &str) -> Option<Vec<T>> {
        if list.trim().is_empty() {
            return Some(Vec::new());
        }
        list.split(',').map(|n| n.trim().parse().ok()).collect()
    }
    Some(Line {
        metric,
        values: numbers(values)?,
        timestamps: numbers(timestamps)?,
    })
}

/// What a dataset holds: series, samples, and its oldest and newest timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub series: u64,
    pub samples: u64,
    pub from: i64,
    pub to: i64,
}

/// Reads the dataset once and sums it up.
pub fn summary(path: &Path) -> anyhow::Result<Summary> {
    let mut s = Summary {
        series: 0,
        samples: 0,
        from: i64::MAX,
        to: i64::MIN,
    };
    for_each(path, |l| {
        s.series += 1;
        s.samples += l.values.len() as u64;
        for t in l.timestamps {
            s.from = s.from.min(t);
            s.to = s.to.max(t);
        }
        Ok(())
    })?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_agrees_with_serde_json() {
        for line in [
            r#"{"metric":{"__name__":"m","a":"x}],\"y"},"values":[1,0.25,-3e-5,1e+21],"timestamps":[1,2,3,4]}"#,
            r#"{"metric":{},"values":[],"timestamps":[]}"#,
            r#"{"values":[1],"timestamps":[5],"metric":{"__name__":"m"}}"#,
        ] {
            let slow: Line = serde_json::from_str(line).unwrap();
            let fast = parse_line(line).unwrap();
            assert_eq!(fast.metric, slow.metric, "{line}");
            assert_eq!(fast.values, slow.values, "{line}");
            assert_eq!(fast.timestamps, slow.timestamps, "{line}");
        }
        assert!(parse_line(r#"{"metric":{},"values":[x],"timestamps":[1]}"#).is_err());
    }
}
