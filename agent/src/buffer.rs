//! The unacknowledged-sample buffer.
//!
//! Samples wait here, numbered by a contiguous sequence, until every poller that polls this
//! agent has acknowledged them. Each poller has its own cursor, so two sub-managers (a replica
//! count of 2, or an old and a new owner during a failover) never free each other's data. A
//! poller that is not heard from for `poller_ttl` stops holding samples back. The buffer is
//! bounded: when full, the oldest samples are dropped and counted, never memory grown.
//!
//! With a state directory the buffer is durable: its [`journal`] follows every change on
//! disk, and a buffer opened there again resumes its dictionary, samples and cursors, so
//! that neither a restart nor a SIGKILL loses a sample. After a clean stop ([`SampleBuffer::close`])
//! it resumes its epoch too, so nothing is sent twice; after a crash it takes a new one, so
//! that its pollers receive again whatever they had not acknowledged (stored once: storing
//! is idempotent) rather than trust sequence numbers a lost write might have reused.

mod forget;
pub mod journal;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use strata_proto::labels::{LabelMap, from_map};
use strata_proto::v1::{BufferStats, PollResponse, Sample, SeriesDesc};

use journal::{CursorsFile, Journal, JournalConfig};

/// Index of a series interned in a buffer.
pub type SeriesIdx = u32;

#[derive(Debug, Clone, Copy)]
struct Buffered {
    series: SeriesIdx,
    ts_ms: i64,
    value: f64,
}

#[derive(Debug)]
struct Cursor {
    acked: u64,
    last_seen: Instant,
    /// Whether this poller has polled (a cursor can be made for an assigned poller first).
    polled: bool,
}

/// Bounds of a buffer's series dictionary (see [`forget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesLimits {
    /// Most series in the dictionary; a new series past it is refused and counted.
    pub max_series: usize,
    /// A series not pushed for this long is forgotten once no held sample names it.
    pub forget_after: Duration,
}

impl Default for SeriesLimits {
    fn default() -> Self {
        Self {
            max_series: 100_000,
            forget_after: Duration::from_secs(3600),
        }
    }
}

/// A bounded, sequence-numbered buffer of samples with one cursor per poller.
#[derive(Debug)]
pub struct SampleBuffer {
    capacity: usize,
    poller_ttl: Duration,
    series: Vec<SeriesDesc>,
    series_ids: HashMap<(String, LabelMap), SeriesIdx>,
    samples: VecDeque<Buffered>,
    /// Sequence of `samples[0]`; sequences are contiguous from there.
    first_seq: u64,
    dropped_total: u64,
    pollers: HashMap<String, Cursor>,
    /// The pollers assigned now, as the last poll that named them said: they hold their
    /// samples until they acknowledge them, however long they are silent.
    assigned: Vec<String>,
    /// Identity of this buffer's life; acks from another epoch are ignored.
    epoch: u64,
    /// The journal on disk, when the buffer is durable.
    journal: Option<Journal>,
    /// Generation of the dictionary within the epoch: it changes when idle series are
    /// forgotten and the rest renumbered.
    generation: u64,
    limits: SeriesLimits,
    /// The shortest age at which a series is forgotten whatever `limits` say: twice the
    /// longest interval of the collection items, whose series are idle in between.
    forget_floor: Duration,
    /// When each series was last pushed, in seconds of `clock`.
    last_seen: Vec<u32>,
    clock: Instant,
    /// Seconds of `clock` at the last commit (the time pushes are stamped with).
    now_s: u32,
    /// When to look for idle series next, in seconds of `clock`.
    next_check_s: u32,
    series_refused_total: u64,
    series_forgotten_total: u64,
}

/// A new epoch: the start time in microseconds, made unique within the process.
fn new_epoch() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

impl SampleBuffer {
    /// An empty buffer holding at most `capacity` samples.
    pub fn new(capacity: usize, poller_ttl: Duration) -> Self {
        Self {
            capacity: capacity.max(1),
            poller_ttl,
            series: Vec::new(),
            series_ids: HashMap::new(),
            samples: VecDeque::new(),
            first_seq: 1,
            dropped_total: 0,
            pollers: HashMap::new(),
            assigned: Vec::new(),
            epoch: new_epoch(),
            journal: None,
            generation: 0,
            limits: SeriesLimits::default(),
            forget_floor: Duration::ZERO,
            last_seen: Vec::new(),
            clock: Instant::now(),
            now_s: 0,
            next_check_s: 0,
            series_refused_total: 0,
            series_forgotten_total: 0,
        }
    }

    /// Sets the bounds of the dictionary (from the next commit on).
    pub fn set_series_limits(&mut self, limits: SeriesLimits) {
        self.limits = limits;
        self.next_check_s = 0;
    }

    /// Forgets no series younger than `floor`, whatever the limits say (a producer that
    /// pushes that seldom keeps its series).
    pub fn set_forget_floor(&mut self, floor: Duration) {
        self.forget_floor = floor;
    }

    /// A durable buffer journaled in `config.dir`, resuming what an earlier life kept there
    /// (its epoch, dictionary, unacknowledged samples, cursors and check states).
    pub fn durable(
        capacity: usize,
        poller_ttl: Duration,
        config: JournalConfig,
    ) -> std::io::Result<Self> {
        let mut b = Self::new(capacity, poller_ttl);
        let (journal, kept) = Journal::open(config, b.epoch)?;
        b.epoch = kept.epoch;
        b.generation = kept.generation;
        b.last_seen = vec![0; kept.series.len()];
        for desc in kept.series {
            let key = (
                desc.name.clone(),
                strata_proto::labels::to_map(&desc.labels),
            );
            b.series_ids.insert(key, b.series.len() as SeriesIdx);
            b.series.push(desc);
        }
        b.first_seq = kept.first_seq;
        b.dropped_total = kept.dropped_total;
        b.samples = kept
            .samples
            .into_iter()
            .map(|(series, ts_ms, value)| Buffered {
                series,
                ts_ms,
                value,
            })
            .collect();
        let now = Instant::now();
        for (id, acked) in kept.cursors {
            b.pollers.insert(
                id,
                Cursor {
                    acked,
                    last_seen: now,
                    polled: false,
                },
            );
        }
        b.assigned = kept.assigned;
        b.journal = Some(journal);
        // a capacity lowered since the last life
        b.drop_through(b.last_seq().saturating_sub(b.capacity as u64));
        Ok(b)
    }

    /// Whether the buffer is journaled on disk, and if its journal stopped, why.
    pub fn journal_state(&self) -> Option<(u64, Option<&str>)> {
        self.journal.as_ref().map(|j| (j.bytes(), j.broken()))
    }

    /// What a producer (a check, by its name) kept under `name` between runs, in this life
    /// or an earlier one (durable buffers only).
    pub fn kept_state(&self, name: &str) -> Option<String> {
        self.journal
            .as_ref()
            .and_then(|j| j.kept(name).map(str::to_string))
    }

    /// The keys of what is kept.
    pub fn kept_keys(&self) -> Vec<String> {
        self.journal
            .as_ref()
            .map_or_else(Vec::new, |j| j.kept_keys())
    }

    /// Keeps what a producer needs between runs under `name`, with the samples (durable
    /// buffers only): written at the next commit, after the samples pushed before it.
    pub fn keep_state(&mut self, name: &str, state: Option<String>) {
        if let Some(j) = &mut self.journal {
            j.keep(name, state);
        }
    }

    /// Writes what was pushed since the last commit to the journal (a SIGKILL no longer
    /// loses it; without a journal, nothing), then forgets idle series when it is time.
    pub fn commit(&mut self) {
        if let Some(j) = &mut self.journal {
            let dropped = j.commit();
            self.after_journal(dropped);
        }
        self.maintain();
    }

    /// Commits and makes the journal durable (fdatasync), with the pollers' cursors.
    pub fn sync(&mut self) {
        let cursors = CursorsFile {
            floor: self.first_seq,
            dropped_total: self.dropped_total,
            assigned: self.assigned.clone(),
            pollers: self
                .pollers
                .iter()
                .map(|(id, c)| (id.clone(), c.acked))
                .collect::<BTreeMap<_, _>>(),
        };
        if let Some(j) = &mut self.journal {
            let dropped = j.sync(&cursors);
            self.after_journal(dropped);
        }
    }

    /// Syncs and marks the journal stopped cleanly: the next life keeps this epoch.
    pub fn close(&mut self) {
        self.sync();
        if let Some(j) = &mut self.journal {
            j.close();
        }
    }

    /// Drops what the journal dropped for its byte bound, and deletes freed segments.
    fn after_journal(&mut self, dropped_through: Option<u64>) {
        if let Some(seq) = dropped_through {
            self.drop_through(seq);
        }
        if let Some(j) = &mut self.journal {
            j.forget_before(self.first_seq);
        }
    }

    /// Drops (and counts) the samples up to sequence `seq`.
    fn drop_through(&mut self, seq: u64) {
        while !self.samples.is_empty() && self.first_seq <= seq {
            self.samples.pop_front();
            self.first_seq += 1;
            self.dropped_total += 1;
        }
    }

    /// Identity of this buffer's life.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The index of a series, interned on first use; None when the dictionary holds
    /// `max_series` already (the refusal is counted).
    ///
    /// An index is valid within the dictionary's [`Self::generation`]: who keeps indexes
    /// looks them up again when it changes.
    pub fn intern(&mut self, name: &str, labels: &LabelMap) -> Option<SeriesIdx> {
        if let Some(idx) = self.series_ids.get(&(name.to_string(), labels.clone())) {
            return Some(*idx);
        }
        if self.series.len() >= self.limits.max_series {
            self.series_refused_total += 1;
            return None;
        }
        let idx = self.series.len() as SeriesIdx;
        let desc = SeriesDesc {
            name: name.to_string(),
            labels: from_map(labels),
        };
        if let Some(j) = &mut self.journal {
            j.add_series(&desc);
        }
        self.series.push(desc);
        self.last_seen.push(self.now_s);
        self.series_ids
            .insert((name.to_string(), labels.clone()), idx);
        Some(idx)
    }

    /// Interns a series and pushes one sample of it (nothing when the series is refused).
    pub fn push_series(&mut self, name: &str, labels: &LabelMap, ts_ms: i64, value: f64) {
        if let Some(idx) = self.intern(name, labels) {
            self.push(idx, ts_ms, value);
        }
    }

    /// Appends one sample, dropping (and counting) the oldest when full.
    pub fn push(&mut self, series: SeriesIdx, ts_ms: i64, value: f64) {
        if let Some(seen) = self.last_seen.get_mut(series as usize) {
            *seen = self.now_s;
        }
        if self.samples.len() >= self.capacity {
            self.samples.pop_front();
            self.first_seq += 1;
            self.dropped_total += 1;
        }
        self.samples.push_back(Buffered {
            series,
            ts_ms,
            value,
        });
        if let Some(j) = &mut self.journal {
            j.add_sample(
                self.first_seq + self.samples.len() as u64 - 1,
                series,
                ts_ms,
                value,
            );
        }
    }

    /// Sequence of the newest sample ever pushed (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.samples.len() as u64 - 1
    }

    /// Samples dropped because the buffer was full, since start.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Series in the dictionary now.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Generation of the dictionary (indexes of another generation mean other series).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Samples held now.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// How the buffer stands.
    pub fn stats(&self) -> BufferStats {
        BufferStats {
            capacity: self.capacity as u64,
            len: self.samples.len() as u64,
            first_seq: if self.samples.is_empty() {
                0
            } else {
                self.first_seq
            },
            last_seq: self.last_seq(),
            dropped_total: self.dropped_total,
            epoch: self.epoch,
            series: self.series.len() as u64,
            series_refused_total: self.series_refused_total,
            series_forgotten_total: self.series_forgotten_total,
        }
    }

    /// Records `poller`'s acknowledgement of everything up to `ack_seq` of buffer epoch
    /// `epoch` (0 = none; 0 epoch = unknown), frees what every live poller has acknowledged,
    /// and answers with up to `max` samples after `ack_seq`, with the dictionary entries past
    /// the `known_series` the poller holds of dictionary generation `dictionary`. An ack
    /// from another epoch, or beyond the newest sample, comes from an earlier life of the
    /// agent and counts as none.
    pub fn poll(
        &mut self,
        poller: &str,
        ack_seq: u64,
        epoch: u64,
        (dictionary, known_series): (u64, u32),
        max: usize,
        now: Instant,
    ) -> PollResponse {
        let last_seq = self.last_seq();
        let foreign = (epoch != 0 && epoch != self.epoch) || ack_seq > last_seq;
        let ack_seq = if foreign { 0 } else { ack_seq };
        let cursor = self.pollers.entry(poller.to_string()).or_insert(Cursor {
            acked: 0,
            last_seen: now,
            polled: true,
        });
        cursor.last_seen = now;
        cursor.polled = true;
        if ack_seq > cursor.acked {
            cursor.acked = ack_seq;
        }
        let ttl = self.poller_ttl;
        let assigned = &self.assigned;
        self.pollers.retain(|id, c| {
            assigned.contains(id) || now.saturating_duration_since(c.last_seen) <= ttl
        });
        self.free_acknowledged();

        let start = ack_seq.max(self.first_seq.saturating_sub(1)) + 1;
        let skip = (start - self.first_seq) as usize;
        // the dictionary entries the poller lacks; all of them when it starts afresh
        let base = if epoch == self.epoch
            && dictionary == self.generation
            && (known_series as usize) <= self.series.len()
        {
            known_series as usize
        } else {
            0
        };
        let series = self.series[base..].to_vec();
        let samples: Vec<Sample> = self
            .samples
            .iter()
            .enumerate()
            .skip(skip)
            .take(max.max(1))
            .map(|(i, s)| Sample {
                series: s.series,
                ts_ms: s.ts_ms,
                value: s.value,
                seq: self.first_seq + i as u64,
            })
            .collect();
        let answer_last = samples.last().map_or(ack_seq, |s| s.seq);
        PollResponse {
            agent_id: String::new(),
            series,
            samples,
            last_seq: answer_last,
            more: answer_last < last_seq,
            buffer: Some(self.stats()),
            checks: Vec::new(),
            series_base: base as u32,
            dictionary: self.generation,
        }
    }

    /// Records the pollers assigned to this agent now (empty = no change): other pollers'
    /// cursors are dropped, and an assigned poller that has not polled yet holds the samples
    /// buffered now until it has.
    pub fn assign(&mut self, pollers: &[String], now: Instant) {
        if pollers.is_empty() || pollers == self.assigned.as_slice() {
            return;
        }
        self.pollers.retain(|id, _| pollers.contains(id));
        let held = self.first_seq.saturating_sub(1);
        for p in pollers {
            self.pollers.entry(p.clone()).or_insert(Cursor {
                acked: held,
                last_seen: now,
                polled: false,
            });
        }
        self.assigned = pollers.to_vec();
        self.free_acknowledged();
        // who holds samples must outlive a crash: the first poller back frees nothing
        // the others still need
        if self.journal.is_some() {
            self.sync();
        }
    }

    /// When each poller that holds a cursor last polled.
    pub fn last_polls(&self) -> Vec<(String, Instant)> {
        self.pollers
            .iter()
            .filter(|(_, c)| c.polled)
            .map(|(id, c)| (id.clone(), c.last_seen))
            .collect()
    }

    fn free_acknowledged(&mut self) {
        let Some(min_acked) = self.pollers.values().map(|c| c.acked).min() else {
            return;
        };
        while !self.samples.is_empty() && self.first_seq <= min_acked {
            self.samples.pop_front();
            self.first_seq += 1;
        }
    }
}

#[cfg(test)]
mod durable_tests;

#[cfg(test)]
mod tests;
