use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::routing::{get, post};
use tower::ServiceExt;

use super::*;
use crate::auth::{Role, Scope};

struct Fixture {
    router: Router,
    _dir: tempfile::TempDir,
    viewer: String,
    east_operator: String,
    admin: String,
}

fn fixture(home: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let file = Arc::new(PrincipalsFile::open(dir.path().join("principals.json")).unwrap());
    let east = Scope::parse("east").unwrap();
    let (viewer, east_operator, admin) = file
        .change(|p| {
            p.add_user("ana", "ana's password", Role::Operator, east.clone(), 1)?;
            let v = p.create_token("v", Role::Viewer, Scope::All, 0, 1)?.1;
            let o = p.create_token("o", Role::Operator, east.clone(), 0, 1)?.1;
            let a = p.create_token("a", Role::Admin, Scope::All, 0, 1)?.1;
            Ok((v, o, a))
        })
        .unwrap();
    let mut gate = Gate::new(file, Duration::from_secs(60));
    if let Some(h) = home {
        gate = gate.home_region(h);
    }
    let routes = Router::new()
        .route(
            "/api/v1/events",
            get(|axum::Extension(c): axum::Extension<Caller>| async move { c.principal.name }),
        )
        .route(
            "/api/v1/events/ack",
            post(
                |axum::Extension(c): axum::Extension<Caller>, body: String| async move {
                    format!("{} {body}", c.principal.name)
                },
            ),
        )
        .route(
            "/api/v1/regions/{r}/rules",
            get(|| async { "rules" }).put(|| async { "put" }),
        )
        .route(
            "/api/v1/stream",
            get(|| async {
                let ticks = futures::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Ok::<_, std::io::Error>("tick\n"), ()))
                });
                Body::from_stream(ticks)
            }),
        );
    Fixture {
        router: Arc::new(gate).wrap(routes),
        _dir: dir,
        viewer,
        east_operator,
        admin,
    }
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let answer = router.clone().oneshot(request).await.unwrap();
    let (status, headers) = (answer.status(), answer.headers().clone());
    let body = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn req(method: &str, path: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1:9740")
        .header("content-type", "application/json");
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    r.body(Body::from(body.to_string())).unwrap()
}

const ACK_EAST: &str = r#"{"resource_id":"east/web-1","rule":"r"}"#;
const ACK_WEST: &str = r#"{"resource_id":"west/web-1","rule":"r"}"#;

#[tokio::test]
async fn who_may_do_what_is_decided_at_the_gate() {
    let f = fixture(None);
    let r = &f.router;
    let (status, headers, body) = send(r, req("GET", "/api/v1/events", None, "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    let (status, _, _) = send(
        r,
        req(
            "GET",
            "/api/v1/events",
            Some("strata_x_0000000000000000000000000000000000"),
            "",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = send(r, req("GET", "/api/v1/events", Some(&f.viewer), "")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "token:v"));
    // a viewer may not acknowledge; an east operator may in east only
    let (status, _, body) = send(
        r,
        req("POST", "/api/v1/events/ack", Some(&f.viewer), ACK_EAST),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("higher role"), "{body}");
    let (status, _, body) = send(
        r,
        req(
            "POST",
            "/api/v1/events/ack",
            Some(&f.east_operator),
            ACK_WEST,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("region 'west'"), "{body}");
    let (status, _, body) = send(
        r,
        req(
            "POST",
            "/api/v1/events/ack",
            Some(&f.east_operator),
            ACK_EAST,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        format!("token:o {ACK_EAST}"),
        "the body reaches the handler whole"
    );
    // a region's list with another region named, rules of another region, an admin's change
    let (status, _, _) = send(
        r,
        req(
            "GET",
            "/api/v1/events?region=west",
            Some(&f.east_operator),
            "",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(
        r,
        req(
            "GET",
            "/api/v1/regions/west/rules",
            Some(&f.east_operator),
            "",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(
        r,
        req(
            "PUT",
            "/api/v1/regions/east/rules",
            Some(&f.east_operator),
            "",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(
        r,
        req("PUT", "/api/v1/regions/east/rules", Some(&f.admin), ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let f = fixture(None);
    let mut rebound = req("GET", "/api/v1/events", Some(&f.viewer), "");
    rebound
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static("evil.example:9740"));
    let (status, _, body) = send(&f.router, rebound).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("evil.example"), "{body}");
    let mut cross = req("POST", "/api/v1/events/ack", Some(&f.admin), ACK_EAST);
    cross.headers_mut().insert(
        header::ORIGIN,
        HeaderValue::from_static("http://evil.example"),
    );
    let (status, _, _) = send(&f.router, cross).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut same = req("POST", "/api/v1/events/ack", Some(&f.admin), ACK_EAST);
    same.headers_mut().insert(
        header::ORIGIN,
        HeaderValue::from_static("http://127.0.0.1:9740"),
    );
    assert_eq!(send(&f.router, same).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_session_needs_its_csrf_token_for_changes_and_ends_at_logout() {
    let f = fixture(Some("east"));
    let r = &f.router;
    let (status, _, _) = send(
        r,
        req(
            "POST",
            "/api/v1/login",
            None,
            r#"{"name":"ana","password":"wrong one"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, body) = send(
        r,
        req(
            "POST",
            "/api/v1/login",
            None,
            r#"{"name":"ana","password":"ana's password"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Max-Age=60"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    let session: SessionJson = serde_json::from_str(&body).unwrap();
    let csrf = session.csrf.unwrap();
    let with_cookie = |method: &str, path: &str, csrf: Option<&str>, body: &str| {
        let mut r = req(method, path, None, body);
        r.headers_mut()
            .insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        if let Some(c) = csrf {
            r.headers_mut()
                .insert("x-csrf-token", HeaderValue::from_str(c).unwrap());
        }
        r
    };
    let (status, _, body) = send(r, with_cookie("GET", "/api/v1/events", None, "")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ana"));
    let (status, _, body) =
        send(r, with_cookie("POST", "/api/v1/events/ack", None, ACK_EAST)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("X-CSRF-Token"), "{body}");
    let (status, _, _) = send(
        r,
        with_cookie("POST", "/api/v1/events/ack", Some(&csrf), ACK_EAST),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // a regional console of east: a west-only token is not let in at all
    let (status, _, _) = send(r, req("GET", "/api/v1/events", Some(&f.east_operator), "")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(r, with_cookie("POST", "/api/v1/logout", Some(&csrf), "")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = send(r, with_cookie("GET", "/api/v1/events", None, "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "logged out");
}

#[tokio::test]
async fn a_request_is_bounded_in_body_time_and_company() {
    let dir = tempfile::tempdir().unwrap();
    let file = Arc::new(PrincipalsFile::open(dir.path().join("principals.json")).unwrap());
    let token = file
        .change(|p| p.create_token("t", Role::Admin, Scope::All, 0, 1))
        .unwrap()
        .1;
    let gate = Gate::new(file, Duration::from_secs(60)).limits(Limits {
        request_timeout: Duration::from_millis(300),
        max_concurrent: 1,
        max_streams: 1,
        max_body_bytes: 2048,
        login_wait: Duration::from_millis(200),
    });
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    };
    let gate = Arc::new(gate);
    let router = gate.clone().wrap(
        Router::new()
            .route("/api/v1/slow", get(slow))
            .route(
                "/api/v1/events/ack",
                post(|body: String| async move { body }),
            )
            .route(
                "/api/v1/stream",
                get(|| async {
                    let endless = futures::stream::pending::<
                        Result<axum::body::Bytes, std::convert::Infallible>,
                    >();
                    Body::from_stream(endless)
                }),
            ),
    );
    let big = format!(
        r#"{{"resource_id":"east/a","rule":"{}"}}"#,
        "x".repeat(4096)
    );
    let (status, _, body) = send(
        &router,
        req("POST", "/api/v1/events/ack", Some(&token), &big),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // one request of the token's at a time: a second meanwhile is 429; the first times out
    let first = tokio::spawn({
        let (router, token) = (router.clone(), token.clone());
        async move { send(&router, req("GET", "/api/v1/slow", Some(&token), "")).await }
    });
    let in_flight = || gate.in_flight.lock().unwrap().get("token:t").copied();
    tokio::time::timeout(Duration::from_secs(5), async {
        while in_flight() != Some(1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the first request in flight");
    let (second, _, body) = send(&router, req("GET", "/api/v1/slow", Some(&token), "")).await;
    assert_eq!(second, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, _, body) = first.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("took longer"), "{body}");
    // answered: the count is back to zero
    assert_eq!(in_flight(), None);
    // every password check busy: a login waits, then is refused
    let busy = gate
        .password_checks
        .acquire_many(PASSWORD_CHECKS as u32)
        .await
        .unwrap();
    let login = r#"{"name":"x","password":"whatever it is"}"#;
    let (status, _, body) = send(&router, req("POST", "/api/v1/login", None, login)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    drop(busy);
    let (status, _, _) = send(&router, req("POST", "/api/v1/login", None, login)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "checked once a check is free"
    );
    let (status, _, _) = send(
        &router,
        req("POST", "/api/v1/events/ack", Some(&token), "{}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // live streams: one open at a time, apart from the requests in flight; its slot is
    // given back when the stream ends
    let stream = || req("GET", "/api/v1/stream", Some(&token), "");
    let open = router.clone().oneshot(stream()).await.unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    let (status, _, body) = send(&router, stream()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("auth.max_streams"), "{body}");
    let (status, _, _) = send(
        &router,
        req("POST", "/api/v1/events/ack", Some(&token), "{}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a request beside the stream");
    // the slot goes with the stream's body, at once
    drop(open);
    assert_eq!(gate.in_flight.lock().unwrap().get("token:t\0"), None);
    let again = router.clone().oneshot(stream()).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK, "the slot given back");
}

#[tokio::test]
async fn a_name_that_keeps_failing_waits_even_with_the_right_password() {
    let f = fixture(None);
    let login = |password: &str| {
        req(
            "POST",
            "/api/v1/login",
            None,
            &format!(r#"{{"name":"ana","password":"{password}"}}"#),
        )
    };
    for _ in 0..crate::auth::lockout::FREE_FAILURES {
        let (status, _, _) = send(&f.router, login("a wrong guess")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, body) = send(&f.router, login("ana's password")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert!(body.contains("5 failed logins in a row"), "{body}");
    // once the wait is over (within a deadline), the right password opens a session
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _, body) = send(&f.router, login("ana's password")).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "still refused: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_live_stream_ends_once_its_token_is_revoked() {
    use futures::StreamExt;
    let f = fixture(None);
    let answer = f
        .router
        .clone()
        .oneshot(req("GET", "/api/v1/stream", Some(&f.viewer), ""))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let mut body = answer.into_body().into_data_stream();
    let first = tokio::time::timeout(Duration::from_secs(5), body.next()).await;
    assert!(matches!(first, Ok(Some(Ok(_)))), "{first:?}");
    // it goes on past a look at its credentials while they hold
    let still = tokio::time::timeout(Duration::from_millis(1500), async {
        loop {
            body.next().await.expect("ticks").expect("a tick");
        }
    })
    .await;
    assert!(still.is_err(), "the stream ended with its token valid");
    PrincipalsFile::open(f._dir.path().join("principals.json"))
        .unwrap()
        .change(|p| p.revoke_token("v", strata_proto::now_ms()))
        .unwrap();
    // the file is looked at within a second, the stream's credentials every second
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            chunk.unwrap();
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its revoked token");
}
