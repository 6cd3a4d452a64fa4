//! The in-memory buffer: cursors, assignment, bounds and epochs.

use super::*;

fn filled(n: usize, capacity: usize) -> SampleBuffer {
    let mut b = SampleBuffer::new(capacity, Duration::from_secs(60));
    let s = b.intern("m", &LabelMap::new()).unwrap();
    for i in 0..n {
        b.push(s, i as i64, i as f64);
    }
    b
}

#[test]
fn poll_returns_after_ack_and_frees_acknowledged() {
    let mut b = filled(5, 100);
    let now = Instant::now();
    let r = b.poll("p", 0, 0, (0, 0), 3, now);
    assert_eq!(
        r.samples.iter().map(|s| s.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(r.more);
    assert_eq!(r.last_seq, 3);
    assert_eq!(r.series.len(), 1);
    let r = b.poll("p", 3, 0, (0, 0), 10, now);
    assert_eq!(
        r.samples.iter().map(|s| s.seq).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert_eq!(b.len(), 2, "samples 1..=3 are acknowledged and freed");
    let r = b.poll("p", 5, 0, (0, 0), 10, now);
    assert!(r.samples.is_empty());
    assert_eq!(r.last_seq, 5);
    assert!(b.is_empty());
}

#[test]
fn a_poller_gets_only_the_dictionary_entries_it_lacks() {
    let mut b = filled(2, 100);
    let now = Instant::now();
    let r = b.poll("p", 0, 0, (0, 0), 10, now);
    assert_eq!((r.series_base, r.series.len()), (0, 1));
    let n = b.intern("n", &LabelMap::new()).unwrap();
    b.push(n, 9, 9.0);
    let epoch = b.epoch();
    let r = b.poll("p", 2, epoch, (b.generation(), 1), 10, now);
    assert_eq!((r.series_base, r.series.len()), (1, 1));
    assert_eq!(r.series[0].name, "n");
    assert_eq!(r.samples[0].series, 1, "samples index the whole dictionary");
    let r = b.poll("p", 2, epoch, (b.generation(), 2), 10, now);
    assert_eq!((r.series_base, r.series.len()), (2, 0));
    // another epoch, or more than the agent has: the whole dictionary again
    for (e, known) in [(epoch - 1, 2), (epoch, 5), (0, 2)] {
        let r = b.poll("p", 0, e, (b.generation(), known), 10, now);
        assert_eq!((r.series_base, r.series.len()), (0, 2), "{e} {known}");
    }
}

#[test]
fn only_assigned_pollers_hold_samples_and_they_hold_them_until_acknowledged() {
    let mut b = SampleBuffer::new(100, Duration::from_secs(1));
    let s = b.intern("m", &LabelMap::new()).unwrap();
    for i in 0..4 {
        b.push(s, i, i as f64);
    }
    let t0 = Instant::now();
    b.poll("old", 0, 0, (0, 0), 10, t0);
    // The old owner died; the broker assigns two new pollers; one of them polls first.
    let assigned = vec!["a".to_string(), "b".to_string()];
    b.assign(&assigned, t0);
    assert_eq!(
        b.last_polls().len(),
        0,
        "the old cursor is gone, b has not polled"
    );
    let r = b.poll("a", 0, 0, (0, 0), 10, t0);
    assert_eq!(
        r.samples.len(),
        4,
        "a new poller gets everything unacknowledged"
    );
    b.poll("a", 4, 0, (0, 0), 10, t0);
    assert_eq!(b.len(), 4, "b has not acknowledged anything yet");
    let late = t0 + Duration::from_secs(30);
    b.poll("a", 4, 0, (0, 0), 10, late);
    assert_eq!(b.len(), 4, "an assigned poller's cursor does not expire");
    let r = b.poll("b", 0, 0, (0, 0), 10, late);
    assert_eq!(r.samples.len(), 4);
    b.poll("b", 4, 0, (0, 0), 10, late);
    assert!(b.is_empty());
    b.assign(&["a".to_string()], late);
    assert_eq!(
        b.last_polls()
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>(),
        vec!["a"]
    );
}

#[test]
fn each_poller_keeps_its_own_cursor() {
    let mut b = filled(4, 100);
    let now = Instant::now();
    b.poll("a", 0, 0, (0, 0), 10, now);
    b.poll("b", 0, 0, (0, 0), 10, now);
    b.poll("a", 4, 0, (0, 0), 10, now);
    assert_eq!(b.len(), 4, "b has not acknowledged anything yet");
    let r = b.poll("b", 2, 0, (0, 0), 10, now);
    assert_eq!(
        r.samples.iter().map(|s| s.seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert_eq!(b.len(), 2);
}

#[test]
fn a_poller_without_cursor_gets_everything_unacknowledged() {
    let mut b = filled(4, 100);
    let now = Instant::now();
    b.poll("old", 2, 0, (0, 0), 10, now);
    let r = b.poll("new", 0, 0, (0, 0), 10, now);
    assert_eq!(
        r.samples.iter().map(|s| s.seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
}

#[test]
fn silent_pollers_expire() {
    let mut b = SampleBuffer::new(100, Duration::from_secs(1));
    let s = b.intern("m", &LabelMap::new()).unwrap();
    b.push(s, 0, 0.0);
    b.push(s, 1, 1.0);
    let t0 = Instant::now();
    b.poll("gone", 0, 0, (0, 0), 10, t0);
    b.poll("live", 2, 0, (0, 0), 10, t0 + Duration::from_secs(5));
    assert!(
        b.is_empty(),
        "the silent poller no longer holds samples back"
    );
}

#[test]
fn full_buffer_drops_oldest_and_counts() {
    let mut b = filled(7, 5);
    assert_eq!(b.dropped_total(), 2);
    assert_eq!(b.len(), 5);
    let r = b.poll("p", 0, 0, (0, 0), 10, Instant::now());
    assert_eq!(r.samples.first().map(|s| s.seq), Some(3));
    assert_eq!(r.buffer.unwrap().dropped_total, 2);
}

#[test]
fn acks_from_an_earlier_life_of_the_agent_free_nothing() {
    let now = Instant::now();
    let mut b = filled(3, 10);
    let r = b.poll("p", 99, 0, (0, 0), 10, now);
    assert_eq!(
        r.samples.len(),
        3,
        "an ack beyond the newest sample is no ack"
    );
    assert_eq!(b.len(), 3);
    let old_epoch = b.epoch() - 1;
    let r = b.poll("p", 2, old_epoch, (0, 0), 10, now);
    assert_eq!(r.samples.len(), 3, "an ack of another epoch is no ack");
    assert_eq!(b.len(), 3);
    let r = b.poll("p", 2, b.epoch(), (0, 0), 10, now);
    assert_eq!(r.samples.iter().map(|s| s.seq).collect::<Vec<_>>(), vec![3]);
    assert_eq!(r.buffer.unwrap().epoch, b.epoch());
    assert_eq!(b.len(), 1);
}
