//! A mesh in this process: every part is its role library (`bind`, then `run` with a
//! shutdown token) on 127.0.0.1, as `strata up` runs it. Everything is bound before anything
//! runs, so a busy port fails the start rather than half a mesh.

use std::path::PathBuf;

use strata_agent::AgentConfig;
use strata_agent::sim::{SimConfig, Simulation};
use strata_broker::BrokerConfig;
use strata_proto::config::RoleConfig;
use strata_sub_manager::SubManagerConfig;
use strata_super_manager::SuperManagerConfig;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::error;

use strata_proto::identity::{Role, TlsConfig, Transport};

use super::config::{self, MemberPlan, SuperPlan};
use super::{Dir, MeshBuilder};
use crate::ca::MeshCa;
use crate::error::{Result, TestkitError};

/// The parts' runs: each ends with its name and its outcome.
type Parts = JoinSet<(String, Result<(), String>)>;

/// Runs `part` in `tasks`.
fn spawn_part<E: std::fmt::Display>(
    tasks: &mut Parts,
    part: String,
    run: impl std::future::Future<Output = Result<(), E>> + Send + 'static,
) {
    tasks.spawn(async move { (part, run.await.map_err(|e| e.to_string())) });
}

/// Samples a simulated agent's poll may answer.
const SIM_MAX_POLL_SAMPLES: usize = 20_000;

/// A mesh running in this process until its shutdown token is cancelled.
pub struct LocalMesh {
    /// The first super-manager's HTTP address (empty without one).
    pub http: String,
    pub brokers: Vec<String>,
    pub regions: Vec<LocalRegion>,
    /// Where the mesh keeps its data.
    pub dir: PathBuf,
    /// The mesh's CA (none when insecure).
    pub ca: Option<MeshCa>,
    _temp: Option<tempfile::TempDir>,
    shutdown: CancellationToken,
    tasks: Parts,
}

/// The addresses of one region of a [`LocalMesh`].
#[derive(Debug, Clone)]
pub struct LocalRegion {
    pub name: String,
    /// `(id, gRPC address, regional console address)` of each member.
    pub members: Vec<(String, String, Option<String>)>,
    /// `(id, address)` of each real agent.
    pub agents: Vec<(String, String)>,
    /// The address of each simulator.
    pub sims: Vec<String>,
}

fn parse<C: RoleConfig>(text: &str, part: &str) -> Result<C>
where
    C::Error: std::fmt::Display,
{
    let bad = |message: String| TestkitError::Config {
        part: part.into(),
        message,
    };
    let config = C::parse(text).map_err(bad)?;
    config.validate().map_err(|e| bad(e.to_string()))?;
    Ok(config)
}

fn role(part: &str) -> impl Fn(&dyn std::fmt::Display) -> TestkitError + '_ {
    move |e| TestkitError::Role {
        part: part.into(),
        message: e.to_string(),
    }
}

impl LocalMesh {
    /// Runs until the shutdown token is cancelled or a part fails (which stops the rest);
    /// returns the first failure.
    pub async fn wait(mut self) -> Result<()> {
        let mut failure = None;
        while let Some(done) = self.tasks.join_next().await {
            let (part, outcome) = match done {
                Ok(done) => done,
                Err(e) => ("a task".to_string(), Err(format!("panicked: {e}"))),
            };
            if let Err(message) = outcome {
                error!(%part, error = %message, "a part of the mesh failed; stopping the rest");
                failure.get_or_insert(TestkitError::Role { part, message });
            }
            self.shutdown.cancel();
        }
        failure.map_or(Ok(()), Err)
    }
}

impl MeshBuilder {
    /// Binds every part in this process, then runs them until `shutdown` is cancelled.
    pub async fn run_local(self, shutdown: CancellationToken) -> Result<LocalMesh> {
        let (temp, dir) = match &self.dir {
            Dir::Temp => {
                let t = tempfile::tempdir().map_err(|source| TestkitError::Io {
                    doing: "create a temporary directory".into(),
                    source,
                })?;
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
            Dir::Kept(d) => (None, d.clone()),
        };
        let this = self.prepare(&dir)?;
        this.launch_local(dir, temp, shutdown).await
    }

    async fn launch_local(
        self,
        dir: PathBuf,
        temp: Option<tempfile::TempDir>,
        shutdown: CancellationToken,
    ) -> Result<LocalMesh> {
        let mut tasks = Parts::new();
        let ca = match (&self.ca, self.insecure) {
            (_, true) => None,
            (Some(ca), false) => Some(ca.clone()),
            (None, false) => Some(MeshCa::open(&dir)?),
        };
        let node = |role: Role, region: &str, id: &str| -> Result<Option<PathBuf>> {
            ca.as_ref().map(|ca| ca.node(role, region, id)).transpose()
        };

        let mut brokers = Vec::new();
        let mut broker_addrs = Vec::new();
        for n in 1..=self.brokers {
            let id = format!("broker-{n}");
            let tls = node(Role::Broker, "", &id)?;
            let text = config::broker(&id, tls.as_deref(), &self.broker_toml)?;
            let config: BrokerConfig = parse(&text, &id)?;
            let bound = strata_broker::bind(config)
                .await
                .map_err(|e| role(&id)(&e))?;
            broker_addrs.push(bound.local_addr().to_string());
            brokers.push((id, bound));
        }
        let mut supers = Vec::new();
        let mut http = String::new();
        for n in 1..=self.super_managers {
            let name = format!("super-manager-{n}");
            let listen = match (&self.super_http, n) {
                (Some(addr), 1) => addr.clone(),
                _ => "127.0.0.1:0".into(),
            };
            let data = dir.join(if self.super_managers == 1 {
                "super-manager".to_string()
            } else {
                name.clone()
            });
            let id = format!("super-{n}");
            let tls = node(Role::SuperManager, "", &id)?;
            let plan = SuperPlan {
                id: &id,
                http: &listen,
                brokers: &broker_addrs,
                data_dir: &data,
                tls: tls.as_deref(),
            };
            let text = config::super_manager(&plan, &self.super_toml)?;
            let config: SuperManagerConfig = parse(&text, &name)?;
            let bound = strata_super_manager::bind(config)
                .await
                .map_err(|e| role(&name)(&e))?;
            if n == 1 {
                http = bound.local_addr().to_string();
            }
            supers.push((name, bound));
        }

        let mut regions = Vec::new();
        let mut members = Vec::new();
        let mut agents = Vec::new();
        for region in &self.regions {
            let registered = (!region.listed).then_some(broker_addrs.as_slice());
            let mut local = LocalRegion {
                name: region.name.clone(),
                members: Vec::new(),
                agents: Vec::new(),
                sims: Vec::new(),
            };
            let mut listed = Vec::new();
            for toml in &region.agents {
                let id = config::agent_id(toml).unwrap_or_else(strata_agent::procfs::hostname);
                let tls = node(Role::Agent, &region.name, &id)?;
                let text = config::agent(
                    toml,
                    &http,
                    &region.name,
                    registered,
                    self.samples_every(),
                    tls.as_deref(),
                )?;
                let config: AgentConfig = parse(&text, "an agent")?;
                let id = config.id.clone();
                let bound = strata_agent::bind(config)
                    .await
                    .map_err(|e| role(&id)(&e))?;
                let addr = bound.local_addr().to_string();
                listed.push((id.clone(), addr.clone()));
                local.agents.push((id.clone(), addr));
                agents.push((id, bound));
            }
            for sim in &region.sims {
                let listener =
                    TcpListener::bind("127.0.0.1:0")
                        .await
                        .map_err(|source| TestkitError::Io {
                            doing: format!("bind simulator {}", sim.name),
                            source,
                        })?;
                let addr = listener.local_addr().map_err(|source| TestkitError::Io {
                    doing: format!("address of simulator {}", sim.name),
                    source,
                })?;
                let simulation = Simulation::new(
                    SimConfig {
                        agents: sim.agents,
                        prefix: sim.prefix.clone(),
                        interval: self.samples_every(),
                        ..SimConfig::default()
                    },
                    SIM_MAX_POLL_SAMPLES,
                );
                for n in 1..=sim.agents {
                    listed.push((
                        strata_agent::sim::agent_id(&sim.prefix, n),
                        addr.to_string(),
                    ));
                }
                local.sims.push(addr.to_string());
                let registration = strata_agent::sim::Registration {
                    brokers: registered.map(<[String]>::to_vec).unwrap_or_default(),
                    region: region.name.clone(),
                    token: None,
                    advertise: String::new(),
                };
                let transport = match node(Role::Agent, &region.name, &sim.prefix)? {
                    Some(dir) => Transport::load(
                        &TlsConfig {
                            dir,
                            ..TlsConfig::default()
                        },
                        Role::Agent,
                        Some(&region.name),
                        Some(&sim.prefix),
                    )
                    .map_err(|e| role(&sim.name)(&e))?,
                    None => Transport::insecure(),
                };
                let (stop, prefix, count) = (shutdown.clone(), sim.prefix.clone(), sim.agents);
                spawn_part(&mut tasks, sim.name.clone(), async move {
                    strata_agent::sim::serve(
                        listener,
                        &transport,
                        simulation,
                        (&prefix, count),
                        registration,
                        stop,
                    )
                    .await
                });
            }
            let listed = if region.listed { listed } else { Vec::new() };
            for id in &region.members {
                let tls = node(Role::SubManager, &region.name, id)?;
                let text = config::member(
                    &MemberPlan {
                        id,
                        region: &region.name,
                        brokers: &broker_addrs,
                        advertise: None,
                        data_dir: &dir.join(id),
                        interval: self.interval,
                        console: region.consoles,
                        agents: &listed,
                        tls: tls.as_deref(),
                    },
                    &region.member_toml,
                )?;
                let config: SubManagerConfig = parse(&text, id)?;
                let bound = strata_sub_manager::bind(config)
                    .await
                    .map_err(|e| role(id)(&e))?;
                local.members.push((
                    id.clone(),
                    bound.local_addr().to_string(),
                    bound.console_addr().map(|a| a.to_string()),
                ));
                members.push((id.clone(), bound));
            }
            regions.push(local);
        }

        for (id, b) in brokers {
            spawn_part(&mut tasks, id, b.run(shutdown.clone()));
        }
        for (id, a) in agents {
            spawn_part(&mut tasks, id, a.run(shutdown.clone()));
        }
        for (id, m) in members {
            spawn_part(&mut tasks, id, m.run(shutdown.clone()));
        }
        for (name, s) in supers {
            spawn_part(&mut tasks, name, s.run(shutdown.clone()));
        }
        Ok(LocalMesh {
            http,
            brokers: broker_addrs,
            regions,
            dir,
            ca,
            _temp: temp,
            shutdown,
            tasks,
        })
    }
}
