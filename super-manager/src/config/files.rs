//! `[files]` of the super-manager: file distribution's bounds and pace.

use std::time::Duration;

use serde::Deserialize;

/// `[files]` of the super-manager.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Largest bundle, its files' bytes together (default 3 MiB: it must fit the agent's
    /// 4 MiB message).
    pub max_bundle_bytes: u64,
    /// How often pending hosts are looked at (default 10 s).
    #[serde(with = "humantime_serde")]
    pub retry_interval: Duration,
    /// Longest wait before a host that could not be reached is tried again (default 5 min).
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            max_bundle_bytes: 3 << 20,
            retry_interval: Duration::from_secs(10),
            max_backoff: Duration::from_secs(300),
        }
    }
}

impl FilesConfig {
    /// Problems of the section, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_bundle_bytes == 0 || self.max_bundle_bytes > 3 << 20 {
            out.push("files.max_bundle_bytes: must be between 1 and 3145728".into());
        }
        if self.retry_interval < Duration::from_millis(100) {
            out.push("files.retry_interval: must be at least 100ms".into());
        }
        if self.max_backoff < self.retry_interval {
            out.push("files.max_backoff: below retry_interval".into());
        }
        out
    }
}
