//! Check and probe definitions as written in TOML (`[[checks]]`), parsed and validated.
//!
//! Each `[[checks]]` table has common keys (`name`, `kind`, `interval`, `timeout`, `enabled`)
//! and the keys of its kind. The table is split and each part deserialized from a TOML value
//! rather than through serde's internally tagged enums: those buffer the input and lose the
//! key of a mistyped value, and an operator must be told which key is wrong.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

use strata_proto::v1::CheckState;

pub use super::recovery::ActionConfig;
use super::recovery::action_problems;
pub use super::systemd::SystemdSpec;
use super::systemd::valid_unit;

/// One configured check or probe.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// Unique name on the agent; the `check` label of its series.
    pub name: String,
    /// How often it runs.
    pub interval: Duration,
    /// Longest a run may take before it is abandoned (scripts: killed) and judged.
    pub timeout: Duration,
    /// Whether it runs at all.
    pub enabled: bool,
    /// What it checks.
    pub spec: CheckSpec,
    /// The table it was parsed from: a reconfiguration keeps a check whose table is unchanged.
    pub source: toml::Table,
    /// Pushed by a sub-manager: it may only run local commands and read under `allow_paths`.
    pub pushed: bool,
}

/// What a check does, by kind.
#[derive(Debug, Clone)]
pub enum CheckSpec {
    Process(ProcessSpec),
    Port(PortSpec),
    Log(LogSpec),
    AccessLog(AccessLogSpec),
    Script(ScriptSpec),
    Http(HttpSpec),
    Dns(DnsSpec),
    Smtp(SmtpSpec),
    Routes(RoutesSpec),
    Systemd(SystemdSpec),
}

impl CheckSpec {
    /// The kind's name as written in `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Process(_) => "process",
            Self::Port(_) => "port",
            Self::Log(_) => "log",
            Self::AccessLog(_) => "access_log",
            Self::Script(_) => "script",
            Self::Http(_) => "http",
            Self::Dns(_) => "dns",
            Self::Smtp(_) => "smtp",
            Self::Routes(_) => "routes",
            Self::Systemd(_) => "systemd",
        }
    }
}

/// The host's routing table, watched for changes.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesSpec {
    /// How long a change stays a WARNING (default 5 min).
    #[serde(default = "five_minutes", with = "humantime_serde")]
    pub hold: Duration,
}

impl Default for RoutesSpec {
    fn default() -> Self {
        Self {
            hold: five_minutes(),
        }
    }
}

fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// Count of processes whose name or command line matches, against bounds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// Regex matched against the process name and its command line.
    #[serde(rename = "match", with = "serde_regex")]
    pub pattern: Regex,
    /// Fewest matching processes that are OK (default 1).
    #[serde(default = "one")]
    pub min: u32,
    /// Most matching processes that are OK (default no bound).
    pub max: Option<u32>,
    /// An action of the agent's local `[actions]` to run when fewer than `min` run.
    pub restart: Option<String>,
}

/// A TCP connect, optionally a line sent and a reply expected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// `host:port`.
    pub address: String,
    /// Bytes to send once connected (escapes `\r\n` are honoured).
    pub send: Option<String>,
    /// Regex the reply must match.
    #[serde(default, with = "serde_regex::option")]
    pub expect: Option<Regex>,
}

/// A regex rule of a log check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRule {
    #[serde(with = "serde_regex")]
    pub pattern: Regex,
    /// ok, warning, critical or unknown.
    #[serde(deserialize_with = "state")]
    pub severity: CheckState,
}

/// Follows a log file across rotation and truncation; rules map lines to severities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    pub path: String,
    /// First matching rule wins; lines matching none are counted as `ok`.
    pub rules: Vec<LogRule>,
    /// Matching lines kept for the result (default 5).
    #[serde(default = "five")]
    pub keep_lines: usize,
    /// Longer lines are cut to this many bytes (default 64 KiB).
    #[serde(default = "line_limit")]
    pub max_line_bytes: usize,
    /// Most bytes read in one run; the rest waits for the next (default 8 MiB).
    #[serde(default = "read_limit")]
    pub max_read_bytes: u64,
    /// Read the file from its start on the first run instead of its end (default false).
    #[serde(default)]
    pub from_start: bool,
}

/// Web access log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessFormat {
    Common,
    Combined,
}

/// Unit of the optional response-time field that ends each access-log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    None,
    Micros,
    Millis,
    Seconds,
}

/// A web server's access log: request rate, status classes, bytes, top paths, latency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogSpec {
    pub path: String,
    /// common or combined (default combined; common lines are read too).
    #[serde(default = "combined")]
    pub format: AccessFormat,
    /// Unit of a response time appended to each line: none, micros (%D), millis, seconds (%T).
    #[serde(default = "no_time")]
    pub response_time: TimeUnit,
    /// Paths and referrers listed in the result (default 5).
    #[serde(default = "five")]
    pub top: usize,
    /// Share of 5xx answers that makes the check WARNING (default 0.05) ...
    #[serde(default = "five_percent")]
    pub error_warning: f64,
    /// ... and CRITICAL (default 0.2).
    #[serde(default = "twenty_percent")]
    pub error_critical: f64,
    #[serde(default = "read_limit")]
    pub max_read_bytes: u64,
    #[serde(default)]
    pub from_start: bool,
}

/// A command run like a Nagios plugin: exit code 0–3, output `text | perfdata`.
///
/// Either `run` names a local `[commands.<name>]` (with optional `args`, appended only if
/// that command allows them), or, in the local file only, `command` gives the program.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptSpec {
    /// Program and arguments (no shell); never in a pushed check.
    #[serde(default)]
    pub command: Vec<String>,
    /// The name of a local command to run instead.
    pub run: Option<String>,
    /// Arguments appended to the local command `run`.
    #[serde(default)]
    pub args: Vec<String>,
}

/// An HTTP(S) request timed by phase.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    pub url: String,
    #[serde(default = "get")]
    pub method: String,
    /// Status codes that are OK (default: 200–399).
    #[serde(default)]
    pub expect_status: Vec<u16>,
    /// Regex the body must match.
    #[serde(default, with = "serde_regex::option")]
    pub body_match: Option<Regex>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    pub body: Option<String>,
    /// A total time above this is WARNING.
    #[serde(default, with = "humantime_serde")]
    pub warn_after: Option<Duration>,
    /// A certificate expiring within this many days is WARNING (default 14).
    #[serde(default = "fourteen")]
    pub cert_warn_days: u32,
    /// Most body bytes read (default 1 MiB); the rest is not downloaded.
    #[serde(default = "mebibyte")]
    pub max_body_bytes: usize,
    /// PEM file of CAs trusted beside the system's (an internal CA).
    pub ca_file: Option<String>,
    /// Accept any certificate (a lab); its expiry is still reported.
    #[serde(default)]
    pub insecure: bool,
}

/// A DNS question sent over UDP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// `ip:port` of the server.
    pub server: String,
    /// The name asked for.
    pub query: String,
    /// A, AAAA, MX, TXT, NS, CNAME, SOA, PTR or SRV (default A).
    #[serde(default = "record_a")]
    pub record_type: String,
    /// Fewest answers that are OK (default 1).
    #[serde(default = "one")]
    pub min_answers: u32,
}

/// The numeric type of a record type name.
pub fn record_type(name: &str) -> Option<u16> {
    Some(match name.to_ascii_uppercase().as_str() {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "PTR" => 12,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "SRV" => 33,
        _ => return None,
    })
}

/// An SMTP transaction timed by step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSpec {
    /// `host:port`.
    pub address: String,
    /// Name given in EHLO (default the agent's host name).
    pub ehlo: Option<String>,
    /// Sender for MAIL FROM; with `rcpt_to`, the envelope is tried (no message is sent).
    pub mail_from: Option<String>,
    pub rcpt_to: Option<String>,
    /// Upgrade with STARTTLS after EHLO (the handshake is timed as phase `starttls`).
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of CAs trusted beside the system's.
    pub ca_file: Option<String>,
    /// Accept any certificate.
    #[serde(default)]
    pub insecure: bool,
}

fn one() -> u32 {
    1
}
fn five() -> usize {
    5
}
fn fourteen() -> u32 {
    14
}
fn five_percent() -> f64 {
    0.05
}
fn twenty_percent() -> f64 {
    0.2
}
fn line_limit() -> usize {
    64 * 1024
}
fn read_limit() -> u64 {
    8 << 20
}
fn mebibyte() -> usize {
    1 << 20
}
fn combined() -> AccessFormat {
    AccessFormat::Combined
}
fn no_time() -> TimeUnit {
    TimeUnit::None
}
fn get() -> String {
    "GET".into()
}
fn record_a() -> String {
    "A".into()
}

/// Parses `ok`, `warning`, `critical` or `unknown`.
pub fn parse_state(s: &str) -> Option<CheckState> {
    Some(match s.to_ascii_lowercase().as_str() {
        "ok" => CheckState::Ok,
        "warning" => CheckState::Warning,
        "critical" => CheckState::Critical,
        "unknown" => CheckState::Unknown,
        _ => return None,
    })
}

fn state<'de, D: Deserializer<'de>>(d: D) -> Result<CheckState, D::Error> {
    let s = String::deserialize(d)?;
    parse_state(&s).ok_or_else(|| {
        D::Error::custom(format!(
            "'{s}' is not a severity: expected ok, warning, critical or unknown"
        ))
    })
}

/// Regexes as TOML strings, with the compile error as the message.
mod serde_regex {
    use regex::Regex;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Regex, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&s).map_err(|e| D::Error::custom(format!("bad regex '{s}': {e}")))
    }

    pub mod option {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
            Ok(Some(super::deserialize(d)?))
        }
    }
}

/// The keys every kind shares.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    name: String,
    kind: String,
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

const COMMON_KEYS: [&str; 5] = ["name", "kind", "interval", "timeout", "enabled"];
const KINDS: &str = "process, port, tcp, log, access_log, script, http, dns, smtp, routes, systemd";

fn flat(e: impl std::fmt::Display) -> String {
    e.to_string().trim().replace('\n', " ")
}

fn typed<T: DeserializeOwned>(table: toml::Table, what: &str) -> Result<T, String> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e| format!("{what}: {}", flat(e)))
}

impl CheckConfig {
    /// Parses one `[[checks]]` table of the local file; the error names the check and the key.
    pub fn from_table(table: toml::Table) -> Result<Self, String> {
        let label = match table.get("name").and_then(|v| v.as_str()) {
            Some(name) => format!("checks '{name}'"),
            None => "checks".to_string(),
        };
        Self::parse(table, label, false)
    }

    /// Parses the `index`-th pushed `[[checks]]` table; errors begin `checks[<index>]`
    /// (with the check's name when it has one).
    pub fn from_pushed_table(table: toml::Table, index: usize) -> Result<Self, String> {
        let label = match table.get("name").and_then(|v| v.as_str()) {
            Some(name) => format!("checks[{index}] '{name}'"),
            None => format!("checks[{index}]"),
        };
        Self::parse(table, label, true)
    }

    fn parse(mut table: toml::Table, label: String, pushed: bool) -> Result<Self, String> {
        let source = table.clone();
        let mut common = toml::Table::new();
        for key in COMMON_KEYS {
            if let Some(v) = table.remove(key) {
                common.insert(key.into(), v);
            }
        }
        let c: Common = typed(common, &label)?;
        if c.name.trim().is_empty() {
            return Err(format!("{label}: name: must not be empty"));
        }
        let spec = match c.kind.as_str() {
            "process" => CheckSpec::Process(typed(table, &label)?),
            "port" | "tcp" => CheckSpec::Port(typed(table, &label)?),
            "log" => CheckSpec::Log(typed(table, &label)?),
            "access_log" => CheckSpec::AccessLog(typed(table, &label)?),
            "script" => CheckSpec::Script(typed(table, &label)?),
            "http" => CheckSpec::Http(typed(table, &label)?),
            "dns" => CheckSpec::Dns(typed(table, &label)?),
            "smtp" => CheckSpec::Smtp(typed(table, &label)?),
            "routes" => CheckSpec::Routes(typed(table, &label)?),
            "systemd" => CheckSpec::Systemd(typed(table, &label)?),
            other => return Err(format!("{label}: kind: '{other}' is not one of {KINDS}")),
        };
        let config = Self {
            name: c.name,
            interval: c.interval.unwrap_or(Duration::from_secs(60)),
            timeout: c.timeout.unwrap_or(Duration::from_secs(10)),
            enabled: c.enabled,
            spec,
            source,
            pushed,
        };
        let problems = config.problems(&label);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems.join("; "))
        }
    }

    /// Problems of values that parsed, each naming the check (`label`) and key.
    fn problems(&self, label: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.interval < Duration::from_millis(100) {
            problems.push(format!("{label}: interval: below the minimum of 100ms"));
        }
        if self.timeout.is_zero() {
            problems.push(format!("{label}: timeout: must be above zero"));
        }
        let address = match &self.spec {
            CheckSpec::Port(p) => Some(("address", &p.address)),
            CheckSpec::Smtp(s) => Some(("address", &s.address)),
            CheckSpec::Dns(d) => Some(("server", &d.server)),
            _ => None,
        };
        if let Some((key, value)) = address
            && !strata_proto::config::is_host_port(value)
        {
            problems.push(format!(
                "{label}: {key}: '{value}' is not an address like host:port"
            ));
        }
        match &self.spec {
            CheckSpec::Script(s) => problems.extend(script_problems(label, s)),
            CheckSpec::Http(h)
                if !(h.url.starts_with("http://") || h.url.starts_with("https://")) =>
            {
                problems.push(format!(
                    "{label}: url: '{}' must start with http:// or https://",
                    h.url
                ));
            }
            CheckSpec::Dns(d) if record_type(&d.record_type).is_none() => {
                problems.push(format!(
                    "{label}: record_type: '{}' is not one of A, AAAA, MX, TXT, NS, CNAME, SOA, PTR, SRV",
                    d.record_type
                ));
            }
            CheckSpec::Process(p) if p.max.is_some_and(|max| max < p.min) => {
                problems.push(format!("{label}: max: below min"));
            }
            CheckSpec::Systemd(u) if !valid_unit(&u.unit) => {
                problems.push(format!(
                    "{label}: unit: '{}' is not a unit name (letters, digits and :-_.\\@, not starting with -)",
                    u.unit
                ));
            }
            _ => {}
        }
        problems
    }
}

/// Problems of a script check's keys: exactly one of `command` and `run`, `args` only
/// with `run`.
fn script_problems(label: &str, s: &ScriptSpec) -> Vec<String> {
    let mut problems = Vec::new();
    match (s.command.is_empty(), &s.run) {
        (true, None) => problems.push(format!(
            "{label}: command: must name a program (or run: a local [commands.<name>])"
        )),
        (false, Some(_)) => {
            problems.push(format!(
                "{label}: run: give either command or run, not both"
            ));
        }
        _ => {}
    }
    if s.run.is_none() && !s.args.is_empty() {
        problems.push(format!("{label}: args: only with run"));
    }
    problems
}

impl<'de> Deserialize<'de> for CheckConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        Self::from_table(table).map_err(D::Error::custom)
    }
}

/// Problems of a set of checks: duplicate names, restarts that name no whitelisted action.
pub fn set_problems(
    checks: &[CheckConfig],
    actions: &BTreeMap<String, ActionConfig>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for c in checks {
        if !seen.insert(c.name.as_str()) {
            problems.push(format!("checks '{}': name: defined twice", c.name));
        }
        let restart = match &c.spec {
            CheckSpec::Process(p) => p.restart.as_ref(),
            CheckSpec::Systemd(s) => s.restart.as_ref(),
            _ => None,
        };
        if let Some(action) = restart
            && !actions.contains_key(action)
        {
            problems.push(format!(
                "checks '{}': restart: '{action}' is not an action of the agent's local [actions]",
                c.name
            ));
        }
    }
    problems.extend(action_problems(actions));
    problems
}

#[cfg(test)]
mod tests;
