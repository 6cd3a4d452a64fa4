//! From a poll answer to stored samples: every series gets the `agent` label, so that one
//! region's store holds all its agents apart.

use std::sync::Arc;

use strata_proto::labels::{LabelMap, to_map};
use strata_proto::v1::PollResponse;
use strata_tsdb::{SeriesId, Tsdb, TsdbError};
use tracing::warn;

use crate::rules::RuleSet;

/// What one ingest stored and skipped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub stored: usize,
    /// Samples naming a series missing from the dictionary, or over the series limit.
    pub skipped: usize,
}

/// What the probe reader takes from a series (see [`crate::probes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    Other,
    /// A probe's duration of one phase (`strata_probe_duration_seconds`).
    ProbePhase {
        check: String,
        phase: String,
    },
    /// Whether a probe succeeded (`strata_probe_success`).
    ProbeSuccess {
        check: String,
    },
}

impl Judged {
    fn of(name: &str, labels: &strata_proto::labels::LabelMap) -> Self {
        match name {
            "strata_probe_duration_seconds" => match (labels.get("check"), labels.get("phase")) {
                (Some(check), Some(phase)) => Self::ProbePhase {
                    check: check.clone(),
                    phase: phase.clone(),
                },
                _ => Self::Other,
            },
            "strata_probe_success" => match labels.get("check") {
                Some(check) => Self::ProbeSuccess {
                    check: check.clone(),
                },
                None => Self::Other,
            },
            _ => Self::Other,
        }
    }
}

/// One series of an agent's dictionary, as the poller resolved it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its id in the store (None: it cannot be stored).
    pub id: Option<SeriesId>,
    pub judged: Judged,
    /// The alerting rules that judge it (indexes into the set of `rules_version`).
    pub rules: Vec<u16>,
    /// Its labels, kept only for series that rules judge (for their messages).
    pub labels: Option<Arc<LabelMap>>,
}

/// Bounds on what one agent stores (`[poll]`'s `max_series_per_agent` and
/// `max_labels_per_series`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLimits {
    pub max_series: u32,
    pub max_labels: u32,
    /// Most series the agent adds to the store in an hour.
    pub max_new_per_hour: u32,
}

impl Default for AgentLimits {
    fn default() -> Self {
        Self {
            max_series: u32::MAX,
            max_labels: u32::MAX,
            max_new_per_hour: u32::MAX,
        }
    }
}

/// Series of a dictionary that are not stored, by the limit that left them out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OverLimits {
    /// Past the agent's series limit.
    pub series: u64,
    /// With more labels than the label limit.
    pub labels: u64,
    /// New to the store when the agent had added its most for the hour.
    pub new_series: u64,
}

/// What a poller holds of one agent's series dictionary, kept across polls, so that the
/// agent sends each series' name and labels once per life of its buffer (and generation of
/// its dictionary), not in every answer.
///
/// It is bounded by the agent's: when the agent forgets idle series it renumbers its
/// dictionary in a new generation and sends it whole, and this one starts again from it.
#[derive(Debug, Default)]
pub struct Dictionary {
    epoch: u64,
    /// The agent's dictionary generation within the epoch.
    generation: u64,
    entries: Vec<Entry>,
    /// The version of the rule set the entries' rules were resolved against.
    rules_version: u64,
    limits: AgentLimits,
    /// Entries that have a store id.
    stored: u32,
    over: OverLimits,
    /// Series the agent added to the store: since when (ms), and how many.
    new_series: (i64, u32),
}

impl Dictionary {
    /// An empty dictionary that stores within `limits`.
    pub fn with_limits(limits: AgentLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// How many entries to claim in a poll for buffer `epoch` (0 when it is not ours).
    pub fn known(&self, epoch: u64) -> u32 {
        if epoch != 0 && epoch == self.epoch {
            self.entries.len() as u32
        } else {
            0
        }
    }

    /// The generation of the agent's dictionary that the entries belong to.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The series held that are not stored, by limit.
    pub fn over_limits(&self) -> OverLimits {
        self.over
    }

    /// The entry at dictionary index `idx`.
    pub fn get(&self, idx: u32) -> Option<&Entry> {
        self.entries.get(idx as usize)
    }

    /// Forgets everything: the next poll asks for the whole dictionary.
    pub fn reset(&mut self) {
        self.epoch = 0;
        self.generation = 0;
        self.clear();
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.stored = 0;
        self.over = OverLimits::default();
    }

    /// Forgets everything once the hour of `max_new_per_hour` has passed with series left out
    /// for it: the next poll brings every series again, to be stored within a new hour.
    pub fn retry_after_the_hour(&mut self, now_ms: i64) {
        if self.over.new_series > 0 && now_ms - self.new_series.0 >= NEW_SERIES_WINDOW_MS {
            self.reset();
        }
    }

    /// Forgets everything if the entries' rules were resolved against another set than
    /// `rules` (the next poll brings every series again, to be matched anew).
    pub fn follow_rules(&mut self, rules: &RuleSet) {
        if self.rules_version != rules.version {
            self.reset();
            self.rules_version = rules.version;
        }
    }

    /// Learns the entries of `response` (resolving their store ids, with the `agent` label,
    /// within the limits); returns whether it started afresh. An answer that does not
    /// continue what is held (another epoch or generation, a gap) is refused and the
    /// dictionary reset: the answer is not stored nor acknowledged, and the next poll starts
    /// afresh.
    pub fn learn(
        &mut self,
        tsdb: &Tsdb,
        rules: &RuleSet,
        agent: &str,
        response: &PollResponse,
    ) -> Result<bool, String> {
        let epoch = response.buffer.as_ref().map_or(0, |b| b.epoch);
        let generation = response.dictionary;
        let base = response.series_base as usize;
        let afresh = base == 0;
        if afresh {
            self.clear();
            self.epoch = epoch;
            self.generation = generation;
        } else if epoch != self.epoch || generation != self.generation || base != self.entries.len()
        {
            let held = self.entries.len();
            self.reset();
            return Err(format!(
                "dictionary from entry {base} of epoch {epoch} generation {generation} does not continue the {held} entries held"
            ));
        }
        let before = self.over;
        let now_ms = strata_proto::now_ms();
        for series in &response.series {
            let mut labels = to_map(&series.labels);
            let judged = Judged::of(&series.name, &labels);
            let matched = rules.selecting(&series.name, &labels);
            labels.insert("agent".to_string(), agent.to_string());
            let id = match self.resolve(tsdb, &series.name, &labels, now_ms) {
                Ok(id) => id,
                Err(error @ (TsdbError::SeriesLimit { .. } | TsdbError::Invalid { .. })) => {
                    warn!(%agent, series = %series.name, %error, "series not stored");
                    None
                }
                Err(error) => {
                    self.reset();
                    return Err(format!("store series {}: {error}", series.name));
                }
            };
            let labels = (!matched.is_empty()).then(|| Arc::new(labels));
            self.entries.push(Entry {
                id,
                judged,
                rules: matched,
                labels,
            });
        }
        if self.over != before {
            warn!(%agent, over_series = self.over.series, over_labels = self.over.labels,
                "series of the agent past the per-agent limits are not stored");
        }
        Ok(afresh)
    }
}

impl Dictionary {
    /// The store id of a series of the agent, within the limits (None: over one, counted).
    fn resolve(
        &mut self,
        tsdb: &Tsdb,
        name: &str,
        labels: &LabelMap,
        now_ms: i64,
    ) -> Result<Option<SeriesId>, TsdbError> {
        if labels.len() as u64 > u64::from(self.limits.max_labels) {
            self.over.labels += 1;
            return Ok(None);
        }
        if self.stored >= self.limits.max_series {
            self.over.series += 1;
            return Ok(None);
        }
        if now_ms - self.new_series.0 >= NEW_SERIES_WINDOW_MS {
            self.new_series = (now_ms, 0);
        }
        let may_add = self.new_series.1 < self.limits.max_new_per_hour;
        let id = match tsdb.series_id_if(name, labels, may_add)? {
            Some((id, created)) => {
                self.new_series.1 += u32::from(created);
                id
            }
            None => {
                self.over.new_series += 1;
                return Ok(None);
            }
        };
        self.stored += 1;
        Ok(Some(id))
    }
}

/// The window of `max_new_series_per_agent_hour`.
const NEW_SERIES_WINDOW_MS: i64 = 3_600_000;

/// Stores the samples of `response` from `agent`, whose series `dictionary` has learnt. A
/// write error stores nothing of the answer (the caller does not acknowledge it, so the
/// agent sends it again).
pub fn ingest(
    tsdb: &Tsdb,
    agent: &str,
    response: &PollResponse,
    dictionary: &Dictionary,
) -> Result<Ingested, TsdbError> {
    let mut batch = Vec::with_capacity(response.samples.len());
    let mut skipped = 0;
    for s in &response.samples {
        match dictionary.get(s.series).and_then(|e| e.id) {
            Some(id) => batch.push((id, s.ts_ms, s.value)),
            None => skipped += 1,
        }
    }
    if skipped > 0 {
        warn!(%agent, skipped, "samples without a storable series were skipped");
    }
    tsdb.write(&batch)?;
    Ok(Ingested {
        stored: batch.len(),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::labels::label;
    use strata_proto::v1::{Sample, SeriesDesc};

    #[test]
    fn samples_are_stored_under_the_agent_label_and_bad_indexes_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let tsdb = Tsdb::open(dir.path(), strata_tsdb::TsdbOptions::keep_forever()).unwrap();
        let response = PollResponse {
            series: vec![SeriesDesc {
                name: "host_load1".into(),
                labels: vec![label("x", "1")],
            }],
            samples: vec![
                Sample {
                    series: 0,
                    ts_ms: 10,
                    value: 1.5,
                    seq: 1,
                },
                Sample {
                    series: 7,
                    ts_ms: 10,
                    value: 9.0,
                    seq: 2,
                },
            ],
            ..Default::default()
        };
        let mut dictionary = Dictionary::default();
        dictionary
            .learn(&tsdb, &RuleSet::default(), "web-1", &response)
            .unwrap();
        let got = ingest(&tsdb, "web-1", &response, &dictionary).unwrap();
        assert_eq!(
            got,
            Ingested {
                stored: 1,
                skipped: 1
            }
        );
        ingest(&tsdb, "web-1", &response, &dictionary).unwrap();
        let series = tsdb
            .select("host_load1", &[("agent".into(), "web-1".into())])
            .unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(
            tsdb.range(series[0].id, 0, 100).unwrap(),
            vec![(10, 1.5)],
            "stored once"
        );
    }

    #[test]
    fn the_dictionary_grows_across_answers_and_refuses_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let tsdb = Tsdb::open(dir.path(), strata_tsdb::TsdbOptions::keep_forever()).unwrap();
        let answer = |base: u32, epoch: u64, names: &[&str]| PollResponse {
            series: names
                .iter()
                .map(|n| SeriesDesc {
                    name: n.to_string(),
                    labels: vec![],
                })
                .collect(),
            series_base: base,
            buffer: Some(strata_proto::v1::BufferStats {
                epoch,
                ..Default::default()
            }),
            ..Default::default()
        };
        let rules = RuleSet::new(
            crate::rules::model::builtin(&crate::config::Thresholds::default()),
            1,
        );
        let mut d = Dictionary::default();
        assert_eq!(d.known(7), 0);
        d.learn(
            &tsdb,
            &rules,
            "a",
            &answer(0, 7, &["m", "host_memory_used_ratio"]),
        )
        .unwrap();
        assert_eq!(d.known(7), 2);
        assert_eq!(d.known(8), 0, "another epoch knows nothing");
        d.learn(&tsdb, &rules, "a", &answer(2, 7, &["n"])).unwrap();
        assert_eq!(d.known(7), 3);
        assert_eq!(
            d.get(1).unwrap().rules,
            vec![1],
            "the memory rule judges it"
        );
        assert!(d.get(1).unwrap().labels.is_some());
        assert!(d.get(0).unwrap().rules.is_empty() && d.get(0).unwrap().labels.is_none());
        assert!(
            d.learn(&tsdb, &rules, "a", &answer(5, 7, &["x"])).is_err(),
            "a gap"
        );
        assert_eq!(d.known(7), 0, "reset after a gap");
        d.learn(&tsdb, &rules, "a", &answer(0, 9, &["m"])).unwrap();
        assert_eq!(d.known(9), 1);
    }

    fn label_map(agent: &str) -> LabelMap {
        [("agent".to_string(), agent.to_string())].into()
    }

    #[test]
    fn an_agent_stores_within_its_limits_and_a_new_generation_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let tsdb = Tsdb::open(dir.path(), strata_tsdb::TsdbOptions::keep_forever()).unwrap();
        let answer = |base: u32, generation: u64, names: &[(&str, usize)]| PollResponse {
            series: names
                .iter()
                .map(|(n, labels)| SeriesDesc {
                    name: n.to_string(),
                    labels: (0..*labels).map(|i| label(&format!("l{i}"), "v")).collect(),
                })
                .collect(),
            series_base: base,
            dictionary: generation,
            buffer: Some(strata_proto::v1::BufferStats {
                epoch: 7,
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut d = Dictionary::with_limits(AgentLimits {
            max_series: 2,
            max_labels: 3,
            max_new_per_hour: 3,
        });
        let rules = RuleSet::default();
        // three labels with `agent`: stored; four: over the label limit
        let first = answer(0, 0, &[("a", 2), ("wide", 3), ("b", 0), ("c", 0)]);
        assert!(d.learn(&tsdb, &rules, "x", &first).unwrap(), "afresh");
        let stored: Vec<bool> = (0..4).map(|i| d.get(i).unwrap().id.is_some()).collect();
        assert_eq!(stored, [true, false, true, false]);
        assert_eq!(
            d.over_limits(),
            OverLimits {
                series: 1,
                labels: 1,
                new_series: 0
            }
        );
        assert_eq!(d.known(7), 4, "every entry is held, stored or not");
        // an answer of another generation that claims to continue is refused
        assert!(d.learn(&tsdb, &rules, "x", &answer(4, 1, &[])).is_err());
        assert_eq!((d.known(7), d.generation()), (0, 0));
        // the agent's renumbered dictionary, whole: the limits count it alone, but the
        // series it added to the store in the hour count on (a, b, then c: the third)
        let renumbered = answer(0, 1, &[("c", 0), ("d", 0)]);
        assert!(d.learn(&tsdb, &rules, "x", &renumbered).unwrap());
        assert_eq!((d.known(7), d.generation()), (2, 1));
        assert!(d.get(0).unwrap().id.is_some());
        assert!(
            d.get(1).unwrap().id.is_none(),
            "a fourth new series in the hour"
        );
        assert_eq!(
            d.over_limits(),
            OverLimits {
                new_series: 1,
                ..OverLimits::default()
            }
        );
        assert!(tsdb.find_series("d", &label_map("x")).unwrap().is_none());
        // a series the store has already is no new one
        let again = answer(0, 2, &[("a", 2), ("b", 0)]);
        d.learn(&tsdb, &rules, "x", &again).unwrap();
        assert_eq!(d.over_limits(), OverLimits::default());
    }
}
