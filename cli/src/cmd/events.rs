//! `strata events`: the open incidents of every region, and acknowledging one.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::client;

/// Options of `strata events`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Base URL of the super-manager's API; several, comma-separated: the first that answers.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9740",
        env = "STRATA_API",
        global = true
    )]
    pub api: String,
    #[command(subcommand)]
    pub command: Option<EventsCommand>,
}

/// What `strata events` does (list by default).
#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// List the open incidents (with --resolved, the resolved ones too).
    List {
        #[arg(long)]
        resolved: bool,
    },
    /// Acknowledge an open incident: its escalation and repeated notifications stop.
    Ack {
        /// `<region>/<host>`, or `services/<name>`.
        resource: String,
        rule: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

/// Runs `strata events`.
pub async fn run(args: EventsArgs) -> anyhow::Result<()> {
    match args
        .command
        .unwrap_or(EventsCommand::List { resolved: false })
    {
        EventsCommand::List { resolved } => {
            let path = if resolved {
                "/api/v1/events?include=resolved"
            } else {
                "/api/v1/events"
            };
            let events: Vec<Value> = client::get(&args.api, path).await?;
            let mut rows = vec![vec![
                "severity".to_string(),
                "resource".into(),
                "rule".into(),
                "opened".into(),
                "state".into(),
                "message".into(),
            ]];
            for e in &events {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                let state = if e["resolved_ms"].as_i64().unwrap_or(0) > 0 {
                    "resolved".to_string()
                } else if e["acknowledged_ms"].as_i64().unwrap_or(0) > 0 {
                    format!("ack by {}", text("acknowledged_by"))
                } else {
                    "open".to_string()
                };
                rows.push(vec![
                    text("severity"),
                    text("resource_id"),
                    text("rule"),
                    client::ago(e["opened_ms"].as_i64().unwrap_or(0)),
                    state,
                    text("message"),
                ]);
            }
            print!("{}", client::table(&rows));
            println!("{} incident(s)", events.len());
            Ok(())
        }
        EventsCommand::Ack {
            resource,
            rule,
            comment,
        } => {
            // signed by the API with the token's name
            let body = serde_json::json!({
                "resource_id": resource, "rule": rule, "comment": comment,
            });
            let answer: Value = client::post(&args.api, "/api/v1/events/ack", &body).await?;
            println!(
                "acknowledged {} cop{} of {rule} on {resource}",
                answer["acknowledged"],
                if answer["acknowledged"] == 1 {
                    "y"
                } else {
                    "ies"
                }
            );
            Ok(())
        }
    }
}
