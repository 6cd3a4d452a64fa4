//! `strata report <kind>`: the super-manager's reports over a period, as a table, CSV or
//! JSON; `strata report sla <service>`: one service's availability with its outages.

use clap::Args;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::client;

/// The kinds `strata report` knows (`sla` and those of `/api/v1/reports/{kind}`).
pub const KINDS: &str =
    "sla, availability, performance, failure, operations, audit, comparison, capacity, recovery";

/// Options of `strata report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// sla, availability, performance, failure, operations, audit, comparison, capacity or
    /// recovery.
    pub kind: String,
    /// The service (required by sla; restricts the other kinds to it).
    pub service: Option<String>,
    /// day, week, month, year (the last complete one), today, this-week, this-month,
    /// this-year, 2026-10, 2026-10-31, or a duration ending now (24h, 7d). Default: the
    /// service's SLO window for sla, else 30 days.
    #[arg(long)]
    pub period: Option<String>,
    /// Resources to compare or forecast, as region/host,region/host.
    #[arg(long)]
    pub resources: Option<String>,
    /// The metric to compare (default host_cpu_usage_ratio).
    #[arg(long)]
    pub metric: Option<String>,
    /// The capacity limit, as a ratio (default 0.9).
    #[arg(long)]
    pub limit: Option<f64>,
    /// audit: only the rows whose principal contains this (`ana`, `token:`).
    #[arg(long)]
    pub who: Option<String>,
    /// audit: only the rows whose action contains this (`login`, `acknowledge`).
    #[arg(long)]
    pub action: Option<String>,
    /// Print CSV rather than a table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    /// Base URL of the super-manager's API; several, comma-separated: the first that answers.
    #[arg(long, default_value = "http://127.0.0.1:9740", env = "STRATA_API")]
    pub api: String,
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

#[derive(Deserialize)]
struct Table {
    kind: String,
    from_ms: i64,
    to_ms: i64,
    columns: Vec<String>,
    rows: Vec<Map<String, Value>>,
}

fn query(args: &ReportArgs) -> String {
    let mut params: Vec<(&str, String)> = Vec::new();
    if let Some(p) = &args.period {
        params.push(("period", p.clone()));
    }
    if args.kind != "sla"
        && let Some(s) = &args.service
    {
        params.push(("service", s.clone()));
    }
    if let Some(r) = &args.resources {
        params.push(("resources", r.clone()));
    }
    if let Some(m) = &args.metric {
        params.push(("metric", m.clone()));
    }
    if let Some(l) = args.limit {
        params.push(("limit", l.to_string()));
    }
    if let Some(w) = &args.who {
        params.push(("who", w.clone()));
    }
    if let Some(a) = &args.action {
        params.push(("action", a.clone()));
    }
    if args.csv {
        params.push(("format", "csv".into()));
    }
    if params.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", client::query_escape(v)))
        .collect();
    format!("?{}", pairs.join("&"))
}

/// Fetches and prints the report.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let path = if args.kind == "sla" {
        let service = args
            .service
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("strata report sla needs a service"))?;
        format!("/api/v1/services/{service}/sla{}", query(&args))
    } else if KINDS.split(", ").any(|k| k == args.kind) {
        format!("/api/v1/reports/{}{}", args.kind, query(&args))
    } else {
        anyhow::bail!("no report '{}': the kinds are {KINDS}", args.kind);
    };
    let (_, body) = client::get_text(&args.api, &path).await?;
    if args.csv || args.json {
        print!("{body}");
        if !body.ends_with('\n') {
            println!();
        }
    } else if args.kind == "sla" {
        print!("{}", render_sla(&serde_json::from_str(&body)?));
    } else {
        print!("{}", render_table(&serde_json::from_str(&body)?));
    }
    Ok(())
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{}", (f * 1000.0).round() / 1000.0),
            _ => n.to_string(),
        },
        Some(other) => other.to_string(),
    }
}

fn utc(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

fn render_table(t: &Table) -> String {
    let mut out = format!(
        "{} report, {} to {}\n",
        t.kind,
        utc(t.from_ms),
        utc(t.to_ms)
    );
    let mut rows = vec![t.columns.iter().map(|c| c.to_uppercase()).collect()];
    for r in &t.rows {
        rows.push(t.columns.iter().map(|c| cell(r.get(c))).collect());
    }
    out.push_str(&client::table(&rows));
    out
}

fn render_sla(s: &Sla) -> String {
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
        let t = render_sla(&s);
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

    #[test]
    fn a_table_report_prints_its_columns_in_order() {
        let t: Table = serde_json::from_str(
            r#"{"kind":"failure","from_ms":0,"to_ms":86400000,"columns":["resource","incidents","mttr_seconds"],
            "rows":[{"resource":"eu/a","incidents":3,"mttr_seconds":100.0},{"resource":"all","incidents":3,"mttr_seconds":null}]}"#,
        )
        .unwrap();
        let out = render_table(&t);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["RESOURCE", "INCIDENTS", "MTTR_SECONDS"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["eu/a", "3", "100"]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["all", "3", "-"]
        );
    }

    #[test]
    fn parameters_are_escaped_and_sla_takes_its_service_in_the_path() {
        let args = ReportArgs {
            kind: "comparison".into(),
            service: None,
            period: Some("2026-10".into()),
            resources: Some("eu/a,eu/b".into()),
            metric: None,
            limit: None,
            who: None,
            action: None,
            csv: true,
            json: false,
            api: String::new(),
        };
        assert_eq!(
            query(&args),
            "?period=2026-10&resources=eu%2Fa%2Ceu%2Fb&format=csv"
        );
        let audit = ReportArgs {
            kind: "audit".into(),
            who: Some("token:ci".into()),
            action: Some("login".into()),
            csv: false,
            resources: None,
            ..args
        };
        assert_eq!(query(&audit), "?period=2026-10&who=token%3Aci&action=login");
    }
}
