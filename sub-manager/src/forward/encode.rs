//! Outbox records into remote-write requests: each series named once per process with its
//! labels as the receiver sees them (relabelled, external labels added), samples grouped by
//! series and shard, protobuf-encoded and snappy-compressed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use prost::Message;
use strata_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use strata_proto::relabel::{self, Rule};
use strata_tsdb::{OutboxRecord, SeriesId, Tsdb};

use crate::config::remote_write::RemoteWriteConfig;
use crate::error::{Result, SubManagerError};

/// One request body, ready to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// The snappy-compressed protobuf `WriteRequest`, shared by the attempts.
    pub body: Arc<Vec<u8>>,
    /// Samples it carries.
    pub samples: u64,
}

/// The requests of one batch of records.
#[derive(Debug)]
pub struct Encoded {
    /// One request per shard (empty shards carry no samples).
    pub shards: Vec<Request>,
    /// Samples whose series relabelling dropped.
    pub filtered: u64,
}

/// Turns records into requests for one destination.
pub struct Encoder {
    rules: Vec<Rule>,
    external: BTreeMap<String, String>,
    shards: usize,
    /// Each series' labels as sent (None: relabelling drops it).
    labels: HashMap<SeriesId, Option<Arc<Vec<Label>>>>,
}

impl Encoder {
    /// An encoder for `config`; `region` is the default external label.
    pub fn new(config: &RemoteWriteConfig, region: &str) -> Result<Self> {
        let rules = relabel::compile("write_relabel", &config.write_relabel)
            .map_err(|p| SubManagerError::ConfigInvalid(strata_proto::config::Problems(vec![p])))?;
        let external = config
            .external_labels
            .clone()
            .unwrap_or_else(|| BTreeMap::from([("region".to_string(), region.to_string())]));
        Ok(Self {
            rules,
            external,
            shards: config.shards,
            labels: HashMap::new(),
        })
    }

    /// The labels series `id` is sent with, looked up once.
    fn labels_of(&mut self, id: SeriesId, tsdb: &Tsdb) -> Result<Option<Arc<Vec<Label>>>> {
        if let Some(known) = self.labels.get(&id) {
            return Ok(known.clone());
        }
        let resolved = match tsdb.series_labels(id)? {
            // a series deleted since (none are today) is not sent
            None => None,
            Some((name, labels)) => {
                let mut pairs: Vec<(String, String)> = Vec::with_capacity(labels.len() + 2);
                pairs.push(("__name__".to_string(), name));
                pairs.extend(labels);
                for (k, v) in &self.external {
                    if !pairs.iter().any(|(n, _)| n == k) {
                        pairs.push((k.clone(), v.clone()));
                    }
                }
                relabel::apply(&self.rules, &mut pairs).then(|| {
                    Arc::new(
                        pairs
                            .into_iter()
                            .map(|(name, value)| Label { name, value })
                            .collect(),
                    )
                })
            }
        };
        self.labels.insert(id, resolved.clone());
        Ok(resolved)
    }

    /// Encodes `records` as one request per shard.
    pub fn encode(&mut self, records: &[OutboxRecord], tsdb: &Tsdb) -> Result<Encoded> {
        let mut per_shard: Vec<Vec<(u64, i64, f64)>> = vec![Vec::new(); self.shards];
        for r in records {
            for &(id, ts, v) in &r.samples {
                per_shard[super::shard_of(id, self.shards)].push((id, ts, v));
            }
        }
        let mut filtered = 0;
        let mut shards = Vec::with_capacity(self.shards);
        for samples in per_shard {
            let mut request = WriteRequest::default();
            let mut count = 0u64;
            let mut grouped: Vec<_> = super::group(samples.into_iter()).into_iter().collect();
            grouped.sort_unstable_by_key(|(id, _)| *id);
            for (id, points) in grouped {
                let Some(labels) = self.labels_of(id, tsdb)? else {
                    filtered += points.len() as u64;
                    continue;
                };
                count += points.len() as u64;
                request.timeseries.push(TimeSeries {
                    labels: labels.as_ref().clone(),
                    samples: points
                        .into_iter()
                        .map(|(timestamp, value)| Sample { value, timestamp })
                        .collect(),
                });
            }
            let body = snap::raw::Encoder::new()
                .compress_vec(&request.encode_to_vec())
                .map_err(|e| SubManagerError::Internal(format!("snappy compression: {e}")))?;
            shards.push(Request {
                body: Arc::new(body),
                samples: count,
            });
        }
        Ok(Encoded { shards, filtered })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> RemoteWriteConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn records_become_sorted_relabelled_series_split_by_shard() {
        let dir = tempfile::tempdir().unwrap();
        let tsdb = Tsdb::open(dir.path(), strata_tsdb::TsdbOptions::keep_forever()).unwrap();
        let labels =
            |agent: &str| strata_tsdb::Labels::from([("agent".to_string(), agent.to_string())]);
        let a = tsdb.series_id("host_load1", &labels("a")).unwrap();
        let b = tsdb.series_id("go_goroutines", &labels("a")).unwrap();
        let c = tsdb.series_id("host_load1", &labels("b")).unwrap();
        let records = vec![
            OutboxRecord {
                seq: 1,
                ingested_ms: 0,
                samples: vec![(a, 20, 2.0), (b, 20, 9.0), (c, 10, 1.0)],
            },
            OutboxRecord {
                seq: 2,
                ingested_ms: 0,
                samples: vec![(a, 10, 1.0), (a, 20, 2.5)],
            },
        ];
        let mut enc = Encoder::new(
            &config(
                "url = \"http://x/api/v1/write\"\nshards = 2\n\
                 [[write_relabel]]\naction = \"drop\"\nsource_labels = [\"__name__\"]\nregex = \"go_.*\"",
            ),
            "eu",
        )
        .unwrap();
        let out = enc.encode(&records, &tsdb).unwrap();
        assert_eq!(out.filtered, 1);
        assert_eq!(out.shards.len(), 2);
        assert_eq!(out.shards.iter().map(|s| s.samples).sum::<u64>(), 3);
        let mut series = Vec::new();
        for shard in &out.shards {
            let raw = snap::raw::Decoder::new()
                .decompress_vec(&shard.body)
                .unwrap();
            series.extend(WriteRequest::decode(raw.as_slice()).unwrap().timeseries);
        }
        let of_a = series
            .iter()
            .find(|s| s.labels.iter().any(|l| l.value == "a"))
            .unwrap();
        let names: Vec<_> = of_a.labels.iter().map(|l| (&*l.name, &*l.value)).collect();
        assert_eq!(
            names,
            vec![("__name__", "host_load1"), ("agent", "a"), ("region", "eu")],
            "sorted, with the region"
        );
        let points: Vec<_> = of_a
            .samples
            .iter()
            .map(|s| (s.timestamp, s.value))
            .collect();
        assert_eq!(
            points,
            vec![(10, 1.0), (20, 2.5)],
            "in time order, the later write wins"
        );
    }
}
