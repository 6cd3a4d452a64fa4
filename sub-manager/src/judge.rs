//! Thresholds: from the newest values of a poll to a severity per rule.
//!
//! Three rules for now: `cpu` (total CPU usage), `memory` (used over total) and `filesystem`
//! (the fullest one). A rule with no value in a poll keeps its previous verdict.

use strata_proto::v1::{PollResponse, Severity};

use crate::config::Thresholds;
use crate::ingest::{Dictionary, Judged};

/// The newest value of each judged quantity in one poll answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Latest {
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    /// Fullest filesystem: ratio and mount point.
    pub filesystem: Option<(f64, String)>,
}

/// A rule's judgement of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub rule: &'static str,
    pub severity: Severity,
    pub value: f64,
    pub message: String,
}

/// Extracts the newest judged values from a poll answer whose series `dictionary` holds.
pub fn latest(response: &PollResponse, dictionary: &Dictionary) -> Latest {
    let mut out = Latest::default();
    let mut newest: [i64; 2] = [i64::MIN; 2];
    let mut fs: std::collections::BTreeMap<&str, (i64, f64)> = Default::default();
    for sample in &response.samples {
        let Some(entry) = dictionary.get(sample.series) else {
            continue;
        };
        let slot = match &entry.judged {
            Judged::CpuTotal => 0,
            Judged::Memory => 1,
            Judged::Filesystem(mount) => {
                let e = fs.entry(mount.as_str()).or_insert((i64::MIN, 0.0));
                if sample.ts_ms >= e.0 {
                    *e = (sample.ts_ms, sample.value);
                }
                continue;
            }
            Judged::Other | Judged::ProbePhase { .. } | Judged::ProbeSuccess { .. } => continue,
        };
        if sample.ts_ms >= newest[slot] {
            newest[slot] = sample.ts_ms;
            let v = Some(sample.value);
            if slot == 0 {
                out.cpu = v;
            } else {
                out.memory = v;
            }
        }
    }
    out.filesystem = fs
        .into_iter()
        .map(|(mount, (_, v))| (v, mount.to_string()))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    out
}

fn level(value: f64, warning: f64, critical: f64) -> Severity {
    if value >= critical {
        Severity::Critical
    } else if value >= warning {
        Severity::Warning
    } else {
        Severity::Ok
    }
}

/// Judges the values present in `latest` against `t`.
pub fn judge(latest: &Latest, t: &Thresholds) -> Vec<Verdict> {
    let mut out = Vec::new();
    let pct = |v: f64| format!("{:.1}%", v * 100.0);
    if let Some(v) = latest.cpu {
        out.push(Verdict {
            rule: "cpu",
            severity: level(v, t.cpu_warning, t.cpu_critical),
            value: v,
            message: format!("CPU usage {}", pct(v)),
        });
    }
    if let Some(v) = latest.memory {
        out.push(Verdict {
            rule: "memory",
            severity: level(v, t.memory_warning, t.memory_critical),
            value: v,
            message: format!("memory used {}", pct(v)),
        });
    }
    if let Some((v, mount)) = &latest.filesystem {
        out.push(Verdict {
            rule: "filesystem",
            severity: level(*v, t.filesystem_warning, t.filesystem_critical),
            value: *v,
            message: format!("filesystem {mount} used {}", pct(*v)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::labels::label;
    use strata_proto::v1::{Sample, SeriesDesc};

    fn response() -> PollResponse {
        let series = vec![
            SeriesDesc {
                name: "host_cpu_usage_ratio".into(),
                labels: vec![label("cpu", "total")],
            },
            SeriesDesc {
                name: "host_cpu_usage_ratio".into(),
                labels: vec![label("cpu", "0")],
            },
            SeriesDesc {
                name: "host_memory_used_ratio".into(),
                labels: vec![],
            },
            SeriesDesc {
                name: "host_filesystem_used_ratio".into(),
                labels: vec![label("mountpoint", "/")],
            },
            SeriesDesc {
                name: "host_filesystem_used_ratio".into(),
                labels: vec![label("mountpoint", "/var")],
            },
        ];
        let s = |series, ts_ms, value| Sample {
            series,
            ts_ms,
            value,
            seq: 0,
        };
        PollResponse {
            series,
            samples: vec![
                s(0, 2, 0.97),
                s(0, 1, 0.10),
                s(1, 3, 0.5),
                s(2, 1, 0.5),
                s(3, 1, 0.2),
                s(4, 1, 0.9),
            ],
            ..Default::default()
        }
    }

    fn latest_of(response: &PollResponse) -> Latest {
        let dir = tempfile::tempdir().unwrap();
        let tsdb =
            strata_tsdb::Tsdb::open(dir.path(), strata_tsdb::TsdbOptions::keep_forever()).unwrap();
        let mut dictionary = Dictionary::default();
        dictionary.learn(&tsdb, "a", response).unwrap();
        latest(response, &dictionary)
    }

    #[test]
    fn latest_takes_newest_total_cpu_and_fullest_filesystem() {
        let l = latest_of(&response());
        assert_eq!(l.cpu, Some(0.97));
        assert_eq!(l.memory, Some(0.5));
        assert_eq!(l.filesystem, Some((0.9, "/var".into())));
    }

    #[test]
    fn verdicts_follow_the_levels() {
        let v = judge(&latest_of(&response()), &Thresholds::default());
        let sev = |rule: &str| v.iter().find(|x| x.rule == rule).unwrap().severity;
        assert_eq!(sev("cpu"), Severity::Critical);
        assert_eq!(sev("memory"), Severity::Ok);
        assert_eq!(sev("filesystem"), Severity::Warning);
        assert!(
            v.iter()
                .find(|x| x.rule == "filesystem")
                .unwrap()
                .message
                .contains("/var")
        );
        assert!(judge(&Latest::default(), &Thresholds::default()).is_empty());
    }
}
