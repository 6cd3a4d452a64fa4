//! Business services: their definitions, kept versioned in the super-manager's own store,
//! and their health from the region's resources.
//!
//! Definitions come from the `services_file` (applied at start) and from the REST API; every
//! change is validated against the whole set (names, selectors, roll-up rules, dependencies
//! and their cycles) before it is stored, and every stored change is a new version of that
//! service, so that what a service meant at any time can be read back. Each service's
//! health is recorded as it changes ([`timeline`]), for SLA reports.

pub mod baseline;
pub mod health;
pub use strata_proto::windows as maintenance;
pub mod model;
pub mod rca;
pub mod replica;
pub mod slo;
pub mod timeline;

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use strata_tsdb::{Journal, TableOp};

use model::{ServiceDef, set_problems};
use strata_web::auth::AuditRecord;

/// A definition with its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    pub version: u64,
    /// When this version was stored.
    pub changed_ms: i64,
    /// Where it came from: "file", or who put it through the API.
    pub source: String,
    /// The centre where it was made (empty before there were several).
    #[serde(default)]
    pub origin: String,
    pub def: ServiceDef,
}

/// A deleted service: the version its deletion made, so that every centre orders it
/// against changes made elsewhere, and a later definition numbers on from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gone {
    pub name: String,
    pub version: u64,
    pub changed_ms: i64,
    pub source: String,
    pub origin: String,
}

/// The order every centre gives to changes of one service: version, then time, then the
/// centre's id (two centres that changed it at once agree on which change stands).
pub type Rank<'a> = (u64, i64, &'a str);

impl Versioned {
    /// Its place in the order of changes of its service.
    pub fn rank(&self) -> Rank<'_> {
        (self.version, self.changed_ms, &self.origin)
    }
}

impl Gone {
    /// Its place in the order of changes of its service.
    pub fn rank(&self) -> Rank<'_> {
        (self.version, self.changed_ms, &self.origin)
    }
}

/// Why a change was refused.
#[derive(Debug)]
pub enum Refused {
    /// The definition (or the set with it) has problems, each naming its field.
    Invalid(Vec<String>),
    /// No such service.
    NotFound(String),
    /// Other services depend on it.
    InUse(Vec<String>),
    /// The store failed.
    Store(String),
}

fn audit_bytes(record: &AuditRecord) -> Result<Vec<u8>, Refused> {
    serde_json::to_vec(record).map_err(|e| Refused::Store(e.to_string()))
}

/// The record of a change of service `name` by `who` (from `address`).
fn service_change(
    action: &str,
    name: &str,
    version: u64,
    who: &str,
    address: &str,
    at_ms: i64,
) -> AuditRecord {
    AuditRecord {
        at_ms,
        who: who.to_string(),
        address: address.to_string(),
        action: format!("{action} service"),
        subject: name.to_string(),
        outcome: "ok".into(),
        detail: format!("version {version}"),
    }
}

/// The problems a refusal lists, as sentences.
pub fn describe(refused: &Refused) -> Vec<String> {
    match refused {
        Refused::Invalid(problems) => problems.clone(),
        Refused::NotFound(name) => vec![format!("no service '{name}'")],
        Refused::InUse(users) => vec![format!("services depend on it: {}", users.join(", "))],
        Refused::Store(e) => vec![format!("the store failed: {e}")],
    }
}

/// The definitions in force and the deleted services' last versions.
#[derive(Debug, Default)]
struct Defs {
    live: BTreeMap<String, Versioned>,
    gone: BTreeMap<String, Gone>,
}

impl Defs {
    /// The version the next change of `name` takes.
    fn next_version(&self, name: &str) -> u64 {
        let live = self.live.get(name).map_or(0, |v| v.version);
        let gone = self.gone.get(name).map_or(0, |g| g.version);
        live.max(gone) + 1
    }
}

/// The services, in memory and in their store.
#[derive(Debug)]
pub struct Services {
    current: RwLock<Defs>,
    store: Journal,
    /// What the other centres need from this one: its changes, journaled (see [`replica`]).
    replica: replica::Outbox,
    last: timeline::Last,
    /// Grows with every change of the definitions.
    generation: std::sync::atomic::AtomicU64,
    /// Makes audit keys unique: a random tag of this process and a count.
    audit_tag: String,
    audit_count: std::sync::atomic::AtomicU64,
}

fn current_key(name: &str) -> Vec<u8> {
    format!("def/{name}").into_bytes()
}

fn gone_key(name: &str) -> Vec<u8> {
    format!("gone/{name}").into_bytes()
}

/// The key of an audit record at `at_ms`: the time, then this process's tag and a count,
/// so that no two records (of one process or of two) share a key.
fn audit_key(at_ms: i64, unique: &str) -> Vec<u8> {
    format!("audit/{:016x}/{unique}", at_ms.max(0)).into_bytes()
}

/// An audit entry written before the principals (issue 19): a change of a service, or an
/// action by "api", read back as an [`AuditRecord`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct LegacyAuditEntry {
    at_ms: i64,
    action: String,
    service: String,
    version: u64,
    source: String,
}

impl From<LegacyAuditEntry> for AuditRecord {
    fn from(e: LegacyAuditEntry) -> Self {
        let detail = if e.version > 0 {
            format!("version {}", e.version)
        } else {
            String::new()
        };
        AuditRecord {
            at_ms: e.at_ms,
            who: e.source,
            address: String::new(),
            action: e.action,
            subject: e.service,
            outcome: "ok".into(),
            detail,
        }
    }
}

/// An audit line as stored (or as written before the principals).
fn parse_audit(bytes: &[u8]) -> Option<AuditRecord> {
    serde_json::from_slice::<AuditRecord>(bytes)
        .ok()
        .or_else(|| {
            serde_json::from_slice::<LegacyAuditEntry>(bytes)
                .ok()
                .map(Into::into)
        })
}

fn version_key(name: &str, version: u64) -> Vec<u8> {
    format!("ver/{name}/{version:010}").into_bytes()
}

impl Services {
    /// The services kept in `store`.
    pub fn open(store: Journal) -> Result<Self, strata_tsdb::TsdbError> {
        let mut current = Defs::default();
        for (k, v) in store.scan(b"def/")? {
            match serde_json::from_slice::<Versioned>(&v) {
                Ok(s) => {
                    current.live.insert(s.def.name.clone(), s);
                }
                Err(e) => {
                    tracing::warn!(key = %String::from_utf8_lossy(&k), error = %e, "stored service unreadable; skipped")
                }
            }
        }
        for (_, v) in store.scan(b"gone/")? {
            if let Ok(g) = serde_json::from_slice::<Gone>(&v) {
                current.gone.insert(g.name.clone(), g);
            }
        }
        let replica = replica::Outbox::open(&store)?;
        Ok(Self {
            current: RwLock::new(current),
            store,
            replica,
            last: timeline::Last::default(),
            generation: std::sync::atomic::AtomicU64::new(1),
            audit_tag: strata_web::auth::secret::random_hex(4),
            audit_count: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The current definitions, by name.
    pub fn defs(&self) -> Vec<ServiceDef> {
        self.read().live.values().map(|v| v.def.clone()).collect()
    }

    /// The current definitions with their generation (which grows with every change).
    pub fn defs_with_generation(&self) -> (u64, Vec<ServiceDef>) {
        let current = self.read();
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        (
            generation,
            current.live.values().map(|v| v.def.clone()).collect(),
        )
    }

    fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The current version of `name`.
    pub fn get(&self, name: &str) -> Option<Versioned> {
        self.read().live.get(name).cloned()
    }

    /// Every current definition with its version.
    pub fn all(&self) -> Vec<Versioned> {
        self.read().live.values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Defs> {
        self.current.read().expect("services lock poisoned")
    }

    /// Stores `def` as the next version of its service, if the whole set stays valid and it
    /// changed; returns its version.
    /// `source` is who changed it ("file", or a principal's name) and `address` from where.
    pub fn put(
        &self,
        def: ServiceDef,
        source: &str,
        address: &str,
        now_ms: i64,
    ) -> Result<u64, Refused> {
        let mut current = self.current.write().expect("services lock poisoned");
        if let Some(old) = current.live.get(&def.name)
            && old.def == def
        {
            return Ok(old.version);
        }
        let mut set: Vec<ServiceDef> = current
            .live
            .values()
            .filter(|v| v.def.name != def.name)
            .map(|v| v.def.clone())
            .collect();
        set.push(def.clone());
        let problems = set_problems(&set);
        if !problems.is_empty() {
            return Err(Refused::Invalid(problems));
        }
        let version = current.next_version(&def.name);
        let v = Versioned {
            version,
            changed_ms: now_ms,
            source: source.to_string(),
            origin: self.replica.origin().to_string(),
            def,
        };
        let bytes = serde_json::to_vec(&v).map_err(|e| Refused::Store(e.to_string()))?;
        let (ck, vk, gk) = (
            current_key(&v.def.name),
            version_key(&v.def.name, version),
            gone_key(&v.def.name),
        );
        let record = service_change("put", &v.def.name, version, source, address, now_ms);
        self.journal_audited(
            &[replica::Change::Service(v.clone())],
            record,
            &[
                TableOp::Put(&ck, &bytes),
                TableOp::Put(&vk, &bytes),
                TableOp::Delete(&gk),
            ],
        )?;
        current.gone.remove(&v.def.name);
        current.live.insert(v.def.name.clone(), v);
        self.changed();
        Ok(version)
    }

    /// Removes service `name` (its versions stay readable), unless others depend on it.
    pub fn delete(
        &self,
        name: &str,
        source: &str,
        address: &str,
        now_ms: i64,
    ) -> Result<(), Refused> {
        let mut current = self.current.write().expect("services lock poisoned");
        if !current.live.contains_key(name) {
            return Err(Refused::NotFound(name.to_string()));
        }
        let users: Vec<String> = current
            .live
            .values()
            .filter(|v| v.def.depends_on.iter().any(|d| d == name))
            .map(|v| v.def.name.clone())
            .collect();
        if !users.is_empty() {
            return Err(Refused::InUse(users));
        }
        let gone = Gone {
            name: name.to_string(),
            version: current.next_version(name),
            changed_ms: now_ms,
            source: source.to_string(),
            origin: self.replica.origin().to_string(),
        };
        let record = service_change("delete", name, gone.version, source, address, now_ms);
        let gone_bytes = serde_json::to_vec(&gone).map_err(|e| Refused::Store(e.to_string()))?;
        self.journal_audited(
            &[replica::Change::Deleted(gone.clone())],
            record,
            &[
                TableOp::Delete(&current_key(name)),
                TableOp::Put(&gone_key(name), &gone_bytes),
            ],
        )?;
        current.live.remove(name);
        current.gone.insert(name.to_string(), gone);
        self.changed();
        Ok(())
    }

    fn next_audit_key(&self, at_ms: i64) -> Vec<u8> {
        let n = self
            .audit_count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        audit_key(at_ms, &format!("{}-{n:012x}", self.audit_tag))
    }

    /// Writes `record` to the audit log, durably, before the change it records is answered.
    pub fn record(&self, record: &AuditRecord) -> Result<(), Refused> {
        self.journal_audited(&[], record.clone(), &[])
    }

    /// Writes `record`, a line of a region's audit log journaled as `origin` (its region,
    /// member, epoch and sequence, or what else names it in the region): a line delivered
    /// again (a stream resumed) lands on the same key, so the centre keeps one copy; every
    /// centre follows the regions and writes the same key, so it is not sent to the others.
    pub fn record_from_region(&self, origin: &str, record: &AuditRecord) -> Result<(), Refused> {
        let bytes = audit_bytes(record)?;
        self.store
            .write_table(&[TableOp::Put(
                &audit_key(record.at_ms, &format!("r-{origin}")),
                &bytes,
            )])
            .map_err(|e| Refused::Store(e.to_string()))
    }

    /// Writes `record`; a store failure is logged, not returned (for what is already done,
    /// such as a recovery action run in a region).
    pub fn record_audit(&self, record: &AuditRecord) {
        if let Err(e) = self.record(record) {
            tracing::warn!(action = %record.action, subject = %record.subject, error = ?e, "writing the audit log failed");
        }
    }

    /// The audit line under `key`, when there is one.
    fn audit_at(&self, key: &[u8]) -> Result<Option<AuditRecord>, Refused> {
        let bytes = self
            .store
            .get(key)
            .map_err(|e| Refused::Store(e.to_string()))?;
        Ok(bytes.and_then(|v| parse_audit(&v)))
    }

    /// The audit log in `[from_ms, to_ms)`, oldest first.
    pub fn audit(&self, from_ms: i64, to_ms: i64) -> Result<Vec<AuditRecord>, Refused> {
        let rows = self
            .store
            .scan_range(&audit_key(from_ms, ""), &audit_key(to_ms, ""))
            .map_err(|e| Refused::Store(e.to_string()))?;
        Ok(rows
            .into_iter()
            .filter_map(|(_, v)| parse_audit(&v))
            .collect())
    }

    /// Every stored version of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<Versioned>, Refused> {
        let rows = self
            .store
            .scan(format!("ver/{name}/").as_bytes())
            .map_err(|e| Refused::Store(e.to_string()))?;
        Ok(rows
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect())
    }

    /// Applies a services file: each of its services is stored (a new version where it
    /// changed); services defined only through the API stay.
    pub fn apply_file(&self, text: &str, now_ms: i64) -> Result<Vec<(String, u64)>, Refused> {
        let defs = model::parse_file(text).map_err(|e| Refused::Invalid(vec![e]))?;
        // Validate the file's services together with those only the API defined.
        let mut set = defs.clone();
        for v in self.read().live.values() {
            if !defs.iter().any(|d| d.name == v.def.name) {
                set.push(v.def.clone());
            }
        }
        let problems = set_problems(&set);
        if !problems.is_empty() {
            return Err(Refused::Invalid(problems));
        }
        // Dependencies first, so that each put sees a valid set.
        let mut applied = Vec::new();
        let mut pending = defs;
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for d in pending {
                let ready = {
                    let current = self.read();
                    d.depends_on.iter().all(|x| current.live.contains_key(x))
                };
                if ready {
                    let name = d.name.clone();
                    let v = self.put(d, "file", "", now_ms)?;
                    applied.push((name, v));
                } else {
                    rest.push(d);
                }
            }
            if rest.len() == before {
                return Err(Refused::Invalid(vec![
                    "depends_on: the file's services cannot be ordered by their dependencies"
                        .into(),
                ]));
            }
            pending = rest;
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, deps: &[&str]) -> ServiceDef {
        model::parse_file(&format!(
            "[[services]]\nname = '{name}'\n[[services.components]]\nname = 'all'\n"
        ))
        .map(|mut v| {
            let mut d = v.remove(0);
            d.depends_on = deps.iter().map(|s| s.to_string()).collect();
            d
        })
        .unwrap()
    }

    #[test]
    fn changes_are_validated_versioned_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Services::open(Journal::open(dir.path(), 1).unwrap()).unwrap();
            assert_eq!(s.put(def("db", &[]), "api", "", 1).unwrap(), 1);
            assert_eq!(s.put(def("db", &[]), "api", "", 2).unwrap(), 1, "unchanged");
            assert!(matches!(
                s.put(def("shop", &["nowhere"]), "api", "", 3),
                Err(Refused::Invalid(p)) if p[0].contains("no service 'nowhere'")
            ));
            assert_eq!(s.put(def("shop", &["db"]), "api", "", 4).unwrap(), 1);
            let mut db = def("db", &[]);
            db.description = "primary database".into();
            assert_eq!(s.put(db, "api", "", 5).unwrap(), 2);
            assert!(
                matches!(s.put(def("db", &["shop"]), "api", "", 6), Err(Refused::Invalid(p)) if p.iter().any(|x| x.contains("cycle")))
            );
            assert!(
                matches!(s.delete("db", "api", "", 50), Err(Refused::InUse(u)) if u == vec!["shop"])
            );
            s.delete("shop", "api", "", 60).unwrap();
            assert!(matches!(
                s.delete("shop", "api", "", 70),
                Err(Refused::NotFound(_))
            ));
            let audit = s.audit(0, 100).unwrap();
            let last = audit.last().unwrap();
            assert_eq!(
                (last.action.as_str(), last.subject.as_str(), last.at_ms),
                ("delete service", "shop", 60),
                "{audit:?}"
            );
            assert!(
                audit
                    .iter()
                    .all(|a| a.action == "put service" || a.at_ms == 60)
            );
        }
        let s = Services::open(Journal::open(dir.path(), 1).unwrap()).unwrap();
        assert_eq!(s.all().len(), 1);
        assert_eq!(s.get("db").unwrap().version, 2);
        assert_eq!(s.get("db").unwrap().def.description, "primary database");
        assert_eq!(s.versions("db").unwrap().len(), 2);
        assert_eq!(
            s.versions("shop").unwrap().len(),
            1,
            "a deleted service's versions stay"
        );
        let applied = s
            .apply_file(
                "[[services]]\nname = 'web'\ndepends_on = ['api']\n[[services.components]]\nname = 'x'\n\
                 [[services]]\nname = 'api'\n[[services.components]]\nname = 'y'\n",
                9,
            )
            .unwrap();
        assert_eq!(
            applied,
            vec![("api".to_string(), 1), ("web".to_string(), 1)]
        );
        assert_eq!(s.all().len(), 3);
    }
}
