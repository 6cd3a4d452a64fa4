//! `[push_limits]`: how much a pushed configuration may ask of the host.

use std::time::Duration;

use serde::Deserialize;

use crate::durations::too_long;

/// Bounds on a pushed configuration; each has a documented default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushLimits {
    /// Longest pushed TOML text, in bytes (default 256 KiB); a longer one is refused unread.
    pub max_text_bytes: usize,
    /// Most pushed checks (default 100).
    pub max_checks: usize,
    /// Shortest interval of a pushed check or item (default 1 s).
    #[serde(with = "humantime_serde")]
    pub min_interval: Duration,
    /// Longest interval of a pushed check or item (default 1 day).
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    /// Longest timeout of a pushed check (default 5 min).
    #[serde(with = "humantime_serde")]
    pub max_timeout: Duration,
    /// Most bytes a pushed check reads in one run (default 4 MiB): a log's or access log's
    /// `max_read_bytes` and `max_line_bytes`, an HTTP probe's `max_body_bytes`. A pushed
    /// check that leaves such a key out gets the smaller of its default and this bound.
    pub max_read_bytes: u64,
    /// Longest list a pushed check or item keeps (default 100): an access log's `top`, a log's
    /// `keep_lines`, `items.processes` `top` and `watch`.
    pub max_top: usize,
    /// Most arguments a pushed script check appends to a local command (default 16).
    pub max_args: usize,
}

impl Default for PushLimits {
    fn default() -> Self {
        Self {
            max_text_bytes: 256 * 1024,
            max_checks: 100,
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(86_400),
            max_timeout: Duration::from_secs(300),
            max_read_bytes: 4 << 20,
            max_top: 100,
            max_args: 16,
        }
    }
}

fn human(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

impl PushLimits {
    /// Problems of the section itself, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.min_interval < Duration::from_millis(100) {
            problems.push("push_limits.min_interval: below the minimum of 100ms".to_string());
        }
        if self.max_interval < self.min_interval {
            problems.push("push_limits.max_interval: below push_limits.min_interval".into());
        }
        if self.max_timeout.is_zero() {
            problems.push("push_limits.max_timeout: must be above zero".into());
        }
        for (key, d) in [
            ("push_limits.min_interval", self.min_interval),
            ("push_limits.max_interval", self.max_interval),
            ("push_limits.max_timeout", self.max_timeout),
        ] {
            problems.extend(too_long(key, d));
        }
        if self.max_text_bytes == 0 {
            problems.push("push_limits.max_text_bytes: must be at least 1".into());
        }
        problems
    }

    /// A problem of `key` (`checks[0].interval`) when `d` is outside the interval bounds.
    pub fn interval(&self, key: &str, d: Duration) -> Option<String> {
        if d < self.min_interval {
            Some(format!(
                "{key}: {} is below push_limits.min_interval ({})",
                human(d),
                human(self.min_interval)
            ))
        } else if d > self.max_interval {
            Some(format!(
                "{key}: {} is above push_limits.max_interval ({})",
                human(d),
                human(self.max_interval)
            ))
        } else {
            None
        }
    }

    /// A problem of `key` when the timeout `d` is above `max_timeout`.
    pub fn timeout(&self, key: &str, d: Duration) -> Option<String> {
        (d > self.max_timeout).then(|| {
            format!(
                "{key}: {} is above push_limits.max_timeout ({})",
                human(d),
                human(self.max_timeout)
            )
        })
    }

    /// A problem of `key` when `n` bytes are above `max_read_bytes`.
    pub fn read_bytes(&self, key: &str, n: u64) -> Option<String> {
        (n > self.max_read_bytes).then(|| {
            format!(
                "{key}: {n} is above push_limits.max_read_bytes ({})",
                self.max_read_bytes
            )
        })
    }

    /// A problem of `key` when a list of `n` is above `max_top`.
    pub fn top(&self, key: &str, n: usize) -> Option<String> {
        (n > self.max_top)
            .then(|| format!("{key}: {n} is above push_limits.max_top ({})", self.max_top))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sane_and_bad_bounds_are_named() {
        assert!(PushLimits::default().problems().is_empty());
        let l: PushLimits = toml::from_str(
            "min_interval = '10ms'\nmax_timeout = '0s'\nmax_interval = '300000000000years'",
        )
        .unwrap();
        let p = l.problems().join("\n");
        for key in [
            "push_limits.min_interval",
            "push_limits.max_timeout",
            "push_limits.max_interval",
        ] {
            assert!(p.contains(key), "{key} missing from {p}");
        }
        let l = PushLimits::default();
        assert!(
            l.interval("checks[0].interval", Duration::from_secs(1))
                .is_none()
        );
        let p = l
            .interval("checks[0].interval", Duration::from_millis(200))
            .unwrap();
        assert!(p.starts_with("checks[0].interval: 200ms is below"), "{p}");
        assert!(
            l.timeout("checks[0].timeout", Duration::from_secs(301))
                .is_some()
        );
        assert!(l.read_bytes("k", 4 << 20).is_none() && l.read_bytes("k", (4 << 20) + 1).is_some());
        assert!(l.top("k", 100).is_none() && l.top("k", 101).is_some());
    }
}
