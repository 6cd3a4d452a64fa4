//! A durable buffer across lives: what a SIGKILL (a buffer dropped without a sync), a torn
//! write and the byte bound leave.

use std::time::{Duration, Instant};

use strata_proto::labels::LabelMap;

use super::SampleBuffer;
use super::journal::JournalConfig;

fn config(dir: &std::path::Path) -> JournalConfig {
    JournalConfig {
        dir: dir.to_path_buf(),
        max_bytes: 1 << 20,
        segment_bytes: 4096,
    }
}

fn open(dir: &std::path::Path) -> SampleBuffer {
    SampleBuffer::durable(1000, Duration::from_secs(60), config(dir)).unwrap()
}

fn labels(host: &str) -> LabelMap {
    [("host".to_string(), host.to_string())].into()
}

/// Pushes `n` samples of series `name` with values `from..`, committed.
fn push(b: &mut SampleBuffer, name: &str, from: usize, n: usize) {
    let s = b.intern(name, &labels("h")).unwrap();
    for i in from..from + n {
        b.push(s, i as i64 * 1000, i as f64);
    }
    b.commit();
}

fn values(b: &mut SampleBuffer, poller: &str, ack: u64) -> Vec<(u64, f64)> {
    let epoch = b.epoch();
    let r = b.poll(poller, ack, epoch, (0, 0), 10_000, Instant::now());
    r.samples.iter().map(|s| (s.seq, s.value)).collect()
}

#[test]
fn a_killed_buffer_comes_back_with_its_series_and_samples_under_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path());
    let epoch = b.epoch();
    push(&mut b, "a", 0, 5);
    push(&mut b, "b", 5, 3);
    b.push(0, 99, 99.0); // pushed, never committed: lost with the process
    drop(b);
    let mut b = open(dir.path());
    assert_ne!(
        b.epoch(),
        epoch,
        "after a crash the pollers must not trust their cursors"
    );
    assert_eq!(b.last_seq(), 8);
    let r = b.poll("p", 0, epoch, (0, 0), 100, Instant::now());
    let names: Vec<_> = r.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(r.series[1].labels[0].value, "h");
    assert_eq!(
        r.samples.iter().map(|s| s.value).collect::<Vec<_>>(),
        (0..8).map(f64::from).collect::<Vec<_>>()
    );
    // the next life goes on numbering where this one stopped
    push(&mut b, "a", 8, 2);
    assert_eq!(values(&mut b, "p", 8), vec![(9, 8.0), (10, 9.0)]);
    // a clean stop keeps the epoch: nothing is sent twice
    let epoch = b.epoch();
    b.close();
    drop(b);
    let b = open(dir.path());
    assert_eq!(b.epoch(), epoch);
    assert_eq!(b.last_seq(), 10);
}

#[test]
fn acknowledged_samples_stay_freed_and_cursors_hold_for_silent_pollers() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path());
    let now = Instant::now();
    b.assign(&["m1".to_string(), "m2".to_string()], now);
    push(&mut b, "a", 0, 10);
    assert_eq!(values(&mut b, "m1", 0).len(), 10);
    assert_eq!(values(&mut b, "m2", 4).len(), 6, "m2 has 1..=4");
    values(&mut b, "m1", 10); // m1 has everything
    drop(b);
    // cursors are written at each sync (and the assignment at once), not at each poll: an
    // older cursor holds more, never less
    let mut b = open(dir.path());
    assert_eq!(
        b.len(),
        10,
        "the cursors of the assignment: none acknowledged"
    );
    values(&mut b, "m1", 10);
    values(&mut b, "m2", 4);
    b.sync(); // as the agent's schedule does
    drop(b);
    let mut b = open(dir.path());
    assert_eq!(b.len(), 6, "1..=4 were acknowledged by both");
    // m1 comes back first and acknowledges all: m2 (assigned, silent) still holds 5..=10
    values(&mut b, "m1", 10);
    assert_eq!(b.len(), 6);
    assert_eq!(values(&mut b, "m2", 4).first(), Some(&(5, 4.0)));
}

#[test]
fn a_torn_tail_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path());
    push(&mut b, "a", 1, 2);
    b.sync();
    assert_eq!(b.journal.as_ref().unwrap().synced_seq(), 2);
    push(&mut b, "a", 3, 2);
    drop(b);
    // a torn write at the end of the segment: the half record goes, the rest stays
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("seg-"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&seg, &bytes).unwrap();
    let mut b = open(dir.path());
    assert_eq!(std::fs::metadata(&seg).unwrap().len() as usize, whole);
    assert_eq!(
        values(&mut b, "p", 0),
        vec![(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]
    );
}

#[test]
fn the_byte_bound_drops_the_oldest_segments_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = JournalConfig {
        max_bytes: 8192,
        ..config(dir.path())
    };
    let mut b = SampleBuffer::durable(1_000_000, Duration::from_secs(60), cfg.clone()).unwrap();
    for round in 0..20 {
        push(&mut b, "a", round * 50, 50);
    }
    let (bytes, broken) = b.journal_state().unwrap();
    assert!(bytes <= 8192, "{bytes} bytes on disk");
    assert_eq!(broken, None);
    assert!(b.dropped_total() > 0);
    assert_eq!(
        b.len() as u64 + b.dropped_total(),
        1000,
        "every sample held or counted"
    );
    let first = values(&mut b, "p", 0)[0];
    drop(b);
    let mut b = SampleBuffer::durable(1_000_000, Duration::from_secs(60), cfg).unwrap();
    assert_eq!(
        values(&mut b, "p", 0)[0],
        first,
        "the same samples after a restart"
    );
    // acknowledged segments are deleted
    values(&mut b, "p", 1000);
    b.sync();
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("seg-")
        })
        .count();
    assert_eq!(segments, 1, "only the current segment is left");
}

#[test]
fn check_states_are_kept_and_a_journal_without_meta_starts_a_new_life() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path());
    push(&mut b, "a", 0, 3);
    b.keep_state("app-log", Some("{\"offset\":42}".into()));
    b.commit();
    drop(b);
    let b = open(dir.path());
    let epoch = b.epoch();
    assert_eq!(b.kept_state("app-log").as_deref(), Some("{\"offset\":42}"));
    drop(b);
    std::fs::remove_file(dir.path().join("meta.json")).unwrap();
    let b = open(dir.path());
    assert_ne!(b.epoch(), epoch);
    assert!(
        b.is_empty(),
        "samples of an abandoned epoch are not served again"
    );
    assert_eq!(b.kept_state("app-log").as_deref(), Some("{\"offset\":42}"));
}

#[test]
fn what_is_kept_goes_to_disk_with_the_samples_it_belongs_to() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path());
    let s = b.intern("lines", &labels("h")).unwrap();
    b.push(s, 1, 10.0);
    b.keep_state("app-log", Some("at 10".into()));
    b.commit();
    b.keep_state("gone", Some("x".into()));
    b.commit();
    b.keep_state("gone", None);
    b.commit();
    drop(b);
    // killed before kept.json was rewritten: the records carry it all the same
    std::fs::remove_file(dir.path().join("kept.json")).unwrap();
    let b = open(dir.path());
    assert_eq!(b.kept_state("app-log").as_deref(), Some("at 10"));
    assert_eq!(b.kept_state("gone"), None);
    assert_eq!(b.kept_keys(), vec!["app-log".to_string()]);
    assert_eq!(b.last_seq(), 1, "records with no sample take no sequence");
}

#[test]
fn one_process_per_buffer_directory() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let err = SampleBuffer::durable(10, Duration::from_secs(1), config(dir.path())).unwrap_err();
    assert!(
        err.to_string().contains("another process uses this buffer"),
        "{err}"
    );
    drop(b);
    assert!(SampleBuffer::durable(10, Duration::from_secs(1), config(dir.path())).is_ok());
}
