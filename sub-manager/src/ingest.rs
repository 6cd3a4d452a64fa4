//! From a poll answer to stored samples: every series gets the `agent` label, so that one
//! region's store holds all its agents apart.

use strata_proto::labels::to_map;
use strata_proto::v1::PollResponse;
use strata_tsdb::{SeriesId, Tsdb, TsdbError};
use tracing::warn;

/// What one ingest stored and skipped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub stored: usize,
    /// Samples naming a series missing from the answer's dictionary, or over the series limit.
    pub skipped: usize,
}

/// Stores the samples of `response` from `agent`. A write error stores nothing of the answer
/// (the caller does not acknowledge it, so the agent sends it again).
pub fn ingest(tsdb: &Tsdb, agent: &str, response: &PollResponse) -> Result<Ingested, TsdbError> {
    let mut ids: Vec<Option<SeriesId>> = Vec::with_capacity(response.series.len());
    for series in &response.series {
        let mut labels = to_map(&series.labels);
        labels.insert("agent".to_string(), agent.to_string());
        match tsdb.series_id(&series.name, &labels) {
            Ok(id) => ids.push(Some(id)),
            Err(error @ (TsdbError::SeriesLimit { .. } | TsdbError::Invalid { .. })) => {
                warn!(%agent, series = %series.name, %error, "series not stored");
                ids.push(None);
            }
            Err(error) => return Err(error),
        }
    }
    let mut batch = Vec::with_capacity(response.samples.len());
    let mut skipped = 0;
    for s in &response.samples {
        match ids.get(s.series as usize).copied().flatten() {
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
        let got = ingest(&tsdb, "web-1", &response).unwrap();
        assert_eq!(
            got,
            Ingested {
                stored: 1,
                skipped: 1
            }
        );
        ingest(&tsdb, "web-1", &response).unwrap();
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
}
