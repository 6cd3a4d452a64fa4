//! Collection items: groups of host series that can each be switched off or given their own
//! interval (`[items.<name>]`), locally or pushed by the sub-manager.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::durations;

/// A group of host series collected together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Cpu,
    Load,
    Memory,
    Disk,
    Network,
    Protocols,
    Vmstat,
    Pressure,
    Filesystem,
    Temperature,
    System,
    Processes,
    Tcp,
}

/// Every item, in collection order.
pub const ALL: [Item; 13] = [
    Item::Cpu,
    Item::Load,
    Item::Memory,
    Item::Disk,
    Item::Network,
    Item::Protocols,
    Item::Vmstat,
    Item::Pressure,
    Item::Filesystem,
    Item::Temperature,
    Item::System,
    Item::Processes,
    Item::Tcp,
];

impl Item {
    /// The item's name in `[items.<name>]`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Load => "load",
            Self::Memory => "memory",
            Self::Disk => "disk",
            Self::Network => "network",
            Self::Protocols => "protocols",
            Self::Vmstat => "vmstat",
            Self::Pressure => "pressure",
            Self::Filesystem => "filesystem",
            Self::Temperature => "temperature",
            Self::System => "system",
            Self::Processes => "processes",
            Self::Tcp => "tcp",
        }
    }

    fn index(self) -> usize {
        ALL.iter()
            .position(|i| *i == self)
            .expect("every item is in ALL")
    }
}

/// A set of items (those due in a cycle).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemSet(u16);

impl ItemSet {
    /// Every item.
    pub fn all() -> Self {
        Self((1 << ALL.len()) - 1)
    }

    /// The set without `item`.
    pub fn without(self, item: Item) -> Self {
        Self(self.0 & !(1 << item.index()))
    }

    /// Whether `item` is in the set.
    pub fn has(self, item: Item) -> bool {
        self.0 & (1 << item.index()) != 0
    }

    fn insert(&mut self, item: Item) {
        self.0 |= 1 << item.index();
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// One item's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemConfig {
    /// Whether the item is collected (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Its interval (default: the agent's `collect_interval`; for processes and tcp at
    /// least [`SLOW_INTERVAL`]: they walk every process or every socket).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// processes only: how many process names to report by CPU and by memory (default 10).
    pub top: Option<usize>,
    /// processes only: regexes of process names always reported (watched processes).
    #[serde(default)]
    pub watch: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The shortest default interval of the items that walk every process or socket (15 s).
pub const SLOW_INTERVAL: Duration = Duration::from_secs(15);

/// Problems of an `[items]` table, each naming its key.
pub fn problems(items: &BTreeMap<String, ItemConfig>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, config) in items {
        let Some(item) = ALL.iter().find(|i| i.name() == name) else {
            let known: Vec<_> = ALL.iter().map(|i| i.name()).collect();
            problems.push(format!(
                "items.{name}: not an item; items are {}",
                known.join(", ")
            ));
            continue;
        };
        if config
            .interval
            .is_some_and(|i| i < Duration::from_millis(100))
        {
            problems.push(format!("items.{name}.interval: below the minimum of 100ms"));
        }
        if *item != Item::Processes && (config.top.is_some() || !config.watch.is_empty()) {
            problems.push(format!(
                "items.{name}: top and watch belong to items.processes"
            ));
        }
        for w in &config.watch {
            if let Err(e) = regex::Regex::new(w) {
                problems.push(format!("items.{name}.watch: bad regex '{w}': {e}"));
            }
        }
    }
    problems
}

/// When each item is next due.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Interval of each item (None: switched off), by [`ALL`] index.
    intervals: [Option<Duration>; ALL.len()],
    next: [Instant; ALL.len()],
}

impl Schedule {
    /// Every item at `base` unless `items` says otherwise; all due at `now`. Intervals are
    /// clamped to [`durations::period`], so that no later addition can overflow the clock.
    pub fn new(base: Duration, items: &BTreeMap<String, ItemConfig>, now: Instant) -> Self {
        let mut intervals = [Some(base); ALL.len()];
        for (i, item) in ALL.iter().enumerate() {
            let default = if matches!(item, Item::Processes | Item::Tcp) {
                base.max(SLOW_INTERVAL)
            } else {
                base
            };
            intervals[i] = match items.get(item.name()) {
                Some(c) => c.enabled.then(|| c.interval.unwrap_or(default)),
                None => Some(default),
            }
            .map(durations::period);
        }
        Self {
            intervals,
            next: [now; ALL.len()],
        }
    }

    /// The shortest interval of an enabled item (the collection tick), or None if all are off.
    pub fn tick(&self) -> Option<Duration> {
        self.intervals.iter().flatten().min().copied()
    }

    /// The longest interval of an enabled item, or None if all are off.
    pub fn longest(&self) -> Option<Duration> {
        self.intervals.iter().flatten().max().copied()
    }

    /// The items due at `now` (within half a tick, so a slow tick does not skip a cycle);
    /// each is then due again one interval later.
    pub fn due(&mut self, now: Instant) -> ItemSet {
        let slack = self.tick().unwrap_or_default() / 2;
        let mut set = ItemSet::default();
        for (i, item) in ALL.iter().enumerate() {
            let Some(interval) = self.intervals[i] else {
                continue;
            };
            if self.next[i] <= now + slack {
                set.insert(*item);
                self.next[i] = (self.next[i] + interval).max(now + slack);
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> BTreeMap<String, ItemConfig> {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn items_run_on_their_own_intervals_and_can_be_switched_off() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut sched = Schedule::new(
            s(10),
            &items("processes = { interval = '30s' }\ntemperature = { enabled = false }"),
            t0,
        );
        assert_eq!(sched.tick(), Some(s(10)));
        let first = sched.due(t0);
        assert!(first.has(Item::Cpu) && first.has(Item::Processes));
        assert!(!first.has(Item::Temperature));
        let second = sched.due(t0 + s(10));
        assert!(second.has(Item::Cpu) && !second.has(Item::Processes));
        assert!(!sched.due(t0 + s(20)).has(Item::Processes));
        assert!(sched.due(t0 + s(30)).has(Item::Processes));
        assert!(
            sched.due(t0 + s(31)).is_empty(),
            "nothing twice in one interval"
        );
    }

    #[test]
    fn a_huge_interval_is_clamped_and_never_overflows_the_clock() {
        let t0 = Instant::now();
        let huge = humantime::parse_duration("300000000000years").unwrap();
        let mut sched = Schedule::new(
            Duration::from_secs(10),
            &items("cpu = { interval = '300000000000years' }"),
            t0,
        );
        assert!(sched.due(t0).has(Item::Cpu));
        assert!(!sched.due(t0 + Duration::from_secs(3600)).has(Item::Cpu));
        let mut all_huge = Schedule::new(huge, &BTreeMap::new(), t0);
        assert_eq!(all_huge.tick(), Some(durations::LONGEST));
        assert!(all_huge.due(t0).has(Item::Load));
        assert!(all_huge.due(t0 + Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn bad_items_are_named() {
        let p = problems(&items(
            "cpus = {}\nload = { interval = '1ms', top = 3 }\nprocesses = { watch = ['('] }",
        ));
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].starts_with("items.cpus"));
        assert!(p.iter().any(|e| e.starts_with("items.load.interval")));
        assert!(p.iter().any(|e| e.starts_with("items.processes.watch")));
    }
}
