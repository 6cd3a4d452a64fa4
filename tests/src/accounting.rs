//! The exact accounting of the fault tests: every sample of the steady simulated agents
//! stored once, and exactly the incidents the scenario must raise at the centre.
//!
//! Samples: every steady agent's `sim_sample_number` counts its ticks, so the region must
//! store exactly the ticks 1..=n of each, n growing: read through a broker, which merges the
//! members a history is spread over, the distinct ticks must number n with none repeated at
//! another timestamp. Incidents: steady agent 7 runs at warning CPU and 13 at critical from
//! their first poll on, and each flapping agent taken down and brought back up raises one
//! `reachable` incident that resolves.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{Resource, ResourceState};
use strata_testkit::{block_on, wait_for};
use tonic::transport::Channel;

/// An incident as the assertions compare it: resource, rule, severity, resolved.
pub type Incident = (String, String, String, bool);

/// An incident with its id and opening time.
pub type Listed = (Incident, String, i64);

/// GETs a path of the centre's API as JSON (over HTTP or HTTPS, as the test's centre serves).
pub type Get<'a> = &'a dyn Fn(&str) -> Result<Value, String>;

/// What a scenario's region holds: `steady` agents `sim-0001`.. and `flapping` agents
/// `flap-0001`.., sampled every `interval_ms`.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// The region the agents are in.
    pub region: String,
    /// How many steady agents (`sim-0001`..): 7 runs at warning CPU, 13 at critical.
    pub steady: usize,
    /// How many flapping agents (`flap-0001`..), taken down and up by the scenario.
    pub flapping: usize,
    /// Their sample interval.
    pub interval_ms: u64,
}

impl Accounts {
    /// The region in the centre's overview: how many of its members are healthy, how many
    /// agents are up, and the whole entry (for messages).
    pub fn region_health(&self, get: Get<'_>) -> Result<(usize, u64, Value), String> {
        let overview = get("/api/v1/overview")?;
        let region = overview["regions"]
            .as_array()
            .and_then(|rs| {
                rs.iter()
                    .find(|r| r["name"] == self.region.as_str())
                    .cloned()
            })
            .ok_or_else(|| format!("no region {} in {overview}", self.region))?;
        let healthy = region["sub_managers"]
            .as_array()
            .map_or(0, |s| s.iter().filter(|m| m["healthy"] == true).count());
        let up = region["resources"]["up"].as_u64().unwrap_or(0);
        Ok((healthy, up, region))
    }

    /// Waits until `agents` hosts were polled and up since `since_ms`, in the region-wide
    /// lists that `resources` gives (one per member asked, concatenated).
    pub fn wait_polled_since(
        &self,
        what: &str,
        agents: usize,
        since_ms: i64,
        resources: &dyn Fn() -> Result<Vec<Resource>, String>,
    ) {
        wait_for(what, Duration::from_secs(20), || {
            let polled: std::collections::BTreeSet<String> = resources()?
                .into_iter()
                .filter(|r| r.state() == ResourceState::Up && r.last_poll_ms > since_ms)
                .map(|r| r.host)
                .collect();
            if polled.len() == agents {
                Ok(())
            } else {
                Err(format!("{polled:?}"))
            }
        });
    }

    /// Each steady agent's stored ticks `(timestamp, tick)`, read through `broker`.
    pub fn stored_ticks(
        &self,
        broker: &Channel,
    ) -> Result<BTreeMap<String, Vec<(i64, u64)>>, String> {
        let (channel, region) = (broker.clone(), self.region.clone());
        block_on(async move {
            let answer = SubManagerClient::new(channel)
                .query_range(strata_testkit::ticks::ticks_query(&region, Vec::new()))
                .await
                .map_err(|s| format!("QueryRange through a broker: {}", s.message()))?;
            let mut out = BTreeMap::new();
            for s in answer.into_inner().series {
                let agent = s
                    .labels
                    .iter()
                    .find(|l| l.name == "agent")
                    .map(|l| l.value.clone())
                    .unwrap_or_default();
                if agent.starts_with("sim-") {
                    let points = s.points.iter().map(|p| (p.ts_ms, p.value as u64)).collect();
                    out.insert(agent, points);
                }
            }
            Ok(out)
        })
    }

    /// Waits until every steady agent has stored at least `at_least` ticks, then checks that
    /// each stored exactly ticks 1..=n, once each; returns the smallest n.
    pub fn exact_ticks(&self, broker: &Channel, at_least: u64) -> u64 {
        self.exact_ticks_since(broker, at_least, 0)
    }

    /// As [`Accounts::exact_ticks`], for the ticks stamped from `since_ms` on (with a member
    /// out of reach, the history it alone holds is too): they must run without a gap from
    /// the first tick after `since_ms` to n.
    pub fn exact_ticks_since(&self, broker: &Channel, at_least: u64, since_ms: i64) -> u64 {
        let stored = wait_for(
            &format!("every steady agent to store {at_least} ticks"),
            Duration::from_secs(60),
            || {
                let stored = self.stored_ticks(broker)?;
                let least = stored
                    .values()
                    .map(|p| p.iter().map(|(_, v)| *v).max().unwrap_or(0))
                    .min()
                    .unwrap_or(0);
                if stored.len() == self.steady && least >= at_least {
                    Ok(stored)
                } else {
                    Err(format!("{} agents, least {least}", stored.len()))
                }
            },
        );
        let mut least = u64::MAX;
        for (agent, points) in &stored {
            let points: Vec<(i64, u64)> = points
                .iter()
                .copied()
                .filter(|(ts, _)| *ts >= since_ms)
                .collect();
            let max = points.iter().map(|(_, v)| *v).max().unwrap();
            let (first_ts, first) = points.iter().copied().min().unwrap();
            if since_ms == 0 {
                assert_eq!(first, 1, "{agent}: ticks start at {first}");
            } else {
                assert!(
                    first_ts < since_ms + 2 * self.interval_ms as i64,
                    "{agent}: nothing stored from {since_ms} until {first_ts}"
                );
            }
            let mut ticks: Vec<u64> = points.iter().map(|(_, v)| *v).collect();
            ticks.sort_unstable();
            ticks.dedup();
            assert_eq!(
                ticks,
                (first..=max).collect::<Vec<_>>(),
                "{agent}: stored ticks are not exactly {first}..={max}"
            );
            assert_eq!(
                points.len() as u64,
                max - first + 1,
                "{agent}: a tick is stored at two timestamps"
            );
            least = least.min(max);
        }
        least
    }

    /// The region's incidents at the centre (`include`: `open` or `resolved`, which lists
    /// both).
    pub fn incidents(&self, get: Get<'_>, include: &str) -> Result<Vec<Listed>, String> {
        let path = format!("/api/v1/events?region={}&include={include}", self.region);
        Ok(get(&path)?
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e: &Value| {
                (
                    (
                        e["resource_id"].as_str().unwrap_or("").to_string(),
                        e["rule"].as_str().unwrap_or("").to_string(),
                        e["severity"].as_str().unwrap_or("").to_string(),
                        e["resolved_ms"].as_i64().unwrap_or(0) > 0,
                    ),
                    e["id"].as_str().unwrap_or("").to_string(),
                    e["opened_ms"].as_i64().unwrap_or(0),
                )
            })
            .collect())
    }

    /// Every incident of a simulated agent, open and resolved, sorted (real agents' depend
    /// on the machine's load).
    pub fn all_incidents(&self, get: Get<'_>) -> Result<Vec<Incident>, String> {
        let mut all: Vec<Incident> = self
            .incidents(get, "resolved")?
            .into_iter()
            .map(|(i, _, _)| i)
            .filter(|i| i.0.contains("/sim-") || i.0.contains("/flap-"))
            .collect();
        all.sort();
        Ok(all)
    }

    /// The steady incidents' ids and opening times, which no fault may change.
    pub fn steady_ids(&self, get: Get<'_>) -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = self
            .incidents(get, "open")
            .unwrap()
            .into_iter()
            .filter(|(i, _, _)| i.0.contains("/sim-"))
            .map(|(_, id, opened)| (id, opened))
            .collect();
        v.sort();
        v
    }

    /// The incidents the scenario must end with: the two steady ones, open, and one resolved
    /// `reachable` incident per flapping agent for each of `flaps` cycles.
    pub fn expected(&self, flaps: usize) -> Vec<Incident> {
        let i = |r: &str, rule: &str, sev: &str, resolved| {
            (
                format!("{}/{r}", self.region),
                rule.to_string(),
                sev.to_string(),
                resolved,
            )
        };
        let mut v = vec![
            i("sim-0007", "cpu", "warning", false),
            i("sim-0013", "cpu", "critical", false),
        ];
        for _ in 0..flaps {
            for n in 1..=self.flapping {
                v.push(i(&format!("flap-{n:04}"), "reachable", "critical", true));
            }
        }
        v.sort();
        v
    }

    /// Waits until the centre shows exactly `want`, and checks it stays so for a few polls.
    pub fn exact_incidents(&self, get: Get<'_>, want: &[Incident]) {
        wait_for("the exact incidents", Duration::from_secs(30), || {
            let got = self.all_incidents(get)?;
            if got == want {
                Ok(())
            } else {
                Err(format!("got {got:?}, want {want:?}"))
            }
        });
        std::thread::sleep(Duration::from_millis(3 * self.interval_ms));
        assert_eq!(
            self.all_incidents(get).unwrap(),
            want,
            "incidents changed after settling"
        );
    }
}
