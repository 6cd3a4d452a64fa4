//! `[reports]` of the super-manager: scheduled reports as configured, and what is wrong
//! with them. The calendar that runs them is `crate::reports::schedule`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::notify::receivers::ReceiverConfig;

/// The report kinds, as the API names them.
pub const REPORT_KINDS: [&str; 8] = [
    "availability",
    "performance",
    "failure",
    "operations",
    "audit",
    "comparison",
    "capacity",
    "recovery",
];

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

pub(crate) fn parse_at(text: &str) -> Option<(i8, i8, i8)> {
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

pub(crate) fn parse_weekday(text: &str) -> Option<Weekday> {
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

impl ScheduleConfig {
    /// What is wrong with this schedule, each problem naming its key (`at` is
    /// `reports.schedules[i]`).
    pub fn problems(&self, at: &str) -> Vec<String> {
        let config = self;
        let mut problems = Vec::new();
        if let Err(e) = TimeZone::get(&config.time_zone) {
            problems.push(format!("{at}.time_zone: '{}': {e}", config.time_zone));
        }
        if parse_at(&config.at).is_none() {
            problems.push(format!(
                "{at}.at: '{}' is not a time of day as HH:MM or HH:MM:SS",
                config.at
            ));
        }
        if let Some(w) = &config.weekday
            && parse_weekday(w).is_none()
        {
            problems.push(format!(
                "{at}.weekday: '{w}' is not one of mon, tue, wed, thu, fri, sat, sun"
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
        if !REPORT_KINDS.contains(&config.report.as_str()) {
            problems.push(format!(
                "{at}.report: '{}' is not one of {}",
                config.report,
                REPORT_KINDS.join(", ")
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
        problems
    }
}

/// Problems of `configs` together, each naming its key; `receivers` are the names of the
/// configured receivers.
pub fn schedule_problems(configs: &[ScheduleConfig], receivers: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = HashSet::new();
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
        problems.extend(c.problems(&at));
    }
    problems
}

/// `[reports]`: scheduled reports.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// `[[reports.schedules]]`.
    pub schedules: Vec<ScheduleConfig>,
    /// How often schedules are looked at (default 30 s).
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
    /// Tries of a receiver before its delivery is given up (default 10).
    pub max_attempts: u32,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            schedules: Vec::new(),
            check_interval: Duration::from_secs(30),
            max_attempts: 10,
        }
    }
}

impl ReportsConfig {
    /// Problems of the section, each naming its key; `receivers` are the centre's.
    pub fn problems(&self, receivers: &[ReceiverConfig]) -> Vec<String> {
        let names: Vec<String> = receivers.iter().map(|r| r.name.clone()).collect();
        let mut errors = schedule_problems(&self.schedules, &names);
        if self.check_interval < Duration::from_secs(1)
            || self.check_interval > Duration::from_secs(3600)
        {
            errors.push("reports.check_interval: must be between 1s and 1h".into());
        }
        if self.max_attempts == 0 {
            errors.push("reports.max_attempts: must be at least 1".into());
        }
        errors
    }
}
