//! What the scheduled reports have done: for each schedule, the occurrence last handled,
//! when it was sent, and a delivery under way, kept in `<data_dir>/report-schedules.json`
//! (written to a temporary file, then renamed) and shown by the API. The sending is
//! `crate::reports::deliver`'s.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tracing::warn;

/// The state file, under `data_dir`.
pub const FILE: &str = "report-schedules.json";

/// What was last done for one schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    /// The occurrence last handled (sent, given up, or passed before the schedule was
    /// first seen).
    pub due_ms: i64,
    /// When it was sent (0: never).
    pub sent_ms: i64,
    /// Whether it was sent after the centre missed its time.
    pub late: bool,
    /// Earlier occurrences missed before it.
    pub missed: u32,
    /// An occurrence being delivered: its time, the receivers that have it, the tries.
    pub pending_ms: i64,
    pub delivered: Vec<String>,
    pub attempts: u32,
    /// The last delivery error.
    pub error: Option<String>,
}

/// The schedules' state, read by the API.
#[derive(Debug, Default)]
pub struct Board {
    kept: std::sync::RwLock<BTreeMap<String, Kept>>,
}

impl Board {
    /// What was last done for every schedule, by name.
    pub fn kept(&self) -> BTreeMap<String, Kept> {
        self.kept.read().expect("schedules lock poisoned").clone()
    }

    /// Replaces what is shown with `kept`.
    pub fn show(&self, kept: &BTreeMap<String, Kept>) {
        *self.kept.write().expect("schedules lock poisoned") = kept.clone();
    }
}

/// The state kept at `path`; empty when there is none or it does not read.
pub fn load(path: &Path) -> BTreeMap<String, Kept> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            warn!(path = %path.display(), %error, "the scheduled reports' state is unreadable; starting afresh");
            BTreeMap::new()
        }),
        Err(_) => BTreeMap::new(),
    }
}

/// Keeps `kept` at `path`.
pub fn save(path: &Path, kept: &BTreeMap<String, Kept>) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(kept).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_survives_a_write_and_a_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(load(&path).is_empty());
        let mut kept = BTreeMap::new();
        kept.insert(
            "weekly".to_string(),
            Kept {
                due_ms: 5,
                sent_ms: 6,
                late: true,
                missed: 2,
                ..Kept::default()
            },
        );
        save(&path, &kept).unwrap();
        assert_eq!(load(&path), kept);
        std::fs::write(&path, "not json").unwrap();
        assert!(load(&path).is_empty(), "an unreadable state starts afresh");
    }
}
