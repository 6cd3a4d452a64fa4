//! Planned maintenance windows: at the centre, time inside one of a service's windows counts
//! neither as available nor as lost (SLA reports, burn rates); in a region, events inside a
//! window notify nobody. Shared here because both roles read the same syntax.
//!
//! A window is one-off (`from`, `to`, RFC 3339) or recurring (`every = "sun 02:00"` weekly or
//! `every = "02:00"` daily, UTC, with a `duration`).

use serde::{Deserialize, Serialize};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// The most occurrences of one recurring window looked at for one period.
const MAX_OCCURRENCES: u32 = 40_000;

/// A planned maintenance window, as written in a service definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Start of a one-off window (RFC 3339, e.g. `2026-11-28T02:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// End of a one-off window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// A recurring window's start: `sun 02:00` (weekly) or `02:00` (daily), UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// How long a recurring window lasts.
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<std::time::Duration>,
}

/// A window compiled: a one-off stretch, or a period, an offset in it and a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compiled {
    Once(i64, i64),
    Every { period: i64, offset: i64, len: i64 },
}

/// Reads an RFC 3339 time (`2026-11-28T02:00:00Z`) into ms since the epoch; the error
/// says what is wrong with `text`.
pub fn rfc3339_ms(text: &str) -> Result<i64, String> {
    humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("'{text}' is not an RFC 3339 time ({e})"))
        .and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .map_err(|_| format!("'{text}' is before 1970"))
        })
}

fn rfc3339(field: &str, text: &str) -> Result<i64, String> {
    rfc3339_ms(text).map_err(|e| format!("{field}: {e}"))
}

fn clock(text: &str) -> Option<i64> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some((h * 60 + m) * MINUTE_MS)
}

/// 1970-01-01 was a Thursday: the offset of each weekday's midnight in a week counted from
/// the epoch.
fn weekday(text: &str) -> Option<i64> {
    let days = ["thu", "fri", "sat", "sun", "mon", "tue", "wed"];
    let lower = text.to_ascii_lowercase();
    days.iter()
        .position(|d| lower.starts_with(d))
        .map(|i| i as i64 * DAY_MS)
}

impl Maintenance {
    fn compile(&self, at: &str) -> Result<Compiled, String> {
        match (&self.from, &self.to, &self.every, self.duration) {
            (Some(from), Some(to), None, None) => {
                let (a, b) = (
                    rfc3339(&format!("{at}.from"), from)?,
                    rfc3339(&format!("{at}.to"), to)?,
                );
                if a >= b {
                    return Err(format!("{at}.to: '{to}' is not after from '{from}'"));
                }
                Ok(Compiled::Once(a, b))
            }
            (None, None, Some(every), Some(d)) => {
                let len = d.as_millis() as i64;
                let bad = || {
                    format!(
                        "{at}.every: '{every}' is not 'HH:MM' (daily) or 'sun HH:MM' (weekly), UTC"
                    )
                };
                let (period, offset) = match every.split_once(' ') {
                    Some((day, time)) => (
                        WEEK_MS,
                        weekday(day).ok_or_else(bad)? + clock(time.trim()).ok_or_else(bad)?,
                    ),
                    None => (DAY_MS, clock(every).ok_or_else(bad)?),
                };
                if len <= 0 || len >= period {
                    return Err(format!(
                        "{at}.duration: {d:?} must be above zero and shorter than the period it repeats in"
                    ));
                }
                Ok(Compiled::Every {
                    period,
                    offset,
                    len,
                })
            }
            _ => Err(format!(
                "{at}: a window is either from and to, or every and duration"
            )),
        }
    }

    /// The problems of this window, each naming its field under `at`.
    pub fn problems(&self, at: &str) -> Vec<String> {
        self.compile(at).err().into_iter().collect()
    }

    /// Whether `at_ms` lies inside the window (a window with problems never holds).
    pub fn holds(&self, at_ms: i64) -> bool {
        !stretches(std::slice::from_ref(self), at_ms, at_ms + 1).is_empty()
    }
}

/// The stretches of `windows` that meet `[from_ms, to_ms)`, clipped to it, in order and
/// merged where they overlap. Invalid windows (refused at validation) are skipped.
pub fn stretches(windows: &[Maintenance], from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for w in windows {
        match w.compile("") {
            Ok(Compiled::Once(a, b)) => out.push((a, b)),
            Ok(Compiled::Every {
                period,
                offset,
                len,
            }) => {
                let mut start = (from_ms - len - offset).div_euclid(period) * period + offset;
                // a bound on the work an absurd period could ask for (a century of days)
                let mut left = MAX_OCCURRENCES;
                while start < to_ms && left > 0 {
                    left -= 1;
                    out.push((start, start + len));
                    start += period;
                }
            }
            Err(_) => {}
        }
    }
    let mut clipped: Vec<(i64, i64)> = out
        .into_iter()
        .map(|(a, b)| (a.max(from_ms), b.min(to_ms)))
        .filter(|(a, b)| a < b)
        .collect();
    clipped.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (a, b) in clipped {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// How much of `[from_ms, to_ms)` the (merged, ordered) `stretches` cover, in ms.
pub fn overlap(stretches: &[(i64, i64)], from_ms: i64, to_ms: i64) -> i64 {
    stretches
        .iter()
        .map(|(a, b)| (b.min(&to_ms) - a.max(&from_ms)).max(0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(every: &str, hours: u64) -> Maintenance {
        Maintenance {
            from: None,
            to: None,
            every: Some(every.into()),
            duration: Some(std::time::Duration::from_secs(hours * 3600)),
        }
    }

    #[test]
    fn recurring_and_one_off_windows_fall_where_written() {
        // Sunday 2026-11-22 02:00 UTC
        let sunday_2am = rfc3339("x", "2026-11-22T02:00:00Z").unwrap();
        let w = [weekly("sun 02:00", 2)];
        let week = stretches(&w, sunday_2am - 3 * DAY_MS, sunday_2am + 4 * DAY_MS);
        assert_eq!(week, vec![(sunday_2am, sunday_2am + 2 * 3_600_000)]);
        // clipped at the period's edges, and daily windows every day
        let daily = [weekly("23:30", 1)];
        let s = stretches(&daily, sunday_2am, sunday_2am + 2 * DAY_MS);
        let first = sunday_2am + 21 * 3_600_000 + 30 * MINUTE_MS;
        assert_eq!(
            s,
            vec![
                (first, first + 3_600_000),
                (first + DAY_MS, first + DAY_MS + 3_600_000)
            ]
        );
        let s = stretches(&daily, first + 30 * MINUTE_MS, first + 45 * MINUTE_MS);
        assert_eq!(s, vec![(first + 30 * MINUTE_MS, first + 45 * MINUTE_MS)]);
        let once = Maintenance {
            from: Some("2026-11-22T02:00:00Z".into()),
            to: Some("2026-11-22T05:00:00Z".into()),
            every: None,
            duration: None,
        };
        // overlapping windows merge
        let both = stretches(
            &[once, w[0].clone()],
            sunday_2am - WEEK_MS,
            sunday_2am + WEEK_MS,
        );
        assert_eq!(both.iter().filter(|(a, _)| *a == sunday_2am).count(), 1);
        assert!(both.contains(&(sunday_2am, sunday_2am + 3 * 3_600_000)));
        assert_eq!(
            overlap(&both, sunday_2am + 3_600_000, sunday_2am + 4 * 3_600_000),
            2 * 3_600_000
        );
    }

    #[test]
    fn bad_windows_name_their_field() {
        let mut m = weekly("someday 25:00", 1);
        assert!(m.problems("w")[0].starts_with("w.every:"));
        m = weekly("mon 01:00", 24 * 8);
        assert!(m.problems("w")[0].starts_with("w.duration:"));
        m.every = None;
        assert!(m.problems("w")[0].contains("either from and to"));
        let backwards = Maintenance {
            from: Some("2026-11-22T05:00:00Z".into()),
            to: Some("2026-11-22T02:00:00Z".into()),
            every: None,
            duration: None,
        };
        assert!(backwards.problems("w")[0].starts_with("w.to:"));
    }
}
