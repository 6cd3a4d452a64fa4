//! `strata status`: the enterprise overview as a table.

use clap::Args;
use serde::Deserialize;

use super::client;

/// Options of `strata status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Base URL of the super-manager's API; several, comma-separated: the first that answers.
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
    let overview: Overview = client::get(&args.api, "/api/v1/overview").await?;
    print!("{}", render(&overview));
    Ok(())
}

fn render(o: &Overview) -> String {
    let mut rows = vec![
        [
            "REGION",
            "SUB-MANAGERS",
            "RESOURCES",
            "UP",
            "DOWN",
            "UNKNOWN",
            "WARNING",
            "CRITICAL",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &o.regions {
        let subs = r
            .sub_managers
            .iter()
            .map(|s| format!("{}({})", s.id, if s.healthy { "ok" } else { "down" }))
            .collect::<Vec<_>>()
            .join(",");
        rows.push(vec![
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
    let mut out = client::table(&rows);
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
