//! Slowing password guessing down. Each password check is memory-hard and a few run at
//! once, which bounds the rate of guesses a manager can be made to check, but not who they
//! are aimed at. So a name (from any address) and an address (for any name) that fail
//! [`FREE_FAILURES`] logins in a row must then wait before their next try: one second,
//! doubling with each further failure, at most [`MAX_WAIT`]. A login within the wait is
//! refused before its password is checked. A success clears the name's count; an address's
//! count fades after [`FORGET_AFTER`] without failures. The table is bounded: when full, the
//! entries least recently failed make room.
//!
//! A wait on a name can be caused by someone else guessing at it: that is the price of not
//! letting anyone guess freely, and why the wait is bounded and short at first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins in a row before any wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// How long a count is kept without a new failure.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Names and addresses followed at once.
pub const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last: Instant,
}

impl Count {
    /// When the next try is allowed.
    fn until(&self) -> Instant {
        match self.failures.checked_sub(FREE_FAILURES) {
            None => self.last,
            Some(over) => {
                let wait = Duration::from_secs(1u64 << over.min(20)).min(MAX_WAIT);
                self.last + wait
            }
        }
    }
}

/// The failed logins of each name and address.
#[derive(Debug, Default)]
pub struct Lockout {
    counts: Mutex<HashMap<String, Count>>,
}

/// The keys a login is counted under: its name and its address's IP.
pub fn keys(name: &str, address: &str) -> Vec<String> {
    let ip = address
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| address.to_string());
    let mut keys = vec![format!("name:{name}")];
    if !ip.is_empty() {
        keys.push(format!("address:{ip}"));
    }
    keys
}

impl Lockout {
    /// How long a login under `keys` must still wait at `now` (`None`: it may try), and
    /// after how many failures.
    pub fn wait(&self, keys: &[String], now: Instant) -> Option<(Duration, u32)> {
        let counts = self.counts.lock().expect("lockout lock poisoned");
        keys.iter()
            .filter_map(|k| counts.get(k))
            .filter(|c| now.duration_since(c.last) < FORGET_AFTER)
            .filter_map(|c| {
                let until = c.until();
                (until > now).then(|| (until - now, c.failures))
            })
            .max()
    }

    /// Counts a failed login under `keys` at `now`.
    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut counts = self.counts.lock().expect("lockout lock poisoned");
        for key in keys {
            if !counts.contains_key(key) && counts.len() >= MAX_KEYS {
                counts.retain(|_, c| now.duration_since(c.last) < FORGET_AFTER);
                if counts.len() >= MAX_KEYS {
                    let oldest = counts
                        .iter()
                        .min_by_key(|(_, c)| c.last)
                        .map(|(k, _)| k.clone());
                    if let Some(k) = oldest {
                        counts.remove(&k);
                    }
                }
            }
            let count = counts.entry(key.clone()).or_insert(Count {
                failures: 0,
                last: now,
            });
            if now.duration_since(count.last) >= FORGET_AFTER {
                count.failures = 0;
            }
            count.failures += 1;
            count.last = now;
        }
    }

    /// Clears the count of `key` after a login that succeeded.
    pub fn succeeded(&self, key: &str) {
        self.counts
            .lock()
            .expect("lockout lock poisoned")
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_waits_after_five_failures_and_the_wait_doubles_up_to_the_bound() {
        let lockout = Lockout::default();
        let t0 = Instant::now();
        let ana = keys("ana", "10.0.0.1:5555");
        assert_eq!(ana, vec!["name:ana", "address:10.0.0.1"]);
        for i in 0..FREE_FAILURES {
            assert_eq!(lockout.wait(&ana, t0), None, "before failure {i}");
            lockout.failed(&ana, t0);
        }
        assert_eq!(lockout.wait(&ana, t0), Some((Duration::from_secs(1), 5)));
        lockout.failed(&ana, t0);
        assert_eq!(lockout.wait(&ana, t0), Some((Duration::from_secs(2), 6)));
        // the same name from another address waits too, another name from there does not
        let elsewhere = keys("ana", "10.0.0.2:1");
        assert!(lockout.wait(&elsewhere, t0).is_some());
        assert_eq!(lockout.wait(&keys("bo", "10.0.0.3:1"), t0), None);
        // another name from the guessing address waits
        assert!(lockout.wait(&keys("bo", "10.0.0.1:1"), t0).is_some());
        // and after the wait, it may try again
        assert_eq!(lockout.wait(&ana, t0 + Duration::from_secs(2)), None);
        for _ in 0..40 {
            lockout.failed(&ana, t0);
        }
        assert_eq!(lockout.wait(&ana, t0).map(|w| w.0), Some(MAX_WAIT));
        // a success clears the name, not the address
        lockout.succeeded("name:ana");
        assert_eq!(lockout.wait(&keys("ana", ""), t0), None);
        assert!(lockout.wait(&keys("ana", "10.0.0.1:1"), t0).is_some());
        // counts fade
        assert_eq!(lockout.wait(&ana, t0 + FORGET_AFTER), None);
    }

    #[test]
    fn the_table_stays_bounded() {
        let lockout = Lockout::default();
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS + 50) {
            lockout.failed(
                &[format!("name:n{i}")],
                t0 + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(lockout.counts.lock().unwrap().len(), MAX_KEYS);
    }
}
