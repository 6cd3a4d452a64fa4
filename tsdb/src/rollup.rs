//! Rollups: per series, buckets of 1 minute and 1 hour holding min, max, sum, count and
//! last, so that long ranges are answered without reading raw points, and outlive raw
//! retention.
//!
//! Rollups would cost about two thirds of the raw data they summarise while both are kept
//! (four noisy columns per six points for minutes), and raw points answer any step as well
//! while they last; so buckets are built by [`crate::Tsdb::downsample`] from raw chunks
//! older than `minute_rollup_after` (default 14 days, a day before raw retention drops
//! them), as Thanos and VictoriaMetrics downsample aged data. A per-series mark (on an hour
//! boundary) says up to where buckets of both resolutions exist; queries read buckets before
//! it and raw points after it, and a cut of late points below it recomputes the buckets
//! they touch from every raw point they hold.
//!
//! Buckets are kept in blocks (6 hours of minutes, a day of hours) keyed (resolution,
//! series id, block start) in the `rollups` column family; each block stores its five
//! columns with the chunk codec.
//!
//! This module holds the buckets and their encoding; the store reads and writes them in
//! `db::rollups`.

use std::collections::BTreeMap;

use crate::chunk;
use crate::error::{Result, TsdbError};
use crate::keys::{self, CF_ROLLUPS};
use crate::query::Aggregation;
use crate::series::SeriesId;

/// A rollup resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Minute,
    Hour,
}

impl Resolution {
    /// Both resolutions, finest first.
    pub const ALL: [Resolution; 2] = [Resolution::Minute, Resolution::Hour];

    /// Width of one bucket, in milliseconds.
    pub fn ms(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
        }
    }

    /// Time one stored block of buckets covers.
    pub(crate) fn block_ms(self) -> i64 {
        match self {
            Resolution::Minute => 6 * 3_600_000,
            Resolution::Hour => 86_400_000,
        }
    }

    fn tag(self) -> u8 {
        match self {
            Resolution::Minute => 1,
            Resolution::Hour => 2,
        }
    }
}

/// One rollup bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: f64,
    pub last: f64,
}

impl Bucket {
    fn of(value: f64) -> Self {
        Self {
            min: value,
            max: value,
            sum: value,
            count: 1.0,
            last: value,
        }
    }

    fn add(&mut self, value: f64) {
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
        self.count += 1.0;
        self.last = value;
    }

    /// Combines with a bucket of later points.
    pub fn merge(&mut self, later: &Bucket) {
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.sum += later.sum;
        self.count += later.count;
        self.last = later.last;
    }
}

/// Start of the bucket (or block) of width `width` holding `ts`.
pub(crate) fn floor(ts: i64, width: i64) -> i64 {
    ts.div_euclid(width) * width
}

/// Buckets of time-ordered points.
pub fn buckets(points: &[(i64, f64)], res: Resolution) -> Vec<(i64, Bucket)> {
    let mut out: Vec<(i64, Bucket)> = Vec::new();
    for &(ts, v) in points {
        let b = floor(ts, res.ms());
        match out.last_mut() {
            Some((start, bucket)) if *start == b => bucket.add(v),
            _ => out.push((b, Bucket::of(v))),
        }
    }
    out
}

/// Key tag of the per-series rollup mark in the `rollups` column family.
const MARK_TAG: u8 = 3;

/// Key of the rollup mark of `id`.
pub(crate) fn mark_key(id: SeriesId) -> [u8; 9] {
    let mut key = [MARK_TAG; 9];
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// Key of the block of `res` buckets of `id` starting at `block_start`.
pub(crate) fn block_key(res: Resolution, id: SeriesId, block_start: i64) -> Vec<u8> {
    let mut key = vec![res.tag()];
    key.extend_from_slice(&keys::sample_key(id, block_start));
    key
}

/// Encodes a block of buckets: five columns with the chunk codec, each length-prefixed.
pub fn encode_block(buckets: &BTreeMap<i64, Bucket>) -> Vec<u8> {
    let mut out = Vec::new();
    let columns: [fn(&Bucket) -> f64; 5] =
        [|b| b.min, |b| b.max, |b| b.sum, |b| b.count, |b| b.last];
    for column in columns {
        let points: Vec<(i64, f64)> = buckets.iter().map(|(ts, b)| (*ts, column(b))).collect();
        let encoded = chunk::encode(&points);
        out.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
        out.extend(encoded);
    }
    out
}

/// Decodes a block written by [`encode_block`].
pub fn decode_block(bytes: &[u8]) -> Result<BTreeMap<i64, Bucket>> {
    let corrupt = || TsdbError::Corrupt {
        what: "rollup block",
        cf: CF_ROLLUPS,
    };
    let mut columns = Vec::with_capacity(5);
    let mut pos = 0;
    for _ in 0..5 {
        let len = u32::from_be_bytes(
            bytes
                .get(pos..pos + 4)
                .ok_or_else(corrupt)?
                .try_into()
                .map_err(|_| corrupt())?,
        ) as usize;
        pos += 4;
        columns.push(chunk::decode(
            bytes.get(pos..pos + len).ok_or_else(corrupt)?,
        )?);
        pos += len;
    }
    let n = columns[0].len();
    if columns.iter().any(|c| c.len() != n) {
        return Err(corrupt());
    }
    Ok((0..n)
        .map(|i| {
            let b = Bucket {
                min: columns[0][i].1,
                max: columns[1][i].1,
                sum: columns[2][i].1,
                count: columns[3][i].1,
                last: columns[4][i].1,
            };
            (columns[0][i].0, b)
        })
        .collect())
}

/// The rollup resolution that answers steps of `step` ms with `aggregation`, if any: the
/// coarsest whose buckets divide the step, for functions that buckets can answer.
pub fn resolution_for(step: i64, aggregation: Aggregation) -> Option<Resolution> {
    let combinable = matches!(
        aggregation,
        Aggregation::Avg
            | Aggregation::Min
            | Aggregation::Max
            | Aggregation::Sum
            | Aggregation::Count
            | Aggregation::Last
    );
    if !combinable || step <= 0 {
        return None;
    }
    [Resolution::Hour, Resolution::Minute]
        .into_iter()
        .find(|r| step % r.ms() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_min_max_sum_count_last() {
        let b = buckets(
            &[(0, 2.0), (30_000, 4.0), (59_999, 3.0), (60_000, 7.0)],
            Resolution::Minute,
        );
        assert_eq!(
            b[0],
            (
                0,
                Bucket {
                    min: 2.0,
                    max: 4.0,
                    sum: 9.0,
                    count: 3.0,
                    last: 3.0
                }
            )
        );
        assert_eq!(b[1].0, 60_000);
        assert_eq!(floor(-1, 60_000), -60_000);
    }

    #[test]
    fn blocks_round_trip() {
        let block: BTreeMap<i64, Bucket> = (0..100)
            .map(|i| {
                (
                    i * 60_000,
                    Bucket {
                        min: i as f64,
                        max: i as f64 + 1.5,
                        sum: 10.25,
                        count: 6.0,
                        last: f64::NAN,
                    },
                )
            })
            .collect();
        let back = decode_block(&encode_block(&block)).unwrap();
        assert_eq!(back.len(), 100);
        assert_eq!(back[&60_000].max, 2.5);
        assert!(back[&60_000].last.is_nan());
        assert!(decode_block(&[0, 0, 0, 9]).is_err());
    }

    #[test]
    fn cut_data_answers_every_step_as_raw_points_do() {
        use crate::query::{Aggregation, aggregate};
        use crate::{Labels, Tsdb, TsdbOptions};
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(
            dir.path(),
            TsdbOptions {
                max_head_points: 25,
                min_chunk_points: 1,
                ..TsdbOptions::keep_forever()
            },
        )
        .unwrap();
        let id = db.series_id("m", &Labels::new()).unwrap();
        // 10 s points for three hours in batches of 7: cuts land mid-minute and mid-hour.
        let points: Vec<(i64, f64)> = (0..1080)
            .map(|i| (i * 10_000, ((i * 37) % 101) as f64))
            .collect();
        for batch in points.chunks(7) {
            let samples: Vec<_> = batch.iter().map(|&(t, v)| (id, t, v)).collect();
            db.write(&samples).unwrap();
        }
        db.flush().unwrap();
        for step in [60_000, 300_000, 3_600_000] {
            for agg in [
                Aggregation::Avg,
                Aggregation::Min,
                Aggregation::Max,
                Aggregation::Sum,
                Aggregation::Count,
                Aggregation::Last,
            ] {
                let want = aggregate(&points, 0, step, agg);
                assert_eq!(
                    db.query_range(id, 0, 3 * 3_600_000 - 1, step, agg).unwrap(),
                    want,
                    "{agg:?} per {step}"
                );
            }
        }
    }

    mod reference {
        use crate::query::{Aggregation, aggregate};
        use crate::{Labels, Tsdb, TsdbOptions};
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
            /// Steps answered from rollups below the mark and raw points above it (with the
            /// head's buckets recomputed from raw points) equal steps computed from every raw
            /// point, whatever the order of writes, repeats, cuts and downsampling.
            #[test]
            fn rollup_answers_equal_raw_answers(
                writes in proptest::collection::vec(proptest::collection::vec((0i64..1_000, -1000i32..1000), 1..60), 1..10),
                head in 5usize..200,
                step_minutes in proptest::sample::select(vec![1i64, 2, 5, 60, 120]),
                mark_hour in 0i64..5,
            ) {
                let dir = tempfile::tempdir().unwrap();
                let options = TsdbOptions { max_head_points: head, minute_rollup_after_ms: 0, ..TsdbOptions::keep_forever() };
                let db = Tsdb::open(dir.path(), options).unwrap();
                let id = db.series_id("m", &Labels::new()).unwrap();
                for (n, batch) in writes.iter().enumerate() {
                    if n == writes.len() / 2 {
                        // roll up the hours before mark_hour; later batches land on both sides
                        db.downsample(mark_hour * 3_600_000).unwrap();
                    }
                    // timestamps every 7 s over about two hours, values small integers so sums are exact
                    let samples: Vec<_> = batch.iter().map(|&(t, v)| (id, 3_600_000 + t * 7_000, f64::from(v))).collect();
                    db.write(&samples).unwrap();
                }
                let step = step_minutes * 60_000;
                let (from, to) = (3_600_000, 3_600_000 + 3 * 3_600_000 - 1);
                let raw = db.range(id, from, to).unwrap();
                for agg in [Aggregation::Avg, Aggregation::Min, Aggregation::Max, Aggregation::Sum, Aggregation::Count, Aggregation::Last] {
                    prop_assert!(super::resolution_for(step, agg).is_some());
                    let want = aggregate(&raw, from, step, agg);
                    prop_assert_eq!(db.query_range(id, from, to, step, agg).unwrap(), want.clone(), "{:?} before flush", agg);
                }
                db.flush().unwrap();
                for agg in [Aggregation::Avg, Aggregation::Sum, Aggregation::Last] {
                    prop_assert_eq!(db.query_range(id, from, to, step, agg).unwrap(), aggregate(&raw, from, step, agg), "{:?} after flush", agg);
                }
            }
        }
    }
}
