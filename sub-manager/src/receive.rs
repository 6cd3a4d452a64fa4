//! Remote write in: `POST /api/v1/write` on the regional console's listener, so that a
//! site's existing Prometheus servers and agents push their samples into the region's store
//! (and from there into its remote-write destinations, like any stored sample).
//!
//! Every request is authenticated by the console's gate (an API token whose role may
//! operate in this region); the sender is the token's principal. Each sender is bounded: a
//! number of series it may create and a rate of samples per second, and a request past
//! either is answered 429 with `Retry-After`, which Prometheus retries, so nothing is lost
//! while a sender is held back. Prometheus's staleness markers are not stored: the store has
//! no notion of them, and Prometheus's query API never answers them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use prost::Message;
use serde::Deserialize;
use strata_proto::prometheus::WriteRequest;
use strata_proto::telemetry::Exposition;
use strata_tsdb::{SeriesId, Tsdb, TsdbError};
use strata_web::auth::Caller;
use tracing::{debug, warn};

/// The bit pattern of Prometheus's staleness marker (a NaN).
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Limits of remote write in (`[receive]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiveConfig {
    /// Series one sender may create in the store (default 100,000).
    pub max_series_per_sender: usize,
    /// Samples per second one sender may write, averaged over `burst` seconds (default
    /// 50,000).
    pub max_samples_per_second: u64,
    /// Seconds of samples a sender may send at once after being quiet (default 10).
    pub burst_seconds: u64,
    /// Largest request body, compressed (default 16 MiB); decompressed, four times that.
    pub max_body_bytes: usize,
}

impl Default for ReceiveConfig {
    fn default() -> Self {
        Self {
            max_series_per_sender: 100_000,
            max_samples_per_second: 50_000,
            burst_seconds: 10,
            max_body_bytes: 16 << 20,
        }
    }
}

impl ReceiveConfig {
    /// What is wrong with it, each problem naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (field, value) in [
            (
                "receive.max_series_per_sender",
                self.max_series_per_sender as u64,
            ),
            (
                "receive.max_samples_per_second",
                self.max_samples_per_second,
            ),
            ("receive.burst_seconds", self.burst_seconds),
            ("receive.max_body_bytes", self.max_body_bytes as u64),
        ] {
            if value == 0 {
                errors.push(format!("{field}: must be above zero"));
            }
        }
        errors
    }
}

/// What one sender has done and may still do.
#[derive(Debug)]
struct Sender {
    series: HashSet<SeriesId>,
    /// Samples it may still send now (refilled at the rate, up to the burst).
    tokens: f64,
    refilled: Instant,
    received: u64,
    refused: u64,
}

/// The receiver of one member.
pub struct Receiver {
    tsdb: Arc<Tsdb>,
    config: ReceiveConfig,
    senders: Mutex<HashMap<String, Sender>>,
}

/// A remote-write body decoded: snappy, at most `max_decompressed` bytes once decompressed,
/// then a `WriteRequest`; the error says what was wrong with it.
///
/// The decompressed length is read from the body's header and checked before anything is
/// decompressed: a body of a few bytes may declare four gigabytes.
pub fn decode_body(body: &[u8], max_decompressed: usize) -> Result<WriteRequest, String> {
    let len = snap::raw::decompress_len(body)
        .map_err(|e| format!("body is not snappy-compressed: {e}"))?;
    if len > max_decompressed {
        return Err(format!(
            "decompressed body of {len} bytes exceeds {max_decompressed}"
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("body is not snappy-compressed: {e}"))?;
    WriteRequest::decode(raw.as_slice())
        .map_err(|e| format!("body is not a remote-write WriteRequest: {e}"))
}

/// Why a request is not stored.
#[derive(Debug)]
enum Refusal {
    Bad(String),
    Limited(String, Duration),
    Store(TsdbError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Bad(why) => (StatusCode::BAD_REQUEST, why).into_response(),
            Refusal::Limited(why, after) => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, after.as_secs().max(1).to_string())],
                why,
            )
                .into_response(),
            Refusal::Store(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

impl Receiver {
    /// A receiver storing into `tsdb` within `config`'s limits.
    pub fn new(tsdb: Arc<Tsdb>, config: ReceiveConfig) -> Self {
        Self {
            tsdb,
            config,
            senders: Mutex::new(HashMap::new()),
        }
    }

    /// The route, for the regional console's router.
    pub fn router(self: Arc<Self>) -> Router {
        let limit = self.config.max_body_bytes;
        Router::new()
            .route("/api/v1/write", post(write))
            .layer(axum::extract::DefaultBodyLimit::max(limit))
            .with_state(self)
    }

    /// Adds the receiver's metrics to `e`.
    pub fn render(&self, e: &mut Exposition) {
        let senders = self.senders.lock().expect("senders lock poisoned");
        for (name, help, get) in [
            (
                "strata_sub_manager_remote_write_received_samples_total",
                "Samples stored from remote write, by sender.",
                (|s: &Sender| s.received as f64) as fn(&Sender) -> f64,
            ),
            (
                "strata_sub_manager_remote_write_refused_requests_total",
                "Remote-write requests refused over a sender's limits (429).",
                |s: &Sender| s.refused as f64,
            ),
            (
                "strata_sub_manager_remote_write_sender_series",
                "Series a remote-write sender has created.",
                |s: &Sender| s.series.len() as f64,
            ),
        ] {
            e.family(
                name,
                if name.ends_with("_total") {
                    "counter"
                } else {
                    "gauge"
                },
                help,
            );
            for (sender, s) in senders.iter() {
                e.sample(name, &[("sender", sender)], get(s));
            }
        }
    }

    /// Decodes and stores one request from `sender`.
    fn receive(&self, sender: &str, body: &[u8]) -> Result<usize, Refusal> {
        let request = decode_body(body, self.config.max_body_bytes * 4).map_err(Refusal::Bad)?;
        let count: usize = request.timeseries.iter().map(|t| t.samples.len()).sum();
        self.take(sender, count as f64)?;
        let mut batch = Vec::with_capacity(count);
        for (i, series) in request.timeseries.iter().enumerate() {
            let mut name = None;
            let mut labels = strata_tsdb::Labels::new();
            for l in &series.labels {
                if l.name == "__name__" {
                    name = Some(l.value.as_str());
                } else if !l.value.is_empty() {
                    labels.insert(l.name.clone(), l.value.clone());
                }
            }
            let name =
                name.ok_or_else(|| Refusal::Bad(format!("timeseries[{i}]: no __name__ label")))?;
            let id = self.series(sender, name, &labels)?;
            for s in &series.samples {
                if s.value.to_bits() != STALE_NAN {
                    batch.push((id, s.timestamp, s.value));
                }
            }
        }
        let stored = batch.len();
        tokio::task::block_in_place(|| self.tsdb.write(&batch)).map_err(Refusal::Store)?;
        let mut senders = self.senders.lock().expect("senders lock poisoned");
        if let Some(s) = senders.get_mut(sender) {
            s.received += stored as u64;
        }
        Ok(stored)
    }

    /// Takes `count` samples from `sender`'s allowance, or says when to come back.
    fn take(&self, sender: &str, count: f64) -> Result<(), Refusal> {
        let rate = self.config.max_samples_per_second as f64;
        let burst = rate * self.config.burst_seconds as f64;
        let mut senders = self.senders.lock().expect("senders lock poisoned");
        let now = Instant::now();
        let s = senders.entry(sender.to_string()).or_insert_with(|| Sender {
            series: HashSet::new(),
            tokens: burst,
            refilled: now,
            received: 0,
            refused: 0,
        });
        s.tokens = (s.tokens + now.duration_since(s.refilled).as_secs_f64() * rate).min(burst);
        s.refilled = now;
        if count > burst {
            s.refused += 1;
            return Err(Refusal::Bad(format!(
                "{count} samples in one request exceed the burst of {burst} allowed to a sender"
            )));
        }
        if count > s.tokens {
            s.refused += 1;
            let wait = Duration::from_secs_f64((count - s.tokens) / rate);
            return Err(Refusal::Limited(
                format!(
                    "sender {sender} is over {} samples per second",
                    self.config.max_samples_per_second
                ),
                wait,
            ));
        }
        s.tokens -= count;
        Ok(())
    }

    /// The id of a series `sender` writes to, within its series limit.
    fn series(
        &self,
        sender: &str,
        name: &str,
        labels: &strata_tsdb::Labels,
    ) -> Result<SeriesId, Refusal> {
        let id = self.tsdb.series_id(name, labels).map_err(|e| match e {
            TsdbError::SeriesLimit { .. } => {
                Refusal::Limited(e.to_string(), Duration::from_secs(60))
            }
            TsdbError::Invalid { .. } => Refusal::Bad(e.to_string()),
            other => Refusal::Store(other),
        })?;
        let mut senders = self.senders.lock().expect("senders lock poisoned");
        let Some(s) = senders.get_mut(sender) else {
            return Ok(id);
        };
        if !s.series.contains(&id) {
            if s.series.len() >= self.config.max_series_per_sender {
                s.refused += 1;
                return Err(Refusal::Limited(
                    format!(
                        "sender {sender} has written {} series, its limit (receive.max_series_per_sender)",
                        s.series.len()
                    ),
                    Duration::from_secs(60),
                ));
            }
            s.series.insert(id);
        }
        Ok(id)
    }
}

async fn write(
    State(receiver): State<Arc<Receiver>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sender = caller.principal.name.clone();
    if body.len() > receiver.config.max_body_bytes {
        return Refusal::Bad(format!(
            "body of {} bytes exceeds receive.max_body_bytes ({})",
            body.len(),
            receiver.config.max_body_bytes
        ))
        .into_response();
    }
    if let Some(enc) = headers.get(header::CONTENT_ENCODING)
        && enc.as_bytes() != b"snappy"
    {
        return Refusal::Bad(format!("Content-Encoding {enc:?} is not snappy")).into_response();
    }
    match receiver.receive(&sender, &body) {
        Ok(n) => {
            debug!(%sender, samples = n, "remote write stored");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(refusal) => {
            warn!(%sender, ?refusal, "remote write refused");
            refusal.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::prometheus::{Label, Sample, TimeSeries};

    fn body(series: &[(&str, usize)]) -> Vec<u8> {
        let request = WriteRequest {
            timeseries: series
                .iter()
                .map(|(name, n)| TimeSeries {
                    labels: vec![Label {
                        name: "__name__".into(),
                        value: name.to_string(),
                    }],
                    samples: (0..*n)
                        .map(|i| Sample {
                            value: i as f64,
                            timestamp: 1000 + i as i64,
                        })
                        .collect(),
                })
                .collect(),
        };
        snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn each_sender_is_held_to_its_rate_and_its_series_and_bad_bodies_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let tsdb =
            Arc::new(Tsdb::open(dir.path(), strata_tsdb::TsdbOptions::keep_forever()).unwrap());
        let receiver = Receiver::new(
            tsdb.clone(),
            ReceiveConfig {
                max_series_per_sender: 2,
                max_samples_per_second: 1,
                burst_seconds: 10,
                max_body_bytes: 1 << 20,
            },
        );
        assert_eq!(receiver.receive("a", &body(&[("m1", 6)])).unwrap(), 6);
        assert!(matches!(
            receiver.receive("a", &body(&[("m1", 6)])),
            Err(Refusal::Limited(..))
        ));
        assert_eq!(
            receiver.receive("b", &body(&[("m1", 6)])).unwrap(),
            6,
            "another sender has its own allowance"
        );
        assert_eq!(
            receiver
                .receive("c", &body(&[("m1", 1), ("m2", 1)]))
                .unwrap(),
            2
        );
        let third = receiver.receive("c", &body(&[("m3", 1)]));
        assert!(
            matches!(&third, Err(Refusal::Limited(why, _)) if why.contains("max_series_per_sender")),
            "{third:?}"
        );
        assert!(
            matches!(receiver.receive("d", b"plain"), Err(Refusal::Bad(why)) if why.contains("snappy"))
        );
        // five bytes that declare four gigabytes decompressed (found by the fuzz target):
        // refused from the header, nothing decompressed
        let declared = [0x9e, 0x96, 0xff, 0x9d, 0x0f];
        assert!(snap::raw::decompress_len(&declared).unwrap() > 1 << 30);
        assert!(
            matches!(receiver.receive("d", &declared), Err(Refusal::Bad(why)) if why.contains("exceeds"))
        );
        let nameless = snap::raw::Encoder::new()
            .compress_vec(
                &WriteRequest {
                    timeseries: vec![TimeSeries::default()],
                }
                .encode_to_vec(),
            )
            .unwrap();
        assert!(
            matches!(receiver.receive("d", &nameless), Err(Refusal::Bad(why)) if why.contains("timeseries[0]: no __name__"))
        );
        let stored = tsdb.select("m1", &[]).unwrap();
        assert_eq!(
            tsdb.range(stored[0].id, 0, 10_000).unwrap().len(),
            6,
            "stored once per timestamp"
        );
        let mut e = Exposition::new();
        receiver.render(&mut e);
        let text = e.finish();
        assert!(
            text.contains("strata_sub_manager_remote_write_received_samples_total{sender=\"a\"} 6"),
            "{text}"
        );
    }
}
