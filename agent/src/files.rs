//! Files the centre distributes: a signed bundle is verified, checked against the local
//! `[[accept_files]]` and written all or nothing; the last versions are kept under
//! `state_dir` so that a rollback restores one.
//!
//! The host decides what it takes. A bundle is applied only when: the agent runs with its
//! mesh identity (a plaintext agent cannot tell who signed); the signer's certificate
//! proves a super-manager of the mesh's CA, unrevoked, and its signature holds over the
//! manifest's exact bytes (a region relays bundles but cannot make one); the manifest names
//! this host among its targets (a bundle for another host is not replayed here); its
//! version is above the one applied (an old bundle is not replayed either); and every file
//! lies under an accepted directory with a mode it allows ([`accept`]). Otherwise nothing
//! is written and the answer says why.
//!
//! `<state_dir>/files/<bundle>/<version>.manifest` keeps the files each applied version
//! wrote (the last [`KEEP`]); `applied` the version in force. A rollback (a signed
//! manifest with `rollback_to`) writes a kept version's files again as a new version.
//! Files of the version in force that the new one no longer has are removed.

pub mod accept;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use prost::Message;
use strata_proto::identity::Role;
use strata_proto::identity::transport::Transport;
use strata_proto::v1::{BundleManifest, FilesOutcome, PutFilesResponse, SignedBundle};
use tokio::sync::Mutex;
use tracing::{info, warn};

pub use accept::AcceptDir;

/// Versions kept per bundle for rollback.
pub const KEEP: usize = 3;

/// The files side of an agent.
pub struct Files {
    accept: Vec<AcceptDir>,
    state_dir: Option<PathBuf>,
    transport: Transport,
    /// One bundle applied at a time.
    lock: Mutex<()>,
}

fn refused(reason: impl Into<String>, version: u64) -> PutFilesResponse {
    PutFilesResponse {
        outcome: FilesOutcome::FilesRefused as i32,
        reason: reason.into(),
        version,
        written: Vec::new(),
    }
}

impl Files {
    /// Files accepted under `accept`, versions kept under `state_dir`, signatures checked
    /// with `transport`'s trust.
    pub fn new(
        accept: Vec<AcceptDir>,
        state_dir: Option<PathBuf>,
        transport: Transport,
    ) -> Arc<Self> {
        Arc::new(Self {
            accept,
            state_dir,
            transport,
            lock: Mutex::new(()),
        })
    }

    fn dir_of(&self, name: &str) -> Option<PathBuf> {
        self.state_dir.as_ref().map(|d| d.join("files").join(name))
    }

    /// The version of bundle `name` in force (0: none).
    pub fn applied(&self, name: &str) -> u64 {
        self.dir_of(name)
            .and_then(|d| std::fs::read_to_string(d.join("applied")).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    fn kept(&self, name: &str, version: u64) -> Option<BundleManifest> {
        let bytes = std::fs::read(self.dir_of(name)?.join(format!("{version}.manifest"))).ok()?;
        BundleManifest::decode(bytes.as_slice()).ok()
    }

    /// Verifies, checks and applies `bundle`; the answer says what was done or why not.
    pub async fn put(&self, bundle: &SignedBundle) -> PutFilesResponse {
        let _one = self.lock.lock().await;
        let me = match (self.transport.identity(), self.transport.trust()) {
            (Some(me), Some(trust)) => {
                if let Err(why) = strata_proto::identity::signed::verify(
                    &trust,
                    &bundle.chain,
                    &bundle.manifest,
                    &bundle.signature,
                    Role::SuperManager,
                    SystemTime::now(),
                ) {
                    return refused(format!("the signature: {why}"), 0);
                }
                me
            }
            _ => {
                return refused(
                    "this agent runs without TLS (tls.insecure): it cannot prove who signed a bundle",
                    0,
                );
            }
        };
        let manifest = match BundleManifest::decode(bundle.manifest.as_slice()) {
            Ok(m) => m,
            Err(e) => return refused(format!("the manifest does not decode: {e}"), 0),
        };
        if !strata_proto::names::valid_bundle_name(&manifest.name) {
            return refused(format!("bundle name '{}' is not a name", manifest.name), 0);
        }
        let applied = self.applied(&manifest.name);
        let target = format!("{}/{}", me.region, me.id);
        if !manifest.targets.iter().any(|t| t == &target) {
            return refused(
                format!("{target} is not among the bundle's targets"),
                applied,
            );
        }
        if manifest.version == applied {
            return PutFilesResponse {
                outcome: FilesOutcome::FilesUnchanged as i32,
                reason: format!("version {applied} is applied already"),
                version: applied,
                written: Vec::new(),
            };
        }
        if manifest.version < applied {
            return refused(
                format!(
                    "version {} is older than the applied {applied}",
                    manifest.version
                ),
                applied,
            );
        }
        let Some(dir) = self.dir_of(&manifest.name) else {
            return refused(
                "this agent has no state_dir to keep versions in, so it takes no files",
                applied,
            );
        };
        let files = if manifest.rollback_to > 0 {
            match self.kept(&manifest.name, manifest.rollback_to) {
                Some(old) => old.files,
                None => {
                    return refused(
                        format!(
                            "version {} is not kept here (the last {KEEP} applied are)",
                            manifest.rollback_to
                        ),
                        applied,
                    );
                }
            }
        } else {
            manifest.files.clone()
        };
        let checked = match accept::check(&files, &self.accept) {
            Ok(c) => c,
            Err(problems) => return refused(problems.join("; "), applied),
        };
        let previous = self.kept(&manifest.name, applied);
        let name = manifest.name.clone();
        let version = manifest.version;
        let accept_dirs = self.accept.clone();
        let result = tokio::task::spawn_blocking(move || {
            let written = accept::write_all(&checked)?;
            // what the version in force wrote and this one does not have goes
            if let Some(prev) = previous {
                for old in prev.files {
                    if !files.iter().any(|f| f.path == old.path)
                        && accept::check(std::slice::from_ref(&old), &accept_dirs).is_ok()
                    {
                        let _ = std::fs::remove_file(&old.path);
                    }
                }
            }
            keep(&dir, version, &BundleManifest { files, ..manifest })?;
            Ok::<_, String>(written)
        })
        .await
        .unwrap_or_else(|e| Err(format!("writing failed: {e}")));
        match result {
            Ok(written) => {
                info!(bundle = %name, version, files = written.len(), "bundle applied");
                PutFilesResponse {
                    outcome: FilesOutcome::FilesApplied as i32,
                    reason: String::new(),
                    version,
                    written,
                }
            }
            Err(e) => {
                warn!(bundle = %name, version, error = %e, "bundle not applied");
                refused(e, applied)
            }
        }
    }
}

/// Keeps `manifest` as version `version` in `dir`, marks it applied, and drops all but the
/// last [`KEEP`] versions.
fn keep(dir: &Path, version: u64, manifest: &BundleManifest) -> Result<(), String> {
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(".manifest.tmp");
    std::fs::write(&tmp, manifest.encode_to_vec()).map_err(io)?;
    std::fs::rename(&tmp, dir.join(format!("{version}.manifest"))).map_err(io)?;
    std::fs::write(&tmp, version.to_string()).map_err(io)?;
    std::fs::rename(&tmp, dir.join("applied")).map_err(io)?;
    let mut versions: Vec<u64> = std::fs::read_dir(dir)
        .map_err(io)?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".manifest")?
                .parse()
                .ok()
        })
        .collect();
    versions.sort_unstable();
    let drop = versions.len().saturating_sub(KEEP);
    for v in &versions[..drop] {
        let _ = std::fs::remove_file(dir.join(format!("{v}.manifest")));
    }
    Ok(())
}
