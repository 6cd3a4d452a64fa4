//! One remote-write request and what its answer means: accepted, worth retrying (network
//! errors, 5xx, 429 with its `Retry-After`), or refused for good (any other 4xx).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::remote_write::RemoteWriteConfig;

/// The longest `Retry-After` honoured (a receiver asking for more is asked again sooner).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// What became of a request.
#[derive(Debug)]
pub enum Outcome {
    Accepted,
    /// Sending it again may succeed; `after` is the receiver's `Retry-After`.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// The receiver will never take it.
    Refused {
        status: StatusCode,
        body: String,
    },
}

/// Sends requests to one destination.
pub struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    auth: Auth,
}

enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

impl Sender {
    /// A sender for `config`; an error says which setting cannot be used.
    pub fn new(config: &RemoteWriteConfig) -> Result<Self, String> {
        let client = crate::door::remote_write_client(config.timeout, &config.tls)?;
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("content-encoding", "snappy"),
            ("content-type", "application/x-protobuf"),
            ("x-prometheus-remote-write-version", "0.1.0"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| format!("headers: '{name}' is not a header name: {e}"))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|e| format!("headers.{name}: not a header value: {e}"))?;
            headers.insert(name, value);
        }
        let auth = match (&config.basic_auth, &config.bearer_token) {
            (Some(b), _) => Auth::Basic(b.username.clone(), b.password.clone()),
            (None, Some(t)) => Auth::Bearer(t.clone()),
            (None, None) => Auth::None,
        };
        Ok(Self {
            client,
            url: reqwest::Url::parse(&config.url).map_err(|e| format!("url: {e}"))?,
            headers,
            auth,
        })
    }

    /// Posts `body` once.
    pub async fn send(&self, body: &[u8]) -> Outcome {
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body.to_vec());
        request = match &self.auth {
            Auth::None => request,
            Auth::Basic(user, pass) => request.basic_auth(user, Some(pass)),
            Auth::Bearer(token) => request.bearer_auth(token),
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(error) => {
                return Outcome::Retry {
                    reason: error.to_string(),
                    after: None,
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Accepted;
        }
        let after = retry_after(response.headers());
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        classify(status, after, body)
    }
}

/// What an unsuccessful status means.
fn classify(status: StatusCode, after: Option<Duration>, body: String) -> Outcome {
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Outcome::Retry {
            reason: format!("{status}: {body}"),
            after,
        }
    } else {
        Outcome::Refused { status, body }
    }
}

/// `Retry-After` in seconds or as an HTTP date, bounded by [`MAX_RETRY_AFTER`].
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate_wait(text)?,
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The wait until an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn httpdate_wait(text: &str) -> Option<Duration> {
    let at = humantime::parse_rfc3339(&rfc3339_of_http_date(text)?).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` as `1994-11-06T08:49:37Z`.
fn rfc3339_of_http_date(text: &str) -> Option<String> {
    let mut parts = text.split_whitespace().skip(1);
    let (day, month, year, time) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| *x == month)? + 1;
    Some(format!("{year}-{m:02}-{day:0>2}T{time}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_retried_or_refused_as_the_protocol_says() {
        let retry = |s: u16| {
            matches!(
                classify(StatusCode::from_u16(s).unwrap(), None, String::new()),
                Outcome::Retry { .. }
            )
        };
        assert!(retry(429) && retry(500) && retry(503));
        assert!(!retry(400) && !retry(401) && !retry(404) && !retry(413));
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date_and_bounded() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after", HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date past");
        assert_eq!(
            rfc3339_of_http_date("Wed, 21 Oct 2015 07:28:00 GMT").as_deref(),
            Some("2015-10-21T07:28:00Z")
        );
    }
}
