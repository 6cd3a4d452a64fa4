//! The region's own audit log: a change made on the regional console (an acknowledgement,
//! rules, channels, an agent's configuration) and every failed login there is recorded
//! here, with who, from where, what and the outcome, before the change is answered as
//! done — also while the centre is unreachable. One JSON object per line, appended and
//! synced, never rewritten.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use strata_web::auth::AuditRecord;

/// The audit file of this member.
#[derive(Debug)]
pub struct AuditFile {
    path: PathBuf,
    file: Mutex<std::fs::File>,
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
        })
    }

    /// Appends `record`, durably.
    pub fn append(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = self.file.lock().expect("audit lock poisoned");
        file.write_all(&line)?;
        file.sync_data()
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
