//! The buffer's journal on disk, so that a killed or restarted agent keeps what its pollers
//! have not acknowledged yet, and its log checks their place in their files.
//!
//! The buffer stays in memory, where polls read it; the journal only follows it, in
//! append-only files under `<state_dir>/buffer` (no database: the agent links none):
//! - `meta.json`: the buffer's epoch, kept across lives, so that the pollers' cursors (which
//!   name the epoch) stay valid after a restart and nothing is sent twice;
//! - `series.log`: the dictionary, one record per series in index order;
//! - `seg-<first sequence>.log`: the samples, one record per commit, with what the
//!   producers keep that changed since the last (a log check's place goes to disk in the
//!   same write as the samples that count the lines before it); a segment is closed at
//!   `segment_bytes` and deleted once every sample in it is freed; past `max_bytes` the
//!   oldest segment is dropped (and its samples counted as dropped), as a full buffer drops;
//! - `cursors.json`: each poller's acknowledgement, the pollers assigned, the first
//!   sequence still held and the drop count, rewritten (by rename) at each sync;
//! - `kept.json`: all that the producers keep, by key, rewritten at each commit that
//!   changes it, for when the segments that carried it are gone.
//!
//! Forgetting idle series renumbers the dictionary (see `super::forget`): the new
//! generation `g` is written whole beside the old one, as `series-g<g>.log` and
//! `seg-g<g>-<first sequence>.log`, made durable, and switched to by rewriting `meta.json`
//! (a rename); the old generation's files are deleted after, and whatever another
//! generation left behind is deleted at recovery.
//!
//! A record is a little-endian `u32` length, the payload's CRC-32 and the payload; a torn or
//! corrupt record ends its file (recovery cuts it off with whatever follows).
//!
//! Durability: a commit is one `write(2)`, so a SIGKILL loses nothing committed; `sync`
//! fdatasyncs on the agent's schedule, so a power cut loses at most one sync interval of
//! samples. Polls are answered from memory, so a crash may have served samples the disk
//! lost: `meta.json` says whether the last life stopped cleanly, and a life after a crash
//! takes a new epoch, so that its pollers take again whatever they had not acknowledged
//! (stored once: storing is idempotent) rather than trust reused sequence numbers.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use prost::Message;
use serde::{Deserialize, Serialize};
use strata_proto::v1::SeriesDesc;

use super::SeriesIdx;
pub use format::read_back;
use format::{HEADER_BYTES, SAMPLES_HEAD, encode_kept, frame};

mod format;
mod recover;
mod rewrite;

/// Where the journal lives and how large it may grow.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// Its directory (made when missing).
    pub dir: PathBuf,
    /// Most bytes of samples on disk; past it the oldest segment goes.
    pub max_bytes: u64,
    /// Size at which a segment is closed and the next begun.
    pub segment_bytes: u64,
}

/// What an earlier life left on disk.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The buffer's epoch (new when nothing was kept).
    pub epoch: u64,
    /// The dictionary's generation.
    pub generation: u64,
    /// The dictionary, by index.
    pub series: Vec<SeriesDesc>,
    /// Sequence of `samples[0]` (the next sequence when there is none).
    pub first_seq: u64,
    /// The samples kept, in sequence order from `first_seq`.
    pub samples: Vec<(SeriesIdx, i64, f64)>,
    /// Each poller's acknowledged sequence.
    pub cursors: Vec<(String, u64)>,
    /// The pollers assigned when the cursors were written.
    pub assigned: Vec<String>,
    /// Samples dropped over every life.
    pub dropped_total: u64,
    /// What the producers kept, by key.
    pub kept: BTreeMap<String, String>,
}

/// The pollers' state as `cursors.json` keeps it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CursorsFile {
    /// The first sequence still held: anything before it was freed.
    pub floor: u64,
    /// Samples dropped over every life.
    pub dropped_total: u64,
    /// The pollers assigned.
    pub assigned: Vec<String>,
    /// Each poller's acknowledged sequence.
    pub pollers: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    epoch: u64,
    /// Whether the life that wrote it stopped cleanly (everything synced, nothing served
    /// past the disk): only then does the next life keep the epoch.
    #[serde(default)]
    clean: bool,
    /// The dictionary's generation, whose files are the journal's (0: `series.log` and
    /// `seg-<first>.log`).
    #[serde(default)]
    generation: u64,
}

#[derive(Debug)]
struct Segment {
    /// The last sequence written to it (first_seq - 1 while empty).
    last_seq: u64,
    bytes: u64,
    path: PathBuf,
}

/// The journal of one buffer.
#[derive(Debug)]
pub struct Journal {
    config: JournalConfig,
    /// Held locked for the journal's life: one process per directory.
    _lock: File,
    /// The epoch of this life.
    epoch: u64,
    /// The dictionary's generation, which names the files.
    generation: u64,
    series_file: File,
    /// Series records encoded, not yet written.
    pending_series: Vec<u8>,
    segments: VecDeque<Segment>,
    current: File,
    /// Samples encoded, not yet written (without record header).
    pending: Vec<u8>,
    pending_first: u64,
    pending_count: u32,
    /// Last sequence written, and last synced.
    written_seq: u64,
    synced_seq: u64,
    /// Files written since the last sync: the series file, the directory.
    series_unsynced: bool,
    dir_unsynced: bool,
    kept: BTreeMap<String, String>,
    /// Changes of `kept` since the last commit, in order (None: removed).
    kept_pending: Vec<(String, Option<String>)>,
    /// Why the journal stopped, when it did: the buffer then carries on in memory.
    broken: Option<String>,
}

fn io_err(doing: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{doing} {}: {e}", path.display()))
}

fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| io_err("read", path, e))?;
    Ok(bytes)
}

/// Writes `bytes` to `path` by a temporary file and a rename, so a reader sees the old
/// content or the new, never a part.
fn replace(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| io_err("create", &tmp, e))?;
    f.write_all(bytes).map_err(|e| io_err("write", &tmp, e))?;
    if sync {
        f.sync_data().map_err(|e| io_err("sync", &tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| io_err("rename", path, e))
}

fn segment_path(dir: &Path, generation: u64, first_seq: u64) -> PathBuf {
    match generation {
        0 => dir.join(format!("seg-{first_seq:020}.log")),
        g => dir.join(format!("seg-g{g}-{first_seq:020}.log")),
    }
}

fn series_path(dir: &Path, generation: u64) -> PathBuf {
    match generation {
        0 => dir.join("series.log"),
        g => dir.join(format!("series-g{g}.log")),
    }
}

/// The generation and first sequence of a segment file's name, and the generation of a
/// series file's (its sequence None).
fn parse_name(name: &str) -> Option<(u64, Option<u64>)> {
    if name == "series.log" {
        return Some((0, None));
    }
    if let Some(g) = name
        .strip_prefix("series-g")
        .and_then(|n| n.strip_suffix(".log"))
    {
        return Some((g.parse().ok()?, None));
    }
    let rest = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    match rest.strip_prefix('g') {
        None => Some((0, Some(rest.parse().ok()?))),
        Some(rest) => {
            let (g, seq) = rest.split_once('-')?;
            Some((g.parse().ok()?, Some(seq.parse().ok()?)))
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_err("open", path, e))
}

/// Writes the journal's epoch, and whether its life stopped cleanly, durably.
fn write_meta(path: &Path, epoch: u64, clean: bool, generation: u64) -> io::Result<()> {
    let meta = serde_json::to_vec(&Meta {
        epoch,
        clean,
        generation,
    })
    .expect("meta serializes");
    replace(path, &meta, true)
}

/// Locks `dir` for this process (`lock`, released when the process ends, however it ends):
/// two agents on one directory would each cut the other's records off.
fn lock(dir: &Path) -> io::Result<File> {
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_err("open", &path, e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |e| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "lock {}: another process uses this buffer ({e})",
                    path.display()
                ),
            )
        },
    )?;
    Ok(file)
}

/// Cuts `path` to `len` bytes (a torn tail).
fn cut(path: &Path, len: usize) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len as u64))
        .map_err(|e| io_err("cut the torn end of", path, e))
}

impl Journal {
    /// Opens the files for appending after recovery.
    fn start(
        config: JournalConfig,
        lock: File,
        recovered: Recovered,
        mut segments: VecDeque<Segment>,
    ) -> io::Result<(Journal, Recovered)> {
        let next = recovered.first_seq + recovered.samples.len() as u64;
        if segments.is_empty() {
            let path = segment_path(&config.dir, recovered.generation, next);
            segments.push_back(Segment {
                last_seq: next - 1,
                bytes: 0,
                path,
            });
        }
        let current = open_append(&segments.back().expect("a segment").path)?;
        let series_file = open_append(&series_path(&config.dir, recovered.generation))?;
        let journal = Journal {
            _lock: lock,
            epoch: recovered.epoch,
            generation: recovered.generation,
            kept: recovered.kept.clone(),
            config,
            series_file,
            pending_series: Vec::new(),
            segments,
            current,
            pending: Vec::new(),
            pending_first: next,
            pending_count: 0,
            written_seq: next - 1,
            synced_seq: next - 1,
            series_unsynced: false,
            dir_unsynced: true,
            kept_pending: Vec::new(),
            broken: None,
        };
        Ok((journal, recovered))
    }

    /// Why the journal stopped, when it did.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// Records a new series (its index is the count recorded before it).
    pub fn add_series(&mut self, desc: &SeriesDesc) {
        if self.broken.is_none() {
            frame(&mut self.pending_series, &desc.encode_to_vec());
        }
    }

    /// Records sample `seq`.
    pub fn add_sample(&mut self, seq: u64, series: SeriesIdx, ts_ms: i64, value: f64) {
        if self.broken.is_some() {
            return;
        }
        if self.pending_count == 0 {
            self.pending_first = seq;
        }
        self.pending.extend_from_slice(&series.to_le_bytes());
        self.pending.extend_from_slice(&ts_ms.to_le_bytes());
        self.pending.extend_from_slice(&value.to_le_bytes());
        self.pending_count += 1;
    }

    /// Records what a producer keeps under `name` between runs (None: forget it).
    pub fn keep(&mut self, name: &str, state: Option<String>) {
        let changed = match &state {
            Some(s) => self.kept.insert(name.to_string(), s.clone()).as_ref() != Some(s),
            None => self.kept.remove(name).is_some(),
        };
        if changed && self.broken.is_none() {
            self.kept_pending.push((name.to_string(), state));
        }
    }

    /// What a producer keeps under `name` between runs.
    pub fn kept(&self, name: &str) -> Option<&str> {
        self.kept.get(name).map(String::as_str)
    }

    /// The keys of what is kept.
    pub fn kept_keys(&self) -> Vec<String> {
        self.kept.keys().cloned().collect()
    }

    /// The last sequence synced to disk.
    #[cfg(test)]
    pub fn synced_seq(&self) -> u64 {
        self.synced_seq
    }

    /// Writes what was recorded (one write per file); returns the last sequence of the
    /// segments dropped for `max_bytes`, if any. On a failure the journal stops and says why.
    pub fn commit(&mut self) -> Option<u64> {
        if self.broken.is_some() {
            return None;
        }
        match self.try_commit() {
            Ok(dropped) => dropped,
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn try_commit(&mut self) -> io::Result<Option<u64>> {
        if !self.pending_series.is_empty() {
            // series first: a sample record never names a series the file lacks
            let path = series_path(&self.config.dir, self.generation);
            self.series_file
                .write_all(&self.pending_series)
                .map_err(|e| io_err("append to", &path, e))?;
            self.pending_series.clear();
            self.series_unsynced = true;
        }
        let mut dropped = None;
        if self.pending_count > 0 || !self.kept_pending.is_empty() {
            let first = if self.pending_count > 0 {
                self.pending_first
            } else {
                self.written_seq + 1
            };
            let mut payload = Vec::with_capacity(SAMPLES_HEAD + self.pending.len() + 4);
            payload.extend_from_slice(&first.to_le_bytes());
            payload.extend_from_slice(&self.pending_count.to_le_bytes());
            payload.extend_from_slice(&self.pending);
            encode_kept(&mut payload, &self.kept_pending);
            let mut record = Vec::with_capacity(HEADER_BYTES + payload.len());
            frame(&mut record, &payload);
            let current = self.segments.back().expect("a segment");
            if current.bytes > 0 && current.bytes + record.len() as u64 > self.config.segment_bytes
            {
                self.roll(first)?;
            }
            let current = self.segments.back_mut().expect("a segment");
            if let Err(e) = self.current.write_all(&record) {
                // a partial record would end the file at recovery: cut it off
                let _ = self.current.set_len(current.bytes);
                return Err(io_err("append to", &current.path, e));
            }
            current.bytes += record.len() as u64;
            current.last_seq = first + u64::from(self.pending_count) - 1;
            self.written_seq = current.last_seq;
            self.pending.clear();
            self.pending_count = 0;
            dropped = self.enforce_max_bytes()?;
            if !self.kept_pending.is_empty() {
                // for when the segments that carried it are deleted
                self.kept_pending.clear();
                let bytes = serde_json::to_vec(&self.kept).expect("kept states serialize");
                replace(&self.config.dir.join("kept.json"), &bytes, false)?;
            }
        }
        Ok(dropped)
    }

    /// Closes the current segment and begins one at `first_seq`.
    fn roll(&mut self, first_seq: u64) -> io::Result<()> {
        let path = segment_path(&self.config.dir, self.generation, first_seq);
        // the series its samples name reach the disk first
        if self.series_unsynced {
            self.series_file
                .sync_data()
                .map_err(|e| io_err("sync", &series_path(&self.config.dir, self.generation), e))?;
            self.series_unsynced = false;
        }
        // the closed segment reaches the disk before any of its successor can
        self.current
            .sync_data()
            .map_err(|e| io_err("sync", &self.segments.back().expect("a segment").path, e))?;
        self.current = open_append(&path)?;
        self.segments.push_back(Segment {
            last_seq: first_seq - 1,
            bytes: 0,
            path,
        });
        self.dir_unsynced = true;
        Ok(())
    }

    fn enforce_max_bytes(&mut self) -> io::Result<Option<u64>> {
        let mut total: u64 = self.segments.iter().map(|s| s.bytes).sum();
        let mut dropped = None;
        while total > self.config.max_bytes && self.segments.len() > 1 {
            let oldest = self.segments.pop_front().expect("more than one segment");
            fs::remove_file(&oldest.path).map_err(|e| io_err("remove", &oldest.path, e))?;
            total -= oldest.bytes;
            dropped = Some(oldest.last_seq);
        }
        Ok(dropped)
    }

    /// Deletes the closed segments whose samples all come before `first_held`.
    pub fn forget_before(&mut self, first_held: u64) {
        while self.segments.len() > 1 && self.segments[0].last_seq < first_held {
            let old = self.segments.pop_front().expect("more than one segment");
            if let Err(e) = fs::remove_file(&old.path) {
                self.fail(io_err("remove", &old.path, e));
                return;
            }
        }
    }

    /// Commits, then makes everything written durable, with `cursors` beside it.
    pub fn sync(&mut self, cursors: &CursorsFile) -> Option<u64> {
        let dropped = self.commit();
        if self.broken.is_some() {
            return dropped;
        }
        if let Err(e) = self.try_sync(cursors) {
            self.fail(e);
        }
        dropped
    }

    fn try_sync(&mut self, cursors: &CursorsFile) -> io::Result<()> {
        let dir = &self.config.dir;
        if self.series_unsynced {
            self.series_file
                .sync_data()
                .map_err(|e| io_err("sync", &series_path(dir, self.generation), e))?;
            self.series_unsynced = false;
        }
        if self.written_seq > self.synced_seq {
            let path = &self.segments.back().expect("a segment").path;
            self.current
                .sync_data()
                .map_err(|e| io_err("sync", path, e))?;
            self.synced_seq = self.written_seq;
        }
        let bytes = serde_json::to_vec(cursors).expect("cursors serialize");
        replace(&dir.join("cursors.json"), &bytes, false)?;
        if self.dir_unsynced {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err("sync", dir, e))?;
            self.dir_unsynced = false;
        }
        Ok(())
    }

    /// Marks this life stopped cleanly (after a sync): the next one keeps the epoch.
    pub fn close(&mut self) {
        if self.broken.is_some() {
            return;
        }
        let path = self.config.dir.join("meta.json");
        if let Err(e) = write_meta(&path, self.epoch, true, self.generation) {
            self.fail(e);
        }
    }

    /// Stops the journal: the buffer carries on in memory, and the epoch is given up so that
    /// the next life starts afresh rather than from a journal that misses what was served.
    fn fail(&mut self, e: io::Error) {
        tracing::error!(dir = %self.config.dir.display(), error = %e,
            "the buffer's journal stopped; samples are kept in memory only until a restart");
        let _ = fs::remove_file(self.config.dir.join("meta.json"));
        self.broken = Some(e.to_string());
        self.pending.clear();
        self.pending_series.clear();
        self.pending_count = 0;
        self.kept_pending.clear();
    }

    /// Bytes of samples on disk now.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}
