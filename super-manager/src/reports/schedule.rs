//! Scheduled reports as configured (`[[reports.schedules]]`), and their calendar: when each
//! is due, in its own time zone, and which period the report then covers.
//!
//! A daily report due at 07:00 in Europe/Paris covers the day before in Paris, a weekly
//! one the seven days before its day, a monthly one the month before: the readers' days,
//! not UTC's. Daylight-saving changes are the zone database's business (a time that does
//! not exist on a spring morning is taken as the next one that does).

use std::collections::{BTreeMap, HashSet};

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use serde::Deserialize;

use crate::period::Period;

/// How often a schedule is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    Daily,
    Weekly,
    Monthly,
}

/// What a scheduled report is sent as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The table as the mail's HTML body, and as a CSV attachment.
    #[default]
    Both,
    /// The table as the mail's HTML body.
    Html,
    /// The table as a CSV attachment to a plain-text mail.
    Csv,
}

/// One scheduled report (`[[reports.schedules]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Unique name; the subject and the kept state name it.
    pub name: String,
    /// A report kind (`availability`, `performance`, `failure`, ...).
    pub report: String,
    /// `daily`, `weekly` or `monthly`.
    pub every: Every,
    /// Local time of day, `HH:MM` or `HH:MM:SS` (default 07:00).
    #[serde(default = "seven")]
    pub at: String,
    /// Weekly: `mon` ... `sun` (default `mon`).
    #[serde(default)]
    pub weekday: Option<String>,
    /// Monthly: the day of the month, 1 to 28 (default 1).
    #[serde(default)]
    pub day: Option<i8>,
    /// An IANA time zone, `Europe/Paris` (default `UTC`).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// `both` (default), `html` or `csv`.
    #[serde(default)]
    pub format: Format,
    /// Names of `[[notify.receivers]]`.
    pub receivers: Vec<String>,
    /// The report's own parameters (`service`, `resources`, `metric`, `limit`, `who`, ...).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

fn seven() -> String {
    "07:00".into()
}

fn utc() -> String {
    "UTC".into()
}

/// Parameters a schedule may not give: the schedule decides the period and format.
const OWN_PARAMS: [&str; 4] = ["period", "from_ms", "to_ms", "format"];

/// A schedule ready to run: its config with the time zone and the time of day read.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub config: ScheduleConfig,
    tz: TimeZone,
    at: (i8, i8, i8),
    weekday: Weekday,
    day: i8,
}

fn parse_at(text: &str) -> Option<(i8, i8, i8)> {
    let parts: Vec<&str> = text.split(':').collect();
    let num = |s: &str, max: i8| {
        (s.len() == 2)
            .then(|| s.parse::<i8>().ok())
            .flatten()
            .filter(|n| (0..=max).contains(n))
    };
    match parts.as_slice() {
        [h, m] => Some((num(h, 23)?, num(m, 59)?, 0)),
        [h, m, s] => Some((num(h, 23)?, num(m, 59)?, num(s, 59)?)),
        _ => None,
    }
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

impl Schedule {
    /// The schedule of `config`, or what is wrong with it, naming the key (`at` is
    /// `reports.schedules[i]`).
    pub fn new(config: &ScheduleConfig, at: &str) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let tz = TimeZone::get(&config.time_zone)
            .map_err(|e| problems.push(format!("{at}.time_zone: '{}': {e}", config.time_zone)))
            .ok();
        let time = parse_at(&config.at);
        if time.is_none() {
            problems.push(format!(
                "{at}.at: '{}' is not a time of day as HH:MM or HH:MM:SS",
                config.at
            ));
        }
        let weekday = match &config.weekday {
            None => Some(Weekday::Monday),
            Some(w) => parse_weekday(w),
        };
        if weekday.is_none() {
            problems.push(format!(
                "{at}.weekday: '{}' is not one of mon, tue, wed, thu, fri, sat, sun",
                config.weekday.as_deref().unwrap_or_default()
            ));
        }
        if config.weekday.is_some() && config.every != Every::Weekly {
            problems.push(format!("{at}.weekday: only for every = \"weekly\""));
        }
        let day = config.day.unwrap_or(1);
        if !(1..=28).contains(&day) {
            problems.push(format!(
                "{at}.day: {day} is not a day of every month (1 to 28)"
            ));
        }
        if config.day.is_some() && config.every != Every::Monthly {
            problems.push(format!("{at}.day: only for every = \"monthly\""));
        }
        if !super::KINDS.contains(&config.report.as_str()) {
            problems.push(format!(
                "{at}.report: '{}' is not one of {}",
                config.report,
                super::KINDS.join(", ")
            ));
        }
        for key in config.params.keys() {
            if OWN_PARAMS.contains(&key.as_str()) {
                problems.push(format!(
                    "{at}.params.{key}: the schedule sets the period and the format itself"
                ));
            }
        }
        if config.receivers.is_empty() {
            problems.push(format!("{at}.receivers: name at least one receiver"));
        }
        match (tz, time, weekday) {
            (Some(tz), Some(at), Some(weekday)) if problems.is_empty() => Ok(Self {
                config: config.clone(),
                tz,
                at,
                weekday,
                day,
            }),
            _ => Err(problems),
        }
    }

    /// The occurrence on `date` (the schedule's time of day there), in its zone.
    fn on(&self, date: Date) -> Option<Zoned> {
        let (h, m, s) = self.at;
        date.at(h, m, s, 0).to_zoned(self.tz.clone()).ok()
    }

    /// The date of the latest occurrence on or before `date`'s own, by the cadence.
    fn candidate(&self, date: Date) -> Option<Date> {
        match self.config.every {
            Every::Daily => Some(date),
            Every::Weekly => {
                let back = (date.weekday().to_monday_zero_offset()
                    - self.weekday.to_monday_zero_offset())
                .rem_euclid(7);
                date.checked_sub(i64::from(back).days()).ok()
            }
            Every::Monthly => Date::new(date.year(), date.month(), self.day).ok(),
        }
    }

    /// The date of the occurrence before the one on `date`.
    fn previous(&self, date: Date) -> Option<Date> {
        match self.config.every {
            Every::Daily => date.yesterday().ok(),
            Every::Weekly => date.checked_sub(7.days()).ok(),
            Every::Monthly => date.checked_sub(1.month()).ok(),
        }
    }

    /// When the schedule was last due at or before `now_ms`, in milliseconds.
    pub fn last_due(&self, now_ms: i64) -> Option<i64> {
        let now = Timestamp::from_millisecond(now_ms)
            .ok()?
            .to_zoned(self.tz.clone());
        let mut date = self.candidate(now.date())?;
        // at most two steps back: today's (or this week's, month's) time may be to come
        for _ in 0..3 {
            let at = self.on(date)?;
            let ms = at.timestamp().as_millisecond();
            if ms <= now_ms {
                return Some(ms);
            }
            date = self.previous(date)?;
        }
        None
    }

    /// When the schedule is next due after `now_ms`.
    pub fn next_due(&self, now_ms: i64) -> Option<i64> {
        let last = self.last_due(now_ms)?;
        let date = Timestamp::from_millisecond(last)
            .ok()?
            .to_zoned(self.tz.clone())
            .date();
        let next = match self.config.every {
            Every::Daily => date.tomorrow().ok()?,
            Every::Weekly => date.checked_add(7.days()).ok()?,
            Every::Monthly => date.checked_add(1.month()).ok()?,
        };
        Some(self.on(next)?.timestamp().as_millisecond())
    }

    /// The period the report due at `due_ms` covers: the local day, seven days or month
    /// before the day it is due.
    pub fn period(&self, due_ms: i64) -> Option<Period> {
        let date = Timestamp::from_millisecond(due_ms)
            .ok()?
            .to_zoned(self.tz.clone())
            .date();
        let (from, to) = match self.config.every {
            Every::Daily => (date.yesterday().ok()?, date),
            Every::Weekly => (date.checked_sub(7.days()).ok()?, date),
            Every::Monthly => {
                let first = date.first_of_month();
                (first.checked_sub(1.month()).ok()?, first)
            }
        };
        let start = |d: Date| {
            d.to_zoned(self.tz.clone())
                .ok()
                .map(|z| z.timestamp().as_millisecond())
        };
        Some(Period {
            from_ms: start(from)?,
            to_ms: start(to)?,
        })
    }

    /// How `ms` reads in the schedule's zone (`2026-12-05 07:00 CET`).
    pub fn local(&self, ms: i64) -> String {
        Timestamp::from_millisecond(ms)
            .map(|t| {
                t.to_zoned(self.tz.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .unwrap_or_else(|_| ms.to_string())
    }
}

/// Every schedule of `configs`, or every problem, each naming its key; `receivers` are
/// the names of the configured receivers.
pub fn schedules(
    configs: &[ScheduleConfig],
    receivers: &[String],
) -> Result<Vec<Schedule>, Vec<String>> {
    let mut problems = Vec::new();
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let at = format!("reports.schedules[{i}]");
        if c.name.trim().is_empty() {
            problems.push(format!("{at}.name: must not be empty"));
        } else if !names.insert(c.name.as_str()) {
            problems.push(format!("{at}.name: '{}' is used twice", c.name));
        }
        for r in &c.receivers {
            if !receivers.contains(r) {
                problems.push(format!(
                    "{at}.receivers: '{r}' is not a receiver of [[notify.receivers]]"
                ));
            }
        }
        match Schedule::new(c, &at) {
            Ok(s) => out.push(s),
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(every: Every, at: &str, tz: &str) -> ScheduleConfig {
        ScheduleConfig {
            name: "r".into(),
            report: "availability".into(),
            every,
            at: at.into(),
            weekday: None,
            day: None,
            time_zone: tz.into(),
            format: Format::Both,
            receivers: vec!["mail".into()],
            params: BTreeMap::new(),
        }
    }

    /// Milliseconds of a UTC civil time.
    fn utc_ms(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
        Date::new(y, mo, d)
            .unwrap()
            .at(h, mi, 0, 0)
            .to_zoned(TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    #[test]
    fn a_daily_report_is_due_at_its_local_time_and_covers_the_local_day_before() {
        let s = Schedule::new(&config(Every::Daily, "07:00", "Europe/Paris"), "s").unwrap();
        // 2026-12-05 06:30 UTC is 07:30 in Paris (CET, UTC+1): due at 06:00 UTC today
        let now = utc_ms(2026, 12, 5, 6, 30);
        assert_eq!(s.last_due(now), Some(utc_ms(2026, 12, 5, 6, 0)));
        assert_eq!(s.next_due(now), Some(utc_ms(2026, 12, 6, 6, 0)));
        // at 05:59 UTC it is not yet due today
        assert_eq!(
            s.last_due(utc_ms(2026, 12, 5, 5, 59)),
            Some(utc_ms(2026, 12, 4, 6, 0))
        );
        let p = s.period(utc_ms(2026, 12, 5, 6, 0)).unwrap();
        assert_eq!(
            (p.from_ms, p.to_ms),
            (utc_ms(2026, 12, 3, 23, 0), utc_ms(2026, 12, 4, 23, 0))
        );
        assert_eq!(s.local(utc_ms(2026, 12, 5, 6, 0)), "2026-12-05 07:00 CET");
        // in summer Paris is UTC+2
        assert_eq!(
            s.last_due(utc_ms(2026, 7, 1, 12, 0)),
            Some(utc_ms(2026, 7, 1, 5, 0))
        );
    }

    #[test]
    fn weekly_and_monthly_reports_find_their_day() {
        let mut c = config(Every::Weekly, "08:30", "UTC");
        c.weekday = Some("mon".into());
        let s = Schedule::new(&c, "s").unwrap();
        // Saturday 2026-12-05: the last Monday was 2026-11-30
        let now = utc_ms(2026, 12, 5, 12, 0);
        assert_eq!(s.last_due(now), Some(utc_ms(2026, 11, 30, 8, 30)));
        assert_eq!(s.next_due(now), Some(utc_ms(2026, 12, 7, 8, 30)));
        let p = s.period(utc_ms(2026, 11, 30, 8, 30)).unwrap();
        assert_eq!(
            (p.from_ms, p.to_ms),
            (utc_ms(2026, 11, 23, 0, 0), utc_ms(2026, 11, 30, 0, 0))
        );
        // on Monday before its time: the Monday before
        assert_eq!(
            s.last_due(utc_ms(2026, 11, 30, 8, 0)),
            Some(utc_ms(2026, 11, 23, 8, 30))
        );
        let mut c = config(Every::Monthly, "06:00:30", "UTC");
        c.day = Some(3);
        let s = Schedule::new(&c, "s").unwrap();
        assert_eq!(
            s.last_due(utc_ms(2026, 12, 2, 0, 0)),
            Some(utc_ms(2026, 11, 3, 6, 0) + 30_000)
        );
        let p = s.period(utc_ms(2026, 12, 3, 6, 0)).unwrap();
        assert_eq!(
            (p.from_ms, p.to_ms),
            (utc_ms(2026, 11, 1, 0, 0), utc_ms(2026, 12, 1, 0, 0))
        );
    }

    #[test]
    fn bad_schedules_name_their_keys() {
        let mut c = config(Every::Daily, "7am", "Mars/Olympus");
        c.report = "weather".into();
        c.weekday = Some("someday".into());
        c.day = Some(31);
        c.params.insert("period".into(), "day".into());
        c.receivers = vec!["pager".into()];
        let problems = schedules(&[c.clone(), c], &["mail".into()])
            .unwrap_err()
            .join("\n");
        for key in [
            "reports.schedules[0].time_zone: 'Mars/Olympus'",
            "reports.schedules[0].at: '7am'",
            "reports.schedules[0].weekday: 'someday'",
            "reports.schedules[0].weekday: only for every = \"weekly\"",
            "reports.schedules[0].day: 31",
            "reports.schedules[0].report: 'weather'",
            "reports.schedules[0].params.period",
            "reports.schedules[0].receivers: 'pager'",
            "reports.schedules[1].name: 'r' is used twice",
        ] {
            assert!(problems.contains(key), "{key} not in:\n{problems}");
        }
    }
}
