//! What only the centre knows, kept alike in every centre.
//!
//! Every centre follows every region, so what it computes from the regions' streams is the
//! same everywhere; what is made at one centre (a service defined through its API, a line
//! of its audit log, a console login) or recorded by one centre for all (the services'
//! health timeline, [`crate::centres`]) is journaled here, in the services store, in the
//! same atomic write as the change itself. The other centres read that journal from their
//! cursor (`SuperManager.WatchCentre`) and apply each change by a rule that gives the same
//! result in whatever order the changes arrive: a service's definition or deletion stands
//! when its rank (version, time, centre id) is the highest seen; audit lines, timeline
//! points and versions are kept by key, once. Only a centre's own changes are journaled, so
//! nothing goes round in circles; a follower whose cursor cannot be resumed (a new centre,
//! a journal trimmed past it, a store replaced) is sent a snapshot of the table first.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use strata_tsdb::{Journal, TableOp};
use strata_web::auth::sessions::SessionChange;
use strata_web::auth::{AuditRecord, Principals};

use super::{Gone, Refused, Services, Versioned, current_key, gone_key, version_key};

/// How many changes a centre's journal keeps for the others (a follower further behind is
/// sent a snapshot).
pub const JOURNAL_RECORDS: u64 = 200_000;

const EPOCH_KEY: &[u8] = b"replica/epoch";

/// One change made at (or recorded by) one centre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A service's definition (the one in force, or an older version).
    Service(Versioned),
    /// A service deleted.
    Deleted(Gone),
    /// A line of the audit log under its key.
    Audit { key: String, record: AuditRecord },
    /// A service's health from a time on, as the recording centre saw it.
    Health {
        service: String,
        at_ms: i64,
        health: String,
    },
    /// A console login or logout.
    Session { change: SessionChange },
    /// The sending centre's principals, whole (sent when they change, never journaled).
    Principals { doc: Principals },
    /// An incident of the centre's own (a service's SLO alert) acknowledged there.
    Ack(Ack),
}

/// An acknowledgement of one of the centre's own incidents, as the others apply it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub resource_id: String,
    pub rule: String,
    pub by: String,
    pub comment: String,
    pub at_ms: i64,
}

/// What a follower keeps of another centre's journal: the epoch and the last sequence
/// applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub epoch: String,
    pub seq: u64,
}

fn cursor_key(centre: &str) -> Vec<u8> {
    format!("replica/cursor/{centre}").into_bytes()
}

fn session_key(hash: &str) -> Vec<u8> {
    format!("session/{hash}").into_bytes()
}

fn store_error(e: impl std::fmt::Display) -> Refused {
    Refused::Store(e.to_string())
}

/// The journal's side of this centre: who it is, the journal's epoch, and the appends.
#[derive(Debug)]
pub struct Outbox {
    origin: String,
    epoch: String,
    appending: Mutex<()>,
    last: tokio::sync::watch::Sender<u64>,
}

impl Outbox {
    /// The outbox of `store`: its epoch (made with the store, kept with it).
    pub fn open(store: &Journal) -> Result<Self, strata_tsdb::TsdbError> {
        let epoch = match store.get(EPOCH_KEY)? {
            Some(e) => String::from_utf8_lossy(&e).into_owned(),
            None => {
                let e = strata_web::auth::secret::random_hex(8);
                store.write_table(&[TableOp::Put(EPOCH_KEY, e.as_bytes())])?;
                e
            }
        };
        Ok(Self {
            origin: String::new(),
            epoch,
            appending: Mutex::new(()),
            last: tokio::sync::watch::Sender::new(store.last_seq()),
        })
    }

    /// This centre's id, written into what it makes.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Journals `changes` with `ops` (the change itself) in one atomic write.
    pub fn append(
        &self,
        store: &Journal,
        changes: &[Change],
        ops: &[TableOp<'_>],
    ) -> Result<(), Refused> {
        let record = serde_json::to_vec(changes).map_err(store_error)?;
        let _one_at_a_time = self.appending.lock().expect("journal lock poisoned");
        let seq = store.append(&record, ops).map_err(store_error)?;
        self.last.send_replace(seq);
        Ok(())
    }
}

/// What applying other centres' changes left to the caller: the logins, for the console's
/// sessions, and whether the definitions changed.
#[derive(Debug, Default)]
pub struct Applied {
    pub sessions: Vec<SessionChange>,
    /// Acknowledgements of the centre's own incidents, for the overview.
    pub acks: Vec<Ack>,
    /// The other centre's principals, when sent.
    pub principals: Option<Principals>,
    pub definitions_changed: bool,
}

impl Services {
    /// The same services, made at centre `origin` from now on.
    pub fn with_origin(mut self, origin: &str) -> Self {
        self.replica.origin = origin.to_string();
        self
    }

    /// This centre's journal epoch.
    pub fn epoch(&self) -> &str {
        &self.replica.epoch
    }

    /// The sequence of the newest journaled change, watched (grows with every change).
    pub fn journal_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.replica.last.subscribe()
    }

    /// The oldest and newest sequences the journal holds.
    pub fn journal_bounds(&self) -> (u64, u64) {
        (self.store.first_seq(), self.store.last_seq())
    }

    /// Up to `limit` journaled records after `after`, each with its sequence and changes.
    pub fn journal_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<Change>)>, Refused> {
        self.store
            .read_after(after, limit)
            .map_err(store_error)?
            .into_iter()
            .map(|(seq, bytes)| {
                let changes = serde_json::from_slice(&bytes)
                    .map_err(|e| Refused::Store(format!("journal record {seq} unreadable: {e}")))?;
                Ok((seq, changes))
            })
            .collect()
    }

    /// Every change the table holds, as the changes that would make it (a follower that
    /// cannot resume starts from this), with the journal's sequence it covers.
    pub fn snapshot(&self) -> Result<(u64, Vec<Change>), Refused> {
        // read before the table: whatever is journaled after is sent again from the journal
        let seq = self.store.last_seq();
        let scan = |prefix: &[u8]| self.store.scan(prefix).map_err(store_error);
        let mut out = Vec::new();
        for (_, v) in scan(b"ver/")?.into_iter().chain(scan(b"def/")?) {
            if let Ok(v) = serde_json::from_slice::<Versioned>(&v) {
                out.push(Change::Service(v));
            }
        }
        for (_, v) in scan(b"gone/")? {
            if let Ok(g) = serde_json::from_slice::<Gone>(&v) {
                out.push(Change::Deleted(g));
            }
        }
        for (_, v) in scan(b"session/")? {
            if let Ok(change @ SessionChange::Opened { .. }) = serde_json::from_slice(&v) {
                out.push(Change::Session { change });
            }
        }
        for (k, v) in scan(b"t/")? {
            if let Some((service, at_ms)) = super::timeline::parse_key(&k) {
                out.push(Change::Health {
                    service,
                    at_ms,
                    health: String::from_utf8_lossy(&v).into_owned(),
                });
            }
        }
        for (k, _) in scan(b"audit/")? {
            let key = String::from_utf8_lossy(&k).into_owned();
            if let Some(record) = self.audit_at(&k)? {
                out.push(Change::Audit { key, record });
            }
        }
        Ok((seq, out))
    }

    /// The cursor this centre keeps of centre `peer`'s journal.
    pub fn cursor(&self, peer: &str) -> Option<Cursor> {
        let bytes = self.store.get(&cursor_key(peer)).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// The sessions kept in the table that have not expired by `now_ms` (the expired ones
    /// are deleted).
    pub fn kept_sessions(&self, now_ms: i64) -> Vec<SessionChange> {
        let Ok(rows) = self.store.scan(b"session/") else {
            return Vec::new();
        };
        let mut live = Vec::new();
        for (k, v) in rows {
            match serde_json::from_slice::<SessionChange>(&v) {
                Ok(SessionChange::Opened { hash, session }) if session.expires_ms > now_ms => {
                    live.push(SessionChange::Opened { hash, session })
                }
                _ => {
                    let _ = self.store.write_table(&[TableOp::Delete(&k)]);
                }
            }
        }
        live
    }

    /// Journals `changes`, made by `ops`, with their audit line `record` (under a new key of
    /// this centre's), in one write.
    pub(super) fn journal_audited(
        &self,
        changes: &[Change],
        record: AuditRecord,
        ops: &[TableOp<'_>],
    ) -> Result<(), Refused> {
        let audit = super::audit_bytes(&record)?;
        let key = self.next_audit_key(record.at_ms);
        let mut all = changes.to_vec();
        all.push(Change::Audit {
            key: String::from_utf8_lossy(&key).into_owned(),
            record,
        });
        let mut ops = ops.to_vec();
        ops.push(TableOp::Put(&key, &audit));
        self.replica.append(&self.store, &all, &ops)
    }

    /// Journals this centre's acknowledgement of one of its own incidents (the incidents
    /// live in the overview; the others apply it to theirs).
    pub fn journal_ack(&self, ack: Ack) -> Result<(), Refused> {
        self.replica.append(&self.store, &[Change::Ack(ack)], &[])
    }

    /// Journals `service`'s health from `at_ms` on, written by `ops` (its timeline point).
    pub(super) fn journal_health(
        &self,
        service: &str,
        at_ms: i64,
        health: &str,
        ops: &[TableOp<'_>],
    ) -> Result<(), Refused> {
        let change = Change::Health {
            service: service.to_string(),
            at_ms,
            health: health.to_string(),
        };
        self.replica.append(&self.store, &[change], ops)
    }

    /// Journals this centre's login or logout `change` (kept in the table while it lasts).
    pub fn session_changed(&self, change: SessionChange) -> Result<(), Refused> {
        let bytes = serde_json::to_vec(&change).map_err(store_error)?;
        let key = session_key(session_hash(&change));
        let op = match &change {
            SessionChange::Opened { .. } => TableOp::Put(&key, &bytes),
            SessionChange::Closed { .. } => TableOp::Delete(&key),
        };
        self.replica
            .append(&self.store, &[Change::Session { change }], &[op])
    }

    /// Applies `changes` made at another centre and moves that centre's cursor to `cursor`
    /// (when given) in the same write: each kept by the rule every centre applies.
    pub fn apply(
        &self,
        changes: Vec<Change>,
        cursor: Option<(&str, &Cursor)>,
    ) -> Result<Applied, Refused> {
        let mut current = self.current.write().expect("services lock poisoned");
        let mut owned: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let mut applied = Applied::default();
        let mut timeline_touched = Vec::new();
        for change in changes {
            match change {
                Change::Service(v) => {
                    let name = v.def.name.clone();
                    let bytes = serde_json::to_vec(&v).map_err(store_error)?;
                    // the version's row: the highest rank of that version stays
                    let vk = version_key(&name, v.version);
                    let row: Option<Versioned> = self
                        .store
                        .get(&vk)
                        .map_err(store_error)?
                        .and_then(|b| serde_json::from_slice(&b).ok());
                    if row.as_ref().is_none_or(|r| v.rank() > r.rank()) {
                        owned.push((vk, Some(bytes.clone())));
                    }
                    let standing = current
                        .live
                        .get(&name)
                        .map(|l| l.rank())
                        .max(current.gone.get(&name).map(|g| g.rank()));
                    if standing.is_none_or(|s| v.rank() > s) {
                        owned.push((current_key(&name), Some(bytes)));
                        owned.push((gone_key(&name), None));
                        current.gone.remove(&name);
                        current.live.insert(name, v);
                        applied.definitions_changed = true;
                    }
                }
                Change::Deleted(g) => {
                    let standing = current
                        .live
                        .get(&g.name)
                        .map(|l| l.rank())
                        .max(current.gone.get(&g.name).map(|x| x.rank()));
                    if standing.is_none_or(|s| g.rank() > s) {
                        owned.push((current_key(&g.name), None));
                        owned.push((
                            gone_key(&g.name),
                            Some(serde_json::to_vec(&g).map_err(store_error)?),
                        ));
                        current.live.remove(&g.name);
                        current.gone.insert(g.name.clone(), g);
                        applied.definitions_changed = true;
                    }
                }
                Change::Audit { key, record } => {
                    // keys name their origin: a line sent twice lands on itself
                    if key.starts_with("audit/") {
                        owned.push((key.into_bytes(), Some(super::audit_bytes(&record)?)));
                    }
                }
                Change::Health {
                    service,
                    at_ms,
                    health,
                } => {
                    owned.push((
                        super::timeline::key(&service, at_ms),
                        Some(health.into_bytes()),
                    ));
                    timeline_touched.push(service);
                }
                Change::Session { change } => {
                    let key = session_key(session_hash(&change));
                    let value = match &change {
                        SessionChange::Opened { .. } => {
                            Some(serde_json::to_vec(&change).map_err(store_error)?)
                        }
                        SessionChange::Closed { .. } => None,
                    };
                    owned.push((key, value));
                    applied.sessions.push(change);
                }
                Change::Principals { doc } => applied.principals = Some(doc),
                Change::Ack(ack) => applied.acks.push(ack),
            }
        }
        if let Some((peer, cursor)) = cursor {
            owned.push((
                cursor_key(peer),
                Some(serde_json::to_vec(cursor).map_err(store_error)?),
            ));
        }
        let ops: Vec<TableOp<'_>> = owned
            .iter()
            .map(|(k, v)| match v {
                Some(v) => TableOp::Put(k, v),
                None => TableOp::Delete(k),
            })
            .collect();
        self.store.write_table(&ops).map_err(store_error)?;
        drop(current);
        if applied.definitions_changed {
            self.changed();
        }
        // the last health of a service is read again from the timeline when next recorded
        self.forget_last(&timeline_touched);
        Ok(applied)
    }
}

fn session_hash(change: &SessionChange) -> &str {
    match change {
        SessionChange::Opened { hash, .. } | SessionChange::Closed { hash } => hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::health::Health;
    use crate::services::model::{ServiceDef, parse_file};
    use strata_web::auth::sessions::Session;

    fn def(name: &str, description: &str) -> ServiceDef {
        let mut d = parse_file(&format!(
            "[[services]]\nname = '{name}'\n[[services.components]]\nname = 'all'\n"
        ))
        .unwrap()
        .remove(0);
        d.description = description.into();
        d
    }

    fn login(user: &str, expires_ms: i64) -> Session {
        Session {
            user: user.into(),
            csrf: "c".into(),
            created_ms: 0,
            expires_ms,
        }
    }

    fn centre(id: &str) -> (tempfile::TempDir, Services) {
        let dir = tempfile::tempdir().unwrap();
        let s = Services::open(Journal::open(dir.path(), JOURNAL_RECORDS).unwrap())
            .unwrap()
            .with_origin(id);
        (dir, s)
    }

    /// Every change `from` journaled after `after`, flattened.
    fn changes(from: &Services, after: u64) -> Vec<Change> {
        from.journal_after(after, 10_000)
            .unwrap()
            .into_iter()
            .flat_map(|(_, c)| c)
            .collect()
    }

    #[test]
    fn two_centres_that_change_one_service_at_once_agree_whatever_the_order() {
        let ((_a_dir, a), (_b_dir, b)) = (centre("a"), centre("b"));
        a.put(def("db", "first"), "ana", "", 10).unwrap();
        b.apply(changes(&a, 0), None).unwrap();
        assert_eq!(b.get("db").unwrap().def.description, "first");
        let (a_seq, b_seq) = (a.journal_bounds().1, b.journal_bounds().1);
        // both make version 2 at once; b's is later
        a.put(def("db", "from a"), "ana", "", 20).unwrap();
        b.put(def("db", "from b"), "bob", "", 21).unwrap();
        a.apply(changes(&b, b_seq), None).unwrap();
        b.apply(changes(&a, a_seq), None).unwrap();
        for s in [&a, &b] {
            let v = s.get("db").unwrap();
            assert_eq!((v.version, v.def.description.as_str()), (2, "from b"));
            assert_eq!(s.versions("db").unwrap().len(), 2);
        }
        // a deletion at a, then a definition at b that had not seen it: the later stands
        let (a_seq, b_seq) = (a.journal_bounds().1, b.journal_bounds().1);
        a.delete("db", "ana", "", 30).unwrap();
        b.put(def("db", "again"), "bob", "", 31).unwrap();
        b.apply(changes(&a, a_seq), None).unwrap();
        a.apply(changes(&b, b_seq), None).unwrap();
        for s in [&a, &b] {
            assert_eq!(s.get("db").unwrap().def.description, "again");
        }
        // the audit logs hold the same lines, once each
        let (la, lb) = (a.audit(0, 100).unwrap(), b.audit(0, 100).unwrap());
        assert_eq!(la, lb);
        assert_eq!(la.len(), 5, "{la:?}");
    }

    #[test]
    fn a_snapshot_brings_a_new_centre_to_the_same_state_and_a_cursor_moves_with_it() {
        let ((_a_dir, a), (_b_dir, b)) = (centre("a"), centre("b"));
        a.put(def("db", "one"), "ana", "", 10).unwrap();
        a.put(def("web", "two"), "ana", "", 11).unwrap();
        a.delete("web", "ana", "", 12).unwrap();
        a.record_health("db", Health::Down, 13).unwrap();
        a.session_changed(SessionChange::Opened {
            hash: "h".into(),
            session: login("ana", i64::MAX),
        })
        .unwrap();
        let (seq, snapshot) = a.snapshot().unwrap();
        let cursor = Cursor {
            epoch: a.epoch().into(),
            seq,
        };
        let applied = b.apply(snapshot, Some(("a", &cursor))).unwrap();
        assert_eq!(applied.sessions.len(), 1);
        assert_eq!(b.cursor("a"), Some(cursor));
        assert_eq!(b.defs(), a.defs());
        assert!(b.get("web").is_none(), "deleted at a");
        assert_eq!(b.versions("web").unwrap().len(), 1);
        assert_eq!(b.audit(0, 100).unwrap(), a.audit(0, 100).unwrap());
        assert_eq!(b.spans("db", 0, 20).unwrap(), a.spans("db", 0, 20).unwrap());
        assert_eq!(b.kept_sessions(0).len(), 1);
        // applied twice, nothing is doubled
        let (_, again) = a.snapshot().unwrap();
        b.apply(again, None).unwrap();
        assert_eq!(
            b.audit(0, 100).unwrap().len(),
            a.audit(0, 100).unwrap().len()
        );
        // b's own journal holds none of a's changes
        assert!(changes(&b, 0).is_empty());
    }
}
