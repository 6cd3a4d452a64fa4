//! The region's own audit log: a change made on the regional console (an acknowledgement,
//! rules, channels, an agent's configuration) and every failed login there is recorded
//! here, with who, from where, what and the outcome, before the change is answered as
//! done — also while the centre is unreachable. One JSON object per line, appended and
//! synced, never rewritten. Each record is then journaled with the region's state, so that
//! the centre, following the region's stream, keeps a copy — at once, or when its link is
//! back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use strata_web::auth::AuditRecord;

/// Where a record goes once it is on disk: the region's journal, for the centre.
pub type Forward = Box<dyn Fn(&AuditRecord) + Send + Sync>;

/// The audit file of this member.
pub struct AuditFile {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    forward: Option<Forward>,
}

impl std::fmt::Debug for AuditFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditFile")
            .field("path", &self.path)
            .finish()
    }
}

/// `record` as the region's journal carries it.
pub fn entry(record: &AuditRecord) -> strata_proto::v1::AuditEntry {
    strata_proto::v1::AuditEntry {
        at_ms: record.at_ms,
        who: record.who.clone(),
        address: record.address.clone(),
        action: record.action.clone(),
        subject: record.subject.clone(),
        outcome: record.outcome.clone(),
        detail: record.detail.clone(),
    }
}

impl AuditFile {
    /// Opens (or creates) the audit file at `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            forward: None,
        })
    }

    /// Hands each record, once written, to `forward` (the region's journal, which the
    /// centre follows).
    pub fn forward_to(mut self, forward: Forward) -> Self {
        self.forward = Some(forward);
        self
    }

    /// Appends `record`, durably.
    pub fn append(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        {
            let mut file = self.file.lock().expect("audit lock poisoned");
            file.write_all(&line)?;
            file.sync_data()?;
        }
        if let Some(forward) = &self.forward {
            forward(record);
        }
        Ok(())
    }

    /// Writes `record` (of a change whose outcome is `result`) before `result` is
    /// answered: a change done but not recorded becomes `internal`'s error; a failed one is
    /// answered as it failed, a failure to record it logged.
    pub fn settle<T, E>(
        &self,
        record: &AuditRecord,
        result: Result<T, E>,
        internal: impl FnOnce(String) -> E,
    ) -> Result<T, E> {
        match (self.append(record), &result) {
            (Err(e), Ok(_)) => Err(internal(format!(
                "{} {} was done, but the audit log could not be written: {e}",
                record.action, record.subject
            ))),
            (Err(e), Err(_)) => {
                tracing::warn!(action = %record.action, subject = %record.subject, error = %e, "writing the audit log failed");
                result
            }
            (Ok(()), _) => result,
        }
    }

    /// The records in `[from_ms, to_ms)`, oldest first (a line that does not parse, such
    /// as one cut short by a crash, is skipped).
    pub fn read(&self, from_ms: i64, to_ms: i64) -> std::io::Result<Vec<AuditRecord>> {
        let text = std::fs::read_to_string(&self.path)?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<AuditRecord>(l).ok())
            .filter(|r| r.at_ms >= from_ms && r.at_ms < to_ms)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_appended_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditFile::open(&path).unwrap();
        let record = |at_ms, who: &str| AuditRecord {
            at_ms,
            who: who.into(),
            address: "127.0.0.1:1".into(),
            action: "acknowledge".into(),
            subject: "eu/web-1 cpu".into(),
            outcome: "ok".into(),
            detail: String::new(),
        };
        log.append(&record(10, "ana")).unwrap();
        drop(log);
        let log = AuditFile::open(&path).unwrap();
        log.append(&record(20, "bo")).unwrap();
        let all = log.read(0, 100).unwrap();
        assert_eq!(all, vec![record(10, "ana"), record(20, "bo")]);
        assert_eq!(log.read(15, 100).unwrap().len(), 1);
    }
}
