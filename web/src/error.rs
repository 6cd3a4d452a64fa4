//! The one HTTP error of both consoles' REST APIs, and the one mapping from gRPC statuses
//! to HTTP statuses, so that the same page fails alike on the centre and in a region.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::Code;

/// A refused request: an HTTP status and a message naming what was wrong (the parameter,
/// the field, or what was being done), answered as `{"error": "..."}`.
///
/// # From a gRPC status
///
/// Both consoles answer over gRPC services — the centre asks a region's members through the
/// brokers, a regional console asks its own member's service, and both ask agents through
/// their pollers — so a console is a gateway, and a status maps to HTTP once
/// ([`ApiError::from_status`], `From<tonic::Status>`):
///
/// | gRPC code | HTTP status | why |
/// |---|---|---|
/// | `InvalidArgument`, `OutOfRange` | 400 Bad Request | the request's input, which the message names |
/// | `NotFound` | 404 Not Found | what the request names does not exist |
/// | `Unavailable` | 503 Service Unavailable | no broker, member or agent could be reached: try again |
/// | `DeadlineExceeded` | 504 Gateway Timeout | the service behind did not answer in time |
/// | any other (`FailedPrecondition`, `Internal`, `Unknown`, ...) | 502 Bad Gateway | the service behind failed: a member that does not poll the host, an agent that did not answer or refused, an internal error |
///
/// `FailedPrecondition` is a 502, not a 409: in Strata it says that a member cannot answer
/// for a host (it does not poll it, or its agent was silent), which is no fault of the
/// caller's request and no conflict the caller could resolve.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status answered.
    pub status: StatusCode,
    /// What was wrong.
    pub message: String,
}

/// The body of an error answer.
#[derive(Serialize)]
struct ErrorJson<'a> {
    error: &'a str,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the request's input is unusable; `message` names the parameter or field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: what the request names does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the change conflicts with what is stored (e.g. others depend on it).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 500: the console's own side failed (its store, a task).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The HTTP status of a gRPC status code (see the type's documentation).
    pub fn http_status(code: Code) -> StatusCode {
        match code {
            Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    /// A gRPC status answered while `doing` something: `"<doing>: <message>"`.
    pub fn from_status(status: tonic::Status, doing: &str) -> Self {
        Self::new(
            Self::http_status(status.code()),
            format!("{doing}: {}", status.message()),
        )
    }
}

impl From<tonic::Status> for ApiError {
    /// A gRPC status with its own message.
    fn from(status: tonic::Status) -> Self {
        Self::new(Self::http_status(status.code()), status.message())
    }
}

impl From<JsonRejection> for ApiError {
    /// A JSON body that could not be read: 400 `body: ...`.
    fn from(rejection: JsonRejection) -> Self {
        Self::bad_request(format!("body: {}", rejection.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorJson {
                error: &self.message,
            }),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_once() {
        for (code, http) in [
            (Code::InvalidArgument, 400),
            (Code::OutOfRange, 400),
            (Code::NotFound, 404),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::FailedPrecondition, 502),
            (Code::Internal, 502),
            (Code::Unknown, 502),
        ] {
            assert_eq!(ApiError::http_status(code).as_u16(), http, "{code:?}");
        }
        let e = ApiError::from_status(tonic::Status::unavailable("no broker"), "query eu/a");
        assert_eq!(
            (e.status.as_u16(), e.message.as_str()),
            (503, "query eu/a: no broker")
        );
        let e = ApiError::from(tonic::Status::not_found("no agent"));
        assert_eq!((e.status.as_u16(), e.message.as_str()), (404, "no agent"));
    }

    #[tokio::test]
    async fn the_answer_is_the_status_and_an_error_object() {
        let answer = ApiError::bad_request("top: 'x' is not a number").into_response();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(answer.into_body(), 1 << 16)
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({ "error": "top: 'x' is not a number" })
        );
    }
}
