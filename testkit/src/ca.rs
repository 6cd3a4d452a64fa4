//! A test mesh's CA: made in the mesh's directory (`ca/`), it issues every part a node
//! directory (`tls/<role>-<region>-<id>/`) as `strata ca issue` would, and the tests'
//! own clients an operator's — so every test runs the mesh over mutual TLS, as a real one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use strata_proto::identity::ca::{Ca, REVOKED};
use strata_proto::identity::{Expect, Identity, Role, TlsConfig, Transport};
use tonic::transport::Channel;

use crate::error::{Result, TestkitError};

mod impostor;

pub use impostor::impostor_channel;

/// How long the certificates of a test mesh are valid.
const LIFETIME: Duration = Duration::from_secs(7 * 86_400);

/// The CA of a mesh's directory.
#[derive(Debug, Clone)]
pub struct MeshCa {
    root: PathBuf,
    /// Keeps the directory of a CA made with [`MeshCa::temp`].
    _temp: Option<Arc<tempfile::TempDir>>,
}

fn failed(doing: String) -> impl FnOnce(strata_proto::identity::IdentityError) -> TestkitError {
    move |e| TestkitError::Config {
        part: doing,
        message: e.to_string(),
    }
}

impl MeshCa {
    /// The CA in `<dir>/ca`, made when missing.
    pub fn open(dir: &Path) -> Result<Self> {
        let ca_dir = dir.join("ca");
        if ca_dir.join("ca.key").exists() {
            Ca::load(&ca_dir).map_err(failed("load the mesh's CA".into()))?;
        } else {
            Ca::init(&ca_dir).map_err(failed("make the mesh's CA".into()))?;
        }
        Ok(Self {
            root: dir.to_path_buf(),
            _temp: None,
        })
    }

    /// A CA in a temporary directory of its own, for parts a test serves itself before the
    /// mesh starts (hand it to the mesh with [`crate::MeshBuilder::ca`]).
    pub fn temp() -> Self {
        let temp = tempfile::tempdir().expect("a temporary directory");
        let mut ca = Self::open(temp.path()).unwrap_or_else(|e| panic!("{e}"));
        ca._temp = Some(Arc::new(temp));
        ca
    }

    fn ca(&self) -> Ca {
        Ca::load(&self.root.join("ca")).expect("the mesh's CA loads")
    }

    /// The CA's directory (`ca.crt`, `ca.key`, `revoked.txt`).
    pub fn dir(&self) -> PathBuf {
        self.root.join("ca")
    }

    /// The node directory of `role` `id` in `region` (empty for central roles), issued on
    /// first use.
    pub fn node(&self, role: Role, region: &str, id: &str) -> Result<PathBuf> {
        let identity = Identity::new(role, region, id).map_err(failed(format!("{role} {id}")))?;
        let dir = self.node_dir(&identity);
        if !dir.join("node.key").exists() {
            self.issue_into(&identity, LIFETIME, &dir)?;
        }
        if role == Role::SubManager && !dir.join("region-ca.key").exists() {
            // every member signs its region's enrolments
            let region_ca = Identity::new(Role::RegionCa, region, region)
                .map_err(failed(format!("{role} {id}")))?;
            let issued = self
                .ca()
                .issue(&region_ca, LIFETIME)
                .map_err(failed(format!("issue {region_ca}")))?;
            strata_proto::identity::enrol::write_region_ca(&dir, &issued)
                .map_err(failed(format!("write {region_ca}")))?;
        }
        Ok(dir)
    }

    fn node_dir(&self, identity: &Identity) -> PathBuf {
        let name = if identity.region.is_empty() {
            format!("{}-{}", identity.role, identity.id)
        } else {
            format!("{}-{}-{}", identity.role, identity.region, identity.id)
        };
        self.root.join("tls").join(name)
    }

    /// Issues `identity` a certificate valid for `lifetime` into `dir` (replacing what is
    /// there: a renewal), with the CA's current revocation list.
    pub fn issue_into(&self, identity: &Identity, lifetime: Duration, dir: &Path) -> Result<()> {
        let ca = self.ca();
        let doing = format!("issue {identity}");
        let issued = ca
            .issue(identity, lifetime)
            .map_err(failed(doing.clone()))?;
        issued
            .write_node(dir, ca.cert_pem(), "")
            .map_err(failed(doing.clone()))?;
        let _ = std::fs::copy(ca.revoked_path(), dir.join(REVOKED));
        Ok(())
    }

    /// Revokes `identity` and hands the new list to every node directory of the mesh (as an
    /// operator's configuration management would).
    pub fn revoke(&self, identity: &Identity) -> Result<()> {
        let ca = self.ca();
        ca.revoke(identity)
            .map_err(failed(format!("revoke {identity}")))?;
        if let Ok(nodes) = std::fs::read_dir(self.root.join("tls")) {
            for node in nodes.flatten() {
                let _ = std::fs::copy(ca.revoked_path(), node.path().join(REVOKED));
            }
        }
        Ok(())
    }

    /// The transport of `role` `id` in `region`, loaded from its node directory.
    pub fn transport(&self, role: Role, region: &str, id: &str) -> Result<Transport> {
        let dir = self.node(role, region, id)?;
        let config = TlsConfig {
            dir,
            ..TlsConfig::default()
        };
        Transport::load(&config, role, None, None).map_err(failed(format!("load {role} {id}")))
    }

    /// A channel to `addr` as `who` (role, region, id), to a server that must prove
    /// `expect`; usable from any runtime or none (see [`channel_with`]).
    pub fn channel_as(&self, who: (Role, &str, &str), addr: &str, expect: Expect) -> Channel {
        let transport = self
            .transport(who.0, who.1, who.2)
            .unwrap_or_else(|e| panic!("{e}"));
        channel_with(&transport, addr, expect)
    }

    /// A channel to `addr` as the tests' operator, to a server that must be `role`.
    pub fn channel(&self, addr: &str, role: Role) -> Channel {
        self.channel_as((Role::Operator, "", "test"), addr, Expect::Role(role))
    }
}

/// A channel through `transport` to `addr` whose connection tasks run on the test kit's
/// own background runtime, so that a test may make it outside any runtime and use it from
/// any (each `block_on` makes its own, gone when it returns).
pub fn channel_with(transport: &Transport, addr: &str, expect: Expect) -> Channel {
    let _entered = background().enter();
    transport
        .channel_to(addr, expect)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The runtime the test kit's channels run their connections on, for the life of the
/// test process.
fn background() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("testkit-channels")
            .enable_all()
            .build()
            .expect("the test kit's channel runtime")
    })
}
