//! The web console: its pages and scripts embedded in the binary (nothing to install, no
//! build step: plain HTML, CSS and JavaScript under `assets/`), and the server-sent event
//! stream it follows to stay live.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;

use crate::Shared;

/// How often the stream sends the overview.
const STREAM_EVERY: Duration = Duration::from_secs(2);

#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Assets;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, content_type(path)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            file.data.into_owned(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, format!("no asset '{path}'")).into_response(),
    }
}

/// `GET /`: the console's page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /assets/{path}`: one of its scripts or stylesheets.
pub async fn asset(Path(path): Path<String>) -> Response {
    serve(&path)
}

/// `GET /api/v1/console`: what this console covers — the whole enterprise (a sub-manager's
/// regional console answers `"scope": "region"`).
pub async fn scope() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "scope": "enterprise" }))
}

/// `GET /api/v1/stream`: server-sent events; an `overview` event (the overview's JSON) at
/// once and every two seconds, for as long as the client listens.
pub async fn stream(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(STREAM_EVERY));
    let events = futures::StreamExt::map(ticks, move |_| {
        let overview = crate::api::overview_json(&shared);
        Ok(Event::default()
            .event("overview")
            .json_data(&overview)
            .unwrap_or_else(|_| Event::default().event("error")))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_the_console_names_is_embedded() {
        let index = Assets::get("index.html").expect("index.html embedded");
        let html = String::from_utf8_lossy(&index.data);
        for asset in ["app.js", "app.css"] {
            assert!(
                html.contains(&format!("/assets/{asset}")),
                "index links {asset}"
            );
            assert!(Assets::get(asset).is_some(), "{asset} embedded");
        }
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
    }
}
