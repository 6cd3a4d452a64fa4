//! Which member answers a call that several can answer (a resource polled by two replicas):
//! the power of two choices over each member's Peak-EWMA cost, the load measure of tower's
//! balancer: a moving average of its latencies that jumps to any slower one and decays back,
//! times its calls in flight. Picking the cheaper of two random candidates avoids both the
//! herd that always-the-fastest makes and the slow member that round-robin keeps feeding.
//! The candidate set differs per call (the members that hold the resource), so the choice is
//! made per call here rather than by a balancer over a fixed set of services.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Latency assumed for a member never measured.
const DEFAULT_RTT: Duration = Duration::from_millis(50);
/// Time constant of the decay towards the recent average.
const DECAY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Estimate {
    rtt_ns: f64,
    at: Instant,
    in_flight: u32,
}

/// Peak-EWMA estimates per member id.
#[derive(Debug, Default)]
pub struct Latencies {
    estimates: Mutex<HashMap<String, Estimate>>,
    random: AtomicU64,
}

impl Latencies {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Estimate>> {
        self.estimates.lock().expect("latency lock poisoned")
    }

    /// The cost of sending `member` one more call now.
    pub fn cost(&self, member: &str) -> f64 {
        let e = self.lock().get(member).copied();
        let (rtt, in_flight) = e.map_or((DEFAULT_RTT.as_nanos() as f64, 0), |e| {
            (e.rtt_ns, e.in_flight)
        });
        rtt * f64::from(in_flight + 1)
    }

    /// Records that a call to `member` starts.
    pub fn start(&self, member: &str, now: Instant) {
        let mut m = self.lock();
        let e = m.entry(member.to_string()).or_insert(Estimate {
            rtt_ns: DEFAULT_RTT.as_nanos() as f64,
            at: now,
            in_flight: 0,
        });
        e.in_flight += 1;
    }

    /// Records that a call to `member` ended after `rtt`.
    pub fn end(&self, member: &str, rtt: Duration, now: Instant) {
        let mut m = self.lock();
        let Some(e) = m.get_mut(member) else { return };
        e.in_flight = e.in_flight.saturating_sub(1);
        let sample = rtt.as_nanos() as f64;
        if sample > e.rtt_ns {
            e.rtt_ns = sample;
        } else {
            let elapsed = now.saturating_duration_since(e.at).as_secs_f64();
            let w = (-elapsed / DECAY.as_secs_f64()).exp();
            e.rtt_ns = e.rtt_ns * w + sample * (1.0 - w);
        }
        e.at = now;
    }

    fn next_random(&self) -> u64 {
        let mut x = self
            .random
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    /// `candidates` in the order to try them: the cheaper of two picked at random first,
    /// then the rest by cost.
    pub fn order<T>(&self, mut candidates: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
        if candidates.len() < 2 {
            return candidates;
        }
        let n = candidates.len() as u64;
        let a = (self.next_random() % n) as usize;
        let mut b = (self.next_random() % (n - 1)) as usize;
        if b >= a {
            b += 1;
        }
        let first = if self.cost(id(&candidates[a])) <= self.cost(id(&candidates[b])) {
            a
        } else {
            b
        };
        let chosen = candidates.remove(first);
        candidates.sort_by(|x, y| self.cost(id(x)).total_cmp(&self.cost(id(y))));
        candidates.insert(0, chosen);
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_member_is_chosen_less_and_the_estimate_jumps_to_peaks() {
        let l = Latencies::default();
        let t0 = Instant::now();
        for m in ["fast", "slow"] {
            l.start(m, t0);
        }
        l.end(
            "fast",
            Duration::from_millis(2),
            t0 + Duration::from_secs(30),
        );
        l.end("slow", Duration::from_millis(400), t0);
        assert!(l.cost("slow") > l.cost("fast") * 10.0);
        let first: Vec<&str> = (0..50)
            .map(|_| l.order(vec!["fast", "slow"], |m| m)[0])
            .collect();
        assert!(
            first.iter().all(|m| *m == "fast"),
            "of two, the cheaper goes first"
        );
        l.start("fast", t0);
        l.end(
            "fast",
            Duration::from_millis(300),
            t0 + Duration::from_secs(31),
        );
        assert!(
            l.cost("fast") >= Duration::from_millis(300).as_nanos() as f64,
            "a slow answer counts at once"
        );
        let three = l.order(vec!["a", "b", "c"], |m| m);
        assert_eq!(three.len(), 3);
    }
}
