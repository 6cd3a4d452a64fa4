//! What the commands that read the super-manager's API share: fetching JSON with a timeout
//! and an error that names the URL, and printing aligned tables.

use std::time::Duration;

use anyhow::Context;
use serde::de::DeserializeOwned;

/// GETs `path` of the API at `api` and parses the answer.
pub async fn get<T: DeserializeOwned>(api: &str, path: &str) -> anyhow::Result<T> {
    let (url, body) = get_text(api, path).await?;
    serde_json::from_str(&body).with_context(|| format!("parse answer of {url}"))
}

/// GETs `path` of the API at `api`; returns the URL and the answer's body.
pub async fn get_text(api: &str, path: &str) -> anyhow::Result<(String, String)> {
    let url = format!("{}{path}", api.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("read answer of {url}"))?;
    anyhow::ensure!(status.is_success(), "GET {url}: {status}: {body}");
    Ok((url, body))
}

/// POSTs `body` as JSON to `path` of the API at `api` and parses the answer; an error
/// answer is returned with the message the API gave.
pub async fn post<T: DeserializeOwned>(
    api: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<T> {
    let url = format!("{}{path}", api.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let response = client
        .post(&url)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("read answer of {url}"))?;
    anyhow::ensure!(status.is_success(), "POST {url}: {status}: {text}");
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
