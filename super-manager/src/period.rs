//! Report periods: what `?period=` means, in UTC.
//!
//! Operators ask for "last month" or "October", not for epoch milliseconds, and a monthly
//! SLA report must cover the calendar month exactly. A period is one of:
//! - `day`, `week`, `month`, `year`: the last complete one (ISO weeks start on Monday);
//! - `today`, `this-week`, `this-month`, `this-year`: the current one, up to now;
//! - `2026`, `2026-10`, `2026-10-31`: that calendar year, month or day;
//! - a duration (`90m`, `24h`, `7d`): that long, ending now.
//!
//! Without `period`, `from_ms` and `to_ms` (epoch milliseconds) are read, each with a default.

use std::collections::HashMap;

use serde::Serialize;

const DAY_MS: i64 = 86_400_000;

/// A half-open stretch of time `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day counted from 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn month_start(y: i64, m: u32) -> i64 {
    days_from_civil(y, m, 1) * DAY_MS
}

fn next_month(y: i64, m: u32) -> (i64, u32) {
    if m == 12 { (y + 1, 1) } else { (y, m + 1) }
}

fn prev_month(y: i64, m: u32) -> (i64, u32) {
    if m == 1 { (y - 1, 12) } else { (y, m - 1) }
}

/// Parses `text` as a period, at `now_ms`.
pub fn parse(text: &str, now_ms: i64) -> Result<Period, String> {
    let today = now_ms.div_euclid(DAY_MS);
    let (y, m, _) = civil_from_days(today);
    // 1970-01-01 was a Thursday: days since the last Monday
    let weekday = (today + 3).rem_euclid(7);
    let monday = (today - weekday) * DAY_MS;
    let p = |from_ms, to_ms| Ok(Period { from_ms, to_ms });
    match text {
        "today" => return p(today * DAY_MS, now_ms),
        "day" => return p((today - 1) * DAY_MS, today * DAY_MS),
        "this-week" => return p(monday, now_ms),
        "week" => return p(monday - 7 * DAY_MS, monday),
        "this-month" => return p(month_start(y, m), now_ms),
        "month" => {
            let (py, pm) = prev_month(y, m);
            return p(month_start(py, pm), month_start(y, m));
        }
        "this-year" => return p(month_start(y, 1), now_ms),
        "year" => return p(month_start(y - 1, 1), month_start(y, 1)),
        _ => {}
    }
    let parts: Vec<&str> = text.split('-').collect();
    let all_digits = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if all_digits && (1..=3).contains(&parts.len()) && parts[0].len() == 4 {
        let year: i64 = parts[0].parse().map_err(|_| bad(text))?;
        let num = |i: usize, max: u32| -> Result<u32, String> {
            parts[i]
                .parse()
                .ok()
                .filter(|v| (1..=max).contains(v))
                .ok_or_else(|| bad(text))
        };
        return match parts.len() {
            1 => p(month_start(year, 1), month_start(year + 1, 1)),
            2 => {
                let month = num(1, 12)?;
                let (ny, nm) = next_month(year, month);
                p(month_start(year, month), month_start(ny, nm))
            }
            _ => {
                let (month, day) = (num(1, 12)?, num(2, 31)?);
                let days = days_from_civil(year, month, day);
                if civil_from_days(days) != (year, month, day) {
                    return Err(bad(text));
                }
                p(days * DAY_MS, (days + 1) * DAY_MS)
            }
        };
    }
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => p(now_ms - d.as_millis() as i64, now_ms),
        _ => Err(bad(text)),
    }
}

fn bad(text: &str) -> String {
    format!(
        "period: '{text}' is not day, week, month, year, today, this-week, this-month, \
         this-year, a date (2026, 2026-10, 2026-10-31) or a duration (24h, 7d)"
    )
}

/// The period a request names: `period`, else `from_ms`/`to_ms` (to defaults to now, from
/// to `default_ms` before it). Errors name the parameter.
pub fn from_query(
    q: &HashMap<String, String>,
    now_ms: i64,
    default_ms: i64,
) -> Result<Period, String> {
    let p = match q.get("period") {
        Some(text) => parse(text, now_ms)?,
        None => from_bounds(q, now_ms, default_ms)?,
    };
    if p.to_ms - p.from_ms > MAX_SPAN_MS {
        return Err(format!(
            "period: {} days is longer than the 100 years a report may cover",
            (p.to_ms - p.from_ms) / DAY_MS
        ));
    }
    Ok(p)
}

/// The longest period a report may cover.
const MAX_SPAN_MS: i64 = 36_525 * DAY_MS;

fn from_bounds(
    q: &HashMap<String, String>,
    now_ms: i64,
    default_ms: i64,
) -> Result<Period, String> {
    let int = |key: &str, default: i64| -> Result<i64, String> {
        match q.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("{key}: '{v}' is not milliseconds since the epoch")),
        }
    };
    let to_ms = int("to_ms", now_ms)?;
    let from_ms = int("from_ms", to_ms - default_ms)?;
    if from_ms >= to_ms {
        return Err(format!("from_ms {from_ms} is not before to_ms {to_ms}"));
    }
    Ok(Period { from_ms, to_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, m: u32, d: u32, hour: i64) -> i64 {
        days_from_civil(y, m, d) * DAY_MS + hour * 3_600_000
    }

    #[test]
    fn calendar_periods_are_exact_in_utc() {
        // Monday 2026-11-23, 10:00
        let now = at(2026, 11, 23, 10);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        let cases = [
            ("today", at(2026, 11, 23, 0), now),
            ("day", at(2026, 11, 22, 0), at(2026, 11, 23, 0)),
            ("this-week", at(2026, 11, 23, 0), now),
            ("week", at(2026, 11, 16, 0), at(2026, 11, 23, 0)),
            ("month", at(2026, 10, 1, 0), at(2026, 11, 1, 0)),
            ("this-month", at(2026, 11, 1, 0), now),
            ("year", at(2025, 1, 1, 0), at(2026, 1, 1, 0)),
            ("this-year", at(2026, 1, 1, 0), now),
            ("2026-02", at(2026, 2, 1, 0), at(2026, 3, 1, 0)),
            ("2024-12", at(2024, 12, 1, 0), at(2025, 1, 1, 0)),
            ("2024-02-29", at(2024, 2, 29, 0), at(2024, 3, 1, 0)),
            ("2025", at(2025, 1, 1, 0), at(2026, 1, 1, 0)),
            ("24h", now - DAY_MS, now),
            ("7d", now - 7 * DAY_MS, now),
        ];
        for (text, from_ms, to_ms) in cases {
            assert_eq!(parse(text, now), Ok(Period { from_ms, to_ms }), "{text}");
        }
        // on a Sunday the week so far began six days before
        let sunday = at(2026, 11, 29, 23);
        assert_eq!(
            parse("this-week", sunday).unwrap().from_ms,
            at(2026, 11, 23, 0)
        );
        // January's previous month is December of the year before
        assert_eq!(
            parse("month", at(2027, 1, 5, 0)).unwrap(),
            Period {
                from_ms: at(2026, 12, 1, 0),
                to_ms: at(2027, 1, 1, 0)
            }
        );
    }

    #[test]
    fn bad_periods_are_named() {
        for text in ["2025-02-30", "2025-13", "fortnight", "0s", "26-01"] {
            let err = parse(text, 0).unwrap_err();
            assert!(err.starts_with("period:") && err.contains(text), "{err}");
        }
        let q: HashMap<String, String> = [("from_ms".to_string(), "x".to_string())].into();
        assert!(
            from_query(&q, 1000, 10)
                .unwrap_err()
                .starts_with("from_ms:")
        );
        let q: HashMap<String, String> = HashMap::new();
        assert_eq!(
            from_query(&q, 1000, 10),
            Ok(Period {
                from_ms: 990,
                to_ms: 1000
            })
        );
        let q: HashMap<String, String> = [("from_ms".to_string(), "0".to_string())].into();
        assert!(
            from_query(&q, i64::MAX / 2, 10)
                .unwrap_err()
                .starts_with("period:")
        );
    }
}
