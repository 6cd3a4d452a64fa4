//! The `[auth]` section both managers read: where the principals are, how long a login
//! lasts, and the host names a browser may reach the console by.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// `[auth]` of a manager's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The principals file (default `principals.json` in the data directory).
    pub principals_file: Option<PathBuf>,
    /// How long a console login lasts (default 12 h).
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Host names browsers may reach the console by, beside IP addresses and `localhost`
    /// (default none); any other `Host` is refused, against DNS rebinding.
    pub allowed_hosts: Vec<String>,
    /// The longest a request may take to be answered (default 60 s; a live stream's events
    /// are not bounded, only its start).
    #[serde(with = "humantime_serde")]
    pub request_timeout: std::time::Duration,
    /// Requests one principal may have in flight at once (default 32); more are 429.
    pub max_concurrent: usize,
    /// Live streams (`/api/v1/stream`, a console page each) one principal may keep open
    /// at once (default 8); more are 429. Apart from `max_concurrent`: a stream lasts.
    pub max_streams: usize,
    /// The largest request body (default 1 MiB); a larger one is 413.
    pub max_body_bytes: usize,
    /// At the centre: how often its principals are handed to every region again (default
    /// 10 s; a change goes at once). Regions ignore it.
    #[serde(with = "humantime_serde")]
    pub push_interval: std::time::Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            principals_file: None,
            session_ttl: Duration::from_secs(12 * 3600),
            allowed_hosts: Vec::new(),
            request_timeout: Duration::from_secs(60),
            max_concurrent: 32,
            max_streams: 8,
            max_body_bytes: 1 << 20,
            push_interval: Duration::from_secs(10),
        }
    }
}

impl AuthConfig {
    /// The principals file of a manager whose data is in `data_dir`.
    pub fn principals_path(&self, data_dir: &Path) -> PathBuf {
        self.principals_file
            .clone()
            .unwrap_or_else(|| data_dir.join("principals.json"))
    }

    /// What is wrong with the section, each problem naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.session_ttl < Duration::from_secs(60) {
            problems.push(format!(
                "auth.session_ttl: {:?} is below a minute",
                self.session_ttl
            ));
        }
        if self.request_timeout.is_zero() {
            problems.push("auth.request_timeout: must be above zero".into());
        }
        if self.push_interval < Duration::from_secs(1) {
            problems.push("auth.push_interval: must be at least 1 s".into());
        }
        if self.max_concurrent == 0 || self.max_streams == 0 {
            problems.push(format!(
                "auth.max_concurrent ({}) and auth.max_streams ({}) must be at least 1",
                self.max_concurrent, self.max_streams
            ));
        }
        if self.max_body_bytes < 1024 {
            problems.push(format!(
                "auth.max_body_bytes: {} is below 1024",
                self.max_body_bytes
            ));
        }
        for (i, h) in self.allowed_hosts.iter().enumerate() {
            if h.is_empty() || h.contains([':', '/', ' ']) {
                problems.push(format!(
                    "auth.allowed_hosts[{i}]: '{h}' is not a host name (no port, no scheme)"
                ));
            }
        }
        problems
    }
}
