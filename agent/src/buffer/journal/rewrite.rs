//! Writing a new dictionary generation: the renumbered dictionary and the held samples,
//! beside the old generation, switched to by one rename of `meta.json`.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use prost::Message;
use strata_proto::v1::SeriesDesc;

use super::format::{SAMPLES_HEAD, encode_kept, frame};
use super::{
    Journal, Segment, io_err, open_append, replace, segment_path, series_path, write_meta,
};
use crate::buffer::SeriesIdx;

/// Most samples in one record of a rewritten segment (20 bytes each: 1.3 MB).
const SAMPLES_PER_RECORD: usize = 65_536;

/// Creates `path` with `bytes`, durably.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path).map_err(|e| io_err("create", path, e))?;
    f.write_all(bytes).map_err(|e| io_err("write", path, e))?;
    f.sync_data().map_err(|e| io_err("sync", path, e))
}

impl Journal {
    /// Starts dictionary generation `generation`: `series` and the `held` samples from
    /// sequence `first_seq` (renumbered) replace what is on disk. Called with nothing
    /// pending; on a failure the journal stops and says why.
    pub fn rewrite(
        &mut self,
        generation: u64,
        series: &[SeriesDesc],
        first_seq: u64,
        held: impl Iterator<Item = (SeriesIdx, i64, f64)>,
    ) {
        if self.broken.is_some() {
            return;
        }
        if let Err(e) = self.try_rewrite(generation, series, first_seq, held) {
            self.fail(e);
        }
    }

    fn try_rewrite(
        &mut self,
        generation: u64,
        series: &[SeriesDesc],
        first_seq: u64,
        held: impl Iterator<Item = (SeriesIdx, i64, f64)>,
    ) -> io::Result<()> {
        let dir = self.config.dir.clone();
        let mut dictionary = Vec::new();
        for desc in series {
            frame(&mut dictionary, &desc.encode_to_vec());
        }
        let new_series = series_path(&dir, generation);
        write_new(&new_series, &dictionary)?;

        let mut records = Vec::new();
        let mut next = first_seq;
        let held: Vec<_> = held.collect();
        for chunk in held.chunks(SAMPLES_PER_RECORD) {
            let mut payload = Vec::with_capacity(SAMPLES_HEAD + chunk.len() * 20 + 4);
            payload.extend_from_slice(&next.to_le_bytes());
            payload.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
            for (s, ts, v) in chunk {
                payload.extend_from_slice(&s.to_le_bytes());
                payload.extend_from_slice(&ts.to_le_bytes());
                payload.extend_from_slice(&v.to_le_bytes());
            }
            encode_kept(&mut payload, &[]);
            frame(&mut records, &payload);
            next += chunk.len() as u64;
        }
        let new_segment = segment_path(&dir, generation, first_seq);
        write_new(&new_segment, &records)?;
        // what the old segments carried of the producers' states, kept whole first
        let kept = serde_json::to_vec(&self.kept).expect("kept states serialize");
        replace(&dir.join("kept.json"), &kept, true)?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("sync", &dir, e))?;
        // the switch
        write_meta(&dir.join("meta.json"), self.epoch, false, generation)?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("sync", &dir, e))?;

        let old_series = series_path(&dir, self.generation);
        let old_segments: Vec<_> = self.segments.drain(..).map(|s| s.path).collect();
        self.generation = generation;
        self.series_file = open_append(&new_series)?;
        self.current = open_append(&new_segment)?;
        self.segments = VecDeque::from([Segment {
            last_seq: next - 1,
            bytes: records.len() as u64,
            path: new_segment,
        }]);
        self.written_seq = next - 1;
        self.synced_seq = next - 1;
        self.series_unsynced = false;
        for path in std::iter::once(old_series).chain(old_segments) {
            fs::remove_file(&path).map_err(|e| io_err("remove", &path, e))?;
        }
        Ok(())
    }
}
