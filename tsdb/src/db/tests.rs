//! Tests of the store: idempotent writes, reopening, limits, cuts and late points, and a
//! property against a naive reference.

use super::*;

use crate::test_labels as labels;

#[test]
fn writes_are_idempotent_and_ranges_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap();
    let id = db.series_id("m", &labels(&[("agent", "a")])).unwrap();
    db.write(&[(id, 20, 2.0), (id, 10, 1.0)]).unwrap();
    db.write(&[(id, 20, 2.0), (id, 30, 3.0)]).unwrap();
    assert_eq!(
        db.range(id, 0, 100).unwrap(),
        vec![(10, 1.0), (20, 2.0), (30, 3.0)]
    );
    assert_eq!(db.range(id, 10, 20).unwrap(), vec![(10, 1.0), (20, 2.0)]);
    assert!(db.range(id, 5, 1).is_err());
}

#[test]
fn series_ids_survive_reopen_and_select_filters_by_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b);
    {
        let db = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap();
        a = db.series_id("cpu", &labels(&[("agent", "a")])).unwrap();
        b = db.series_id("cpu", &labels(&[("agent", "b")])).unwrap();
        db.series_id("cpu_other", &labels(&[("agent", "a")]))
            .unwrap();
        db.write(&[(a, 1, 0.5)]).unwrap();
    }
    let db = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap();
    assert_eq!(db.series_count(), 3);
    assert_eq!(db.series_id("cpu", &labels(&[("agent", "b")])).unwrap(), b);
    let all = db.select("cpu", &[]).unwrap();
    assert_eq!(all.len(), 2, "the prefix of cpu must not match cpu_other");
    let only_a = db.select("cpu", &[("agent".into(), "a".into())]).unwrap();
    assert_eq!(only_a.len(), 1);
    assert_eq!(only_a[0].id, a);
    assert_eq!(db.range(a, 0, 10).unwrap(), vec![(1, 0.5)]);
    let new = db.series_id("cpu", &labels(&[("agent", "c")])).unwrap();
    assert!(new > b, "ids must not be reused after reopen");
}

#[test]
fn series_limit_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            max_series: 1,
            ..TsdbOptions::keep_forever()
        },
    )
    .unwrap();
    db.series_id("m", &Labels::new()).unwrap();
    let err = db.series_id("n", &Labels::new()).unwrap_err();
    assert!(err.to_string().contains("series limit of 1"), "{err}");
}

fn small_head(max_head_points: usize) -> TsdbOptions {
    TsdbOptions {
        max_head_points,
        min_chunk_points: 1,
        ..TsdbOptions::keep_forever()
    }
}

#[test]
fn cut_chunks_late_points_and_reopen_keep_one_value_per_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let id;
    {
        let db = Tsdb::open(dir.path(), small_head(10)).unwrap();
        id = db.series_id("m", &Labels::new()).unwrap();
        let batch: Vec<_> = (0..25).map(|i| (id, i * 10, i as f64)).collect();
        db.write(&batch).unwrap();
        assert_eq!(db.head_points(), 0, "the head was cut into chunks");
        // late, re-delivered and changed points all land in cut time
        db.write(&[(id, 5, 0.5), (id, 10, 1.0), (id, 20, 20.0)])
            .unwrap();
        db.flush().unwrap();
        db.write(&[(id, 300, 30.0)]).unwrap(); // left in the head and the WAL
    }
    let db = Tsdb::open(dir.path(), small_head(10)).unwrap();
    let got = db.range(id, 0, 1000).unwrap();
    assert_eq!(got.len(), 27);
    assert_eq!(&got[..4], &[(0, 0.0), (5, 0.5), (10, 1.0), (20, 20.0)]);
    assert_eq!(
        got.last(),
        Some(&(300, 30.0)),
        "replayed from the write-ahead record"
    );
    assert_eq!(db.range(id, 5, 10).unwrap(), vec![(5, 0.5), (10, 1.0)]);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn series_are_cut_one_by_one_and_their_records_deleted_without_losing_a_point() {
    let dir = tempfile::tempdir().unwrap();
    // 40 series share a head of 400 points: each is cut at 10, in the write that fills it;
    // the agents write their series in turn, as polls of many agents do
    let options = || TsdbOptions {
        max_head_points: 400,
        min_chunk_points: 4,
        ..TsdbOptions::keep_forever()
    };
    let ids: Vec<SeriesId>;
    let writes = 3000;
    {
        let db = Tsdb::open(dir.path(), options()).unwrap();
        ids = (0..40)
            .map(|i| {
                db.series_id("m", &labels(&[("s", &i.to_string())]))
                    .unwrap()
            })
            .collect();
        for w in 0..writes {
            let agent = &ids[(w % 4) * 10..(w % 4 + 1) * 10];
            let ts = (w / 4) as i64 * 10;
            let batch: Vec<_> = agent.iter().map(|id| (*id, ts, w as f64)).collect();
            db.write(&batch).unwrap();
            assert!(db.head_points() < 400, "cut series by series, never whole");
        }
        let records = db
            .raw_db()
            .iterator_cf(db.cf(CF_WAL), IteratorMode::Start)
            .count();
        assert!(
            records < 1100,
            "{records} of {writes} write-ahead records left"
        );
        assert!(db.head_points() > 0);
    }
    // reopened: the head's points come back from the records kept, the rest from chunks
    let db = Tsdb::open(dir.path(), options()).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let got = db.range(*id, 0, i64::MAX).unwrap();
        let want: Vec<(i64, f64)> = (0..writes)
            .filter(|w| w % 4 == i / 10)
            .map(|w| ((w / 4) as i64 * 10, w as f64))
            .collect();
        assert_eq!(got, want, "series {i}");
    }
}

#[test]
fn a_series_that_stops_is_cut_once_the_head_spans_a_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            chunk_span_ms: 1000,
            min_chunk_points: 1000,
            ..TsdbOptions::keep_forever()
        },
    )
    .unwrap();
    let (a, b) = (
        db.series_id("a", &Labels::new()).unwrap(),
        db.series_id("b", &Labels::new()).unwrap(),
    );
    db.write(&[(a, 0, 1.0)]).unwrap();
    for i in 0..=20 {
        db.write(&[(b, i * 100, i as f64)]).unwrap();
    }
    // at 1000 the head spanned a chunk: a (stopped) and b's first half were cut
    assert_eq!(db.head_points(), 10, "b from 1100 to 2000 left in the head");
    assert_eq!(db.range(a, 0, 10).unwrap(), vec![(0, 1.0)]);
    assert_eq!(db.range(b, 0, 5000).unwrap().len(), 21);
}

#[test]
fn an_old_format_directory_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = Options::default();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        DB::open_cf(&o, dir.path(), ["samples"]).unwrap();
    }
    let err = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap_err();
    assert!(err.to_string().contains("first storage format"), "{err}");
}

mod reference {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Whatever is written, in any order and with repeats, range answers what a plain
        /// map of (series, timestamp) -> last value answers, before and after reopening.
        #[test]
        fn range_equals_a_naive_reference(
            batches in proptest::collection::vec(
                proptest::collection::vec((0u64..3, -50i64..400, -1000i32..1000), 1..40),
                1..12,
            ),
            head in 1usize..60,
            queries in proptest::collection::vec((0u64..3, -60i64..420, 0i64..200), 1..8),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut reference: BTreeMap<(u64, i64), f64> = BTreeMap::new();
            let ids: Vec<SeriesId>;
            {
                let db = Tsdb::open(dir.path(), small_head(head)).unwrap();
                ids = (0..3).map(|i| db.series_id(&format!("s{i}"), &Labels::new()).unwrap()).collect();
                for (n, batch) in batches.iter().enumerate() {
                    let samples: Vec<_> = batch.iter().map(|&(s, ts, v)| (ids[s as usize], ts, f64::from(v) / 8.0)).collect();
                    // within one batch the last write of a timestamp wins, as in the reference
                    db.write(&samples).unwrap();
                    for &(s, ts, v) in batch {
                        reference.insert((s, ts), f64::from(v) / 8.0);
                    }
                    if n % 4 == 3 {
                        db.flush().unwrap();
                    }
                    for &(s, from, len) in &queries {
                        let want: Vec<(i64, f64)> = reference.range((s, from)..=(s, from + len)).map(|(k, v)| (k.1, *v)).collect();
                        prop_assert_eq!(db.range(ids[s as usize], from, from + len).unwrap(), want);
                    }
                }
            }
            let db = Tsdb::open(dir.path(), small_head(head)).unwrap();
            for s in 0..3u64 {
                let want: Vec<(i64, f64)> = reference.range((s, i64::MIN)..=(s, i64::MAX)).map(|(k, v)| (k.1, *v)).collect();
                prop_assert_eq!(db.range(ids[s as usize], i64::MIN, i64::MAX).unwrap(), want);
            }
        }
    }
}
