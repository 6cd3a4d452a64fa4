//! What the centre keeps of its file bundles: each signed version as sent
//! (`<data_dir>/files/<name>/<version>.bundle`) and, in `<data_dir>/files/state.json`, each
//! bundle's latest version with where it stands on every host it targets. Both are written
//! to a temporary file and renamed, the bundle before the state that names it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use prost::Message;
use serde::{Deserialize, Serialize};
use strata_proto::v1::SignedBundle;

/// A file of a bundle as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub path: String,
    /// Octal, as written (`0644`).
    pub mode: String,
    pub bytes: u64,
}

/// Where a bundle stands on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStatus {
    /// `pending` (not answered yet: the host is away, or not tried), `applied` or
    /// `refused`.
    pub state: String,
    /// The bundle's version the host has (0: none known).
    pub version: u64,
    /// Why it refused, or the last error reaching it.
    pub reason: String,
    /// When it answered, or was last tried.
    pub at_ms: i64,
    /// Tries since the version was published.
    pub attempts: u32,
    /// Not before this time is it tried again.
    pub next_ms: i64,
}

/// A bundle's latest version and its hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    pub name: String,
    pub version: u64,
    /// The version this one restores, when it is a rollback.
    pub rollback_to: u64,
    pub published_by: String,
    pub published_ms: i64,
    pub files: Vec<FileInfo>,
    /// By resource id.
    pub hosts: BTreeMap<String, HostStatus>,
}

/// The centre's bundles.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    bundles: Mutex<BTreeMap<String, BundleRecord>>,
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

impl FileStore {
    /// The store under `data_dir`, read back.
    pub fn open(data_dir: &Path) -> Result<Self, String> {
        let dir = data_dir.join("files");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let state = dir.join("state.json");
        let bundles = match std::fs::read(&state) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", state.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("{}: {e}", state.display())),
        };
        Ok(Self {
            dir,
            bundles: Mutex::new(bundles),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BundleRecord>> {
        self.bundles.lock().expect("file store lock poisoned")
    }

    fn save(&self, bundles: &BTreeMap<String, BundleRecord>) -> Result<(), String> {
        let path = self.dir.join("state.json");
        let bytes = serde_json::to_vec_pretty(bundles).map_err(|e| e.to_string())?;
        write_atomically(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Every bundle's latest version.
    pub fn list(&self) -> Vec<BundleRecord> {
        self.lock().values().cloned().collect()
    }

    /// Bundle `name`'s latest version.
    pub fn get(&self, name: &str) -> Option<BundleRecord> {
        self.lock().get(name).cloned()
    }

    /// Keeps `signed` as `record`'s version and makes it the bundle's latest, every host
    /// pending.
    pub fn publish(&self, record: BundleRecord, signed: &SignedBundle) -> Result<(), String> {
        let mut bundles = self.lock();
        let dir = self.dir.join(&record.name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(format!("{}.bundle", record.version));
        write_atomically(&path, &signed.encode_to_vec())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let previous = bundles.insert(record.name.clone(), record);
        if let Err(e) = self.save(&bundles) {
            // the state on disk still names the previous version: so does memory
            match previous {
                Some(p) => bundles.insert(p.name.clone(), p),
                None => bundles.remove(&path_name(&dir)),
            };
            return Err(e);
        }
        Ok(())
    }

    /// The signed bundle of `name`'s `version`.
    pub fn signed(&self, name: &str, version: u64) -> Option<SignedBundle> {
        let bytes = std::fs::read(self.dir.join(name).join(format!("{version}.bundle"))).ok()?;
        SignedBundle::decode(bytes.as_slice()).ok()
    }

    /// Records every host's answer of a round (an answer for a version no longer the
    /// latest is dropped), and writes the state once.
    pub fn update_all(&self, changes: Vec<Change>) -> Result<(), String> {
        let mut bundles = self.lock();
        for (name, version, host, change) in changes {
            if let Some(h) = bundles
                .get_mut(&name)
                .filter(|b| b.version == version)
                .and_then(|b| b.hosts.get_mut(&host))
            {
                change(h);
            }
        }
        self.save(&bundles)
    }
}

/// A change to one host's status: the bundle, its version, the host, and what changes.
pub type Change = (String, u64, String, Box<dyn FnOnce(&mut HostStatus) + Send>);

fn path_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_and_their_hosts_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let mut hosts = BTreeMap::new();
        hosts.insert(
            "eu/web-1".to_string(),
            HostStatus {
                state: "pending".into(),
                ..HostStatus::default()
            },
        );
        let record = BundleRecord {
            name: "app".into(),
            version: 1,
            rollback_to: 0,
            published_by: "ana".into(),
            published_ms: 5,
            files: vec![],
            hosts,
        };
        let signed = SignedBundle {
            manifest: b"m".to_vec(),
            chain: vec![b"c".to_vec()],
            signature: b"s".to_vec(),
        };
        store.publish(record.clone(), &signed).unwrap();
        let change = |version: u64, state: &'static str| -> Change {
            let set = move |h: &mut HostStatus| h.state = state.into();
            ("app".into(), version, "eu/web-1".into(), Box::new(set))
        };
        // an answer for an older version changes nothing
        store
            .update_all(vec![change(1, "applied"), change(0, "refused")])
            .unwrap();
        let again = FileStore::open(dir.path()).unwrap();
        assert_eq!(again.get("app").unwrap().hosts["eu/web-1"].state, "applied");
        assert_eq!(again.signed("app", 1), Some(signed));
        assert_eq!(again.signed("app", 2), None);
    }
}
