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
//!
//! Warm brokers also send the region's view: every agent and every member with its address
//! (kept beside, in `view.json`). While no broker stream is open, [`Shares::take_over`]
//! recomputes the share from that view over the members that still answer their peers
//! ([`crate::peers`]), by the brokers' own rendezvous rule: a dead member's agents go to the
//! same members the brokers would give them to, and the first broker to answer again puts
//! its assignment back in force.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tracing::warn;

use strata_proto::rendezvous::owners;
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

/// The region as the last warm broker saw it: enough to share it without the brokers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Pollers per agent.
    pub replicas: u32,
    /// The members, id to address.
    pub members: BTreeMap<String, String>,
    /// Every agent of the region, id to address.
    pub agents: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The latest assignment of each broker whose stream is open, by broker address.
    open: HashMap<String, Assignment>,
    /// Whether any broker ever answered.
    answered: bool,
    /// The region's view from the last warm assignment (or the one kept on disk).
    view: Option<View>,
    /// Whether the members shared the region among themselves since the brokers went away.
    taken_over: bool,
}

/// The assignments received and the share they add up to.
#[derive(Debug)]
pub struct Shares {
    inner: Mutex<Inner>,
    tx: watch::Sender<Arc<Share>>,
    /// Where the share in force is kept, and what it held at start.
    kept: Option<(PathBuf, Share)>,
}

/// Reads JSON kept in `path`: None when there is none, or when it is unreadable (said).
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Option<T> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            warn!(%error, path = %path.display(), "the kept {what} cannot be read");
            return None;
        }
    };
    serde_json::from_str(&text)
        .map_err(
            |error| warn!(%error, path = %path.display(), "the kept {what} is not valid; ignored"),
        )
        .ok()
}

/// The share kept in `path`, or an empty one (none kept yet, or unreadable: said).
fn read_kept(path: &Path) -> Share {
    read_json(path, "share").unwrap_or_default()
}

/// Writes `value` to `path` through a temporary file and a rename.
fn keep<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Where the view is kept, beside the share.
fn view_path(share: &Path) -> PathBuf {
    share.with_file_name("view.json")
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
        let view = read_json(&view_path(&path), "view");
        let shares = Self {
            kept: Some((path, kept)),
            ..Self::new(initial)
        };
        shares.lock().view = view;
        shares
    }

    /// The region's view from the last warm broker, when one was ever had.
    pub fn view(&self) -> Option<View> {
        self.lock().view.clone()
    }

    /// Whether a broker's assignment stream is open.
    pub fn brokers_open(&self) -> bool {
        !self.lock().open.is_empty()
    }

    /// While no broker stream is open, puts in force the share of `me` among the `live`
    /// members (`me` among them) by the brokers' rendezvous rule over the last view; gives
    /// how many agents the share holds then, or None when brokers decide or no view is known.
    pub fn take_over(&self, me: &str, live: &[String]) -> Option<usize> {
        let mut inner = self.lock();
        if !inner.open.is_empty() {
            return None;
        }
        inner.taken_over = inner.view.is_some();
        let view = inner.view.as_ref()?;
        let live: Vec<&str> = live.iter().map(String::as_str).collect();
        let share: Share = view
            .agents
            .iter()
            .filter_map(|(id, address)| {
                let pollers = owners(id, &live, view.replicas.max(1) as usize);
                pollers.contains(&me).then(|| {
                    let target = Target {
                        address: address.clone(),
                        pollers: pollers.into_iter().map(str::to_string).collect(),
                    };
                    (id.clone(), target)
                })
            })
            .collect();
        let held = share.len();
        self.put(share);
        Some(held)
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
        self.learn_view(&mut inner);
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
    /// nothing), unless the members already shared the region among themselves.
    pub fn fall_back(&self, share: Share) {
        let inner = self.lock();
        if !inner.answered && !inner.taken_over {
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
        self.put(share);
    }

    /// Learns the region's view from the warm assignments, and keeps it when it changed.
    fn learn_view(&self, inner: &mut Inner) {
        let mut view = View::default();
        for a in inner
            .open
            .values()
            .filter(|a| a.warm && !a.peers.is_empty())
        {
            view.replicas = view.replicas.max(a.replicas);
            for m in &a.peers {
                view.members.insert(m.id.clone(), m.address.clone());
            }
            for agent in a.agents.iter().chain(&a.standby) {
                view.agents.insert(agent.id.clone(), agent.address.clone());
            }
        }
        if view.members.is_empty() || inner.view.as_ref() == Some(&view) {
            return;
        }
        if let Some((path, _)) = &self.kept
            && let Err(error) = keep(&view_path(path), &view)
        {
            warn!(%error, path = %path.display(), "the region's view cannot be kept");
        }
        inner.view = Some(view);
    }

    /// Puts `share` in force, and keeps it when it changed.
    fn put(&self, share: Share) {
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
            if let Err(error) = keep(path, &*self.current()) {
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
    fn without_brokers_the_members_share_the_region_by_the_brokers_rule() {
        use strata_proto::v1::Member;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("share.json");
        let members = ["a", "b"];
        let agents: Vec<String> = (0..40).map(|i| format!("host-{i}")).collect();
        let owner = |g: &str, live: &[&str]| owners(g, live, 1)[0].to_string();
        let mine: Vec<(&str, &[&str])> = agents
            .iter()
            .filter(|g| owner(g, &members) == "a")
            .map(|g| (g.as_str(), &["a"][..]))
            .collect();
        let mut warm = assignment(true, &mine);
        warm.replicas = 1;
        warm.peers = members
            .iter()
            .map(|m| Member {
                id: m.to_string(),
                address: format!("{m}:1"),
                ..Default::default()
            })
            .collect();
        warm.standby = agents
            .iter()
            .filter(|g| owner(g, &members) == "b")
            .map(|g| AgentAssignment {
                id: g.clone(),
                address: "127.0.0.1:1".into(),
                pollers: vec!["b".into()],
            })
            .collect();
        let s = Shares::kept_in(Share::new(), path.clone());
        assert_eq!(s.take_over("a", &["a".into()]), None, "no view yet");
        s.received("b1", warm.clone());
        assert_eq!(s.take_over("a", &["a".into()]), None, "a broker decides");
        let broker_share = ids(&s);
        s.closed("b1");
        assert_eq!(
            s.take_over("a", &["a".into(), "b".into()]),
            Some(mine.len())
        );
        assert_eq!(ids(&s), broker_share, "the same rule gives the same share");
        assert_eq!(
            s.take_over("a", &["a".into()]),
            Some(40),
            "b is gone: all of it"
        );
        assert_eq!(s.current()["host-0"].pollers, vec!["a"]);
        s.fall_back(Share::new());
        assert_eq!(ids(&s).len(), 40, "no fallback over a take-over");
        // the view outlives a restart
        let again = Shares::kept_in(Share::new(), path);
        assert_eq!(again.view(), s.view());
        assert_eq!(again.view().unwrap().members["b"], "b:1");
        // a broker back: its assignment is in force again
        s.received("b1", warm);
        assert_eq!(ids(&s), broker_share);
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
