//! The collector's own series table, so that a collection cycle allocates nothing for the
//! series it has seen before.
//!
//! A reading is looked up by a flat key (name and labels joined in a reused string); a hit
//! costs a hash and no allocation. New series get the next local index and are interned in
//! the sample buffer once, when the cycle is stored.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use strata_proto::labels::LabelMap;

use crate::buffer::{SampleBuffer, SeriesIdx};
use crate::procfs::Emit;

/// FNV-1a: the keys are short, local and not attacker-chosen, so a fast hash beats SipHash
/// here (a cycle hashes every key).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Whether two static names are equal: the same literal is almost always the same address,
/// which saves comparing the bytes.
fn same(a: &'static str, b: &'static str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

/// Label names and values of a series as emitted.
type EmittedLabels = Box<[(&'static str, Box<str>)]>;

/// A local series not looked up in the buffer yet (in this dictionary generation).
const UNRESOLVED: SeriesIdx = SeriesIdx::MAX;
/// A local series the buffer refused (its dictionary is full).
const REFUSED: SeriesIdx = SeriesIdx::MAX - 1;

/// Series seen by one collector and the readings of the current cycle.
#[derive(Debug, Default)]
pub struct SeriesTable {
    by_key: HashMap<String, u32, BuildHasherDefault<Fnv>>,
    /// Name and labels of each local series, by local index.
    descs: Vec<(&'static str, LabelMap)>,
    /// Buffer index of each local series, or [`UNRESOLVED`] or [`REFUSED`].
    in_buffer: Vec<SeriesIdx>,
    /// The buffer's dictionary generation that `in_buffer` refers to.
    generation: u64,
    /// How many times the table forgot its idle series (a snapshot copied before is stale).
    renewed: u64,
    key: String,
    /// Labels of each local series in the order they were emitted, to confirm a prediction.
    emitted: Vec<EmittedLabels>,
    /// The series of the last stored cycle, in emission order: a cycle emits the same
    /// series in the same order, so the n-th reading is first checked against the n-th of
    /// the last cycle, which costs a few short comparisons instead of a hash of the key.
    last_order: Vec<u32>,
    /// This cycle's readings: local index and value.
    cycle: Vec<(u32, f64)>,
}

impl Emit for SeriesTable {
    fn emit(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        if let Some(&idx) = self.last_order.get(self.cycle.len()) {
            let known = &self.emitted[idx as usize];
            if same(self.descs[idx as usize].0, name)
                && known.len() == labels.len()
                && known
                    .iter()
                    .zip(labels)
                    .all(|((k1, v1), (k2, v2))| same(k1, k2) && **v1 == **v2)
            {
                self.cycle.push((idx, value));
                return;
            }
        }
        self.key.clear();
        self.key.push_str(name);
        for (k, v) in labels {
            self.key.push('\u{1}');
            self.key.push_str(k);
            self.key.push('\u{2}');
            self.key.push_str(v);
        }
        let idx = match self.by_key.get(self.key.as_str()) {
            Some(idx) => *idx,
            None => {
                let idx = self.descs.len() as u32;
                let map = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                self.descs.push((name, map));
                self.emitted
                    .push(labels.iter().map(|(k, v)| (*k, Box::from(*v))).collect());
                self.by_key.insert(self.key.clone(), idx);
                idx
            }
        };
        self.cycle.push((idx, value));
    }
}

/// The last cycle's readings, for the Prometheus exposition of host series.
#[derive(Debug, Default)]
pub struct HostSnapshot {
    descs: Vec<(&'static str, LabelMap)>,
    values: Vec<(u32, f64)>,
    /// The table's `renewed` when `descs` were copied.
    renewed: u64,
}

impl HostSnapshot {
    /// Name, labels and value of each reading, sorted by name (one family after another).
    pub fn readings(&self) -> Vec<(&'static str, &LabelMap, f64)> {
        let mut out: Vec<_> = self
            .values
            .iter()
            .map(|&(idx, value)| {
                let (name, labels) = &self.descs[idx as usize];
                (*name, labels, value)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }
}

impl SeriesTable {
    /// Copies this cycle's readings into `snapshot` (series it has not seen are added).
    pub fn snapshot_into(&self, snapshot: &mut HostSnapshot) {
        if snapshot.renewed != self.renewed {
            snapshot.descs.clear();
            snapshot.renewed = self.renewed;
        }
        snapshot
            .descs
            .extend(self.descs[snapshot.descs.len()..].iter().cloned());
        snapshot.values.clear();
        snapshot.values.extend_from_slice(&self.cycle);
    }

    /// Readings emitted since the last [`SeriesTable::store`].
    pub fn pending(&self) -> usize {
        self.cycle.len()
    }

    /// Series known so far.
    pub fn series(&self) -> usize {
        self.descs.len()
    }

    /// Pushes this cycle's readings into `buffer` stamped `ts_ms`, interning new series
    /// (those the buffer refuses are left out until its dictionary forgets some).
    pub fn store(&mut self, buffer: &mut SampleBuffer, ts_ms: i64) {
        if buffer.generation() != self.generation {
            // the buffer forgot its idle series: so does the table, keeping this cycle's
            self.keep_cycle_only();
            self.in_buffer.clear();
            self.generation = buffer.generation();
        }
        self.in_buffer.resize(self.descs.len(), UNRESOLVED);
        for &(idx, value) in &self.cycle {
            let slot = &mut self.in_buffer[idx as usize];
            if *slot == UNRESOLVED {
                let (name, labels) = &self.descs[idx as usize];
                *slot = buffer.intern(name, labels).unwrap_or(REFUSED);
            }
            if *slot != REFUSED {
                buffer.push(*slot, ts_ms, value);
            }
        }
        self.last_order.clear();
        self.last_order
            .extend(self.cycle.iter().map(|&(idx, _)| idx));
        self.cycle.clear();
    }

    /// Forgets every series the current cycle did not emit, renumbering the rest.
    fn keep_cycle_only(&mut self) {
        let mut renumbered = vec![u32::MAX; self.descs.len()];
        let mut descs = Vec::new();
        let mut emitted = Vec::new();
        for (idx, _) in &mut self.cycle {
            let old = *idx as usize;
            if renumbered[old] == u32::MAX {
                renumbered[old] = descs.len() as u32;
                descs.push(std::mem::take(&mut self.descs[old]));
                emitted.push(std::mem::take(&mut self.emitted[old]));
            }
            *idx = renumbered[old];
        }
        self.by_key.retain(|_, idx| {
            *idx = renumbered[*idx as usize];
            *idx != u32::MAX
        });
        self.descs = descs;
        self.emitted = emitted;
        self.last_order.clear();
        self.renewed += 1;
    }

    /// Name, labels and value of each pending reading (for tests and the exposition).
    pub fn pending_readings(&self) -> impl Iterator<Item = (&'static str, &LabelMap, f64)> {
        self.cycle.iter().map(|&(idx, value)| {
            let (name, labels) = &self.descs[idx as usize];
            (*name, labels, value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn repeated_series_are_interned_once_and_stored_in_order() {
        let mut table = SeriesTable::default();
        let mut buffer = SampleBuffer::new(100, Duration::from_secs(60));
        for cycle in 0..3 {
            table.emit("m", &[("a", "1")], f64::from(cycle));
            table.emit("m", &[("a", "2")], 10.0);
            table.emit("n", &[], 20.0);
            table.store(&mut buffer, 1000 * i64::from(cycle));
        }
        assert_eq!(table.series(), 3);
        assert_eq!(table.pending(), 0);
        let polled = buffer.poll("p", 0, 0, (0, 0), 100, Instant::now());
        assert_eq!(polled.series.len(), 3);
        assert_eq!(polled.samples.len(), 9);
        let first = polled.samples.iter().map(|s| s.value).collect::<Vec<_>>();
        assert_eq!(&first[..3], &[0.0, 10.0, 20.0]);
    }

    #[test]
    fn a_cycle_in_another_order_or_with_other_series_is_still_right() {
        let mut table = SeriesTable::default();
        let mut buffer = SampleBuffer::new(100, Duration::from_secs(60));
        table.emit("m", &[("a", "1")], 1.0);
        table.emit("m", &[("a", "2")], 2.0);
        table.store(&mut buffer, 1);
        // swapped, a label value changed, and one new series
        table.emit("m", &[("a", "2")], 3.0);
        table.emit("m", &[("a", "3")], 4.0);
        table.emit("m", &[("a", "1")], 5.0);
        let got: Vec<(String, f64)> = table
            .pending_readings()
            .map(|(_, l, v)| (l["a"].clone(), v))
            .collect();
        assert_eq!(
            got,
            vec![("2".into(), 3.0), ("3".into(), 4.0), ("1".into(), 5.0)]
        );
        assert_eq!(table.series(), 3);
    }

    #[test]
    fn when_the_buffer_forgets_the_table_forgets_too_and_resolves_again() {
        let mut table = SeriesTable::default();
        let mut buffer = SampleBuffer::new(100, Duration::from_secs(60));
        buffer.set_series_limits(crate::buffer::SeriesLimits {
            max_series: 100,
            forget_after: Duration::from_secs(4),
        });
        table.emit("m", &[("a", "old")], 1.0);
        table.emit("m", &[("a", "live")], 1.0);
        table.store(&mut buffer, 1);
        buffer.commit();
        buffer.poll("p", 2, buffer.epoch(), (0, 2), 100, Instant::now());
        buffer.pass_time(10);
        table.emit("m", &[("a", "live")], 2.0);
        table.store(&mut buffer, 2);
        buffer.commit();
        assert_eq!(buffer.generation(), 1, "the old series forgotten");
        // the next cycle: the table keeps only what it emitted, resolved in the new numbering
        table.emit("m", &[("a", "live")], 3.0);
        table.emit("m", &[("a", "new")], 4.0);
        table.store(&mut buffer, 3);
        assert_eq!(table.series(), 2);
        let polled = buffer.poll("q", 0, buffer.epoch(), (0, 0), 100, Instant::now());
        let got: Vec<(String, f64)> = polled
            .samples
            .iter()
            .map(|s| {
                let l = &polled.series[s.series as usize].labels[0].value;
                (l.clone(), s.value)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("live".into(), 2.0),
                ("live".into(), 3.0),
                ("new".into(), 4.0)
            ]
        );
    }
}
