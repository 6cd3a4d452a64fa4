//! `Mesh::builder()`: a whole mesh described once — brokers, regions with their members,
//! real and simulated agents, super-managers, intervals — and started either as real
//! processes ([`MeshBuilder::start`], for black-box tests and benches) or as role libraries
//! in this process ([`MeshBuilder::run_local`], for `strata up`).
//!
//! Both launchers render the same TOML for every part ([`config`]), so a test and `strata up`
//! run the configurations an operator would write. Every listener is bound on port 0 by the
//! part that uses it, and its address is read back from it.

mod config;
mod local;
mod procs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Result, TestkitError};

pub use local::{LocalMesh, LocalRegion};
pub use procs::{Mesh, RegionProcs, write_config};

/// Where a mesh keeps its data and logs.
#[derive(Debug, Clone)]
pub(crate) enum Dir {
    /// A temporary directory, removed with the mesh.
    Temp,
    /// This directory, kept.
    Kept(PathBuf),
}

/// What a mesh is made of; see [`Mesh::builder`].
#[derive(Debug, Clone)]
pub struct MeshBuilder {
    pub(crate) brokers: usize,
    pub(crate) broker_toml: String,
    pub(crate) regions: Vec<Region>,
    pub(crate) super_managers: usize,
    pub(crate) super_toml: String,
    pub(crate) super_http: Option<String>,
    pub(crate) interval: Duration,
    pub(crate) sample_interval: Option<Duration>,
    pub(crate) proxied: bool,
    pub(crate) dir: Dir,
    /// Files written into the mesh's directory before anything starts.
    pub(crate) files: Vec<(String, String)>,
    /// `RUST_LOG` of the processes (default: this process's, else `info`).
    pub(crate) log: Option<String>,
    /// Plaintext links with no identities (default false: mutual TLS from the mesh's CA).
    pub(crate) insecure: bool,
    /// The CA to issue from (default: one made in the mesh's directory).
    pub(crate) ca: Option<crate::ca::MeshCa>,
}

impl Default for MeshBuilder {
    fn default() -> Self {
        Self {
            brokers: 1,
            broker_toml: String::new(),
            regions: Vec::new(),
            super_managers: 1,
            super_toml: String::new(),
            super_http: None,
            interval: Duration::from_millis(500),
            sample_interval: None,
            proxied: false,
            dir: Dir::Temp,
            files: Vec::new(),
            log: None,
            insecure: false,
            ca: None,
        }
    }
}

impl Mesh {
    /// A mesh of one broker and one super-manager, to which regions are added; its links
    /// are mutual TLS, each part with a certificate from the mesh's own CA.
    pub fn builder() -> MeshBuilder {
        MeshBuilder::default()
    }
}

impl MeshBuilder {
    /// How many brokers (default 1).
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n;
        self
    }

    /// TOML merged over every broker's config (e.g. `lease = "2s"`).
    pub fn broker_toml(mut self, toml: &str) -> Self {
        self.broker_toml = toml.into();
        self
    }

    /// Adds a region.
    pub fn region(mut self, region: Region) -> Self {
        self.regions.push(region);
        self
    }

    /// How many super-managers (default 1; 0 for none).
    pub fn super_managers(mut self, n: usize) -> Self {
        self.super_managers = n;
        self
    }

    /// TOML merged over every super-manager's config (e.g. `services_file = "..."`).
    pub fn super_toml(mut self, toml: &str) -> Self {
        self.super_toml = toml.into();
        self
    }

    /// The first super-manager's HTTP address (default: a free port).
    pub fn super_http(mut self, addr: &str) -> Self {
        self.super_http = Some(addr.into());
        self
    }

    /// The members' poll interval and the agents' sample interval (default 500 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The agents' sample interval, when it differs from the poll interval.
    pub fn sample_interval(mut self, interval: Duration) -> Self {
        self.sample_interval = Some(interval);
        self
    }

    /// The agents' and simulators' sample interval.
    pub(crate) fn samples_every(&self) -> Duration {
        self.sample_interval.unwrap_or(self.interval)
    }

    /// Every link between a region and the centre goes through a [`crate::Proxy`] that a
    /// test can cut: the region's parts dial the brokers through one, the brokers dial each
    /// member through one (processes only).
    pub fn proxied(mut self) -> Self {
        self.proxied = true;
        self
    }

    /// Keeps data and logs in `dir` rather than in a temporary directory.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Dir::Kept(dir.into());
        self
    }

    /// Issues the parts' certificates from `ca` (one a test made before the mesh, to serve
    /// parts of its own) instead of a CA made in the mesh's directory.
    pub fn ca(mut self, ca: crate::ca::MeshCa) -> Self {
        self.ca = Some(ca);
        self
    }

    /// Runs every link in plaintext with no identities (`[tls] insecure = true`), as a
    /// comparison beside mutual TLS.
    pub fn insecure(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// The processes' log filter (`RUST_LOG`), e.g. `warn` for a bench.
    pub fn log(mut self, filter: &str) -> Self {
        self.log = Some(filter.into());
        self
    }

    /// Writes `text` to `<mesh dir>/<name>` before anything starts (a services or rules
    /// file); `{dir}` in any part's TOML stands for the mesh's directory.
    pub fn file(mut self, name: &str, text: &str) -> Self {
        self.files.push((name.into(), text.into()));
        self
    }

    /// Writes the files into `dir` (scripts starting `#!` executable) and puts `dir` for
    /// `{dir}` in every part's TOML.
    pub(crate) fn prepare(&self, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| TestkitError::Io {
            doing: format!("create {}", dir.display()),
            source,
        })?;
        for (name, text) in &self.files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| TestkitError::Io {
                doing: format!("write {}", path.display()),
                source,
            })?;
            // a script (`#!`) is made executable
            if text.starts_with("#!") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(
                    |source| TestkitError::Io {
                        doing: format!("make {} executable", path.display()),
                        source,
                    },
                )?;
            }
        }
        let d = dir.to_string_lossy();
        let sub = |t: &String| t.replace("{dir}", &d);
        let mut b = self.clone();
        b.broker_toml = sub(&b.broker_toml);
        b.super_toml = sub(&b.super_toml);
        for r in &mut b.regions {
            r.member_toml = sub(&r.member_toml);
            r.agents = r.agents.iter().map(sub).collect();
        }
        Ok(b)
    }
}

/// A region of a mesh: its members, its agents, how they meet.
#[derive(Debug, Clone)]
pub struct Region {
    pub(crate) name: String,
    pub(crate) members: Vec<String>,
    pub(crate) member_toml: String,
    pub(crate) sims: Vec<Sim>,
    pub(crate) agents: Vec<String>,
    pub(crate) listed: bool,
    pub(crate) consoles: bool,
}

/// A simulator: many agents behind one port.
#[derive(Debug, Clone)]
pub(crate) struct Sim {
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) agents: usize,
    /// Its agents' buffers are kept on disk (`--state-dir <dir>/<name>-state`).
    pub(crate) durable: bool,
    /// More options of `strata sim` (e.g. `--profile host`).
    pub(crate) args: Vec<String>,
}

impl Region {
    /// Region `name` with one member, `<name>-1`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            members: vec![format!("{name}-1")],
            member_toml: String::new(),
            sims: Vec::new(),
            agents: Vec::new(),
            listed: false,
            consoles: false,
        }
    }

    /// `n` members, `<name>-1` to `<name>-<n>`.
    pub fn members(mut self, n: usize) -> Self {
        self.members = (1..=n).map(|i| format!("{}-{i}", self.name)).collect();
        self
    }

    /// Members with these ids.
    pub fn member_ids(mut self, ids: &[&str]) -> Self {
        self.members = ids.iter().map(|i| i.to_string()).collect();
        self
    }

    /// TOML merged over every member's config (tables merge: `[poll]\ntimeout = "2s"`).
    pub fn member_toml(mut self, toml: &str) -> Self {
        self.member_toml = toml.into();
        self
    }

    /// A simulator named `name` serving `agents` agents `<prefix>0001`...
    pub fn sim(mut self, name: &str, prefix: &str, agents: usize) -> Self {
        self.sims.push(Sim {
            name: name.into(),
            prefix: prefix.into(),
            agents,
            durable: false,
            args: Vec::new(),
        });
        self
    }

    /// More options for the last simulator added (`strata sim`'s, e.g. `--profile host`).
    pub fn sim_args(mut self, args: &[&str]) -> Self {
        if let Some(sim) = self.sims.last_mut() {
            sim.args.extend(args.iter().map(|a| a.to_string()));
        }
        self
    }

    /// A simulator like [`Region::sim`] whose agents keep their buffers and ticks on disk,
    /// so that it resumes where it stopped when killed and restarted.
    pub fn durable_sim(mut self, name: &str, prefix: &str, agents: usize) -> Self {
        self = self.sim(name, prefix, agents);
        if let Some(sim) = self.sims.last_mut() {
            sim.durable = true;
        }
        self
    }

    /// A real agent whose config is this TOML merged over the mesh's (it names at least its
    /// `id`); `{http}` in it stands for the first super-manager's HTTP address.
    pub fn agent(mut self, toml: &str) -> Self {
        self.agents.push(toml.into());
        self
    }

    /// The agents are listed in every member's config (`[[agents]]`) rather than registered
    /// with the brokers.
    pub fn listed(mut self) -> Self {
        self.listed = true;
        self
    }

    /// Every member serves its regional console.
    pub fn consoles(mut self) -> Self {
        self.consoles = true;
        self
    }
}
