//! The calendar of scheduled reports (configured as `[[reports.schedules]]`, see
//! [`crate::config::reports`]): when each is due, in its own time zone, and which period
//! the report then covers.
//!
//! A daily report due at 07:00 in Europe/Paris covers the day before in Paris, a weekly
//! one the seven days before its day, a monthly one the month before: the readers' days,
//! not UTC's. Daylight-saving changes are the zone database's business (a time that does
//! not exist on a spring morning is taken as the next one that does).

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

use crate::period::Period;

pub use crate::config::reports::{Every, Format, ScheduleConfig};
use crate::config::reports::{parse_at, parse_weekday, schedule_problems};

/// A schedule ready to run: its config with the time zone and the time of day read.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub config: ScheduleConfig,
    tz: TimeZone,
    at: (i8, i8, i8),
    weekday: Weekday,
    day: i8,
}

impl Schedule {
    /// The schedule of `config`, or what is wrong with it, naming the key (`at` is
    /// `reports.schedules[i]`).
    pub fn new(config: &ScheduleConfig, at: &str) -> Result<Self, Vec<String>> {
        let problems = config.problems(at);
        let tz = TimeZone::get(&config.time_zone).ok();
        let time = parse_at(&config.at);
        let weekday = match &config.weekday {
            None => Some(Weekday::Monday),
            Some(w) => parse_weekday(w),
        };
        let day = config.day.unwrap_or(1);
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
    let problems = schedule_problems(configs, receivers);
    if !problems.is_empty() {
        return Err(problems);
    }
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| Schedule::new(c, &format!("reports.schedules[{i}]")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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
