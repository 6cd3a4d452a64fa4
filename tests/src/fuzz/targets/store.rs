//! Targets fed by the store's own bytes and by other programs over the wire: chunks read
//! back from RocksDB (a disk can return anything), remote-write bodies from any sender
//! holding a token, and series matchers from queries.

use std::hint::black_box;

use prost::Message;
use strata_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use strata_tsdb::Matcher;
use strata_tsdb::chunk;

use super::{Target, none, pick, text, variants};

/// A chunk of the store decoded (its codec read first, as the store's reads do).
pub const CHUNK: Target = Target {
    name: "tsdb_chunk",
    run: |data| {
        black_box(chunk::codec_of(data));
        black_box(chunk::decode(data).ok());
    },
    seeds: || {
        let steady: Vec<(i64, f64)> = (0..120).map(|i| (i * 10_000, i as f64 * 0.25)).collect();
        let pages: Vec<(i64, f64)> = (0..64)
            .map(|i| {
                (
                    1_700_000_000_000 + i * 10_007,
                    ((i * 37) % 11) as f64 * 4096.0,
                )
            })
            .collect();
        let ratios: Vec<(i64, f64)> = (0..50).map(|i| (i, (i as f64).sin())).collect();
        let odd = vec![(i64::MIN, f64::NAN), (0, f64::INFINITY), (i64::MAX, -0.0)];
        [steady, pages, ratios, odd]
            .iter()
            .map(|p| chunk::encode(p))
            .collect()
    },
    samples: none,
};

/// A remote-write body as the region's receiver decodes it (snappy, then the protobuf;
/// first byte even), or the bare protobuf (odd), so that mutations reach the protobuf
/// decoder without having to keep a valid snappy frame.
pub const REMOTE_WRITE: Target = Target {
    name: "remote_write",
    run: |data| {
        let (which, rest) = pick(data, 2);
        let request = if which == 0 {
            // the receiver's own bound: four times its default body limit of 16 MiB
            strata_sub_manager::receive::decode_body(rest, 64 << 20).ok()
        } else {
            WriteRequest::decode(rest).ok()
        };
        if let Some(request) = request {
            let samples: usize = request.timeseries.iter().map(|t| t.samples.len()).sum();
            black_box(samples);
        }
    },
    seeds: || {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    Label {
                        name: "job".into(),
                        value: "node".into(),
                    },
                ],
                samples: vec![
                    Sample {
                        value: 1.0,
                        timestamp: 1_700_000_000_000,
                    },
                    Sample {
                        value: f64::NAN,
                        timestamp: 1_700_000_010_000,
                    },
                ],
            }],
        };
        let bare = request.encode_to_vec();
        let packed = snap::raw::Encoder::new()
            .compress_vec(&bare)
            .unwrap_or_default();
        variants(&[(0, packed), (1, bare)])
    },
    samples: none,
};

/// A label matcher's text (`=value`, `!value`, `~regex`, `!~regex`), after the label name
/// on the first line.
pub const MATCHER: Target = Target {
    name: "tsdb_matcher",
    run: |data| {
        let all = text(data);
        let (name, value) = all.split_once('\n').unwrap_or(("job", &all));
        black_box(Matcher::parse(name, value).ok());
    },
    seeds: || {
        super::seeds(&[
            "job\n=node",
            "instance\n~host-(1|2)[0-9]+:9100",
            "mode\n!~idle|iowait",
            "__name__\n!up",
            "x\n~(a*)*b",
        ])
    },
    samples: none,
};
