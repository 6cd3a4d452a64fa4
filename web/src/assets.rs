//! The console's files, embedded in the binary: nothing to install and no build step —
//! plain HTML, CSS and JavaScript (ES modules) under `web/assets/`, served by both managers
//! from [`routes`].

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Assets;

/// The content type of a file by its extension (`text/javascript` for `.js` and `.mjs`, so
/// that browsers load them as ES modules).
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The embedded file at `path` (relative to `assets/`, sub-directories included), or a 404
/// naming it.
pub fn file(path: &str) -> Response {
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
    file("index.html")
}

/// `GET /assets/{*path}`: one of its scripts, modules or stylesheets (`/assets/js/pages/x.js`
/// is `assets/js/pages/x.js`).
pub async fn asset(Path(path): Path<String>) -> Response {
    file(&path)
}

/// The routes of the console's files, `/` and `/assets/{*path}`, for a manager's router to
/// merge whatever its state.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[test]
    fn every_file_the_page_names_is_embedded() {
        let index = Assets::get("index.html").expect("index.html embedded");
        let html = String::from_utf8_lossy(&index.data);
        let mut named = 0;
        for part in html.split("\"/assets/").skip(1) {
            let asset = part.split('"').next().unwrap();
            assert!(Assets::get(asset).is_some(), "{asset} embedded");
            named += 1;
        }
        assert!(named >= 2, "index names its script and stylesheet");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(
            content_type("js/pages/map.mjs"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("js/noext"), "application/octet-stream");
    }

    async fn get_path(path: &str) -> (StatusCode, String, String) {
        let answer = routes::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let kind = answer
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let status = answer.status();
        let body = axum::body::to_bytes(answer.into_body(), 1 << 24)
            .await
            .unwrap();
        (status, kind, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn the_page_its_files_and_nested_paths_are_served() {
        let (status, kind, body) = get_path("/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(kind, "text/html; charset=utf-8");
        assert!(body.contains("<html"), "{body}");
        for asset in Assets::iter() {
            let (status, kind, _) = get_path(&format!("/assets/{asset}")).await;
            assert_eq!(status, StatusCode::OK, "{asset}");
            assert_eq!(kind, content_type(&asset), "{asset}");
        }
        // a nested path reaches the embedded files by its whole path
        let (status, _, body) = get_path("/assets/js/pages/none.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, "no asset 'js/pages/none.js'");
        let (status, _, _) = get_path("/assets/../Cargo.toml").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
