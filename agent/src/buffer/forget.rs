//! Forgetting idle series, so that the dictionary a churning host fills (process names,
//! mounts, a plugin's labels) stays bounded by count and by age.
//!
//! Pollers hold the dictionary by index, so forgetting renumbers what is left and starts a
//! new dictionary generation: the held samples are renumbered with it (their sequences do
//! not change, so no cursor moves), the journal writes the new generation beside the old
//! one and switches to it by one rename, and a poller naming an older generation is sent
//! the whole dictionary again. A series that a held sample names is never forgotten, so
//! every sample still means what it meant when it was pushed.
//!
//! Renumbering costs every poller one whole dictionary, so it waits until a quarter of the
//! dictionary is idle, or until the dictionary is full and anything at all is idle.

use std::collections::HashMap;

use strata_proto::labels::to_map;

use super::{SampleBuffer, SeriesIdx};

/// Seconds, saturated into a `u32` (136 years).
fn secs(d: std::time::Duration) -> u32 {
    d.as_secs().min(u64::from(u32::MAX)) as u32
}

impl SampleBuffer {
    /// Forgets idle series when it is time to look and enough are idle.
    pub(super) fn maintain(&mut self) {
        self.now_s = secs(self.clock.elapsed());
        if self.now_s < self.next_check_s {
            return;
        }
        let forget_after = secs(self.limits.forget_after.max(self.forget_floor)).max(1);
        self.next_check_s = self.now_s.saturating_add((forget_after / 4).max(1));
        let idle_before = self.now_s.saturating_sub(forget_after);
        if idle_before == 0 {
            return;
        }
        let mut keep: Vec<bool> = self.last_seen.iter().map(|&t| t >= idle_before).collect();
        for s in &self.samples {
            keep[s.series as usize] = true;
        }
        let idle = keep.iter().filter(|k| !**k).count();
        let full = self.series.len() >= self.limits.max_series;
        if idle > 0 && (idle * 4 >= self.series.len() || full) {
            self.forget(&keep);
        }
    }

    /// Moves the buffer's clock `secs` on, as if that time had passed since the last
    /// commit, which pushes from now on are stamped with.
    #[cfg(test)]
    pub(crate) fn pass_time(&mut self, seconds: u64) {
        self.clock = self
            .clock
            .checked_sub(std::time::Duration::from_secs(seconds))
            .expect("an uptime of minutes");
        self.now_s = secs(self.clock.elapsed());
    }

    /// Keeps the series marked in `keep`, renumbered in order, in a new generation.
    fn forget(&mut self, keep: &[bool]) {
        let mut renumbered: Vec<SeriesIdx> = vec![SeriesIdx::MAX; keep.len()];
        let old = std::mem::take(&mut self.series);
        let seen = std::mem::take(&mut self.last_seen);
        let mut ids = HashMap::with_capacity(old.len());
        for (i, (desc, seen)) in old.into_iter().zip(seen).enumerate() {
            if keep[i] {
                renumbered[i] = self.series.len() as SeriesIdx;
                ids.insert(
                    (desc.name.clone(), to_map(&desc.labels)),
                    self.series.len() as SeriesIdx,
                );
                self.series.push(desc);
                self.last_seen.push(seen);
            }
        }
        for s in &mut self.samples {
            s.series = renumbered[s.series as usize];
        }
        let forgotten = keep.len() - self.series.len();
        self.series_ids = ids;
        self.series_forgotten_total += forgotten as u64;
        self.generation += 1;
        tracing::info!(
            forgotten,
            kept = self.series.len(),
            generation = self.generation,
            "idle series forgotten; the dictionary renumbered"
        );
        if let Some(j) = &mut self.journal {
            let held = self.samples.iter().map(|s| (s.series, s.ts_ms, s.value));
            j.rewrite(self.generation, &self.series, self.first_seq, held);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use strata_proto::labels::LabelMap;

    use super::super::journal::JournalConfig;
    use super::super::{SampleBuffer, SeriesLimits};

    fn labels(v: &str) -> LabelMap {
        [("name".to_string(), v.to_string())].into()
    }

    fn limited(b: &mut SampleBuffer, max_series: usize) {
        b.set_series_limits(SeriesLimits {
            max_series,
            forget_after: Duration::from_secs(4),
        });
    }

    /// Each sample of an answer with the name label of the series it names.
    fn held(r: &strata_proto::v1::PollResponse) -> Vec<(u64, &str)> {
        r.samples
            .iter()
            .map(|s| (s.seq, r.series[s.series as usize].labels[0].value.as_str()))
            .collect()
    }

    fn names(b: &mut SampleBuffer, poller: &str) -> (u32, Vec<String>, u64) {
        let epoch = b.epoch();
        let r = b.poll(poller, 0, epoch, (0, 0), 100, Instant::now());
        let names = r.series.iter().map(|s| s.labels[0].value.clone()).collect();
        (r.series_base, names, r.dictionary)
    }

    /// A buffer with series `a`, `b`, `c` seen at second 0; `b` seen again at second 10
    /// and a sample of `a` still held; then at second 10 it commits.
    fn churned(b: &mut SampleBuffer) {
        limited(b, 1000);
        let [a, x, c] = ["a", "b", "c"].map(|n| b.intern("m", &labels(n)).unwrap());
        for s in [a, x, c] {
            b.push(s, 1, 1.0);
        }
        b.commit();
        let epoch = b.epoch();
        b.poll("p", 3, epoch, (0, 3), 100, Instant::now());
        b.push(a, 2, 2.0);
        b.pass_time(10);
        b.push(x, 3, 3.0);
        b.commit();
    }

    #[test]
    fn idle_series_are_forgotten_unless_a_held_sample_names_them() {
        let mut b = SampleBuffer::new(100, Duration::from_secs(60));
        let epoch = b.epoch();
        churned(&mut b);
        // c was idle and is named by nothing held: forgotten; a is idle but held
        assert_eq!(b.generation(), 1);
        assert_eq!(b.stats().series_forgotten_total, 1);
        // a poller of the old generation gets the whole dictionary again, renumbered, and
        // its cursor still holds: the held samples come with their sequences
        let r = b.poll("p", 3, epoch, (0, 3), 100, Instant::now());
        assert_eq!((r.series_base, r.dictionary), (0, 1));
        let got = held(&r);
        assert_eq!(got, [(4, "a"), (5, "b")]);
        // within the generation only what is new is sent
        let r = b.poll("p", 5, epoch, (1, 2), 100, Instant::now());
        assert_eq!((r.series_base, r.series.len()), (2, 0));
        // a new series takes the next index of the new generation
        assert_eq!(b.intern("m", &labels("d")), Some(2));
    }

    #[test]
    fn a_full_dictionary_refuses_new_series_and_counts_them() {
        let mut b = SampleBuffer::new(100, Duration::from_secs(60));
        limited(&mut b, 2);
        assert_eq!(b.intern("m", &labels("a")), Some(0));
        assert_eq!(b.intern("m", &labels("b")), Some(1));
        assert_eq!(b.intern("m", &labels("a")), Some(0), "a known one still is");
        assert_eq!(b.intern("m", &labels("c")), None);
        b.push_series("m", &labels("d"), 1, 1.0);
        assert_eq!(b.stats().series_refused_total, 2);
        assert_eq!(b.len(), 0, "nothing pushed for the refused");
        assert_eq!(names(&mut b, "p").1, ["a", "b"]);
    }

    #[test]
    fn a_full_dictionary_forgets_even_a_few_idle_series() {
        let mut b = SampleBuffer::new(100, Duration::from_secs(60));
        limited(&mut b, 8);
        let idx: Vec<_> = (0..8)
            .map(|i| b.intern("m", &labels(&i.to_string())).unwrap())
            .collect();
        b.commit();
        b.pass_time(10);
        // seven of eight live: too few idle to renumber a dictionary with room
        for &s in &idx[1..] {
            b.push(s, 1, 1.0);
        }
        b.commit();
        assert_eq!(b.generation(), 1, "full: the one idle series goes");
        assert_eq!(b.stats().series, 7);
        assert!(b.intern("m", &labels("new")).is_some());
    }

    #[test]
    fn a_new_generation_survives_a_restart_and_the_old_files_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let config = || JournalConfig {
            dir: dir.path().to_path_buf(),
            max_bytes: 1 << 20,
            segment_bytes: 4096,
        };
        let mut b = SampleBuffer::durable(100, Duration::from_secs(60), config()).unwrap();
        churned(&mut b);
        b.close();
        drop(b);
        let files = |dir: &std::path::Path| {
            let mut f: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".log"))
                .collect();
            f.sort();
            f
        };
        assert_eq!(
            files(dir.path()),
            ["seg-g1-00000000000000000004.log", "series-g1.log"]
        );
        // what an interrupted renumbering left behind is deleted at recovery
        std::fs::write(dir.path().join("series-g2.log"), b"torn").unwrap();
        let mut b = SampleBuffer::durable(100, Duration::from_secs(60), config()).unwrap();
        assert_eq!(b.generation(), 1);
        let epoch = b.epoch();
        let r = b.poll("p", 3, epoch, (1, 0), 100, Instant::now());
        let got = held(&r);
        assert_eq!(got, [(4, "a"), (5, "b")]);
        assert_eq!(r.series.len(), 2);
        assert!(!dir.path().join("series-g2.log").exists());
    }
}
