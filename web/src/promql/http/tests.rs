//! The API's envelope, parameters and errors, over series in memory.

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use super::*;
use crate::auth::{Principal, Role, Scope};
use crate::promql::RawSeries;
use crate::promql::memory::Memory;
use crate::promql::value::NAME;

struct Fixed(Arc<Memory>);

impl Backend for Fixed {
    fn source(&self, _caller: &Caller) -> Arc<dyn Source> {
        self.0.clone()
    }
}

fn app() -> Router {
    let up = |instance: &str, v: f64| RawSeries {
        labels: [(NAME, "up"), ("job", "node"), ("instance", instance)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        samples: (0..=10).map(|i| (i * 15_000, v)).collect(),
    };
    let caller = Caller {
        principal: Principal {
            name: "test".into(),
            role: Role::Viewer,
            scope: Scope::All,
        },
        address: String::new(),
    };
    router(Arc::new(Fixed(Arc::new(Memory(vec![
        up("a", 1.0),
        up("b", 0.0),
    ])))))
    .layer(axum::Extension(caller))
}

async fn call(request: Request<Body>) -> (StatusCode, Json_) {
    let answer = app().oneshot(request).await.unwrap();
    let status = answer.status();
    let body = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Json_::Null))
}

async fn get_(uri: &str) -> (StatusCode, Json_) {
    call(Request::get(uri).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn an_instant_query_answers_in_prometheus_envelope() {
    let (status, body) = get_("/api/v1/query?query=sum%20by%20(job)%20(up)&time=150").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "vector");
    assert_eq!(body["data"]["result"][0]["metric"], json!({"job": "node"}));
    assert_eq!(body["data"]["result"][0]["value"], json!([150.0, "1"]));
    let (_, body) = get_("/api/v1/query?query=1%2F0&time=2026-12-04T00:00:00Z").await;
    assert_eq!(
        body["data"],
        json!({"resultType": "scalar", "result": [1796342400.0, "+Inf"]})
    );
}

#[tokio::test]
async fn a_range_query_by_form_post_gives_a_matrix() {
    let request = Request::post("/api/v1/query_range")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(
            "query=up%7Binstance%3D%22a%22%7D&start=0&end=60&step=30s",
        ))
        .unwrap();
    let (status, body) = call(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    assert_eq!(
        body["data"]["result"][0]["values"],
        json!([[0.0, "1"], [30.0, "1"], [60.0, "1"]])
    );
}

#[tokio::test]
async fn series_labels_and_values_list_what_is_selected() {
    let (_, body) = get_("/api/v1/series?match[]=up%7Binstance%3D%22b%22%7D&start=0&end=150").await;
    assert_eq!(
        body["data"],
        json!([{"__name__": "up", "instance": "b", "job": "node"}])
    );
    let (_, body) = get_("/api/v1/labels?start=0&end=150").await;
    assert_eq!(body["data"], json!(["__name__", "instance", "job"]));
    let (_, body) = get_("/api/v1/label/instance/values?start=0&end=150").await;
    assert_eq!(body["data"], json!(["a", "b"]));
    let (_, body) = get_("/api/v1/status/buildinfo").await;
    assert_eq!(body["status"], "success");
    assert!(body["data"]["version"].is_string());
}

#[tokio::test]
async fn errors_are_prometheus_errors_with_their_codes() {
    let (status, body) = get_("/api/v1/query?query=sum(").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "bad_data");
    let (status, body) = get_("/api/v1/query_range?query=up&start=10&end=0&step=1").await;
    assert_eq!(
        (status, &body["errorType"]),
        (StatusCode::BAD_REQUEST, &json!("bad_data"))
    );
    let (status, body) = get_("/api/v1/query_range?query=up&start=0&end=10").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("step"), "{body}");
    // offsets and years past RFC 3339's (found by libFuzzer) are refused, not an overflow
    for time in [
        "2026-01-01T00:00:00+99999999999999999:00",
        "2026-01-01T00:00:00-24:00",
        "99999999999999999-01-01T00:00:00Z",
        "-1-01-01T00:00:00Z",
    ] {
        let (status, body) = get_(&format!("/api/v1/query?query=up&time={time}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "time={time}: {body}");
    }
    assert_eq!(
        parse_time("time", "2026-01-01T01:30:00+01:30").unwrap(),
        parse_time("time", "2026-01-01T00:00:00Z").unwrap()
    );
    // numbers past a duration's range (found by the fuzz target) are refused, not a panic
    for step in ["1e30", "Inf", "-Inf", "NaN", "18446744073709551616"] {
        let (status, body) = get_(&format!(
            "/api/v1/query_range?query=up&start=0&end=10&step={step}"
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "step={step}: {body}");
        assert!(body["error"].as_str().unwrap().contains("step"), "{body}");
    }
    let (status, body) = get_("/api/v1/query?query=up&time=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("time"), "{body}");
    let (status, body) = get_("/api/v1/query?query=up%20%2B%20on(job)%20up&time=150").await;
    assert_eq!(
        (status, &body["errorType"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("execution"))
    );
    let (status, _) = get_("/api/v1/series").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = get_("/api/v1/query?query=up&timeout=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("timeout"),
        "{body}"
    );
    let (status, body) = get_("/api/v1/label/not-a-label/values").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid label name: \"not-a-label\"");
    let (status, body) = get_("/api/v1/query?query=up&timeout=1s").await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("success"))
    );
}
