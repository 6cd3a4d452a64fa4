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

/// Series seen by one collector and the readings of the current cycle.
#[derive(Debug, Default)]
pub struct SeriesTable {
    by_key: HashMap<String, u32, BuildHasherDefault<Fnv>>,
    /// Name and labels of each local series, by local index.
    descs: Vec<(&'static str, LabelMap)>,
    /// Buffer index of each local series already interned in the buffer.
    in_buffer: Vec<SeriesIdx>,
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

    /// Pushes this cycle's readings into `buffer` stamped `ts_ms`, interning new series.
    pub fn store(&mut self, buffer: &mut SampleBuffer, ts_ms: i64) {
        while self.in_buffer.len() < self.descs.len() {
            let (name, labels) = &self.descs[self.in_buffer.len()];
            self.in_buffer.push(buffer.intern(name, labels));
        }
        for &(idx, value) in &self.cycle {
            buffer.push(self.in_buffer[idx as usize], ts_ms, value);
        }
        self.last_order.clear();
        self.last_order
            .extend(self.cycle.iter().map(|&(idx, _)| idx));
        self.cycle.clear();
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
        let polled = buffer.poll("p", 0, 0, 0, 100, Instant::now());
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
}
