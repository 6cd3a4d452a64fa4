//! Rendezvous (highest random weight) hashing of agents over the live members of a region.
//!
//! Brokers compute assignments with it, so every broker with the same view agrees without
//! talking to the others; when a member dies only its agents move, and when it returns it
//! takes back exactly those. Sub-managers use the same score to spread their first polls.

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

/// The `replicas` members with the highest scores for `agent`, best first (fewer when there
/// are fewer members).
pub fn owners<'a>(agent: &str, members: &[&'a str], replicas: usize) -> Vec<&'a str> {
    let mut scored: Vec<(u64, &'a str)> = members.iter().map(|m| (score(agent, m), *m)).collect();
    scored.sort_unstable_by(|a, b| b.cmp(a));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(replicas).map(|(_, m)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agent_has_its_replicas_and_only_the_dead_members_agents_move() {
        let members = ["a", "b", "c"];
        let agents: Vec<String> = (0..300).map(|i| format!("host-{i}")).collect();
        let before: Vec<Vec<&str>> = agents.iter().map(|g| owners(g, &members, 1)).collect();
        for m in members {
            let n = before.iter().filter(|o| o[0] == m).count();
            assert!(n > 60, "member {m} owns only {n} of 300");
        }
        let after: Vec<Vec<&str>> = agents.iter().map(|g| owners(g, &["a", "c"], 1)).collect();
        for (b, a) in before.iter().zip(&after) {
            if b[0] != "b" {
                assert_eq!(b, a, "an agent of a live member moved");
            }
        }
        for g in &agents {
            let two = owners(g, &members, 2);
            assert_eq!(two.len(), 2);
            assert_ne!(two[0], two[1]);
            assert_eq!(
                two[0],
                owners(g, &members, 1)[0],
                "the first replica is the owner"
            );
        }
        assert_eq!(owners("x", &["a"], 2), vec!["a"]);
        assert!(owners("x", &[], 1).is_empty());
    }
}
