//! The router served for real (through the door, on port 0, with no broker): the console's
//! files, its scope, the answers a centre with no region gives, the errors as
//! `{"error": ...}` with their statuses, and which requests the counter counts.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::config::SuperManagerConfig;

/// The API token the requests of these tests send.
static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// One HTTP/1.1 GET with [`TOKEN`] (when made): the status, the content type and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = TOKEN
        .get()
        .map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let kind = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(String::from)
        })
        .unwrap_or_default();
    (status, kind, body.to_string())
}

#[tokio::test]
async fn the_router_answers_and_refuses_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let config = SuperManagerConfig {
        http: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let shared = Arc::new(
        crate::open(
            &config,
            strata_proto::identity::Transport::insecure(),
            tokio_util::sync::CancellationToken::new(),
        )
        .unwrap(),
    );
    let listener = crate::door::bind(&config.http).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(crate::door::serve(
        listener,
        super::router(shared.clone(), false),
        None,
        shutdown.clone(),
    ));

    // without a token: the page, its files and health only
    let (status, _, body) = get(addr, "/api/v1/overview").await;
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = get(addr, "/healthz").await;
    assert_eq!(status, 200);
    let (_, token) = shared
        .principals
        .change(|p| {
            p.create_token(
                "test",
                strata_web::auth::Role::Admin,
                strata_web::auth::Scope::All,
                0,
                1,
            )
        })
        .unwrap();
    TOKEN.set(token).unwrap();

    let (status, kind, body) = get(addr, "/").await;
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(body.contains("/assets/"), "{body}");
    let (status, kind, _) = get(addr, "/assets/app.js").await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    let (status, _, body) = get(addr, "/api/v1/console").await;
    assert_eq!((status, body.as_str()), (200, r#"{"scope":"enterprise"}"#));
    let (status, _, body) = get(addr, "/api/v1/overview").await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with(r#"{"regions":[],"generated_at_ms":"#),
        "{body}"
    );
    let (status, _, body) = get(addr, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""openapi":"3.0.3""#));

    for (path, want, error) in [
        (
            "/api/v1/nope",
            404,
            "no such endpoint; see /api/v1/overview",
        ),
        ("/api/v1/events?include=all", 400, "include: 'all' is not"),
        (
            "/api/v1/resources?region=mars",
            404,
            "unknown region 'mars'",
        ),
        (
            "/api/v1/resources/mars/h/snapshot?top=0",
            400,
            "top: '0' is not",
        ),
        (
            "/api/v1/resources/mars/h/snapshot",
            404,
            "unknown region 'mars'",
        ),
        (
            "/api/v1/resources/mars/h/metrics",
            400,
            "query parameter 'name'",
        ),
        ("/api/v1/services/shop", 404, "no service 'shop'"),
        ("/api/v1/services/shop/slo", 404, "no service 'shop'"),
        (
            "/api/v1/reports/nope",
            404,
            "no report 'nope': the kinds are",
        ),
        (
            "/api/v1/reports/audit?format=xml",
            400,
            "format: 'xml' is not",
        ),
        ("/api/v1/placement?service=shop", 400, "component: missing"),
    ] {
        let (status, kind, body) = get(addr, path).await;
        assert_eq!(status, want, "{path}: {body}");
        assert_eq!(kind, "application/json", "{path}");
        assert!(
            body.starts_with(&format!(r#"{{"error":"{error}"#)),
            "{path}: {body}"
        );
    }
    // the API's routes are counted (the overview and the ten refused above but the unknown
    // endpoint), not the console's files, scope, document or the fallback
    assert_eq!(shared.metrics.http_requests.load(Ordering::Relaxed), 11);

    shutdown.cancel();
    served.await.unwrap().unwrap();
}
