//! `strata status`: the enterprise overview as a table.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

/// Options of `strata status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Base URL of the super-manager's API.
    #[arg(long, default_value = "http://127.0.0.1:9740", env = "STRATA_API")]
    pub api: String,
}

#[derive(Deserialize)]
struct Overview {
    regions: Vec<Region>,
}

#[derive(Deserialize)]
struct Region {
    name: String,
    sub_managers: Vec<SubManager>,
    resources: Counts,
    events: Events,
}

#[derive(Deserialize)]
struct SubManager {
    id: String,
    healthy: bool,
}

#[derive(Deserialize)]
struct Counts {
    total: u32,
    up: u32,
    down: u32,
    #[serde(default)]
    unknown: u32,
}

#[derive(Deserialize)]
struct Events {
    warning: u32,
    critical: u32,
}

/// Fetches and prints the overview.
pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let url = format!("{}/api/v1/overview", args.api.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
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
    let overview: Overview =
        serde_json::from_str(&body).with_context(|| format!("parse answer of {url}"))?;
    print!("{}", render(&overview));
    Ok(())
}

fn render(o: &Overview) -> String {
    let mut rows = vec![[
        "REGION".to_string(),
        "SUB-MANAGERS".into(),
        "RESOURCES".into(),
        "UP".into(),
        "DOWN".into(),
        "UNKNOWN".into(),
        "WARNING".into(),
        "CRITICAL".into(),
    ]];
    for r in &o.regions {
        let subs = r
            .sub_managers
            .iter()
            .map(|s| format!("{}({})", s.id, if s.healthy { "ok" } else { "down" }))
            .collect::<Vec<_>>()
            .join(",");
        rows.push([
            r.name.clone(),
            subs,
            r.resources.total.to_string(),
            r.resources.up.to_string(),
            r.resources.down.to_string(),
            r.resources.unknown.to_string(),
            r.events.warning.to_string(),
            r.events.critical.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if o.regions.is_empty() {
        out.push_str("(no region has reported yet)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_aligned_table() {
        let o: Overview = serde_json::from_str(
            r#"{"regions":[{"name":"east","sub_managers":[{"id":"east-1","address":"a","healthy":true}],
            "resources":{"total":3,"up":2,"down":1,"unknown":0},"events":{"warning":1,"critical":0}}],"generated_at_ms":1}"#,
        )
        .unwrap();
        let t = render(&o);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("REGION  SUB-MANAGERS"), "{t}");
        assert!(lines[1].starts_with("east    east-1(ok)"), "{t}");
        assert!(lines[1].contains("  3  "), "{t}");
    }
}
