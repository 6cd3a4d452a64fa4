//! The checks and probes of the member's agents, as the centre sees them: the latest result
//! of each is kept (and stored with the state), and journaled when its state changes or, to
//! show it still runs, every [`super::REFRESH_MS`]; a result whose timing alone changed is
//! not journaled again before that. Probe runs (see [`crate::probes`]) are journaled as
//! they are stored, one record each.

use prost::Message;
use strata_proto::v1::region_update::Kind;
use strata_proto::v1::{CheckResult, CheckStatus, ProbeRun};
use strata_tsdb::{Journal, TableOp};

use super::{Inner, REFRESH_MS, RegionState};
use crate::error::{Result, SubManagerError};

/// The store key of an agent's check.
pub(super) fn check_key(agent: &str, name: &str) -> Vec<u8> {
    format!("k/{agent}\0{name}").into_bytes()
}

/// Reloads the stored checks into `inner`.
pub(super) fn load(journal: &Journal, inner: &mut Inner) -> Result<()> {
    for (key, value) in journal.scan(b"k/").map_err(SubManagerError::Tsdb)? {
        let status = CheckStatus::decode(value.as_slice()).map_err(|_| {
            SubManagerError::JournalCorrupt(format!("check at {}", String::from_utf8_lossy(&key)))
        })?;
        let agent = strata_proto::resource::host_of(&status.resource_id).to_string();
        inner
            .checks
            .insert((agent, status.name.clone()), (status, i64::MIN));
    }
    Ok(())
}

impl RegionState {
    /// Records the latest results of `agent`'s checks from a poll answer.
    pub fn checks_reported(&self, agent: &str, results: &[CheckResult], now_ms: i64) {
        if results.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for r in results {
            let status = CheckStatus {
                resource_id: self.resource_id(agent),
                name: r.name.clone(),
                kind: r.kind.clone(),
                state: r.state,
                message: r.message.clone(),
                ts_ms: r.ts_ms,
                duration_seconds: r.duration_seconds,
            };
            let key = (agent.to_string(), r.name.clone());
            let due = match inner.checks.get(&key) {
                None => true,
                Some((old, journaled_ms)) => {
                    old.state != status.state
                        || old.kind != status.kind
                        || now_ms.saturating_sub(*journaled_ms) >= REFRESH_MS
                }
            };
            if !due {
                if let Some(entry) = inner.checks.get_mut(&key) {
                    entry.0 = status;
                }
                continue;
            }
            let bytes = status.encode_to_vec();
            let stored = check_key(agent, &r.name);
            inner.checks.insert(key, (status.clone(), now_ms));
            self.append(
                &mut inner,
                Kind::Check(status),
                &[TableOp::Put(&stored, &bytes)],
            );
        }
    }

    /// Journals each probe run read from stored samples (they carry no table state: the
    /// centre keeps them).
    pub fn probes_ran(&self, runs: Vec<ProbeRun>) {
        if runs.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for run in runs {
            self.append(&mut inner, Kind::ProbeRun(run), &[]);
        }
    }

    /// The latest result of every check of this member's agents.
    pub fn checks(&self) -> Vec<CheckStatus> {
        self.lock()
            .checks
            .values()
            .map(|(c, _)| c.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::v1::CheckState;

    fn result(state: CheckState, ts_ms: i64) -> CheckResult {
        CheckResult {
            name: "shop".into(),
            kind: "http".into(),
            state: state as i32,
            message: format!("answered at {ts_ms}"),
            ts_ms,
            duration_seconds: 0.01,
            ..Default::default()
        }
    }

    #[test]
    fn checks_are_journaled_on_change_and_refresh_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let seq = {
            let s =
                RegionState::open("eu", "m1", Journal::open(dir.path(), 100).unwrap(), 1).unwrap();
            s.checks_reported("web", &[result(CheckState::Ok, 1000)], 1000);
            let first = s.seq();
            s.checks_reported("web", &[result(CheckState::Ok, 2000)], 2000);
            assert_eq!(s.seq(), first, "only the timing changed");
            assert_eq!(s.checks()[0].ts_ms, 2000, "but the latest result is kept");
            s.checks_reported("web", &[result(CheckState::Warning, 3000)], 3000);
            assert_eq!(s.seq(), first + 1, "a new state is journaled");
            s.checks_reported("web", &[result(CheckState::Warning, 20_000)], 20_000);
            assert_eq!(s.seq(), first + 2, "and every refresh period");
            s.seq()
        };
        let s = RegionState::open("eu", "m1", Journal::open(dir.path(), 100).unwrap(), 1).unwrap();
        assert_eq!(s.seq(), seq);
        let checks = s.checks();
        assert_eq!((checks.len(), checks[0].state()), (1, CheckState::Warning));
        assert_eq!(checks[0].resource_id, "eu/web");
        s.poll_succeeded("web", &[], 30_000);
        s.release("web");
        assert!(
            s.checks().is_empty(),
            "a released agent's checks go with it"
        );
    }
}
