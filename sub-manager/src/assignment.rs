//! Which agents this sub-manager polls: rendezvous hashing over the live members of the
//! region. Every member (and every broker) with the same view computes the same owners, so
//! no coordination is needed; when a member dies only its agents move.

use strata_proto::v1::Member;

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64 finaliser, for a good spread of nearby keys
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// Rendezvous score of `member` for `agent`.
pub fn score(agent: &str, member: &str) -> u64 {
    let mut key = Vec::with_capacity(agent.len() + member.len() + 1);
    key.extend_from_slice(agent.as_bytes());
    key.push(0);
    key.extend_from_slice(member.as_bytes());
    fnv1a(&key)
}

/// The id of the member that owns `agent` among `members` (None when there are none).
pub fn owner<'a>(agent: &str, members: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    members.into_iter().max_by_key(|m| (score(agent, m), *m))
}

/// What a sub-manager knows of its region's live members.
#[derive(Debug, Clone, Default)]
pub enum View {
    /// No broker has answered yet: poll every configured agent (ingest is idempotent).
    #[default]
    Unknown,
    /// The live member ids of the region, as the brokers last said.
    Members(Vec<String>),
}

impl View {
    /// A view from the members a broker listed.
    pub fn from_members(members: &[Member]) -> Self {
        let mut ids: Vec<String> = members
            .iter()
            .filter(|m| m.healthy)
            .map(|m| m.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        View::Members(ids)
    }

    /// Whether member `me` polls `agent` in this view.
    pub fn owns(&self, me: &str, agent: &str) -> bool {
        match self {
            View::Unknown => true,
            View::Members(ids) if !ids.iter().any(|m| m == me) => true,
            View::Members(ids) => owner(agent, ids.iter().map(String::as_str)) == Some(me),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agent_has_exactly_one_owner_and_only_the_dead_members_move() {
        let members = ["a", "b", "c"];
        let agents: Vec<String> = (0..300).map(|i| format!("host-{i}")).collect();
        let before: Vec<&str> = agents.iter().map(|g| owner(g, members).unwrap()).collect();
        for m in members {
            let n = before.iter().filter(|o| **o == m).count();
            assert!(n > 60, "member {m} owns only {n} of 300");
        }
        let after: Vec<&str> = agents
            .iter()
            .map(|g| owner(g, ["a", "c"]).unwrap())
            .collect();
        for (b, a) in before.iter().zip(&after) {
            if *b != "b" {
                assert_eq!(b, a, "an agent of a live member moved");
            }
        }
    }

    #[test]
    fn views_decide_ownership() {
        assert!(View::Unknown.owns("a", "x"));
        let v = View::Members(vec!["a".into(), "b".into()]);
        let owned_by_a = v.owns("a", "x");
        assert_ne!(owned_by_a, v.owns("b", "x"));
        let not_listed = View::Members(vec!["b".into()]);
        assert!(
            not_listed.owns("a", "x"),
            "a member missing from the view polls everything"
        );
    }
}
