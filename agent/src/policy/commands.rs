//! `[commands.<name>]`: the programs a script check may run by name (`run = "<name>"`), and
//! whether, and which, arguments a check may append.

use std::collections::BTreeMap;

use regex::Regex;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// A program the host allows checks to run by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// Program (an absolute path: no PATH lookup) and its fixed arguments; no shell.
    pub command: Vec<String>,
    /// Whether a check may append arguments of its own (default false: NRPE's
    /// `dont_blame_nrpe` lesson, arguments are how a fixed command is turned into another).
    #[serde(default)]
    pub allow_args: bool,
    /// With `allow_args`, a regex each appended argument must match in full (default none:
    /// any argument).
    #[serde(default, deserialize_with = "whole_match")]
    pub args_pattern: Option<ArgsPattern>,
}

/// A regex that must match an argument in full.
#[derive(Debug, Clone)]
pub struct ArgsPattern {
    /// As written in the config.
    pub text: String,
    regex: Regex,
}

impl ArgsPattern {
    /// Compiles `text` anchored at both ends.
    pub fn new(text: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            text: text.to_string(),
            regex: Regex::new(&format!("^(?:{text})$"))?,
        })
    }

    /// Whether `arg` matches in full.
    pub fn matches(&self, arg: &str) -> bool {
        self.regex.is_match(arg)
    }
}

fn whole_match<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ArgsPattern>, D::Error> {
    let text = String::deserialize(d)?;
    ArgsPattern::new(&text)
        .map(Some)
        .map_err(|e| D::Error::custom(format!("bad regex '{text}': {e}")))
}

/// Why a check may not run a local command: the key at fault (`run`, `args`, `args[1]`) and
/// the reason.
pub type Refusal = (String, String);

/// The argument vector of local command `run` with `args` appended, or why not.
pub fn resolve(
    commands: &BTreeMap<String, CommandConfig>,
    run: &str,
    args: &[String],
) -> Result<Vec<String>, Refusal> {
    let Some(c) = commands.get(run) else {
        return Err(("run".into(), format!("'{run}' is not a local command")));
    };
    if !args.is_empty() && !c.allow_args {
        return Err((
            "args".into(),
            format!("command '{run}' does not allow arguments"),
        ));
    }
    if let Some(pattern) = &c.args_pattern
        && let Some((i, bad)) = args.iter().enumerate().find(|(_, a)| !pattern.matches(a))
    {
        return Err((
            format!("args[{i}]"),
            format!(
                "'{bad}' does not match commands.{run}.args_pattern '{}'",
                pattern.text
            ),
        ));
    }
    let mut argv = c.command.clone();
    argv.extend(args.iter().cloned());
    Ok(argv)
}

/// Problems of the `[commands]` table, each naming its key.
pub fn problems(commands: &BTreeMap<String, CommandConfig>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, c) in commands {
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
        if !valid_name {
            problems.push(format!(
                "commands.{name}: a name is letters, digits, '-', '_' and '.'"
            ));
        }
        match c.command.first() {
            None => problems.push(format!("commands.{name}.command: must name a program")),
            Some(p) if !p.starts_with('/') => problems.push(format!(
                "commands.{name}.command: '{p}' must be an absolute path (no PATH lookup)"
            )),
            Some(_) => {}
        }
        if c.args_pattern.is_some() && !c.allow_args {
            problems.push(format!(
                "commands.{name}.args_pattern: set, but allow_args is false"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(text: &str) -> BTreeMap<String, CommandConfig> {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn arguments_are_appended_only_when_allowed_and_matching() {
        let c = commands(
            "[disk]\ncommand = ['/bin/df', '-h']\n\
             [ping]\ncommand = ['/bin/ping', '-c1']\nallow_args = true\nargs_pattern = '[a-z0-9.]+'\n\
             [echo]\ncommand = ['/bin/echo']\nallow_args = true",
        );
        assert!(problems(&c).is_empty(), "{:?}", problems(&c));
        assert_eq!(resolve(&c, "disk", &[]).unwrap(), ["/bin/df", "-h"]);
        let (key, why) = resolve(&c, "disk", &["/".into()]).unwrap_err();
        assert_eq!(key, "args");
        assert_eq!(why, "command 'disk' does not allow arguments");
        assert_eq!(
            resolve(&c, "ping", &["db1.lan".into()]).unwrap(),
            ["/bin/ping", "-c1", "db1.lan"]
        );
        // the pattern must match the whole argument, not a part of it
        let (key, why) = resolve(&c, "ping", &["a".into(), "db1; rm -rf /".into()]).unwrap_err();
        assert_eq!(key, "args[1]");
        assert!(why.contains("commands.ping.args_pattern"), "{why}");
        assert_eq!(resolve(&c, "echo", &["any thing".into()]).unwrap().len(), 2);
        let (key, why) = resolve(&c, "backup", &[]).unwrap_err();
        assert_eq!(
            (key.as_str(), why.as_str()),
            ("run", "'backup' is not a local command")
        );
    }

    #[test]
    fn problems_name_the_command_and_key() {
        let c = commands(
            "[rel]\ncommand = ['df']\n[empty]\ncommand = []\n[pat]\ncommand = ['/bin/x']\nargs_pattern = 'a'\n['a b']\ncommand = ['/bin/x']",
        );
        let p = problems(&c).join("\n");
        for key in [
            "commands.rel.command",
            "commands.empty.command",
            "commands.pat.args_pattern",
            "commands.a b:",
        ] {
            assert!(p.contains(key), "{key} missing from {p}");
        }
        let err = toml::from_str::<BTreeMap<String, CommandConfig>>(
            "[x]\ncommand = ['/bin/x']\nallow_args = true\nargs_pattern = '('",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("args_pattern"), "{err}");
    }
}
