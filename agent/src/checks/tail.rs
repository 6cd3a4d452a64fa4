//! Following a log file across rotation and truncation, line by line, with bounded memory.
//!
//! The follower keeps the file open and remembers its inode and offset. When the path names
//! another file (rotated by rename), the rest of the old file is read first, then the new
//! one from its start; when the file shrinks (truncated in place), reading starts over at 0.
//! A line longer than the limit is cut, and the rest of it skipped, so a file without
//! newlines (binary garbage) costs at most the limit in memory.
//!
//! Its place (file identity and the offset of the first line not yet handed out) can be
//! kept with the samples it gave and resumed by the agent's next life, so that a restart
//! neither reads a line again nor skips one.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::policy::AllowPaths;
use crate::policy::paths::open_under;

/// What one read found besides the lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    pub bytes: u64,
    pub lines: u64,
    /// Lines longer than the limit, cut.
    pub cut: u64,
    pub rotated: bool,
    pub truncated: bool,
    /// The read stopped at the byte budget; more is waiting.
    pub more: bool,
}

/// A follower's place and its check's counters, as kept between lives of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// The path followed (a place kept for another path is not resumed).
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// The start of the first line not handed out yet.
    pub offset: u64,
    /// The line at `offset` was already cut (and counted so) when the place was kept.
    pub cut: bool,
    /// Bytes past `offset` already read (and counted) when the place was kept.
    pub read_ahead: u64,
    /// The check's running totals.
    pub counters: Vec<u64>,
}

/// A file followed like `tail -F`.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    inode: (u64, u64),
    offset: u64,
    /// Where the line being read began (the place to resume from).
    line_start: u64,
    /// A kept place to open the file at: device, inode and offset.
    resume: Option<(u64, u64, u64)>,
    /// The start of a line whose newline has not come yet.
    partial: Vec<u8>,
    /// The current line passed the limit: drop bytes until its newline.
    skipping: bool,
    max_line: usize,
    /// Read a newly opened file from its start (false: from its end, on the first open only).
    from_start: bool,
    /// Open the file only if, links resolved, it lies under these (a pushed check's).
    guard: Option<AllowPaths>,
}

impl Follower {
    /// Follows `path`; lines are cut at `max_line` bytes.
    pub fn new(path: impl Into<PathBuf>, max_line: usize, from_start: bool) -> Self {
        Self {
            path: path.into(),
            file: None,
            inode: (0, 0),
            offset: 0,
            line_start: 0,
            resume: None,
            partial: Vec::new(),
            skipping: false,
            max_line: max_line.max(1),
            from_start,
            guard: None,
        }
    }

    /// Opens the file only if, symbolic links resolved, it lies under `guard` (when given).
    pub fn guarded(mut self, guard: Option<AllowPaths>) -> Self {
        self.guard = guard;
        self
    }

    /// The place to keep with `counters`, once the file was opened.
    pub fn keep(&self, counters: Vec<u64>) -> Option<String> {
        self.file.as_ref()?;
        let kept = Kept {
            path: self.path.clone(),
            dev: self.inode.0,
            ino: self.inode.1,
            offset: self.line_start,
            cut: self.skipping,
            read_ahead: self.offset - self.line_start,
            counters,
        };
        serde_json::to_string(&kept).ok()
    }

    /// Resumes at a place kept by [`Follower::keep`] for this path, before the first read;
    /// gives what was kept. When the file was replaced meanwhile, the new one is read from
    /// its start.
    pub fn resume(&mut self, kept: &str) -> Option<Kept> {
        let kept: Kept = serde_json::from_str(kept).ok()?;
        if kept.path != self.path || self.file.is_some() {
            return None;
        }
        self.resume = Some((kept.dev, kept.ino, kept.offset));
        Some(kept)
    }

    /// Reads what was appended since the last call, at most `budget` bytes, handing each
    /// complete line (without its newline) to `line`.
    pub fn read(&mut self, budget: u64, mut line: impl FnMut(&[u8])) -> io::Result<ReadStats> {
        let mut stats = ReadStats::default();
        let current = match std::fs::metadata(&self.path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.file.is_some() => None,
            Err(e) => return Err(e),
        };
        let renamed = current
            .as_ref()
            .is_some_and(|m| (m.dev(), m.ino()) != self.inode);
        if self.file.is_some() && renamed {
            // the rest of the rotated file first
            self.drain(budget, &mut stats, &mut line)?;
            if stats.more {
                return Ok(stats);
            }
            self.flush_partial(&mut stats, &mut line);
            self.file = None;
            stats.rotated = true;
            self.from_start = true;
        }
        if self.file.is_none() {
            let Some(meta) = current else {
                return Ok(stats);
            };
            let file = match &self.guard {
                None => File::open(&self.path)?,
                Some(allow) => open_under(&self.path, allow)?,
            };
            self.inode = (meta.dev(), meta.ino());
            self.offset = match self.resume.take() {
                Some((dev, ino, at)) if (dev, ino) == self.inode && at <= meta.len() => at,
                // replaced or cut while the agent was away: all of what is there is new
                Some(_) => 0,
                None if self.from_start => 0,
                None => meta.len(),
            };
            self.line_start = self.offset;
            self.from_start = true;
            self.file = Some(file);
        }
        let len = self
            .file
            .as_ref()
            .map_or(Ok(0), |f| f.metadata().map(|m| m.len()))?;
        if len < self.offset {
            stats.truncated = true;
            self.offset = 0;
            self.line_start = 0;
            self.partial.clear();
            self.skipping = false;
        }
        let left = budget.saturating_sub(stats.bytes);
        self.drain(left, &mut stats, &mut line)?;
        Ok(stats)
    }

    /// Reads the open file from the offset to its end or the budget.
    fn drain(
        &mut self,
        budget: u64,
        stats: &mut ReadStats,
        line: &mut impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let Some(mut file) = self.file.take() else {
            return Ok(());
        };
        let result = self.drain_file(&mut file, budget, stats, line);
        self.file = Some(file);
        result
    }

    fn drain_file(
        &mut self,
        file: &mut File,
        budget: u64,
        stats: &mut ReadStats,
        line: &mut impl FnMut(&[u8]),
    ) -> io::Result<()> {
        file.seek(SeekFrom::Start(self.offset))?;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut left = budget;
        while left > 0 {
            let want = chunk.len().min(left as usize);
            let n = file.read(&mut chunk[..want])?;
            if n == 0 {
                return Ok(());
            }
            let chunk_start = self.offset;
            self.offset += n as u64;
            stats.bytes += n as u64;
            left -= n as u64;
            let mut rest = &chunk[..n];
            while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
                let (head, tail) = rest.split_at(pos);
                self.take(head, stats);
                self.finish_line(stats, line);
                rest = &tail[1..];
                self.line_start = chunk_start + (n - rest.len()) as u64;
            }
            self.take(rest, stats);
        }
        stats.more = true;
        Ok(())
    }

    /// Adds bytes to the partial line, up to the limit.
    fn take(&mut self, bytes: &[u8], stats: &mut ReadStats) {
        if self.skipping {
            return;
        }
        let room = self.max_line - self.partial.len();
        if bytes.len() > room {
            self.partial.extend_from_slice(&bytes[..room]);
            self.skipping = true;
            stats.cut += 1;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    fn finish_line(&mut self, stats: &mut ReadStats, line: &mut impl FnMut(&[u8])) {
        let mut text = self.partial.as_slice();
        if text.last() == Some(&b'\r') {
            text = &text[..text.len() - 1];
        }
        line(text);
        stats.lines += 1;
        self.partial.clear();
        self.skipping = false;
    }

    /// A rotated file's last line may have no newline: it is a line all the same.
    fn flush_partial(&mut self, stats: &mut ReadStats, line: &mut impl FnMut(&[u8])) {
        if !self.partial.is_empty() || self.skipping {
            self.finish_line(stats, line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(f: &mut Follower) -> (Vec<String>, ReadStats) {
        let mut out = Vec::new();
        let stats = f
            .read(u64::MAX, |l| {
                out.push(String::from_utf8_lossy(l).into_owned())
            })
            .unwrap();
        (out, stats)
    }

    fn append(path: &std::path::Path, text: &[u8]) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text)
            .unwrap();
    }

    #[test]
    fn follows_appends_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, b"old line\n");
        let mut f = Follower::new(&path, 1024, false);
        assert_eq!(lines(&mut f).0, Vec::<String>::new(), "starts at the end");
        append(&path, b"one\ntw");
        assert_eq!(lines(&mut f).0, vec!["one"]);
        append(&path, b"o\r\n");
        assert_eq!(lines(&mut f).0, vec!["two"]);
        // rotation by rename: the old file's tail, then the new file from its start
        append(&path, b"last of old");
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        append(&path, b"first of new\n");
        let (got, stats) = lines(&mut f);
        assert_eq!(got, vec!["last of old", "first of new"]);
        assert!(stats.rotated);
        // truncation in place
        std::fs::write(&path, b"").unwrap();
        append(&path, b"after\n");
        let (got, stats) = lines(&mut f);
        assert_eq!(got, vec!["after"]);
        assert!(stats.truncated);
    }

    #[test]
    fn long_lines_and_garbage_are_cut_with_bounded_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin.log");
        std::fs::write(&path, b"").unwrap();
        let mut f = Follower::new(&path, 100, false);
        lines(&mut f);
        let mut big = vec![b'x'; 1 << 20];
        big.push(b'\n');
        append(&path, &big);
        let garbage: Vec<u8> = (0..300_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        append(&path, &garbage);
        append(&path, b"\nend\n");
        let (got, stats) = lines(&mut f);
        assert_eq!(got[0].len(), 100);
        assert_eq!(got.last().unwrap(), "end");
        assert!(
            got.iter().all(|l| l.len() <= 100 * 3),
            "lossy decoding may widen bytes"
        );
        assert!(stats.cut >= 1);
        assert!(
            f.partial.capacity() <= 256,
            "the partial line stays within the limit"
        );
    }

    #[test]
    fn the_budget_bounds_one_read_and_the_rest_follows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut f = Follower::new(&path, 1024, true);
        append(&path, "line\n".repeat(1000).as_bytes());
        let mut n = 0;
        let s = f.read(1000, |_| n += 1).unwrap();
        assert!(s.more);
        assert_eq!(n, 200);
        let s = f.read(u64::MAX, |_| n += 1).unwrap();
        assert!(!s.more);
        assert_eq!(n, 1000);
    }

    #[test]
    fn a_missing_file_is_an_error_until_it_appears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late.log");
        let mut f = Follower::new(&path, 1024, false);
        assert!(f.read(100, |_| {}).is_err());
        append(&path, b"x\n");
        assert_eq!(lines(&mut f).0, Vec::<String>::new());
        append(&path, b"y\n");
        assert_eq!(lines(&mut f).0, vec!["y"]);
    }
}
