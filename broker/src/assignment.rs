//! A member's share of its region's agents: rendezvous hashing of every registered agent over
//! the region's assignable members, `replicas` pollers each. Deterministic, so every broker
//! with the same view hands out the same shares with no coordination.

use strata_proto::rendezvous::owners;
use strata_proto::v1::AgentAssignment;

/// The agents of `agents` (id, address) that `me` polls among `members`, each with its
/// pollers, best first.
pub fn share(
    me: &str,
    members: &[String],
    agents: &[(String, String)],
    replicas: u32,
) -> Vec<AgentAssignment> {
    split(me, members, agents, replicas).0
}

/// The agents `me` polls among `members` (as [`share`]), and the others (its standby: what it
/// would take, by the same rule, from members that stop answering while no broker does).
pub fn split(
    me: &str,
    members: &[String],
    agents: &[(String, String)],
    replicas: u32,
) -> (Vec<AgentAssignment>, Vec<AgentAssignment>) {
    if !members.iter().any(|m| m == me) {
        return (Vec::new(), Vec::new());
    }
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    agents
        .iter()
        .map(|(id, address)| {
            let pollers = owners(id, &members, replicas.max(1) as usize);
            let mine = pollers.contains(&me);
            let a = AgentAssignment {
                id: id.clone(),
                address: address.clone(),
                pollers: pollers.into_iter().map(str::to_string).collect(),
            };
            (mine, a)
        })
        .fold((Vec::new(), Vec::new()), |(mut mine, mut other), (m, a)| {
            if m {
                mine.push(a)
            } else {
                other.push(a)
            }
            (mine, other)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("host-{i}"), "127.0.0.1:1".to_string()))
            .collect()
    }

    #[test]
    fn shares_cover_every_agent_replicas_times_and_an_absent_member_gets_none() {
        let members: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let all = agents(200);
        for replicas in [1u32, 2] {
            let mut count = std::collections::HashMap::new();
            for m in &members {
                for a in share(m, &members, &all, replicas) {
                    assert!(a.pollers.contains(m));
                    assert_eq!(a.pollers.len(), replicas as usize);
                    *count.entry(a.id).or_insert(0u32) += 1;
                }
            }
            assert_eq!(count.len(), 200);
            assert!(count.values().all(|&n| n == replicas));
        }
        assert!(share("z", &members, &all, 1).is_empty());
        let (mine, standby) = split("a", &members, &all, 1);
        assert_eq!(
            mine.len() + standby.len(),
            200,
            "every agent is one or the other"
        );
        assert!(
            standby
                .iter()
                .all(|a| !a.pollers.contains(&"a".to_string()))
        );
    }
}
