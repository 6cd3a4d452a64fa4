//! Per-process CPU, memory and disk I/O from `/proc/<pid>/{stat,io}`, for the top-N list,
//! watched processes and live snapshots.
//!
//! A scan reads two small files per process and keeps the previous scan's counters, so CPU
//! and I/O are rates over the time between scans. Series are emitted per process name (all
//! processes of one name summed), not per pid: pids churn, names are what operators watch.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use regex::Regex;

use super::Emit;

/// Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// One process as of the last scan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub name: String,
    /// R, S, D, Z, T, I...
    pub state: char,
    pub uid: u32,
    /// CPU share of one core since the previous scan.
    pub cpu_ratio: f64,
    pub rss_bytes: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_per_second: f64,
    pub write_per_second: f64,
    pub threads: u32,
}

#[derive(Debug, Clone, Copy)]
struct Prev {
    ticks: u64,
    read: u64,
    write: u64,
    /// Owner, read once when the process is first seen.
    uid: u32,
}

/// What a list of the busiest processes is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// CPU, then memory.
    #[default]
    Cpu,
    /// Resident memory.
    Memory,
    /// Disk I/O: bytes read and written per second.
    Io,
}

impl Order {
    /// The order named `name` (`cpu`, `memory` or `io`; empty: `cpu`).
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "" | "cpu" => Ok(Self::Cpu),
            "memory" => Ok(Self::Memory),
            "io" => Ok(Self::Io),
            other => Err(format!("order: '{other}' is not one of cpu, memory, io")),
        }
    }

    /// Whether `a` comes before `b` in this order (busiest first).
    fn compare(self, a: &Proc, b: &Proc) -> std::cmp::Ordering {
        let io = |p: &Proc| p.read_per_second + p.write_per_second;
        match self {
            Self::Cpu => b
                .cpu_ratio
                .total_cmp(&a.cpu_ratio)
                .then(b.rss_bytes.cmp(&a.rss_bytes)),
            Self::Memory => b.rss_bytes.cmp(&a.rss_bytes),
            Self::Io => io(b).total_cmp(&io(a)),
        }
    }
}

/// The processes of the host, rescanned on demand.
#[derive(Debug)]
pub struct ProcessTable {
    root: PathBuf,
    page_size: u64,
    prev: HashMap<u32, Prev>,
    last_scan: Option<Instant>,
    procs: Vec<Proc>,
    buf: Vec<u8>,
}

/// Name, state, ppid, CPU ticks (user + system), threads and resident pages of a stat line.
pub fn parse_stat(text: &str) -> Option<(String, char, u32, u64, u32, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    let mut f = text.get(close + 2..)?.split(' ');
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    // fields after state: ppid(0) pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    // utime(10) stime(11) cutime cstime priority nice num_threads(16) itrealvalue starttime
    // vsize rss(20)
    let rest: Vec<&str> = f.take(20).collect();
    let utime: u64 = rest.get(9)?.parse().ok()?;
    let stime: u64 = rest.get(10)?.parse().ok()?;
    let threads = rest.get(15)?.parse().ok()?;
    let rss: u64 = rest.get(19)?.parse().ok()?;
    // the kernel's counters never come near u64's end, a corrupt or hostile text may
    Some((name, state, ppid, utime.saturating_add(stime), threads, rss))
}

/// read_bytes and write_bytes of a /proc/<pid>/io text.
fn parse_io(text: &str) -> (u64, u64) {
    let mut read = 0;
    let mut write = 0;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("read_bytes: ") {
            read = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("write_bytes: ") {
            write = v.trim().parse().unwrap_or(0);
        }
    }
    (read, write)
}

impl Default for ProcessTable {
    fn default() -> Self {
        Self::new("/proc")
    }
}

impl ProcessTable {
    /// A table of the processes under `root` (normally /proc).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            page_size: rustix::param::page_size() as u64,
            prev: HashMap::new(),
            last_scan: None,
            procs: Vec::new(),
            buf: Vec::with_capacity(1024),
        }
    }

    /// The processes of the last scan.
    pub fn procs(&self) -> &[Proc] {
        &self.procs
    }

    /// When the last scan ran.
    pub fn last_scan(&self) -> Option<Instant> {
        self.last_scan
    }

    /// Reads a small /proc file whole: a short read is its end (the kernel generates these
    /// files in one go), which saves the second read that would return 0.
    fn read(&mut self, path: &std::path::Path) -> bool {
        use std::io::Read;
        self.buf.clear();
        let Ok(mut f) = std::fs::File::open(path) else {
            return false;
        };
        loop {
            let len = self.buf.len();
            self.buf.resize(len + 4096, 0);
            match f.read(&mut self.buf[len..]) {
                Ok(n) => {
                    self.buf.truncate(len + n);
                    if n < 4096 {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Reads every process; rates are over the time since the previous scan.
    pub fn scan(&mut self) {
        use std::os::unix::fs::MetadataExt;
        let now = Instant::now();
        let elapsed = self
            .last_scan
            .map(|t| now.duration_since(t).as_secs_f64())
            .filter(|s| *s > 0.0);
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return;
        };
        let mut procs = Vec::with_capacity(self.procs.len() + 16);
        let mut prev = HashMap::with_capacity(self.prev.len() + 16);
        let mut path = PathBuf::new();
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            path.clear();
            path.push(entry.path());
            path.push("stat");
            if !self.read(&path) {
                continue;
            }
            let Some((name, state, ppid, ticks, threads, rss)) =
                parse_stat(&String::from_utf8_lossy(&self.buf))
            else {
                continue;
            };
            path.set_file_name("io");
            let (read, write) = if self.read(&path) {
                parse_io(&String::from_utf8_lossy(&self.buf))
            } else {
                (0, 0)
            };
            let before = self.prev.get(&pid);
            let uid = match before {
                Some(p) => p.uid,
                None => entry.metadata().map(|m| m.uid()).unwrap_or(u32::MAX),
            };
            let rate = |now: u64, then: Option<u64>, scale: f64| match (then, elapsed) {
                (Some(then), Some(secs)) => now.saturating_sub(then) as f64 / scale / secs,
                _ => 0.0,
            };
            procs.push(Proc {
                pid,
                ppid,
                name,
                state,
                uid,
                cpu_ratio: rate(ticks, before.map(|p| p.ticks), TICKS_PER_SECOND),
                rss_bytes: rss * self.page_size,
                read_bytes: read,
                write_bytes: write,
                read_per_second: rate(read, before.map(|p| p.read), 1.0),
                write_per_second: rate(write, before.map(|p| p.write), 1.0),
                threads,
            });
            prev.insert(
                pid,
                Prev {
                    ticks,
                    read,
                    write,
                    uid,
                },
            );
        }
        self.prev = prev;
        self.procs = procs;
        self.last_scan = Some(now);
    }

    /// Up to `n` processes, busiest first in `order`.
    pub fn top(&self, n: usize, order: Order) -> Vec<&Proc> {
        let mut v: Vec<&Proc> = self.procs.iter().collect();
        v.sort_by(|a, b| order.compare(a, b).then(a.pid.cmp(&b.pid)));
        v.truncate(n);
        v
    }

    /// Emits process counts by state, and per-name series for the top `n` names by CPU, the
    /// top `n` by memory, the top `n` by disk I/O and every name matching one of `watch`.
    pub fn emit(&self, n: usize, watch: &[Regex], out: &mut impl Emit) {
        let mut states: [(char, &str, f64); 7] = [
            ('R', "running", 0.0),
            ('S', "sleeping", 0.0),
            ('D', "disk_sleep", 0.0),
            ('Z', "zombie", 0.0),
            ('T', "stopped", 0.0),
            ('I', "idle", 0.0),
            ('?', "other", 0.0),
        ];
        let mut threads = 0.0;
        let mut groups: HashMap<&str, Proc> = HashMap::new();
        for p in &self.procs {
            let slot = states.iter().position(|s| s.0 == p.state).unwrap_or(6);
            states[slot].2 += 1.0;
            threads += f64::from(p.threads);
            let g = groups.entry(p.name.as_str()).or_default();
            g.pid += 1; // the count of processes of this name
            g.cpu_ratio += p.cpu_ratio;
            g.rss_bytes += p.rss_bytes;
            g.read_per_second += p.read_per_second;
            g.write_per_second += p.write_per_second;
            g.threads += p.threads;
        }
        for (_, state, count) in states {
            out.emit("host_processes", &[("state", state)], count);
        }
        out.emit("host_threads", &[], threads);
        let mut by_cpu: Vec<(&str, &Proc)> = groups.iter().map(|(k, v)| (*k, v)).collect();
        by_cpu.sort_by(|a, b| b.1.cpu_ratio.total_cmp(&a.1.cpu_ratio).then(a.0.cmp(b.0)));
        let mut chosen: Vec<&str> = by_cpu.iter().take(n).map(|g| g.0).collect();
        for order in [Order::Memory, Order::Io] {
            let mut by = by_cpu.clone();
            by.sort_by(|a, b| order.compare(a.1, b.1).then(a.0.cmp(b.0)));
            chosen.extend(by.iter().take(n).map(|g| g.0));
        }
        chosen.extend(
            groups
                .keys()
                .filter(|name| watch.iter().any(|w| w.is_match(name))),
        );
        chosen.sort_unstable();
        chosen.dedup();
        for name in chosen {
            let g = &groups[name];
            let labels = [("name", name)];
            out.emit("host_process_count", &labels, f64::from(g.pid));
            out.emit("host_process_cpu_ratio", &labels, g.cpu_ratio);
            out.emit("host_process_resident_bytes", &labels, g.rss_bytes as f64);
            out.emit(
                "host_process_read_bytes_per_second",
                &labels,
                g.read_per_second,
            );
            out.emit(
                "host_process_write_bytes_per_second",
                &labels,
                g.write_per_second,
            );
            out.emit("host_process_threads", &labels, f64::from(g.threads));
        }
        // watched names with no process at all are reported as 0, so that an absence shows
        for w in watch {
            let literal = w.as_str().trim_start_matches('^').trim_end_matches('$');
            if !groups.keys().any(|name| w.is_match(name))
                && literal
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                out.emit("host_process_count", &[("name", literal)], 0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "3923 (my (odd) name) R 3918 3918 31997 0 -1 4194304 102 0 0 0 7 3 0 0 20 0 4 0 1269467 3133440 381 18446744073709551615";
        let (name, state, ppid, ticks, threads, rss) = parse_stat(line).unwrap();
        assert_eq!(name, "my (odd) name");
        assert_eq!((state, ppid, ticks, threads, rss), ('R', 3918, 10, 4, 381));
        assert!(parse_stat("garbage").is_none());
        // counters at u64's end (found by the fuzz target): saturated, not overflowed
        let huge = "1 (x) S 0 0 0 0 0 0 0 0 0 0 18446744073709551615 18446744073709551615 0 0 \
                    20 0 1 0 0 0 1";
        assert_eq!(parse_stat(huge).unwrap().3, u64::MAX);
        assert_eq!(
            parse_io("rchar: 1\nread_bytes: 4096\nwrite_bytes: 8192\n"),
            (4096, 8192)
        );
    }

    #[derive(Default)]
    struct Collect(Vec<(String, String, f64)>);

    impl Emit for Collect {
        fn emit(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
            let l = labels.first().map(|l| l.1.to_string()).unwrap_or_default();
            self.0.push((name.to_string(), l, value));
        }
    }

    #[test]
    fn this_host_has_processes_and_the_test_itself_is_among_them() {
        let mut t = ProcessTable::default();
        t.scan();
        t.scan();
        let me = std::process::id();
        let mine = t.procs().iter().find(|p| p.pid == me).expect("own process");
        assert!(mine.rss_bytes > 0 && mine.threads >= 1);
        let watch = [Regex::new("^no-such-process$").unwrap()];
        let mut out = Collect::default();
        t.emit(3, &watch, &mut out);
        let total: f64 = out
            .0
            .iter()
            .filter(|m| m.0 == "host_processes")
            .map(|m| m.2)
            .sum();
        assert_eq!(total as usize, t.procs().len());
        let names = out.0.iter().filter(|m| m.0 == "host_process_count").count();
        assert!((2..=10).contains(&names), "{names} process names");
        assert!(
            out.0
                .contains(&("host_process_count".into(), "no-such-process".into(), 0.0))
        );
    }

    #[test]
    fn the_busiest_by_disk_io_are_listed_and_ranked() {
        let proc = |pid: u32, name: &str, cpu: f64, rss: u64, io: f64| Proc {
            pid,
            name: name.into(),
            cpu_ratio: cpu,
            rss_bytes: rss,
            read_per_second: io / 2.0,
            write_per_second: io / 2.0,
            ..Proc::default()
        };
        let t = ProcessTable {
            procs: vec![
                proc(1, "cpu-hog", 0.9, 10, 0.0),
                proc(2, "big", 0.1, 1 << 30, 0.0),
                proc(3, "writer", 0.0, 20, 5e6),
                proc(4, "idle", 0.0, 5, 1.0),
            ],
            ..ProcessTable::default()
        };
        let pids = |order| t.top(1, order).iter().map(|p| p.pid).collect::<Vec<_>>();
        assert_eq!(pids(Order::Cpu), [1]);
        assert_eq!(pids(Order::Memory), [2]);
        assert_eq!(pids(Order::Io), [3]);
        // the series: the top 1 by CPU, by memory and by I/O, not the idle one
        let mut out = Collect::default();
        t.emit(1, &[], &mut out);
        let mut names: Vec<String> = out
            .0
            .iter()
            .filter(|m| m.0 == "host_process_write_bytes_per_second")
            .map(|m| m.1.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["big", "cpu-hog", "writer"]);
        assert_eq!(Order::parse("io"), Ok(Order::Io));
        assert!(Order::parse("disk").unwrap_err().contains("order: 'disk'"));
    }
}
