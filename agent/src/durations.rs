//! Configured durations made safe to add to a clock.
//!
//! humantime parses `"300000000000years"` into a valid [`Duration`], but `Instant + d`
//! panics when the sum passes what the clock can hold, and a `Duration + Duration` near the
//! top overflows. Every duration read from a config is therefore bounded twice: validation
//! refuses one above [`LONGEST`] naming its key ([`too_long`]; a pushed config has tighter
//! bounds of its own, `[push_limits]`), and the code that turns a duration into a deadline,
//! a sleep or a period goes through [`deadline`] or [`period`], which clamp, so that a
//! value no validation saw (a struct built in code) cannot panic either.

use std::time::{Duration, Instant};

/// The longest duration any configuration may give (365 days): far past any sensible
/// interval or timeout, far below what a clock can add.
pub const LONGEST: Duration = Duration::from_secs(365 * 86_400);

/// The shortest period a loop is given, so that no interval is zero.
const SHORTEST_PERIOD: Duration = Duration::from_millis(1);

/// `d`, at most [`LONGEST`].
pub fn capped(d: Duration) -> Duration {
    d.min(LONGEST)
}

/// `from + d`, with `d` capped at [`LONGEST`]: never panics.
pub fn deadline(from: Instant, d: Duration) -> Instant {
    from.checked_add(capped(d)).unwrap_or(from)
}

/// `d` as a loop's period: between 1 ms and [`LONGEST`].
pub fn period(d: Duration) -> Duration {
    d.clamp(SHORTEST_PERIOD, LONGEST)
}

/// A problem naming `key` when `d` is above [`LONGEST`]; `key` is written as given
/// (`collect_interval`, `checks 'web': timeout`).
pub fn too_long(key: &str, d: Duration) -> Option<String> {
    (d > LONGEST).then(|| {
        format!(
            "{key}: {} is above the longest allowed, {}",
            humantime::format_duration(d),
            humantime::format_duration(LONGEST)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_duration_is_named_and_clamped_never_added_raw() {
        let huge = humantime::parse_duration("300000000000years").unwrap();
        let p = too_long("checks 'x': interval", huge).unwrap();
        assert!(p.starts_with("checks 'x': interval: "), "{p}");
        assert!(too_long("timeout", Duration::from_secs(60)).is_none());
        let now = Instant::now();
        assert_eq!(deadline(now, huge), now + LONGEST);
        assert_eq!(deadline(now, Duration::MAX), now + LONGEST);
        assert_eq!(period(huge), LONGEST);
        assert_eq!(period(Duration::ZERO), SHORTEST_PERIOD);
    }
}
