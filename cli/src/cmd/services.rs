//! `strata services` (every business service with its health), `strata drill <service>`
//! (a service down to its components, their hosts and the hosts' open incidents) and
//! `strata rca <service>` (its likely causes, best first, with their evidence).

use clap::Args;
use serde::Deserialize;

use super::client;

/// Options of `strata services`.
#[derive(Args, Debug)]
pub struct ServicesArgs {
    /// Base URL of the super-manager's API; several, comma-separated: the first that answers.
    #[arg(long, default_value = "http://127.0.0.1:9740", env = "STRATA_API")]
    pub api: String,
}

/// Options of `strata drill`.
#[derive(Args, Debug)]
pub struct DrillArgs {
    /// The service.
    pub service: String,
    /// One of the service's hosts, as region/host: its live top processes and its incidents.
    #[arg(long)]
    pub host: Option<String>,
    /// Processes listed with --host.
    #[arg(long, default_value_t = 15)]
    pub top: u32,
    /// What the processes are ordered by: cpu, memory or io (disk read and write per second).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "memory", "io"])]
    pub order: String,
    /// Base URL of the super-manager's API; several, comma-separated: the first that answers.
    #[arg(long, default_value = "http://127.0.0.1:9740", env = "STRATA_API")]
    pub api: String,
}

/// Options of `strata rca`.
#[derive(Args, Debug)]
pub struct RcaArgs {
    /// The service.
    pub service: String,
    /// Base URL of the super-manager's API; several, comma-separated: the first that answers.
    #[arg(long, default_value = "http://127.0.0.1:9740", env = "STRATA_API")]
    pub api: String,
}

#[derive(Deserialize)]
struct Analysis {
    service: String,
    symptoms: Vec<String>,
    causes: Vec<Cause>,
}

#[derive(Deserialize)]
struct Cause {
    resource_id: String,
    score: f64,
    via: String,
    evidence: Vec<String>,
}

#[derive(Deserialize)]
struct Summary {
    name: String,
    health: String,
    reason: String,
    version: u64,
    components: Vec<ComponentSummary>,
    depends_on: Vec<String>,
}

#[derive(Deserialize)]
struct ComponentSummary {
    name: String,
    health: String,
}

#[derive(Deserialize)]
struct Detail {
    name: String,
    health: String,
    reason: String,
    version: u64,
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct Component {
    name: String,
    health: String,
    reason: String,
    resources: Vec<Resource>,
}

#[derive(Deserialize)]
struct Resource {
    id: String,
    health: String,
    state: String,
    owner: String,
    incidents: Vec<Incident>,
}

#[derive(Deserialize)]
struct Incident {
    rule: String,
    severity: String,
    message: String,
}

/// Prints every service.
pub async fn list(args: ServicesArgs) -> anyhow::Result<()> {
    let services: Vec<Summary> = client::get(&args.api, "/api/v1/services").await?;
    print!("{}", render_list(&services));
    Ok(())
}

/// Prints one service drilled down.
pub async fn drill(args: DrillArgs) -> anyhow::Result<()> {
    let path = format!("/api/v1/services/{}", args.service);
    let detail: Detail = client::get(&args.api, &path).await?;
    let Some(host) = args.host else {
        print!("{}", render_detail(&detail));
        return Ok(());
    };
    anyhow::ensure!(
        detail
            .components
            .iter()
            .any(|c| c.resources.iter().any(|r| r.id == host)),
        "{host} is not a host of service {}",
        args.service
    );
    let snapshot: HostSnapshot = client::get(
        &args.api,
        &format!(
            "/api/v1/resources/{host}/snapshot?top={}&order={}",
            args.top, args.order
        ),
    )
    .await?;
    let incidents: Vec<Incident> =
        client::get(&args.api, &format!("/api/v1/resources/{host}/events")).await?;
    print!("{}", render_host(&host, &snapshot, &incidents));
    Ok(())
}

#[derive(Deserialize)]
struct HostSnapshot {
    process_count: u32,
    processes: Vec<Process>,
}

#[derive(Deserialize)]
struct Process {
    pid: u32,
    user: String,
    cpu_ratio: f64,
    rss_bytes: u64,
    #[serde(default)]
    read_bytes_per_second: f64,
    #[serde(default)]
    write_bytes_per_second: f64,
    threads: u32,
    name: String,
    cmdline: String,
}

fn render_host(host: &str, s: &HostSnapshot, incidents: &[Incident]) -> String {
    let mut out = format!(
        "{host}: {} processes, the busiest {}:\n",
        s.process_count,
        s.processes.len()
    );
    let mut rows = vec![
        [
            "PID",
            "USER",
            "CPU %",
            "RSS MiB",
            "READ KiB/s",
            "WRITE KiB/s",
            "THREADS",
            "COMMAND",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for p in &s.processes {
        rows.push(vec![
            p.pid.to_string(),
            p.user.clone(),
            format!("{:.1}", p.cpu_ratio * 100.0),
            format!("{:.1}", p.rss_bytes as f64 / 1_048_576.0),
            format!("{:.1}", p.read_bytes_per_second / 1024.0),
            format!("{:.1}", p.write_bytes_per_second / 1024.0),
            p.threads.to_string(),
            if p.cmdline.is_empty() {
                p.name.clone()
            } else {
                p.cmdline.chars().take(80).collect()
            },
        ]);
    }
    out.push_str(&client::table(&rows));
    if incidents.is_empty() {
        out.push_str("no incident\n");
    }
    for i in incidents {
        out.push_str(&format!("{} {}: {}\n", i.severity, i.rule, i.message));
    }
    out
}

/// Prints the likely causes of a service's state.
pub async fn rca(args: RcaArgs) -> anyhow::Result<()> {
    let path = format!("/api/v1/services/{}/rca", args.service);
    let a: Analysis = client::get(&args.api, &path).await?;
    print!("{}", render_rca(&a));
    Ok(())
}

fn render_rca(a: &Analysis) -> String {
    let mut out = format!("{}: ", a.service);
    if a.symptoms.is_empty() {
        out.push_str("no failing probe\n");
    } else {
        out.push_str(&a.symptoms.join("; "));
        out.push('\n');
    }
    if a.causes.is_empty() {
        out.push_str("no host with evidence in the window\n");
    }
    for (i, c) in a.causes.iter().enumerate() {
        out.push_str(&format!(
            "{}. {} (score {:.0}, via {})\n",
            i + 1,
            c.resource_id,
            c.score,
            c.via
        ));
        for e in &c.evidence {
            out.push_str(&format!("   - {e}\n"));
        }
    }
    out
}

fn render_list(services: &[Summary]) -> String {
    let mut rows = vec![
        [
            "SERVICE",
            "HEALTH",
            "COMPONENTS",
            "DEPENDS ON",
            "VERSION",
            "WHY",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for s in services {
        let components = s
            .components
            .iter()
            .map(|c| format!("{}({})", c.name, c.health))
            .collect::<Vec<_>>()
            .join(",");
        rows.push(vec![
            s.name.clone(),
            s.health.clone(),
            components,
            s.depends_on.join(","),
            s.version.to_string(),
            s.reason.clone(),
        ]);
    }
    let mut out = client::table(&rows);
    if services.is_empty() {
        out.push_str(
            "(no service is defined: see services_file and PUT /api/v1/services/{name})\n",
        );
    }
    out
}

fn render_detail(d: &Detail) -> String {
    let mut out = format!("{} (version {}): {}", d.name, d.version, d.health);
    if !d.reason.is_empty() {
        out.push_str(&format!(" — {}", d.reason));
    }
    out.push('\n');
    let mut rows = vec![
        [
            "COMPONENT",
            "HEALTH",
            "RESOURCE",
            "STATE",
            "POLLED BY",
            "INCIDENTS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for c in &d.components {
        let head = format!("{} {}", c.health, c.reason).trim().to_string();
        if c.resources.is_empty() {
            rows.push(vec![c.name.clone(), head.clone(), "-".into()]);
        }
        for (i, r) in c.resources.iter().enumerate() {
            let incidents = r
                .incidents
                .iter()
                .map(|e| format!("{} {}: {}", e.severity, e.rule, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            rows.push(vec![
                if i == 0 {
                    c.name.clone()
                } else {
                    String::new()
                },
                if i == 0 { head.clone() } else { String::new() },
                format!("{} ({})", r.id, r.health),
                r.state.clone(),
                r.owner.clone(),
                incidents,
            ]);
        }
    }
    out.push_str(&client::table(&rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_numbered_best_first_with_their_evidence() {
        let a: Analysis = serde_json::from_str(
            r#"{"service":"shop","from_ms":0,"to_ms":1,"symptoms":["http shop-http on west/p: refused"],
            "causes":[{"resource_id":"west/app-1","score":160,"via":"shop/app","evidence":["down: no answer"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            render_rca(&a),
            "shop: http shop-http on west/p: refused\n1. west/app-1 (score 160, via shop/app)\n   - down: no answer\n"
        );
    }

    #[test]
    fn a_drilled_service_lists_components_hosts_and_incidents() {
        let d: Detail = serde_json::from_str(
            r#"{"name":"shop","health":"degraded","reason":"web degraded","version":2,
            "components":[{"name":"web","health":"degraded","reason":"0 of 2 resources down, 1 degraded",
            "resources":[{"id":"west/web-1","health":"degraded","state":"up","owner":"west-1",
            "incidents":[{"rule":"cpu","severity":"critical","message":"CPU 97%"}]},
            {"id":"west/web-2","health":"ok","state":"up","owner":"west-2","incidents":[]}]}]}"#,
        )
        .unwrap();
        let t = render_detail(&d);
        assert!(
            t.starts_with("shop (version 2): degraded — web degraded\n"),
            "{t}"
        );
        assert!(
            t.contains("west/web-1 (degraded)") && t.contains("critical cpu: CPU 97%"),
            "{t}"
        );
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[3].starts_with("   ") || lines[3].trim_start().starts_with("west/web-2"),
            "{t}"
        );
    }
}
