//! Several centres, all active, that agree: the other centres as this one knows them.
//!
//! Every centre follows every region, so what it computes from the regions' streams (the
//! overview, incidents, QoS rollups, SLO alerts) is the same at each, give or take the
//! streams' delay. What only a centre knows is kept alike by replication
//! ([`crate::replication`]): each centre reads every other's journal of its own changes
//! ([`crate::services::replica`]) from a cursor kept in the same write as what it applied,
//! so a centre stopped for a while catches up where it stopped; the principals travel
//! whole, the later by the rule every centre applies
//! ([`strata_web::auth::principals::later`]).
//!
//! The services' health timeline (the SLA's record) is the one thing computed that is not
//! computed everywhere: two centres recording each its own would see one transition a few
//! hundred milliseconds apart, and a centre that was down would have a hole. So one centre
//! records and the others follow: the one with the lowest id among those whose stream is
//! live. A follower whose recorder's stream breaks (killed: at once; cut off: the
//! connection's keep-alive, 10 s) records from then on, from the last point it was sent.
//! The centres find each other through the brokers' membership (a super-manager's
//! `grpc_address`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The other centres as this one knows them.
#[derive(Debug)]
pub struct Centres {
    me: String,
    /// The other centres the brokers list, by id, with their gRPC addresses.
    known: RwLock<BTreeMap<String, String>>,
    /// Those whose journal this centre follows live (caught up, stream open).
    live: RwLock<BTreeSet<String>>,
    /// Changes applied from other centres.
    pub changes_applied: AtomicU64,
    /// Snapshots received (a follower that could not resume).
    pub snapshots_received: AtomicU64,
    /// Streams served to other centres.
    pub streams_served: AtomicU64,
}

impl Centres {
    /// The centres seen from centre `me`.
    pub fn new(me: &str) -> Self {
        Self {
            me: me.to_string(),
            known: RwLock::default(),
            live: RwLock::default(),
            changes_applied: AtomicU64::new(0),
            snapshots_received: AtomicU64::new(0),
            streams_served: AtomicU64::new(0),
        }
    }

    /// This centre's id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Sets the other centres from the brokers' membership: `(id, gRPC address)` of each
    /// healthy super-manager (this one left out).
    pub fn set_known(&self, centres: impl IntoIterator<Item = (String, String)>) {
        let known: BTreeMap<String, String> = centres
            .into_iter()
            .filter(|(id, addr)| *id != self.me && !addr.is_empty())
            .collect();
        *self.known.write().expect("centres lock poisoned") = known;
    }

    /// The other centres known, with their addresses.
    pub fn known(&self) -> BTreeMap<String, String> {
        self.known.read().expect("centres lock poisoned").clone()
    }

    /// The address of centre `id` while it is known.
    pub fn address(&self, id: &str) -> Option<String> {
        self.known
            .read()
            .expect("centres lock poisoned")
            .get(id)
            .cloned()
    }

    /// Marks centre `id`'s stream live (caught up) or not.
    pub fn set_live(&self, id: &str, live: bool) {
        let mut set = self.live.write().expect("centres lock poisoned");
        if live {
            set.insert(id.to_string());
        } else {
            set.remove(id);
        }
    }

    /// The centres followed live.
    pub fn live(&self) -> Vec<String> {
        self.live
            .read()
            .expect("centres lock poisoned")
            .iter()
            .cloned()
            .collect()
    }

    /// Whether this centre records the services' health timeline: no centre with a lower
    /// id is followed live.
    pub fn records_timeline(&self) -> bool {
        self.live
            .read()
            .expect("centres lock poisoned")
            .iter()
            .all(|id| id.as_str() > self.me.as_str())
    }

    /// Counts `n` changes applied from another centre.
    pub fn applied(&self, n: usize) {
        self.changes_applied.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_live_id_records_the_timeline() {
        let c = Centres::new("super-2");
        c.set_known([
            ("super-1".to_string(), "127.0.0.1:1".to_string()),
            ("super-2".to_string(), "127.0.0.1:2".to_string()),
            ("super-3".to_string(), String::new()),
        ]);
        assert_eq!(
            c.known().len(),
            1,
            "itself and one without an address left out"
        );
        assert!(c.records_timeline(), "super-1 is not followed yet");
        c.set_live("super-3", true);
        assert!(c.records_timeline(), "super-3 comes after");
        c.set_live("super-1", true);
        assert!(!c.records_timeline(), "super-1 records");
        c.set_live("super-1", false);
        assert!(c.records_timeline(), "super-1's stream broke");
    }
}
