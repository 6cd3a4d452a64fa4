//! What the commands that read the super-manager's API share: fetching JSON with a timeout
//! and an error that names the URL, the API token of `STRATA_TOKEN` sent with every call,
//! and printing aligned tables.
//!
//! `--api` may name several centres, comma-separated: a call goes to the first that can be
//! reached, in order. A GET moves on after any failure to get an answer; a POST only when
//! its connection could not be opened (nothing was sent), so that a change is never made
//! twice. An answer, even an error, ends the walk: the centres agree.

use std::time::Duration;

use anyhow::Context;
use serde::de::DeserializeOwned;

/// The environment variable holding the API token the commands send.
pub const TOKEN_ENV: &str = "STRATA_TOKEN";

/// An HTTP client with the commands' timeout.
fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// `request` with the API token of `STRATA_TOKEN`, when set.
fn authorized(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => request.bearer_auth(token.trim()),
        _ => request,
    }
}

/// Why a call was refused, with what to do when it is a matter of credentials.
fn refused(method: &str, url: &str, status: reqwest::StatusCode, body: &str) -> anyhow::Error {
    let hint = match status.as_u16() {
        401 => format!(" (set {TOKEN_ENV} to an API token: strata token create)"),
        403 => " (the token's role or regions do not allow it)".to_string(),
        _ => String::new(),
    };
    anyhow::anyhow!("{method} {url}: {status}: {body}{hint}")
}

/// GETs `path` of the API at `api` and parses the answer.
pub async fn get<T: DeserializeOwned>(api: &str, path: &str) -> anyhow::Result<T> {
    let (url, body) = get_text(api, path).await?;
    serde_json::from_str(&body).with_context(|| format!("parse answer of {url}"))
}

/// The centres `api` names, comma-separated, in order.
fn centres(api: &str) -> Vec<&str> {
    api.split(',')
        .map(|a| a.trim().trim_end_matches('/'))
        .filter(|a| !a.is_empty())
        .collect()
}

/// Sends the request `make` builds for each centre's URL of `path`, in order, until one
/// answers (`retry` says whether a failure may be tried at the next); the URL and answer.
async fn first_answer(
    api: &str,
    path: &str,
    make: impl Fn(&str) -> anyhow::Result<reqwest::RequestBuilder>,
    retry: impl Fn(&reqwest::Error) -> bool,
) -> anyhow::Result<(String, reqwest::Response)> {
    let centres = centres(api);
    anyhow::ensure!(!centres.is_empty(), "--api: no address in '{api}'");
    let mut failed = Vec::new();
    for (i, centre) in centres.iter().enumerate() {
        let url = format!("{centre}{path}");
        match authorized(make(&url)?).send().await {
            Ok(response) => return Ok((url, response)),
            Err(error) if i + 1 < centres.len() && retry(&error) => {
                failed.push(format!("{url}: {error}"));
            }
            Err(error) => {
                let before = if failed.is_empty() {
                    String::new()
                } else {
                    format!(" (and before: {})", failed.join("; "))
                };
                return Err(anyhow::Error::new(error).context(format!("{url}{before}")));
            }
        }
    }
    unreachable!("the last centre returns")
}

/// GETs `path` of the API at `api` (one centre or several, comma-separated); returns the
/// URL and the answer's body.
pub async fn get_text(api: &str, path: &str) -> anyhow::Result<(String, String)> {
    let client = http()?;
    let (url, response) = first_answer(api, path, |url| Ok(client.get(url)), |_| true).await?;
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("read answer of {url}"))?;
    if !status.is_success() {
        return Err(refused("GET", &url, status, &body));
    }
    Ok((url, body))
}

/// POSTs `body` as JSON to `path` of the API at `api` (one centre or several) and parses the
/// answer; an error answer is returned with the message the API gave.
pub async fn post<T: DeserializeOwned>(
    api: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<T> {
    let client = http()?;
    let (url, response) = first_answer(
        api,
        path,
        |url| Ok(client.post(url).json(body)),
        // only what was never sent may be sent to another centre
        reqwest::Error::is_connect,
    )
    .await?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("read answer of {url}"))?;
    if !status.is_success() {
        return Err(refused("POST", &url, status, &text));
    }
    serde_json::from_str(&text).with_context(|| format!("parse answer of {url}"))
}

/// How long ago `ms` (since the epoch) was, roughly: `5s`, `3m`, `2h`, `4d`.
pub fn ago(ms: i64) -> String {
    let secs = (strata_proto::now_ms() - ms).max(0) / 1000;
    match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 7200 => format!("{}m ago", s / 60),
        s if s < 172_800 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

/// `value` escaped for a URL's query string.
pub fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Rows as columns padded to their widest cell, two spaces apart.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::centres;

    #[test]
    fn several_centres_are_taken_in_order() {
        assert_eq!(
            centres("http://c1:9740/, http://c2:9740"),
            ["http://c1:9740", "http://c2:9740"]
        );
        assert!(centres(" , ").is_empty());
    }
}
