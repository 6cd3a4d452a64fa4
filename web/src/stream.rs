//! The live stream both consoles follow (`GET /api/v1/stream`): server-sent events carrying
//! the overview, so that the page stays current without polling each endpoint.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Serialize;
use tokio_stream::wrappers::IntervalStream;
use tokio_util::sync::CancellationToken;

/// How often the stream sends the overview.
pub const EVERY: Duration = Duration::from_secs(2);

/// Server-sent events: an `overview` event with `view()`'s JSON at once and every
/// [`EVERY`], for as long as the client listens and `until` is not cancelled (an `error`
/// event if it cannot be written). Ending with the server's shutdown lets a graceful stop
/// finish while a console is open.
pub fn overview<T, F>(
    view: F,
    until: CancellationToken,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    T: Serialize,
    F: Fn() -> T + Send + 'static,
{
    let ticks =
        IntervalStream::new(tokio::time::interval(EVERY)).take_until(until.cancelled_owned());
    let events = ticks.map(move |_| {
        Ok(Event::default()
            .event("overview")
            .json_data(view())
            .unwrap_or_else(|_| Event::default().event("error")))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[tokio::test]
    async fn the_first_event_is_the_overview_at_once() {
        let stop = CancellationToken::new();
        let answer =
            overview(|| serde_json::json!({ "regions": [] }), stop.clone()).into_response();
        assert_eq!(
            answer.headers()[axum::http::header::CONTENT_TYPE],
            "text/event-stream"
        );
        let mut body = answer.into_body().into_data_stream();
        let first = tokio::time::timeout(Duration::from_secs(1), body.next())
            .await
            .expect("an event at once")
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&first),
            "event: overview\ndata: {\"regions\":[]}\n\n"
        );
        // the server stops: the stream ends rather than holding the stop up
        stop.cancel();
        let end = tokio::time::timeout(Duration::from_secs(1), body.next())
            .await
            .expect("the stream ends at once");
        assert!(end.is_none(), "{end:?}");
    }
}
