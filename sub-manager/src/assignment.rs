//! Which agents this sub-manager polls: its share, as the brokers assign it.
//!
//! Each broker with an open assignment stream contributes the share it computed; the share in
//! force is their union, so that a broker that lags only adds pollers for a moment (ingest is
//! idempotent and every poller has its own cursor) and never takes an agent away alone. A
//! broker that has just started may not know every agent yet ("cold"): while no warm broker
//! answers, the share only grows. With every stream broken the last share stays in force, so
//! that a region cut off from the centre keeps polling. Without brokers, every agent of the
//! config is polled.
//!
//! The share in force is kept on disk (`share.json` in the data directory) whenever it
//! changes: a member restarted while the brokers are unreachable polls its last share again
//! (the agents that registered themselves with the brokers included), beside the agents of
//! its config, instead of the config's alone.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tracing::warn;

use strata_proto::v1::Assignment;
use tokio::sync::watch;

use crate::config::AgentTarget;

/// One agent of the share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Where it is polled, `host:port`.
    pub address: String,
    /// Every poller assigned to the agent, this member included; empty without brokers.
    pub pollers: Vec<String>,
}

/// The agents this member polls, by id.
pub type Share = BTreeMap<String, Target>;

#[derive(Debug, Default)]
struct Inner {
    /// The latest assignment of each broker whose stream is open, by broker address.
    open: HashMap<String, Assignment>,
    /// Whether any broker ever answered.
    answered: bool,
}

/// The assignments received and the share they add up to.
#[derive(Debug)]
pub struct Shares {
    inner: Mutex<Inner>,
    tx: watch::Sender<Arc<Share>>,
    /// Where the share in force is kept, and what it held at start.
    kept: Option<(PathBuf, Share)>,
}

/// The share kept in `path`, or an empty one (none kept yet, or unreadable: said).
fn read_kept(path: &Path) -> Share {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Share::new(),
        Err(error) => {
            warn!(%error, path = %path.display(), "the kept share cannot be read");
            return Share::new();
        }
    };
    serde_json::from_str(&text).unwrap_or_else(|error| {
        warn!(%error, path = %path.display(), "the kept share is not valid; ignored");
        Share::new()
    })
}

/// Writes `share` to `path` through a temporary file and a rename.
fn keep(path: &Path, share: &Share) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec(share).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The share of a member that has no broker: every configured agent.
pub fn static_share(agents: &[AgentTarget]) -> Share {
    agents
        .iter()
        .map(|a| {
            (
                a.id.clone(),
                Target {
                    address: a.address.clone(),
                    pollers: Vec::new(),
                },
            )
        })
        .collect()
}

impl Shares {
    /// Starts with `initial` in force (empty while brokers are expected to answer).
    pub fn new(initial: Share) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            tx: watch::Sender::new(Arc::new(initial)),
            kept: None,
        }
    }

    /// As [`Shares::new`], keeping the share in force in `path` (read at start, written on
    /// every change).
    pub fn kept_in(initial: Share, path: PathBuf) -> Self {
        let kept = read_kept(&path);
        Self {
            kept: Some((path, kept)),
            ..Self::new(initial)
        }
    }

    /// The share kept on disk when this process started (empty when none was).
    pub fn kept(&self) -> Share {
        self.kept
            .as_ref()
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    /// A receiver of the share in force, which changes when it does.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Share>> {
        self.tx.subscribe()
    }

    /// The share in force.
    pub fn current(&self) -> Arc<Share> {
        self.tx.borrow().clone()
    }

    /// Whether any broker ever sent an assignment.
    pub fn answered(&self) -> bool {
        self.lock().answered
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("shares lock poisoned")
    }

    /// Records the assignment a broker sent on its open stream.
    pub fn received(&self, broker: &str, assignment: Assignment) {
        let mut inner = self.lock();
        inner.answered = true;
        inner.open.insert(broker.to_string(), assignment);
        self.settle(&inner);
    }

    /// Records that a broker's stream broke: its assignment no longer counts.
    pub fn closed(&self, broker: &str) {
        let mut inner = self.lock();
        if inner.open.remove(broker).is_some() {
            self.settle(&inner);
        }
    }

    /// Puts `share` in force if no broker has answered (brokers configured but unreachable
    /// since start: the region polls what its config lists, and its last share, rather than
    /// nothing).
    pub fn fall_back(&self, share: Share) {
        let inner = self.lock();
        if !inner.answered {
            self.tx.send_replace(Arc::new(share));
        }
    }

    fn settle(&self, inner: &Inner) {
        if inner.open.is_empty() {
            return;
        }
        let warm: Vec<&Assignment> = inner.open.values().filter(|a| a.warm).collect();
        let mut share = if warm.is_empty() {
            // Cold brokers may not know every agent yet: add, never take away.
            (*self.current()).clone()
        } else {
            Share::new()
        };
        let sources: Vec<&Assignment> = if warm.is_empty() {
            inner.open.values().collect()
        } else {
            warm
        };
        for a in sources {
            for agent in &a.agents {
                let t = share.entry(agent.id.clone()).or_insert_with(|| Target {
                    address: agent.address.clone(),
                    pollers: Vec::new(),
                });
                for p in &agent.pollers {
                    if !t.pollers.contains(p) {
                        t.pollers.push(p.clone());
                    }
                }
            }
        }
        let changed = self.tx.send_if_modified(|current| {
            if **current == share {
                false
            } else {
                *current = Arc::new(share);
                true
            }
        });
        if changed && let Some((path, _)) = &self.kept {
            // a share that cannot be kept costs only a restart cut off: say so, carry on
            if let Err(error) = keep(path, &self.current()) {
                warn!(%error, path = %path.display(), "the share in force cannot be kept");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::v1::AgentAssignment;

    fn assignment(warm: bool, agents: &[(&str, &[&str])]) -> Assignment {
        Assignment {
            warm,
            agents: agents
                .iter()
                .map(|(id, pollers)| AgentAssignment {
                    id: id.to_string(),
                    address: "127.0.0.1:1".into(),
                    pollers: pollers.iter().map(|p| p.to_string()).collect(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn ids(s: &Shares) -> Vec<String> {
        s.current().keys().cloned().collect()
    }

    #[test]
    fn the_share_is_the_union_of_open_warm_brokers_and_survives_their_loss() {
        let s = Shares::new(Share::new());
        let mut rx = s.subscribe();
        s.received(
            "b1",
            assignment(true, &[("x", &["me"]), ("y", &["me", "o"])]),
        );
        s.received("b2", assignment(true, &[("x", &["me"]), ("z", &["me"])]));
        assert_eq!(ids(&s), vec!["x", "y", "z"]);
        assert_eq!(s.current()["y"].pollers, vec!["me", "o"]);
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        s.received("b2", assignment(true, &[("x", &["me"])]));
        assert_eq!(ids(&s), vec!["x", "y"], "z moved away on both brokers");
        s.closed("b1");
        assert_eq!(ids(&s), vec!["x"], "b1's view no longer counts");
        s.closed("b2");
        assert_eq!(
            ids(&s),
            vec!["x"],
            "with every broker gone the last share holds"
        );
        s.fall_back(Share::new());
        assert_eq!(ids(&s), vec!["x"], "no fallback once a broker answered");
    }

    #[test]
    fn cold_brokers_only_add() {
        let s = Shares::new(Share::new());
        s.received("b1", assignment(true, &[("x", &["me"]), ("y", &["me"])]));
        s.closed("b1");
        s.received("b1", assignment(false, &[("x", &["me"])]));
        assert_eq!(
            ids(&s),
            vec!["x", "y"],
            "a restarted broker may not know y yet"
        );
        s.received("b1", assignment(true, &[("x", &["me"])]));
        assert_eq!(ids(&s), vec!["x"]);
    }

    #[test]
    fn the_share_in_force_is_kept_for_a_restart_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("share.json");
        let s = Shares::kept_in(Share::new(), path.clone());
        assert!(s.kept().is_empty(), "nothing kept yet");
        s.received(
            "b1",
            assignment(true, &[("x", &["me"]), ("self-registered", &["me"])]),
        );
        s.closed("b1");
        // restarted: the share it last had, as it had it
        let again = Shares::kept_in(Share::new(), path.clone());
        assert_eq!(again.kept(), *s.current());
        // a file that is not a share is ignored, not fatal
        std::fs::write(&path, "{not json").unwrap();
        assert!(Shares::kept_in(Share::new(), path).kept().is_empty());
    }

    #[test]
    fn without_any_answer_the_configured_agents_are_polled() {
        let s = Shares::new(Share::new());
        let configured = static_share(&[AgentTarget {
            id: "a".into(),
            address: "127.0.0.1:1".into(),
        }]);
        s.fall_back(configured);
        assert_eq!(ids(&s), vec!["a"]);
        assert!(s.current()["a"].pollers.is_empty());
    }
}
