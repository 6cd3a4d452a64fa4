//! `[[remote_write]]`: destinations the region's samples are forwarded to with Prometheus
//! remote write (Mimir, Cortex, Thanos Receive, VictoriaMetrics, Prometheus).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use strata_proto::config::resolve_secret;
use strata_proto::relabel::{self, RuleConfig};

/// One destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// Names the destination in metrics, logs and its cursor in the store (default: the
    /// URL). Renaming it starts a new cursor at the oldest record the outbox keeps.
    #[serde(default)]
    pub name: Option<String>,
    /// The receiver's write endpoint, e.g. `http://mimir:8080/api/v1/push`.
    pub url: String,
    /// Headers sent with every request (e.g. `X-Scope-OrgID` for Mimir and Cortex tenants).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// HTTP basic authentication; the password may be `${env:NAME}` or `${file:/path}`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// A bearer token; may be `${env:NAME}` or `${file:/path}`.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// TLS to an `https://` URL: a CA to trust beside the system's, a client certificate.
    #[serde(default)]
    pub tls: RemoteTls,
    /// Labels added to every series that does not have them (default `region = <region>`;
    /// an empty table adds none).
    #[serde(default)]
    pub external_labels: Option<BTreeMap<String, String>>,
    /// Relabelling rules applied to each series before it is sent (`keep`, `drop`,
    /// `replace`, `labeldrop`, `labelkeep`, as Prometheus's `write_relabel_configs`).
    #[serde(default)]
    pub write_relabel: Vec<RuleConfig>,
    /// Most samples in one request (default 2,000).
    #[serde(default = "default_batch")]
    pub batch_samples: usize,
    /// Requests in flight at once; a series always goes through the same one, so its
    /// samples arrive in order (default 2).
    #[serde(default = "default_shards")]
    pub shards: usize,
    /// Timeout of one request (default 30 s).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// First wait after a failed request; waits double up to `max_backoff` (default 500 ms).
    #[serde(default = "default_min_backoff", with = "humantime_serde")]
    pub min_backoff: Duration,
    /// Longest wait between two attempts, unless the receiver's `Retry-After` asks for more
    /// (default 30 s).
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Samples not delivered after this long are dropped (counted) and the outbox trimmed
    /// past them (default 7 days: what the outbox may hold on disk meanwhile).
    #[serde(default = "default_max_backlog", with = "humantime_serde")]
    pub max_backlog: Duration,
}

/// Basic authentication of a destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

/// TLS settings of a destination.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteTls {
    /// PEM CA certificates trusted beside the system's roots (an internal CA).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, when the receiver asks for one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

fn default_batch() -> usize {
    2000
}
fn default_shards() -> usize {
    2
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_min_backoff() -> Duration {
    Duration::from_millis(500)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}
fn default_max_backlog() -> Duration {
    Duration::from_secs(7 * 86_400)
}

impl RemoteWriteConfig {
    /// The name of its cursor, metrics and logs.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }

    /// Resolves `${env:…}` and `${file:…}` in its secrets; problems name `field`.
    pub fn resolve_refs(
        &mut self,
        field: &str,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(token) = self.bearer_token.as_mut() {
            problems.extend(resolve_secret(&format!("{field}.bearer_token"), token, var));
        }
        if let Some(auth) = self.basic_auth.as_mut() {
            problems.extend(resolve_secret(
                &format!("{field}.basic_auth.password"),
                &mut auth.password,
                var,
            ));
        }
        for (name, value) in self.headers.iter_mut() {
            problems.extend(resolve_secret(
                &format!("{field}.headers.{name}"),
                value,
                var,
            ));
        }
        problems
    }

    /// What is wrong with it, each problem naming `field` and the key.
    pub fn problems(&self, field: &str) -> Vec<String> {
        let mut errors = Vec::new();
        match reqwest::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => errors.push(format!(
                "{field}.url: '{}' is not an http:// or https:// URL",
                self.url
            )),
        }
        if self.bearer_token.is_some() && self.basic_auth.is_some() {
            errors.push(format!(
                "{field}: bearer_token and basic_auth are exclusive"
            ));
        }
        if let Err(problem) =
            relabel::compile(&format!("{field}.write_relabel"), &self.write_relabel)
        {
            errors.push(problem);
        }
        if !(1..=100_000).contains(&self.batch_samples) {
            errors.push(format!(
                "{field}.batch_samples: {} is outside 1..=100000",
                self.batch_samples
            ));
        }
        if !(1..=64).contains(&self.shards) {
            errors.push(format!("{field}.shards: {} is outside 1..=64", self.shards));
        }
        if self.timeout.is_zero() || self.min_backoff.is_zero() {
            errors.push(format!(
                "{field}.timeout and min_backoff must be above zero"
            ));
        }
        if self.max_backoff < self.min_backoff {
            errors.push(format!(
                "{field}.max_backoff: {:?} is below min_backoff ({:?})",
                self.max_backoff, self.min_backoff
            ));
        }
        if self.max_backlog < Duration::from_secs(60) {
            errors.push(format!(
                "{field}.max_backlog: {:?} is below a minute",
                self.max_backlog
            ));
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            errors.push(format!("{field}.tls: cert_file and key_file go together"));
        }
        errors
    }
}

/// Problems of a list of destinations: each one's, and names used twice.
pub fn problems(list: &[RemoteWriteConfig]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, d) in list.iter().enumerate() {
        let field = format!("remote_write[{i}]");
        errors.extend(d.problems(&field));
        if !seen.insert(d.name()) {
            errors.push(format!("{field}.name: '{}' is used twice", d.name()));
        }
    }
    errors
}
