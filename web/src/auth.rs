//! Who is asking: people (local accounts with a password) and scripts (API tokens), each
//! with a role and the regions it covers, checked at the door of both consoles in one layer.
//!
//! Operators are spread over sites, and a site whose link to the centre is down must keep
//! its console: so a region decides alone. The principals are one small document
//! ([`Principals`], a JSON file beside the manager's data) that the centre owns and that
//! every region keeps a copy of; a password is checked against its memory-hard hash and a
//! token against the hash of its secret, wherever the copy is. Nothing secret is kept in
//! clear: the file holds hashes only, and a token's secret is shown once, when made.
//!
//! # Layout
//! - [`principals`]: the document, its records and its changes, and the file it lives in
//!   (read again when it changes).
//! - [`secret`]: password hashing (Argon2id), tokens' secrets and their hashes, random ids.
//! - [`policy`]: what each path of the API needs (an action, and the region it touches),
//!   one table for both consoles.
//! - [`lockout`]: a name or address that keeps failing to log in waits, longer each time.
//! - [`sessions`]: the console's logins, held in memory, each with its expiry and its token
//!   against cross-site request forgery.
//! - [`manage`]: users and tokens through the API (the centre's).
//! - [`gate`]: the layer in front of every route (who, may they, is the Host ours), and
//!   the login, logout and session routes.
//! - [`grpc`]: the layer in front of the gRPC doors: an operator's certificate speaks for
//!   the user of its name, judged by the same role and regions.

pub mod config;
pub mod gate;
pub mod grpc;
pub mod lockout;
pub mod manage;
pub mod policy;
pub mod principals;
pub mod secret;
pub mod sessions;

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use config::AuthConfig;
pub use gate::{Caller, Gate};
pub use policy::{Action, Need};
pub use principals::{Principals, PrincipalsFile};

/// What a principal may do: each role may do all that the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads: overview, resources, events, metrics, services, reports.
    Viewer,
    /// Also acknowledges, silences and runs the whitelisted recovery actions.
    Operator,
    /// Also changes rules, notification channels, services, agents' configurations,
    /// users and tokens.
    Admin,
}

impl Role {
    /// The role named `text` (`viewer`, `operator`, `admin`).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "viewer" => Ok(Self::Viewer),
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            other => Err(format!("role: '{other}' is not viewer, operator or admin")),
        }
    }

    /// Whether this role may do `action`.
    pub fn allows(self, action: Action) -> bool {
        match action {
            Action::Read => true,
            Action::Operate => self >= Role::Operator,
            Action::Admin => self == Role::Admin,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        })
    }
}

/// The regions a principal covers: all of them, or a list (never empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every region, and what spans regions (services, reports, users and tokens).
    #[default]
    All,
    /// These regions only.
    Regions(BTreeSet<String>),
}

impl Scope {
    /// `all` (or empty) for every region, else a comma-separated list of region names.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text == "all" || text == "*" {
            return Ok(Self::All);
        }
        let mut regions = BTreeSet::new();
        for r in text.split(',').map(str::trim) {
            if r.is_empty()
                || !r
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(format!("regions: '{r}' is not a region name"));
            }
            regions.insert(r.to_string());
        }
        Ok(Self::Regions(regions))
    }

    /// Whether `region` is covered.
    pub fn covers(&self, region: &str) -> bool {
        match self {
            Self::All => true,
            Self::Regions(list) => list.contains(region),
        }
    }

    /// Whether every region is covered.
    pub fn is_all(&self) -> bool {
        matches!(self, Self::All)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Regions(list) => f.write_str(&list.iter().cloned().collect::<Vec<_>>().join(",")),
        }
    }
}

/// A principal recognised at the door: a user or a token, with its role and scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The user's name, or `token:<name>` for an API token.
    pub name: String,
    pub role: Role,
    pub scope: Scope,
}

impl Principal {
    /// Whether this principal may do `action` in `region` (`None`: what spans regions,
    /// which needs every region).
    pub fn may(&self, action: Action, region: Option<&str>) -> bool {
        self.role.allows(action)
            && match region {
                Some(r) => self.scope.covers(r),
                None => true,
            }
    }
}

/// Whether `principal` may do `action` over `regions` (`None`: every region) at a door
/// that serves `home` (a region's own door) or every region (`None`); `Err` says why not.
pub fn judge(
    principal: &Principal,
    action: Action,
    regions: Option<&[String]>,
    home: Option<&str>,
) -> Result<(), String> {
    let who = || {
        format!(
            "{} ({}, regions {})",
            principal.name, principal.role, principal.scope
        )
    };
    if !principal.role.allows(action) {
        return Err(format!(
            "{} may not {action}: a higher role is needed",
            who()
        ));
    }
    if let Some(home) = home
        && !principal.scope.covers(home)
    {
        return Err(format!(
            "{} does not cover region '{home}', which this door serves",
            who()
        ));
    }
    match regions {
        None if !principal.scope.is_all() => Err(format!(
            "{} may not {action} what spans regions: every region is needed",
            who()
        )),
        Some(list) => match list.iter().find(|r| !principal.scope.covers(r)) {
            Some(r) => Err(format!("{} may not {action} in region '{r}'", who())),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

/// What went wrong with the principals: a file unreadable or unwritable, a bad field.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The principals file could not be read or written.
    #[error("{doing} {path}: {source}")]
    Io {
        doing: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// The principals file is not the JSON document expected.
    #[error("read principals {path}: {message}")]
    Format { path: String, message: String },
    /// A request to change the principals names something wrong.
    #[error("{0}")]
    Invalid(String),
}

/// One line of the audit log: who did what, from where, to what, with which outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at_ms: i64,
    /// The principal's name (`token:<name>` for a token), or the name tried at a login.
    pub who: String,
    /// The caller's address (`ip:port`), empty when not known.
    pub address: String,
    /// What was done: `login`, `acknowledge`, `put rules`, `create token`...
    pub action: String,
    /// What it was done to: a user, a token id, `<region>/<host> <rule>`, a region.
    pub subject: String,
    /// `ok`, or why it was refused or failed.
    pub outcome: String,
    /// What changed (before → after, secrets masked), when there is more to say.
    #[serde(default)]
    pub detail: String,
}

/// The most an audit detail says of a change, in bytes.
pub const MAX_DETAIL: usize = 4096;

/// What changed from `before` to `after` (texts whose secrets are already masked), line by
/// line: each line taken away as `- line`, each added as `+ line`, blank lines left out; cut
/// at [`MAX_DETAIL`] bytes, saying how many lines were left out.
pub fn change_detail(before: &str, after: &str) -> String {
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    let (old, new) = (lines(before), lines(after));
    let old_set: BTreeSet<&String> = old.iter().collect();
    let new_set: BTreeSet<&String> = new.iter().collect();
    let changes: Vec<String> = old
        .iter()
        .filter(|l| !new_set.contains(l))
        .map(|l| format!("- {l}"))
        .chain(
            new.iter()
                .filter(|l| !old_set.contains(l))
                .map(|l| format!("+ {l}")),
        )
        .collect();
    if changes.is_empty() {
        return "no line changed".into();
    }
    let mut out = String::new();
    for (i, line) in changes.iter().enumerate() {
        if out.len() + line.len() + 1 > MAX_DETAIL {
            out.push_str(&format!("… and {} more lines", changes.len() - i));
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// `text` (a TOML configuration) with what looks secret hidden, for an audit detail: the
/// value of any key naming a password, token, secret, key or authorization, and the
/// credentials of any URL (`scheme://user:password@host` keeps its scheme and host).
pub fn mask_secrets(text: &str) -> String {
    const SECRET: [&str; 5] = ["password", "token", "secret", "key", "authorization"];
    text.lines()
        .map(|line| {
            if let Some((key, _)) = line.split_once('=') {
                let k = key.to_ascii_lowercase();
                if SECRET.iter().any(|s| k.contains(s)) {
                    return format!("{}= \"<hidden>\"", key);
                }
            }
            let mut out = line.to_string();
            let mut from = 0;
            while let Some(i) = out[from..].find("://").map(|i| i + from + 3) {
                let rest = &out[i..];
                let end = rest
                    .find(|c: char| c == '/' || c == '"' || c == '\'' || c.is_whitespace())
                    .unwrap_or(rest.len());
                match rest[..end].rfind('@') {
                    Some(at) => {
                        out.replace_range(i..i + at, "<hidden>");
                        from = i + "<hidden>".len();
                    }
                    None => from = i,
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod detail_tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_from_a_detail() {
        let text = "[[checks]]\nurl = \"https://bob:hunter2@db.example/x?a=1\"\napi_key = \"abc\"\nname = \"ok\"";
        let masked = mask_secrets(text);
        assert!(
            !masked.contains("hunter2") && !masked.contains("abc"),
            "{masked}"
        );
        assert!(masked.contains("https://<hidden>@db.example/x"), "{masked}");
        assert!(masked.contains("api_key = \"<hidden>\""), "{masked}");
        assert!(masked.contains("name = \"ok\""), "{masked}");
    }

    #[test]
    fn a_change_says_the_lines_taken_away_and_added_and_is_bounded() {
        let before = "[[rules]]\nname = \"cpu\"\nabove = 90\n";
        let after = "[[rules]]\nname = \"cpu\"\nabove = 80\n\n";
        assert_eq!(change_detail(before, after), "- above = 90\n+ above = 80");
        assert_eq!(change_detail(before, before), "no line changed");
        let long: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        let d = change_detail("", &long);
        assert!(d.len() <= MAX_DETAIL + 40, "{}", d.len());
        assert!(d.ends_with("more lines"), "{d}");
    }
}
