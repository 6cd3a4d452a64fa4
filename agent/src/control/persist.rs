//! The accepted pushed configuration kept in `<state_dir>/pushed.toml`, so that it survives
//! a restart.
//!
//! The file is written whole to a temporary file beside it, synced, and renamed over the old
//! one (then the directory is synced): a crash leaves the old text or the new, never a part.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::AgentError;

/// The file's name in `state_dir`.
pub const FILE: &str = "pushed.toml";

/// Where the pushed configuration is kept in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The kept text, or None when there is none.
pub fn load(dir: &Path) -> Result<Option<String>, AgentError> {
    let path = path(dir);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AgentError::PushedState { path, source }),
    }
}

/// Keeps `text` in `dir` (made if missing), atomically; runs on the blocking pool.
pub async fn store(dir: &Path, text: &str) -> Result<(), AgentError> {
    let (dir, text) = (dir.to_path_buf(), text.to_string());
    let target = path(&dir);
    tokio::task::spawn_blocking(move || write_atomically(&dir, &text))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
        .map_err(|source| AgentError::PushedState {
            path: target,
            source,
        })
}

fn write_atomically(dir: &Path, text: &str) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{FILE}.tmp"));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path(dir))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_text_is_replaced_whole_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        assert!(load(&dir).unwrap().is_none());
        store(&dir, "[items.cpu]\ninterval = '5s'\n").await.unwrap();
        store(&dir, "[items.cpu]\ninterval = '9s'\n").await.unwrap();
        assert_eq!(
            load(&dir).unwrap().unwrap(),
            "[items.cpu]\ninterval = '9s'\n"
        );
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE], "no temporary file is left");
        // a state_dir that cannot be made is an error naming the file
        let blocked = tmp.path().join("file");
        fs::write(&blocked, "").unwrap();
        let err = store(&blocked.join("state"), "x").await.unwrap_err();
        assert!(err.to_string().contains("pushed.toml"), "{err}");
    }
}
