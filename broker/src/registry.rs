//! The agents registered for each region: soft state with a ttl, refreshed by the agents (or
//! by whoever registers a discovery file for them), so that a restarted broker relearns the
//! whole table within one refresh period and keeps nothing on disk.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use tokio::sync::watch;

#[derive(Debug, Clone)]
struct Registration {
    address: String,
    expires: Instant,
}

/// The registered agents of every region.
#[derive(Debug)]
pub struct Registry {
    regions: HashMap<String, BTreeMap<String, Registration>>,
    version: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            regions: HashMap::new(),
            version: watch::Sender::new(0),
        }
    }
}

impl Registry {
    /// A receiver that changes whenever the set of agents or an address does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Registers or refreshes `agents` (id, address) of `region` for `ttl`; returns how many
    /// were new.
    pub fn register(
        &mut self,
        region: &str,
        agents: impl IntoIterator<Item = (String, String)>,
        ttl: Duration,
        now: Instant,
    ) -> u32 {
        let table = self.regions.entry(region.to_string()).or_default();
        let mut added = 0;
        let mut changed = false;
        for (id, address) in agents {
            let expires = now + ttl;
            match table.get_mut(&id) {
                Some(r) => {
                    changed |= r.address != address;
                    r.address = address;
                    r.expires = r.expires.max(expires);
                }
                None => {
                    table.insert(id, Registration { address, expires });
                    added += 1;
                    changed = true;
                }
            }
        }
        if changed {
            self.version.send_modify(|v| *v += 1);
        }
        added
    }

    /// Forgets registrations whose ttl ran out; call periodically.
    pub fn expire(&mut self, now: Instant) {
        let mut changed = false;
        for table in self.regions.values_mut() {
            let before = table.len();
            table.retain(|_, r| r.expires > now);
            changed |= table.len() != before;
        }
        self.regions.retain(|_, t| !t.is_empty());
        if changed {
            self.version.send_modify(|v| *v += 1);
        }
    }

    /// The registered agents of `region`: (id, address), sorted by id.
    pub fn agents(&self, region: &str) -> Vec<(String, String)> {
        self.regions
            .get(region)
            .map(|t| {
                t.iter()
                    .map(|(id, r)| (id.clone(), r.address.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Registered agents per region.
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = self
            .regions
            .iter()
            .map(|(r, t)| (r.clone(), t.len()))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_refresh_change_and_expire() {
        let mut r = Registry::default();
        let rx = r.subscribe();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(30);
        let two = vec![
            ("a".to_string(), "h:1".to_string()),
            ("b".into(), "h:1".into()),
        ];
        assert_eq!(r.register("eu", two.clone(), ttl, t0), 2);
        let v = *rx.borrow();
        assert_eq!(r.register("eu", two, ttl, t0 + Duration::from_secs(20)), 0);
        assert_eq!(*rx.borrow(), v, "a refresh changes nothing watchers see");
        r.register("eu", vec![("a".into(), "h:2".into())], ttl, t0);
        assert!(*rx.borrow() > v, "a new address is a change");
        r.register("eu", vec![("c".into(), "h:3".into())], ttl, t0);
        r.expire(t0 + Duration::from_secs(40));
        let ids: Vec<String> = r.agents("eu").into_iter().map(|(id, _)| id).collect();
        assert_eq!(
            ids,
            vec!["a", "b"],
            "c was never refreshed; a and b were at 20 s"
        );
        assert_eq!(r.agents("eu")[0].1, "h:2");
        r.expire(t0 + Duration::from_secs(51));
        assert!(r.agents("eu").is_empty());
        assert!(r.counts().is_empty());
    }
}
