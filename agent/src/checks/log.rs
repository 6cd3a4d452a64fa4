//! Log checks: regex rules map the lines appended since the last run to severities.

use std::collections::VecDeque;

use strata_proto::v1::CheckState;

use super::outcome::{Outcome, clip, worse};
use super::spec::LogSpec;
use super::tail::Follower;
use crate::policy::AllowPaths;

const STATES: [(CheckState, &str); 4] = [
    (CheckState::Ok, "ok"),
    (CheckState::Warning, "warning"),
    (CheckState::Critical, "critical"),
    (CheckState::Unknown, "unknown"),
];

/// A log check and its place in the file.
#[derive(Debug)]
pub struct LogCheck {
    spec: LogSpec,
    follower: Follower,
    /// Lines seen since start, by severity (indexed like STATES).
    totals: [u64; 4],
    bytes_total: u64,
    cut_total: u64,
}

fn slot(state: CheckState) -> usize {
    STATES.iter().position(|(s, _)| *s == state).unwrap_or(0)
}

impl LogCheck {
    /// Follows the spec's file; with `guard`, only if it lies under those paths.
    pub fn new(spec: LogSpec, guard: Option<AllowPaths>) -> Self {
        let follower =
            Follower::new(&spec.path, spec.max_line_bytes, spec.from_start).guarded(guard);
        Self {
            spec,
            follower,
            totals: [0; 4],
            bytes_total: 0,
            cut_total: 0,
        }
    }

    /// What to keep with this run's samples: the place in the file and the totals.
    pub fn keep(&self) -> Option<String> {
        let mut counters = self.totals.to_vec();
        counters.extend([self.bytes_total, self.cut_total]);
        self.follower.keep(counters)
    }

    /// Resumes at a place and totals kept by an earlier life (before the first run); the
    /// bytes and the cut line it will read again are not counted twice.
    pub fn resume(&mut self, kept: &str) {
        if let Some(k) = self.follower.resume(kept)
            && let [ok, warning, critical, unknown, bytes, cut] = k.counters[..]
        {
            self.totals = [ok, warning, critical, unknown];
            self.bytes_total = bytes.saturating_sub(k.read_ahead);
            self.cut_total = cut.saturating_sub(u64::from(k.cut));
        }
    }

    /// Reads what was appended and judges it.
    pub fn run(&mut self) -> Outcome {
        let mut counts = [0u64; 4];
        let mut last: VecDeque<String> = VecDeque::new();
        let mut state = CheckState::Ok;
        let rules = &self.spec.rules;
        let keep = self.spec.keep_lines;
        let read = self.follower.read(self.spec.max_read_bytes, |bytes| {
            let text = String::from_utf8_lossy(bytes);
            let severity = rules
                .iter()
                .find(|r| r.pattern.is_match(&text))
                .map(|r| r.severity);
            match severity {
                Some(s) => {
                    counts[slot(s)] += 1;
                    state = worse(state, s);
                    if keep > 0 {
                        if last.len() == keep {
                            last.pop_front();
                        }
                        last.push_back(clip(&text, 512));
                    }
                }
                None => counts[0] += 1,
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
        self.bytes_total += stats.bytes;
        self.cut_total += stats.cut;
        for (total, n) in self.totals.iter_mut().zip(counts) {
            *total += n;
        }
        let matched: Vec<String> = STATES
            .iter()
            .skip(1)
            .filter(|(s, _)| counts[slot(*s)] > 0)
            .map(|(s, name)| format!("{} {name}", counts[slot(*s)]))
            .collect();
        let mut message = if matched.is_empty() {
            format!("{} new lines, none matched", stats.lines)
        } else {
            format!("{} new lines: {}", stats.lines, matched.join(", "))
        };
        if stats.rotated {
            message.push_str("; file rotated");
        }
        if stats.truncated {
            message.push_str("; file truncated");
        }
        if stats.cut > 0 {
            message.push_str(&format!(
                "; {} lines cut at {} bytes",
                stats.cut, self.spec.max_line_bytes
            ));
        }
        if stats.more {
            message.push_str("; more to read next run");
        }
        let mut outcome = Outcome::new(state, message);
        outcome.detail = last.into();
        outcome.keep = self.keep();
        for (i, (_, name)) in STATES.iter().enumerate() {
            outcome.metric(
                "strata_check_log_lines_total",
                &[("severity", name)],
                self.totals[i] as f64,
            );
        }
        outcome.metric(
            "strata_check_log_read_bytes_total",
            &[],
            self.bytes_total as f64,
        );
        outcome.metric(
            "strata_check_log_cut_lines_total",
            &[],
            self.cut_total as f64,
        );
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::spec::{CheckConfig, CheckSpec};
    use std::io::Write;

    fn check(path: &std::path::Path) -> LogCheck {
        let text = format!(
            "name='app'\nkind='log'\npath='{}'\nmax_line_bytes=1024\nrules=[{{pattern='FATAL|panic', severity='critical'}}, {{pattern='(?i)warn', severity='warning'}}]",
            path.display()
        );
        let config = CheckConfig::from_table(toml::from_str(&text).unwrap()).unwrap();
        match config.spec {
            CheckSpec::Log(spec) => LogCheck::new(spec, None),
            other => panic!("{other:?}"),
        }
    }

    fn append(path: &std::path::Path, bytes: &[u8]) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }

    fn total(o: &Outcome, severity: &str) -> f64 {
        o.metrics
            .iter()
            .find(|m| m.name == "strata_check_log_lines_total" && m.labels[0].1 == severity)
            .unwrap()
            .value
    }

    #[test]
    fn rules_map_lines_to_severities() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, b"");
        let mut c = check(&path);
        assert_eq!(c.run().state, CheckState::Ok);
        append(
            &path,
            b"started\nWarning: disk 91%\nFATAL: out of memory\nok\n",
        );
        let o = c.run();
        assert_eq!(o.state, CheckState::Critical);
        assert_eq!(o.message, "4 new lines: 1 warning, 1 critical");
        assert_eq!(o.detail, vec!["Warning: disk 91%", "FATAL: out of memory"]);
        assert_eq!(total(&o, "critical"), 1.0);
        assert_eq!(total(&o, "ok"), 2.0);
        let o = c.run();
        assert_eq!(o.state, CheckState::Ok, "nothing new");
        assert_eq!(total(&o, "critical"), 1.0, "totals are kept");
    }

    #[test]
    fn binary_garbage_and_huge_lines_are_judged_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin.log");
        append(&path, b"");
        let mut c = check(&path);
        c.run();
        let garbage: Vec<u8> = (0..2_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        append(&path, &garbage);
        let mut huge = b"panic: ".to_vec();
        huge.extend(std::iter::repeat_n(b'y', 1 << 20));
        huge.push(b'\n');
        append(&path, &huge);
        append(&path, b"\xff\xfe warn \x00\x01\n");
        let o = c.run();
        assert_eq!(o.state, CheckState::Critical, "{}", o.message);
        assert!(o.message.contains("cut at 1024 bytes"), "{}", o.message);
        assert!(o.detail.iter().all(|l| l.len() <= 520));
        assert!(o.detail.last().unwrap().contains("warn"));
        assert!(total(&o, "warning") >= 1.0);
    }

    #[test]
    fn a_resumed_check_neither_reads_again_nor_skips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, b"warn 1\nFATAL 2\nhalf a li");
        let mut c = check(&path);
        c.follower = Follower::new(&path, 1024, true);
        let o = c.run();
        assert_eq!(total(&o, "critical"), 1.0);
        let kept = o.keep.expect("a log check keeps its place");
        // the agent dies; lines come meanwhile; the next life resumes
        append(&path, b"ne FATAL 3\nwarn 4\n");
        let mut again = check(&path);
        again.resume(&kept);
        let o = again.run();
        assert_eq!(o.message, "2 new lines: 1 warning, 1 critical");
        assert_eq!((total(&o, "warning"), total(&o, "critical")), (2.0, 2.0));
        assert_eq!(
            o.metrics
                .iter()
                .find(|m| m.name == "strata_check_log_read_bytes_total")
                .unwrap()
                .value,
            std::fs::metadata(&path).unwrap().len() as f64,
            "the half line read before is not counted twice"
        );
        // a place kept for another file is not taken
        let mut other = check(&dir.path().join("other.log"));
        other.resume(&kept);
        assert_eq!(other.totals, [0; 4]);
    }

    #[test]
    fn a_missing_file_is_unknown() {
        let mut c = check(std::path::Path::new("/nonexistent/app.log"));
        let o = c.run();
        assert_eq!(o.state, CheckState::Unknown);
        assert!(o.message.contains("/nonexistent/app.log"));
    }
}
