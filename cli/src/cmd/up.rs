//! `strata up`: a whole local mesh in one process — one broker, the super-manager, region
//! `east` (one sub-manager, this host's real agent and simulated agents) and region `west`
//! (two sub-managers sharing simulated agents). Every part is the real role library on
//! 127.0.0.1, started by the test kit's mesh builder (as the tests start theirs); only the
//! agents of other hosts are simulated.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use strata_testkit::{Mesh, Region};

/// Options of `strata up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// HTTP address of the super-manager (API and console).
    #[arg(long, default_value = "127.0.0.1:9740")]
    pub http: String,
    /// Where the mesh keeps its data (default: ./strata-data/up-<unix seconds>).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Simulated agents per region.
    #[arg(long, default_value_t = 20)]
    pub sim_agents: usize,
    /// Poll interval of the sub-managers and sample interval of the agents.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
}

/// The services `strata up` defines: one per region, a shop over both, and the console
/// probed by this host's agent.
const DEMO_SERVICES: &str = r#"# Written by `strata up`; edit and restart, or PUT /api/v1/services/{name}.
[[services]]
name = "east-hosts"
description = "every host of region east"
[[services.components]]
name = "hosts"
region = "east"

[[services]]
name = "west-app"
description = "the first ten hosts of region west"
[[services.components]]
name = "app"
region = "west"
host = "~west-sim-00(0[1-9]|10)"

[[services]]
name = "console"
description = "the console, probed over HTTP by this host's agent every 5 s"
[services.slo]
objective = 0.999
window = "30d"
[[services.maintenance]]
every = "sun 02:00"
duration = "1h"
[[services.components]]
name = "http"
check = "console"

[[services]]
name = "shop"
description = "needs both regions; ok while one of its two tiers is"
depends_on = ["east-hosts", "west-app"]
rollup = "k-of-n"
k = 1
[[services.components]]
name = "front-east"
region = "east"
host = "~east-sim-000[1-5]"
[[services.components]]
name = "front-west"
region = "west"
host = "~west-sim-000[1-5]"
"#;

/// This host's agent probes the console, so that the "console" service has QoS history.
const CONSOLE_PROBE: &str = "[[checks]]\nname = 'console'\nkind = 'http'\n\
     url = 'http://{http}/healthz'\ninterval = '5s'\ntimeout = '2s'\nwarn_after = '500ms'\n";

/// Makes the account `admin` (all regions) with a generated password in every principals
/// file of the mesh, unless it exists; says how to log in.
fn admin_account(files: &[PathBuf]) -> anyhow::Result<String> {
    use strata_web::auth::principals::PrincipalsFile;
    let now = strata_proto::now_ms();
    let password = strata_web::auth::secret::generate_password();
    let mut template = strata_web::auth::Principals::default();
    template.add_user(
        "admin",
        &password,
        strata_web::auth::Role::Admin,
        strata_web::auth::Scope::All,
        now,
    )?;
    let record = template.users["admin"].clone();
    let mut made = false;
    for path in files {
        let file = PrincipalsFile::open(path)?;
        if !file.current().users.contains_key("admin") {
            file.change(|p| {
                p.users.insert("admin".into(), record.clone());
                Ok(())
            })?;
            made = true;
        }
    }
    Ok(if made {
        format!("login:    admin / {password}   (shown once; the console asks for it)")
    } else {
        format!(
            "login:    admin, with the password printed when this data was made (strata user passwd admin --file {})",
            files[0].display()
        )
    })
}

/// Starts the mesh and runs it until Ctrl-C.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let data = args.data_dir.clone().unwrap_or_else(|| {
        let secs = strata_proto::now_ms() / 1000;
        PathBuf::from(format!("./strata-data/up-{secs}"))
    });
    std::fs::create_dir_all(&data)
        .with_context(|| format!("create data directory {}", data.display()))?;
    let data = data.canonicalize().unwrap_or(data);
    let shutdown = strata_proto::daemon::shutdown_on_signal();

    let n = args.sim_agents;
    let mesh = Mesh::builder()
        .dir(&data)
        .interval(args.interval)
        .super_http(&args.http)
        // a few services over the mesh, so that `strata services` and the API show some
        .file("services.toml", DEMO_SERVICES)
        .super_toml("services_file = \"{dir}/services.toml\"")
        .region(
            Region::new("east")
                .agent(CONSOLE_PROBE)
                .sim("east-sim", "east-sim-", n)
                .listed()
                .consoles(),
        )
        .region(
            Region::new("west")
                .members(2)
                .sim("west-sim", "west-sim-", n)
                .listed()
                .consoles(),
        )
        .run_local(shutdown)
        .await?;

    let mut principals = vec![data.join("super-manager").join("principals.json")];
    for r in &mesh.regions {
        for (id, _, _) in &r.members {
            principals.push(data.join(id).join("principals.json"));
        }
    }
    let login = admin_account(&principals)?;
    let http = &mesh.http;
    let consoles: Vec<(&str, &str, &str)> = mesh
        .regions
        .iter()
        .flat_map(|r| {
            r.members.iter().filter_map(|(id, _, console)| {
                Some((id.as_str(), r.name.as_str(), console.as_deref()?))
            })
        })
        .collect();
    let regional: Vec<String> = consoles
        .iter()
        .map(|(id, _, addr)| format!("{id}=http://{addr}/"))
        .collect();
    println!(
        "Strata is up: 1 broker, 1 super-manager, regions east (1 sub-manager) and west (2 sub-managers); listening http={http} regional {}",
        regional.join(" ")
    );
    println!("  console:  http://{http}/");
    for (id, region, addr) in &consoles {
        println!("  regional console of {region} ({id}): http://{addr}/");
    }
    println!("  {login}");
    println!(
        "  API:      http://{http}/api/v1/overview (an API token: strata token create --file {})",
        principals[0].display()
    );
    println!("  status:   strata status --api http://{http}");
    println!("  services: strata services --api http://{http}   (defined in services.toml below)");
    println!("  reports:  strata report performance console --period 1h --api http://{http}");
    println!("  broker:   {}", mesh.brokers.join(", "));
    if let Some(ca) = &mesh.ca {
        let operator = ca.node(strata_proto::identity::Role::Operator, "", "admin")?;
        println!(
            "  identity: mutual TLS on every gRPC link; CA in {}; for strata rules/notify: --tls-dir {}",
            ca.dir().display(),
            operator.display()
        );
    }
    for (id, addr) in &mesh.regions[0].agents {
        println!("  agents:   this host ({id}) at {addr}; {n} simulated per region");
    }
    println!("  data:     {}", data.display());
    println!("Press Ctrl-C to stop.");
    mesh.wait().await?;
    println!("Strata stopped; data kept in {}", data.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_services_are_valid() {
        let s = strata_super_manager::services::model::parse_file(super::DEMO_SERVICES).unwrap();
        assert_eq!(s.len(), 4);
        let problems = strata_super_manager::services::model::set_problems(&s);
        assert!(problems.is_empty(), "{problems:?}");
    }
}
