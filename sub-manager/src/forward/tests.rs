//! A forwarder against a receiver that answers as told: retried on 429 and 5xx (with
//! `Retry-After`), dropped and counted on a 4xx that will never pass, the cursor moved only
//! past what was accepted or refused for good.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use prost::Message;
use strata_proto::prometheus::WriteRequest;
use strata_tsdb::{Tsdb, TsdbOptions};
use tokio_util::sync::CancellationToken;

use super::*;

/// A receiver answering the statuses of `script` in turn (then 204), keeping what it took.
struct Script {
    answers: Mutex<VecDeque<(u16, Option<&'static str>)>>,
    taken: Mutex<Vec<(i64, f64)>>,
}

async fn receiver(script: Arc<Script>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |body: Bytes| {
            let script = script.clone();
            async move {
                let (status, after) = script
                    .answers
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or((204, None));
                if status == 204 {
                    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                    let request = WriteRequest::decode(raw.as_slice()).unwrap();
                    let mut taken = script.taken.lock().unwrap();
                    for s in request.timeseries.iter().flat_map(|t| &t.samples) {
                        taken.push((s.timestamp, s.value));
                    }
                }
                let mut response = StatusCode::from_u16(status).unwrap().into_response();
                if let Some(after) = after {
                    response
                        .headers_mut()
                        .insert("retry-after", after.parse().unwrap());
                }
                response
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api/v1/write")
}

fn config(url: &str) -> RemoteWriteConfig {
    toml::from_str(&format!(
        "name = \"t\"\nurl = \"{url}\"\nshards = 1\nbatch_samples = 100\n\
         min_backoff = \"10ms\"\nmax_backoff = \"50ms\""
    ))
    .unwrap()
}

async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_honour_429_and_5xx_and_only_a_lasting_4xx_drops() {
    let script = Arc::new(Script {
        answers: Mutex::new(VecDeque::from([
            (429, Some("0")),
            (503, None),
            (204, None),
            (400, None),
        ])),
        taken: Mutex::new(Vec::new()),
    });
    let url = receiver(script.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Arc::new(
        Tsdb::open(
            dir.path(),
            TsdbOptions {
                outbox: true,
                ..TsdbOptions::keep_forever()
            },
        )
        .unwrap(),
    );
    let id = tsdb.series_id("m", &Default::default()).unwrap();
    tsdb.write(&[(id, 1, 1.0), (id, 2, 2.0)]).unwrap();
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let forwarding = start(
        &[config(&url)],
        "eu",
        tsdb.clone(),
        &mut tasks,
        shutdown.clone(),
    )
    .unwrap();
    let stats = forwarding.destinations[0].1.clone();
    until("the first write delivered", || {
        stats.cursor.load(Ordering::Relaxed) == 1
    })
    .await;
    assert_eq!(*script.taken.lock().unwrap(), vec![(1, 1.0), (2, 2.0)]);
    assert_eq!(
        (
            stats.failed.load(Ordering::Relaxed),
            stats.retried.load(Ordering::Relaxed)
        ),
        (2, 2),
        "a 429 and a 503, each retried"
    );
    // the next write meets a 400: dropped, counted, the cursor moves on
    tsdb.write(&[(id, 3, 3.0)]).unwrap();
    until("the refused write passed", || {
        stats.cursor.load(Ordering::Relaxed) == 2
    })
    .await;
    assert_eq!(stats.dropped_rejected.load(Ordering::Relaxed), 1);
    tsdb.write(&[(id, 4, 4.0)]).unwrap();
    until("the third write delivered", || {
        stats.cursor.load(Ordering::Relaxed) == 3
    })
    .await;
    assert_eq!(script.taken.lock().unwrap().last(), Some(&(4, 4.0)));
    assert_eq!(
        tsdb.outbox_cursor("t").unwrap(),
        Some(3),
        "the cursor is on disk"
    );
    let views = forwarding.views(&tsdb, "eu-1");
    assert_eq!(
        (views[0].sent, views[0].dropped, views[0].pending_records),
        (3, 1, 0)
    );
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
}
