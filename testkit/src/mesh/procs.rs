//! A mesh of real processes: every part is its daemon binary (`strata-broker`,
//! `strata-sub-manager`, `strata-super-manager`, `strata-agent`, `strata sim`), started in
//! dependency order — brokers, super-managers, agents, members — each on port 0.

use std::path::{Path, PathBuf};

use strata_proto::identity::Role;

use super::config::{self, MemberPlan, SuperPlan};
use super::{Dir, MeshBuilder, Region};
use crate::ca::MeshCa;
use crate::proc::{Pin, Proc, Spec};
use crate::proxy::Proxy;
use crate::wait::now_ms;

/// A running mesh of processes; every process is killed when it is dropped.
pub struct Mesh {
    /// Keeps a temporary directory alive.
    _temp: Option<tempfile::TempDir>,
    dir: PathBuf,
    pub brokers: Vec<Proc>,
    pub super_managers: Vec<Proc>,
    pub regions: Vec<RegionProcs>,
    /// Every proxy between the regions and the centre (with [`MeshBuilder::proxied`]).
    pub proxies: Vec<Proxy>,
    /// The mesh's CA (none with [`MeshBuilder::insecure`]).
    pub ca: Option<MeshCa>,
}

/// The processes of one region.
pub struct RegionProcs {
    pub name: String,
    pub members: Vec<Proc>,
    /// The members' own gRPC addresses (not through a proxy).
    pub member_addrs: Vec<String>,
    pub sims: Vec<Proc>,
    pub agents: Vec<Proc>,
}

impl RegionProcs {
    /// The member named `id`.
    pub fn member(&mut self, id: &str) -> &mut Proc {
        self.members
            .iter_mut()
            .find(|m| m.name == id)
            .unwrap_or_else(|| panic!("no member {id}"))
    }

    /// The simulator named `name`.
    pub fn sim(&mut self, name: &str) -> &mut Proc {
        self.sims
            .iter_mut()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no simulator {name}"))
    }
}

impl Mesh {
    /// Where the mesh keeps its data and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first super-manager's HTTP address.
    pub fn http(&self) -> String {
        self.super_managers
            .first()
            .map(|s| s.addr.clone())
            .expect("the mesh has a super-manager")
    }

    /// The mesh's CA; panics for an insecure mesh.
    pub fn ca(&self) -> &MeshCa {
        self.ca.as_ref().expect("the mesh runs mutual TLS")
    }

    /// A channel to `addr` as the tests' operator (plaintext for an insecure mesh), to a
    /// server that must be `role`.
    pub fn channel(&self, addr: &str, role: Role) -> tonic::transport::Channel {
        match &self.ca {
            Some(ca) => ca.channel(addr, role),
            None => crate::ca::channel_with(
                &strata_proto::identity::Transport::insecure(),
                addr,
                strata_proto::identity::Expect::Role(role),
            ),
        }
    }

    /// The first super-manager.
    pub fn super_manager(&mut self) -> &mut Proc {
        self.super_managers
            .first_mut()
            .expect("the mesh has a super-manager")
    }

    /// The centre's broker addresses, comma-separated (as `--brokers` takes them).
    pub fn broker_addrs(&self) -> Vec<String> {
        self.brokers.iter().map(|b| b.addr.clone()).collect()
    }

    /// The region named `name`.
    pub fn region(&mut self, name: &str) -> &mut RegionProcs {
        self.regions
            .iter_mut()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no region {name}"))
    }
}

impl Drop for Mesh {
    /// Keeps the daemons' logs of a failed test in `target/fault-test-logs/<time>/`.
    fn drop(&mut self) {
        if !std::thread::panicking() || self._temp.is_none() {
            return;
        }
        let keep = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/fault-test-logs")
            .join(now_ms().to_string());
        if std::fs::create_dir_all(&keep).is_ok()
            && let Ok(entries) = std::fs::read_dir(&self.dir)
        {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "log") {
                    let _ = std::fs::copy(e.path(), keep.join(e.file_name()));
                }
            }
            eprintln!("daemon logs kept in {}", keep.display());
        }
    }
}

/// Writes `text` to `<dir>/<name>` and returns the path as a string.
pub fn write_config(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path.to_string_lossy().into_owned()
}

impl MeshBuilder {
    /// `spec` with the mesh's log filter.
    fn logged(&self, spec: Spec) -> Spec {
        match &self.log {
            Some(filter) => spec.env("RUST_LOG", filter),
            None => spec,
        }
    }
}

fn numbered(base: &str, n: usize, of: usize) -> String {
    if of == 1 {
        base.to_string()
    } else {
        format!("{base}-{n}")
    }
}

impl MeshBuilder {
    /// Starts every part as a real process and waits for each to report its address;
    /// panics, with the daemon's log, when one does not.
    pub fn start(self) -> Mesh {
        let (temp, dir) = match &self.dir {
            Dir::Temp => {
                let t = tempfile::tempdir().expect("a temporary directory");
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
            Dir::Kept(d) => (None, d.clone()),
        };
        let this = self.prepare(&dir).unwrap_or_else(|e| panic!("{e}"));
        let ca = (!this.insecure).then(|| {
            this.ca
                .clone()
                .unwrap_or_else(|| MeshCa::open(&dir).unwrap_or_else(|e| panic!("{e}")))
        });
        let mut mesh = Mesh {
            _temp: temp,
            dir: dir.clone(),
            brokers: Vec::new(),
            super_managers: Vec::new(),
            regions: Vec::new(),
            proxies: Vec::new(),
            ca,
        };
        this.launch_procs(&mut mesh);
        mesh
    }

    fn launch_procs(&self, mesh: &mut Mesh) {
        let dir = mesh.dir.clone();
        let ca = mesh.ca.clone();
        let node = |role: Role, region: &str, id: &str| {
            ca.as_ref()
                .map(|ca| ca.node(role, region, id).unwrap_or_else(|e| panic!("{e}")))
        };
        for n in 1..=self.brokers {
            let name = numbered("broker", n, self.brokers);
            let id = format!("broker-{n}");
            let tls = node(Role::Broker, "", &id);
            let text = config::broker(&id, tls.as_deref(), &self.broker_toml)
                .unwrap_or_else(|e| panic!("{e}"));
            let cfg = write_config(&dir, &format!("{name}.toml"), &text);
            mesh.brokers.push(Proc::spawn(
                self.logged(
                    Spec::new(&name, "strata-broker", &["--config", &cfg], &dir)
                        .pin(Pin::Env("STRATA_BROKER_LISTEN")),
                ),
            ));
        }
        let centre = mesh.broker_addrs();
        let region_side: Vec<String> = if self.proxied {
            centre
                .iter()
                .map(|b| {
                    let p = Proxy::start(b);
                    let addr = p.addr.clone();
                    mesh.proxies.push(p);
                    addr
                })
                .collect()
        } else {
            centre.clone()
        };
        for n in 1..=self.super_managers {
            let name = numbered("super-manager", n, self.super_managers);
            let http = match (&self.super_http, n) {
                (Some(addr), 1) => addr.clone(),
                _ => "127.0.0.1:0".into(),
            };
            let data = dir.join(numbered("super", n, self.super_managers));
            let id = format!("super-{n}");
            let tls = node(Role::SuperManager, "", &id);
            let plan = SuperPlan {
                id: &id,
                http: &http,
                brokers: &centre,
                data_dir: &data,
                tls: tls.as_deref(),
            };
            let text =
                config::super_manager(&plan, &self.super_toml).unwrap_or_else(|e| panic!("{e}"));
            let cfg = write_config(&dir, &format!("{name}.toml"), &text);
            mesh.super_managers.push(Proc::spawn(
                self.logged(
                    Spec::new(&name, "strata-super-manager", &["--config", &cfg], &dir)
                        .pin(Pin::Env("STRATA_SUPER_MANAGER_HTTP")),
                ),
            ));
        }
        let http = mesh
            .super_managers
            .first()
            .map(|s| s.addr.clone())
            .unwrap_or_default();
        for region in &self.regions {
            let procs = self.start_region(
                region,
                &region_side,
                &http,
                (&dir, ca.as_ref()),
                &mut mesh.proxies,
            );
            mesh.regions.push(procs);
        }
    }

    fn start_region(
        &self,
        region: &Region,
        brokers: &[String],
        http: &str,
        (dir, ca): (&Path, Option<&MeshCa>),
        proxies: &mut Vec<Proxy>,
    ) -> RegionProcs {
        let node = |role: Role, id: &str| {
            ca.map(|ca| {
                ca.node(role, &region.name, id)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
        };
        let registered = (!region.listed).then_some(brokers);
        let mut listed = Vec::new();
        let mut agents = Vec::new();
        for toml in &region.agents {
            let id = config::agent_id(toml).unwrap_or_else(strata_agent::procfs::hostname);
            let tls = node(Role::Agent, &id);
            let text = config::agent(
                toml,
                http,
                &region.name,
                registered,
                self.samples_every(),
                tls.as_deref(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let name = if region.agents.len() == 1 {
                "agent".to_string()
            } else {
                id.clone()
            };
            let cfg = write_config(dir, &format!("{name}.toml"), &text);
            let agent = Proc::spawn(
                self.logged(
                    Spec::new(&name, "strata-agent", &["--config", &cfg], dir)
                        .pin(Pin::Env("STRATA_AGENT_LISTEN")),
                ),
            );
            listed.push((id, agent.addr.clone()));
            agents.push(agent);
        }
        let mut sims = Vec::new();
        for sim in &region.sims {
            let count = sim.agents.to_string();
            let interval = config::duration(self.samples_every());
            let mut args = vec![
                "sim",
                "--agents",
                &count,
                "--prefix",
                &sim.prefix,
                "--listen",
                "127.0.0.1:0",
                "--interval",
                &interval,
            ];
            let joined = brokers.join(",");
            let state = dir.join(format!("{}-state", sim.name));
            let state = state.to_string_lossy();
            if sim.durable {
                args.extend(["--state-dir", &state]);
            }
            args.extend(sim.args.iter().map(String::as_str));
            args.extend(["--region", &region.name]);
            if !region.listed {
                args.extend(["--brokers", &joined]);
            }
            let tls = node(Role::Agent, &sim.prefix).map(|d| d.to_string_lossy().into_owned());
            match &tls {
                Some(dir) => args.extend(["--tls-dir", dir]),
                None => args.push("--insecure"),
            }
            let p = Proc::spawn(
                self.logged(Spec::new(&sim.name, "strata", &args, dir).pin(Pin::Arg("--listen"))),
            );
            for n in 1..=sim.agents {
                listed.push((format!("{}{n:04}", sim.prefix), p.addr.clone()));
            }
            sims.push(p);
        }
        let listed = if region.listed { listed } else { Vec::new() };
        let mut members = Vec::new();
        let mut member_addrs = Vec::new();
        for id in &region.members {
            let proxy = self.proxied.then(Proxy::bind);
            let tls = node(Role::SubManager, id);
            let text = config::member(
                &MemberPlan {
                    id,
                    region: &region.name,
                    brokers,
                    advertise: proxy.as_ref().map(|p| p.addr.as_str()),
                    data_dir: &dir.join(id),
                    interval: self.interval,
                    console: region.consoles,
                    agents: &listed,
                    tls: tls.as_deref(),
                },
                &region.member_toml,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let cfg = write_config(dir, &format!("{id}.toml"), &text);
            let member = Proc::spawn(
                self.logged(
                    Spec::new(id, "strata-sub-manager", &["--config", &cfg], dir)
                        .pin(Pin::Env("STRATA_SUB_MANAGER_LISTEN")),
                ),
            );
            if let Some(proxy) = proxy {
                proxy.set_target(&member.addr);
                proxies.push(proxy);
            }
            member_addrs.push(member.addr.clone());
            members.push(member);
        }
        RegionProcs {
            name: region.name.clone(),
            members,
            member_addrs,
            sims,
            agents,
        }
    }
}
