//! File distribution: an admin publishes a bundle (files with their modes) to a set of
//! hosts; the centre signs it with its own key and hands it, through the brokers and the
//! region that polls each host, to the host's agent, which checks the signature and its
//! own `[[accept_files]]` before writing anything, and answers applied or refused with the
//! reason. A host that could not be reached stays pending and is tried again, with a
//! growing wait, until it answers: an agent that was down gets the bundle when it returns.
//! A rollback is published like a bundle: a signed order to restore a version the hosts
//! kept.
//!
//! # Layout
//! - [`publish`]: the request read and checked, the hosts chosen, the manifest signed.
//! - [`store`]: the signed versions and each host's status, on disk.
//! - [`distribute`]: the task that hands pending bundles to their hosts.

pub mod distribute;
pub mod publish;
pub mod store;

use std::time::Duration;

use serde::Deserialize;

pub use store::FileStore;

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
