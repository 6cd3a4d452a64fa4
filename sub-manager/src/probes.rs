//! Probe runs, read from the samples of a poll answer.
//!
//! The centre rolls response times and error rates up per service for a year and more, but
//! it holds no samples. Each run of a probe leaves, at one timestamp, a
//! `strata_probe_success` sample and one `strata_probe_duration_seconds{phase}` sample per
//! phase; the poller gathers them into one [`ProbeRun`] that travels up the region stream.
//! Only stored samples are read, so a run goes up once its samples are safe here; an agent
//! that sends them again (to another poller, after a failover) makes a duplicate the centre
//! drops by its (resource, check, time).

use std::collections::BTreeMap;

use strata_proto::v1::{PollResponse, ProbeRun};

use crate::ingest::{Dictionary, Judged};

/// The probe runs whose samples are in `response`, for the resource `resource_id`.
pub fn runs(response: &PollResponse, dictionary: &Dictionary, resource_id: &str) -> Vec<ProbeRun> {
    let mut runs: BTreeMap<(&str, i64), ProbeRun> = BTreeMap::new();
    let mut with_success: std::collections::HashSet<(&str, i64)> = Default::default();
    for sample in &response.samples {
        let Some(entry) = dictionary.get(sample.series) else {
            continue;
        };
        if entry.id.is_none() {
            continue; // not stored
        }
        let (check, phase) = match &entry.judged {
            Judged::ProbePhase { check, phase } => (check.as_str(), Some(phase)),
            Judged::ProbeSuccess { check } => (check.as_str(), None),
            _ => continue,
        };
        let run = runs
            .entry((check, sample.ts_ms))
            .or_insert_with(|| ProbeRun {
                resource_id: resource_id.to_string(),
                check: check.to_string(),
                ts_ms: sample.ts_ms,
                ..Default::default()
            });
        match phase {
            Some(phase) => {
                run.phases.insert(phase.clone(), sample.value);
            }
            None => {
                run.success = sample.value > 0.0;
                with_success.insert((check, sample.ts_ms));
            }
        }
    }
    // A run is whole once its success is known (a probe always reports it).
    runs.into_iter()
        .filter(|(key, _)| with_success.contains(key))
        .map(|(_, run)| run)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::labels::label;
    use strata_proto::v1::{Sample, SeriesDesc};
    use strata_tsdb::Tsdb;

    fn series(name: &str, labels: &[(&str, &str)]) -> SeriesDesc {
        SeriesDesc {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| label(k, v)).collect(),
        }
    }

    fn sample(series: u32, ts_ms: i64, value: f64) -> Sample {
        Sample {
            series,
            ts_ms,
            value,
            ..Default::default()
        }
    }

    #[test]
    fn samples_of_one_probe_run_make_one_run() {
        let dir = tempfile::tempdir().unwrap();
        let tsdb = Tsdb::open(dir.path(), strata_tsdb::TsdbOptions::keep_forever()).unwrap();
        let response = PollResponse {
            series: vec![
                series("strata_probe_success", &[("check", "shop")]),
                series(
                    "strata_probe_duration_seconds",
                    &[("check", "shop"), ("phase", "connect")],
                ),
                series(
                    "strata_probe_duration_seconds",
                    &[("check", "shop"), ("phase", "total")],
                ),
                series("host_cpu_usage_ratio", &[("cpu", "total")]),
            ],
            samples: vec![
                sample(0, 1000, 1.0),
                sample(1, 1000, 0.002),
                sample(2, 1000, 0.010),
                sample(3, 1000, 0.5),
                sample(0, 2000, 0.0),
                // the next run's phases came without its success: not whole yet
                sample(2, 3000, 0.2),
            ],
            ..Default::default()
        };
        let mut dictionary = Dictionary::default();
        dictionary
            .learn(&tsdb, &crate::rules::RuleSet::default(), "web", &response)
            .unwrap();
        let runs = runs(&response, &dictionary, "eu/web");
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(
            (
                runs[0].resource_id.as_str(),
                runs[0].check.as_str(),
                runs[0].ts_ms,
                runs[0].success
            ),
            ("eu/web", "shop", 1000, true)
        );
        assert_eq!(runs[0].phases.get("connect"), Some(&0.002));
        assert_eq!(runs[0].phases.get("total"), Some(&0.010));
        assert_eq!(
            (runs[1].ts_ms, runs[1].success, runs[1].phases.len()),
            (2000, false, 0)
        );
    }
}
