//! What every role's config loader does the same way: read a TOML file over the defaults,
//! check `host:port` values, split comma-separated environment lists.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A config file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has unknown or mistyped keys (the message names them).
    #[error("parse config {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Replaces a secret written in a config file as `${env:NAME}` (an environment variable) or
/// `${file:/path}` (a file's content, its last line end dropped) by its value, so that the
/// file itself need not hold it; any other value is kept. The problem names `field`.
pub fn resolve_secret(
    field: &str,
    value: &mut String,
    var: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let inner = value.strip_prefix("${")?.strip_suffix('}')?;
    let resolved = if let Some(name) = inner.strip_prefix("env:") {
        var(name).ok_or_else(|| format!("{field}: environment variable {name} is not set"))
    } else if let Some(path) = inner.strip_prefix("file:") {
        std::fs::read_to_string(path)
            .map(|text| text.strip_suffix('\n').unwrap_or(&text).to_string())
            .map_err(|e| format!("{field}: cannot read {path}: {e}"))
    } else {
        return None;
    };
    match resolved {
        Ok(v) => {
            *value = v;
            None
        }
        Err(problem) => Some(problem),
    }
}

/// Whether `value` is an unresolved secret reference (`${env:…}` or `${file:…}`).
pub fn is_secret_ref(value: &str) -> bool {
    value.starts_with("${env:") || value.starts_with("${file:")
}

/// Every problem found in a configuration, each naming its key or variable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct Problems(pub Vec<String>);

/// A role's configuration, built in layers: defaults, then a TOML file, then `STRATA_*`
/// environment overrides, then validation that reports every problem at once.
pub trait RoleConfig: DeserializeOwned + Default {
    /// The role's error type.
    type Error: From<ConfigFileError> + From<Problems>;

    /// Applies environment overrides read through `var`; returns the problems of bad values.
    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Vec<String>;

    /// Every problem of the values, each naming its key; empty when the config is usable.
    fn problems(&self) -> Vec<String>;

    /// Fails with every problem of the values.
    fn validate(&self) -> Result<(), Self::Error> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(problems).into())
        }
    }

    /// Parses TOML text over the defaults (no environment, no validation).
    fn parse(text: &str) -> Result<Self, String> {
        parse_toml(text)
    }

    /// The file at `path` over the defaults, with the process's environment, validated.
    fn load(path: &Path) -> Result<Self, Self::Error> {
        let config: Self = read_toml(path)?;
        config.finish(&|k| std::env::var(k).ok())
    }

    /// The defaults with the process's environment, validated (no file).
    fn from_env() -> Result<Self, Self::Error> {
        Self::default().finish(&|k| std::env::var(k).ok())
    }

    /// Applies environment overrides through `var` and validates.
    fn finish(mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<Self, Self::Error> {
        let mut problems = self.apply_env(var);
        problems.extend(self.problems());
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(Problems(problems).into())
        }
    }
}

/// Parses TOML text into a config whose missing keys take their defaults.
pub fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// Reads and parses the TOML file at `path`.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_toml(&text).map_err(|message| ConfigFileError::Parse {
        path: path.to_path_buf(),
        message,
    })
}

/// Whether `s` looks like `host:port` with a numeric port.
pub fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

/// Splits a comma-separated list, trimming and dropping empty items.
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn secrets_come_from_the_environment_or_a_file() {
        let dir = std::env::temp_dir().join(format!("strata-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pass");
        std::fs::write(&file, "s3cret\n").unwrap();
        let var = |name: &str| (name == "SMTP_PASS").then(|| "from-env".to_string());
        let mut v = "${env:SMTP_PASS}".to_string();
        assert_eq!(super::resolve_secret("password", &mut v, &var), None);
        assert_eq!(v, "from-env");
        let mut v = format!("${{file:{}}}", file.display());
        assert_eq!(super::resolve_secret("password", &mut v, &var), None);
        assert_eq!(v, "s3cret");
        let mut v = "${env:NOPE}".to_string();
        let p = super::resolve_secret("password", &mut v, &var).unwrap();
        assert!(p.contains("password: environment variable NOPE"), "{p}");
        let mut v = "${file:/nonexistent/x}".to_string();
        assert!(
            super::resolve_secret("token", &mut v, &var)
                .unwrap()
                .starts_with("token: cannot read")
        );
        let mut v = "plain".to_string();
        assert_eq!(super::resolve_secret("password", &mut v, &var), None);
        assert_eq!(v, "plain");
        assert!(super::is_secret_ref("${env:X}") && !super::is_secret_ref("$X"));
        std::fs::remove_dir_all(dir).ok();
    }

    use super::*;

    #[test]
    fn host_port_and_lists() {
        assert!(is_host_port("127.0.0.1:7600"));
        assert!(is_host_port("broker-1.example:7600"));
        assert!(!is_host_port("7600"));
        assert!(!is_host_port("http://x:1"));
        assert!(!is_host_port("x:99999"));
        assert_eq!(split_list(" a, ,b "), vec!["a", "b"]);
    }

    #[test]
    fn read_errors_name_the_path() {
        let err = read_toml::<toml::Table>(Path::new("/nonexistent/strata.toml")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/strata.toml"),
            "{err}"
        );
    }
}
