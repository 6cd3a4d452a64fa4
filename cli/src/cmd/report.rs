//! `strata report sla <service>`: a service's availability over a period, with the minutes
//! lost, its error budget and each outage.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Deserialize;

use super::client;

/// Options of `strata report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub kind: ReportKind,
    /// Base URL of the super-manager's API.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9740",
        env = "STRATA_API",
        global = true
    )]
    pub api: String,
}

/// Which report.
#[derive(Subcommand, Debug)]
pub enum ReportKind {
    /// Availability of a service against its objective.
    Sla {
        /// The service.
        service: String,
        /// The period, ending now (default: the service's SLO window, or 30 days).
        #[arg(long, value_parser = humantime::parse_duration)]
        period: Option<Duration>,
    },
}

#[derive(Deserialize)]
struct Sla {
    service: String,
    from_ms: i64,
    to_ms: i64,
    objective: Option<f64>,
    availability: f64,
    down_seconds: f64,
    degraded_seconds: f64,
    unknown_seconds: f64,
    lost_minutes: i64,
    budget_remaining: Option<f64>,
    outages: Vec<Outage>,
}

#[derive(Deserialize)]
struct Outage {
    from_ms: i64,
    to_ms: i64,
}

/// Fetches and prints the report.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    match args.kind {
        ReportKind::Sla { service, period } => {
            let mut path = format!("/api/v1/services/{service}/sla");
            if let Some(p) = period {
                let now = strata_proto::now_ms();
                path.push_str(&format!(
                    "?from_ms={}&to_ms={now}",
                    now - p.as_millis() as i64
                ));
            }
            let sla: Sla = client::get(&args.api, &path).await?;
            print!("{}", render(&sla));
        }
    }
    Ok(())
}

fn render(s: &Sla) -> String {
    let hours = (s.to_ms - s.from_ms) as f64 / 3.6e6;
    let mut out = format!(
        "{}: {:.3} % available over {hours:.1} h; {} minutes lost ({:.0} s down, {:.0} s degraded, {:.0} s unknown)\n",
        s.service,
        s.availability * 100.0,
        s.lost_minutes,
        s.down_seconds,
        s.degraded_seconds,
        s.unknown_seconds
    );
    if let (Some(o), Some(b)) = (s.objective, s.budget_remaining) {
        out.push_str(&format!(
            "objective {:.3} %: {:.0} % of the error budget left\n",
            o * 100.0,
            b * 100.0
        ));
    }
    let mut rows = vec![vec![
        "OUTAGE FROM (ms)".to_string(),
        "TO (ms)".into(),
        "SECONDS".into(),
    ]];
    for o in &s.outages {
        rows.push(vec![
            o.from_ms.to_string(),
            o.to_ms.to_string(),
            format!("{:.0}", (o.to_ms - o.from_ms) as f64 / 1e3),
        ]);
    }
    out.push_str(&client::table(&rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_says_the_minutes_lost_and_the_budget_left() {
        let s: Sla = serde_json::from_str(
            r#"{"service":"shop","from_ms":0,"to_ms":3600000,"objective":0.99,"availability":0.95,
            "down_seconds":180,"degraded_seconds":60,"unknown_seconds":0,"lost_minutes":3,
            "budget_remaining":-4.0,"outages":[{"from_ms":660000,"to_ms":840000,"health":"down"}]}"#,
        )
        .unwrap();
        let t = render(&s);
        assert!(
            t.starts_with("shop: 95.000 % available over 1.0 h; 3 minutes lost (180 s down"),
            "{t}"
        );
        assert!(
            t.contains("objective 99.000 %: -400 % of the error budget left"),
            "{t}"
        );
        assert!(t.contains("660000") && t.contains("180"), "{t}");
    }
}
