//! Recovery: what an earlier life left in the journal's directory, read back up to the
//! first torn or misplaced record, with what follows it cut off.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io;
use std::path::PathBuf;

use prost::Message;
use strata_proto::v1::SeriesDesc;

use super::format::{HEADER_BYTES, decode_samples, records};
use super::{
    CursorsFile, Journal, JournalConfig, Meta, Recovered, Segment, cut, io_err, lock, parse_name,
    read_all, series_path, write_meta,
};

impl Journal {
    /// Opens the journal in `config.dir`, recovering what an earlier life left there;
    /// `new_epoch` is the epoch to use when nothing was kept.
    pub fn open(config: JournalConfig, new_epoch: u64) -> io::Result<(Journal, Recovered)> {
        let dir = config.dir.clone();
        fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
        let lock = lock(&dir)?;
        let meta_path = dir.join("meta.json");
        let meta: Option<Meta> = match fs::read(&meta_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("read", &meta_path, e)),
        };
        let generation = meta.as_ref().map_or(0, |m| m.generation);
        // the files of the journal's generation; any other's are left from a renumbering
        // that was cut short, or finished before its old files were deleted
        let mut segment_files: Vec<(u64, PathBuf)> = Vec::new();
        let mut others: Vec<PathBuf> = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io_err("list", &dir, e))? {
            let path = entry.map_err(|e| io_err("list", &dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            match parse_name(name) {
                // sequences start at 1: a segment named 0 is no segment of ours
                Some((g, Some(seq))) if g == generation && seq > 0 => {
                    segment_files.push((seq, path))
                }
                Some((g, seq)) if g != generation || seq == Some(0) => others.push(path),
                _ => {}
            }
        }
        for path in &others {
            fs::remove_file(path).map_err(|e| io_err("remove", path, e))?;
        }
        segment_files.sort();
        let series_path = series_path(&dir, generation);
        let mut recovered = Recovered {
            kept: match fs::read(dir.join("kept.json")) {
                Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
                Err(_) => BTreeMap::new(),
            },
            ..Recovered::default()
        };
        let Some(meta) = meta else {
            // Nothing kept (or a journal that broke and gave up its epoch): a new life.
            for (_, path) in &segment_files {
                fs::remove_file(path).map_err(|e| io_err("remove", path, e))?;
            }
            let _ = fs::remove_file(&series_path);
            let _ = fs::remove_file(dir.join("cursors.json"));
            write_meta(&meta_path, new_epoch, false, 0)?;
            recovered.epoch = new_epoch;
            recovered.first_seq = 1;
            return Self::start(config, lock, recovered, VecDeque::new());
        };
        // A crash or a power cut may have lost writes whose samples were served: a new epoch
        // makes the pollers take again what they hold unacknowledged, rather than trust
        // sequence numbers this life would reuse. A clean stop served nothing past the disk.
        recovered.epoch = if meta.clean { meta.epoch } else { new_epoch };
        recovered.generation = generation;
        write_meta(&meta_path, recovered.epoch, false, generation)?;

        // the dictionary, up to its first torn record
        if series_path.exists() {
            let bytes = read_all(&series_path)?;
            let (recs, good) = records(&bytes);
            for r in recs {
                match SeriesDesc::decode(r) {
                    Ok(desc) => recovered.series.push(desc),
                    Err(_) => break,
                }
            }
            if good < bytes.len() {
                cut(&series_path, good)?;
            }
        }

        let cursors: CursorsFile = fs::read(dir.join("cursors.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut segments = VecDeque::new();
        let mut next_seq: Option<u64> = None;
        let mut broken_at: Option<usize> = None;
        for (i, (first, path)) in segment_files.iter().enumerate() {
            let expected = *next_seq.get_or_insert(*first);
            if *first != expected {
                broken_at = Some(i);
                break;
            }
            let bytes = read_all(path)?;
            let (recs, mut good) = records(&bytes);
            let mut seq = expected;
            let mut at = 0;
            for r in recs {
                match decode_samples(r, seq, recovered.series.len()) {
                    Some((samples, kept)) => {
                        if recovered.samples.is_empty() {
                            recovered.first_seq = seq;
                        }
                        seq += samples.len() as u64;
                        recovered.samples.extend(samples);
                        for (key, value) in kept {
                            match value {
                                Some(v) => recovered.kept.insert(key, v),
                                None => recovered.kept.remove(&key),
                            };
                        }
                        at += HEADER_BYTES + r.len();
                    }
                    None => {
                        good = at;
                        break;
                    }
                }
            }
            if good < bytes.len() {
                cut(path, good)?;
            }
            segments.push_back(Segment {
                last_seq: seq - 1,
                bytes: good as u64,
                path: path.clone(),
            });
            next_seq = Some(seq);
            if good < bytes.len() {
                broken_at = Some(i + 1);
                break;
            }
        }
        if let Some(from) = broken_at {
            // what follows a torn record cannot be placed in sequence
            for (_, path) in &segment_files[from..] {
                fs::remove_file(path).map_err(|e| io_err("remove", path, e))?;
            }
        }
        let next_seq = next_seq.unwrap_or(cursors.floor.max(1));
        if recovered.samples.is_empty() {
            recovered.first_seq = next_seq;
        }
        // what was freed before the end of the last life stays freed
        if cursors.floor > recovered.first_seq {
            let freed =
                ((cursors.floor - recovered.first_seq) as usize).min(recovered.samples.len());
            recovered.samples.drain(..freed);
            recovered.first_seq += freed as u64;
        }
        recovered.cursors = cursors.pollers.into_iter().collect();
        recovered.assigned = cursors.assigned;
        recovered.dropped_total = cursors.dropped_total;
        Self::start(config, lock, recovered, segments)
    }
}
