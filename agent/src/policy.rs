//! What the host's own config allows a configuration it did not write: the commands a check
//! may run by name, the files a pushed check may read, and how much a push may ask.
//!
//! Whoever can call `Agent.Configure` must not be able to run a program or read a file the
//! host's administrator did not list. The local `agent.toml` says what is allowed:
//!
//! ```toml
//! # Programs checks may run by name; no shell. A pushed check can only name one of these.
//! [commands.disk]
//! command = ["/usr/lib/nagios/plugins/check_disk", "-w", "20%", "-c", "10%", "-p", "/"]
//! # allow_args = false       # default: a check may not append arguments
//!
//! [commands.ping]
//! command = ["/usr/lib/nagios/plugins/check_ping", "-w", "100,20%", "-c", "500,60%", "-H"]
//! allow_args = true
//! args_pattern = '[A-Za-z0-9.:-]+'   # each appended argument must match in full
//!
//! # Files a pushed log or access_log check may read (globs: `*`, `?`, `**`); default empty.
//! allow_paths = ["/var/log/**"]
//!
//! # Bounds on a pushed configuration (the defaults shown).
//! [push_limits]
//! max_text_bytes = 262144    # the pushed TOML text itself
//! max_checks = 100
//! min_interval = "1s"        # checks and items
//! max_interval = "1d"
//! max_timeout = "5m"
//! max_read_bytes = 4194304   # log/access_log max_read_bytes and max_line_bytes, http max_body_bytes
//! max_top = 100              # access_log top, log keep_lines, items.processes top and watch
//! max_args = 16              # arguments a pushed script check appends
//! ```
//!
//! A script check runs a local command with `run = "<name>"` and optional `args = [...]`,
//! appended only if that command has `allow_args = true` and each matches `args_pattern`.
//! A check of the local file may instead give its own `command = [...]`; a pushed one never
//! may. A pushed `log` or `access_log` check's `path` (and any check's `ca_file`) must be
//! absolute and, with `..` resolved lexically, match one of `allow_paths`; when it runs, the
//! file is opened only if, symbolic links resolved, it is still under them. Local checks are
//! not limited by `allow_paths` or `[push_limits]`.
//!
//! # Layout
//! - [`commands`]: `[commands.<name>]` and how a `run` with `args` becomes a command line.
//! - [`paths`]: `allow_paths` globs, lexical normalisation, opening under the globs.
//! - [`limits`]: `[push_limits]` and their defaults.

pub mod commands;
pub mod limits;
pub mod paths;

use std::collections::BTreeMap;

pub use commands::CommandConfig;
pub use limits::PushLimits;
pub use paths::AllowPaths;

/// The host's policy for configuration it did not write, built from the local config.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `[commands.<name>]`.
    pub commands: BTreeMap<String, CommandConfig>,
    /// `allow_paths`, compiled.
    pub allow_paths: AllowPaths,
    /// `[push_limits]`.
    pub limits: PushLimits,
}

impl Policy {
    /// The policy of the local config's `commands`, `allow_paths` and `push_limits`.
    pub fn new(
        commands: &BTreeMap<String, CommandConfig>,
        allow_paths: &[String],
        limits: &PushLimits,
    ) -> Self {
        Self {
            commands: commands.clone(),
            allow_paths: AllowPaths::new(allow_paths),
            limits: limits.clone(),
        }
    }

    /// What the policy allows, for an operator or an RPC to read back.
    pub fn summary(&self) -> PolicySummary {
        PolicySummary {
            commands: self
                .commands
                .iter()
                .map(|(name, c)| CommandSummary {
                    name: name.clone(),
                    command: c.command.clone(),
                    allow_args: c.allow_args,
                    args_pattern: c.args_pattern.as_ref().map(|p| p.text.clone()),
                })
                .collect(),
            allow_paths: self.allow_paths.globs(),
            limits: self.limits.clone(),
        }
    }
}

/// A local command as the policy summary shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSummary {
    /// Its name in `[commands.<name>]`.
    pub name: String,
    /// Program and fixed arguments.
    pub command: Vec<String>,
    /// Whether a check may append arguments.
    pub allow_args: bool,
    /// The regex appended arguments must match, as written.
    pub args_pattern: Option<String>,
}

/// The local policy, read back: commands by name, `allow_paths`, `[push_limits]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySummary {
    /// Local commands, by name.
    pub commands: Vec<CommandSummary>,
    /// The `allow_paths` globs.
    pub allow_paths: Vec<String>,
    /// The bounds on a push.
    pub limits: PushLimits,
}
