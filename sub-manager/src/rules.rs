//! Alerting rules, evaluated in the region on what it ingests, so that alerts go on with the
//! centre cut off.
//!
//! The rules in force come from three sources: the built-in `cpu`, `memory` and
//! `filesystem` rules of `[thresholds]`, the `rules_file` (watched, and reloaded when it
//! changes), and the rules put through the API (kept in the region's store). A new set is
//! validated whole — a bad file or request changes nothing and says what is wrong — and
//! numbered, so that poll tasks see it at their next poll.
//!
//! # Layout
//! - [`model`]: what a rule says; reading and checking rules files.
//! - [`eval`]: judging an agent's values: holds, hysteresis, flapping, absence.

pub mod eval;
pub mod model;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use strata_tsdb::{Journal, TableOp};
use tracing::{info, warn};

use crate::config::Thresholds;
use crate::error::{Result, SubManagerError};
use model::Rule;

/// Table key of the rules put through the API.
const API_RULES_KEY: &[u8] = b"meta/rules_api";

/// The rules in force, numbered.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Changes with every new set.
    pub version: u64,
}

impl RuleSet {
    /// A set of `rules` numbered `version`.
    pub fn new(rules: Vec<Rule>, version: u64) -> Self {
        Self { rules, version }
    }

    /// The rule named `name`.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.spec.name == name)
    }

    /// Indexes of the rules that select a series.
    pub fn selecting(&self, name: &str, labels: &strata_proto::labels::LabelMap) -> Vec<u16> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.selects(name, labels))
            .map(|(i, _)| i as u16)
            .collect()
    }
}

#[derive(Debug, Default)]
struct Sources {
    builtin: Vec<Rule>,
    file: Vec<Rule>,
    api: Vec<Rule>,
    file_modified: Option<SystemTime>,
    loaded_ms: i64,
}

/// The rules' sources and the set in force.
#[derive(Debug)]
pub struct RuleBook {
    file: Option<PathBuf>,
    sources: Mutex<Sources>,
    current: RwLock<Arc<RuleSet>>,
}

/// Checks that no two rules of the sources share a name.
fn combine(sources: &Sources) -> Result<Vec<Rule>, Vec<String>> {
    let mut seen = HashSet::new();
    let mut problems = Vec::new();
    let all: Vec<Rule> = sources
        .builtin
        .iter()
        .chain(&sources.file)
        .chain(&sources.api)
        .cloned()
        .collect();
    for r in &all {
        if !seen.insert(r.spec.name.as_str()) {
            problems.push(format!(
                "{}: rule '{}' is defined twice (names are unique among thresholds, the rules file and the API's rules)",
                r.source, r.spec.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(all)
    } else {
        Err(problems)
    }
}

impl RuleBook {
    /// The built-in rules of `thresholds`, the rules `file` holds and the API's rules kept in
    /// `journal`. A bad file at start is an error (the daemon does not start on it).
    pub fn open(thresholds: &Thresholds, file: Option<PathBuf>, journal: &Journal) -> Result<Self> {
        let mut sources = Sources {
            builtin: model::builtin(thresholds),
            loaded_ms: strata_proto::now_ms(),
            ..Default::default()
        };
        if let Some(stored) = journal.get(API_RULES_KEY)? {
            let text = String::from_utf8_lossy(&stored);
            sources.api = model::parse(&text, "api").map_err(|p| {
                SubManagerError::JournalCorrupt(format!("API rules: {}", p.join("; ")))
            })?;
        }
        if let Some(path) = &file {
            let (rules, modified) = read_file(path).map_err(SubManagerError::Rules)?;
            sources.file = rules;
            sources.file_modified = modified;
        }
        let rules = combine(&sources).map_err(SubManagerError::Rules)?;
        info!(rules = rules.len(), "alerting rules loaded");
        Ok(Self {
            file,
            sources: Mutex::new(sources),
            current: RwLock::new(Arc::new(RuleSet::new(rules, 1))),
        })
    }

    /// The set in force.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.read().expect("rules lock poisoned").clone()
    }

    fn install(&self, sources: &mut Sources) -> Result<usize, Vec<String>> {
        let rules = combine(sources)?;
        let n = rules.len();
        let mut current = self.current.write().expect("rules lock poisoned");
        let version = current.version + 1;
        *current = Arc::new(RuleSet::new(rules, version));
        sources.loaded_ms = strata_proto::now_ms();
        Ok(n)
    }

    /// Reloads the rules file if it changed since it was read. A bad file keeps the rules
    /// in force; its problems are returned.
    pub fn reload_if_changed(&self) -> Result<bool, Vec<String>> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut sources = self.sources.lock().expect("rules lock poisoned");
        if modified.is_some() && modified == sources.file_modified {
            return Ok(false);
        }
        let (rules, modified) = read_file(path)?;
        let previous = std::mem::replace(&mut sources.file, rules);
        sources.file_modified = modified;
        if let Err(problems) = self.install(&mut sources) {
            sources.file = previous;
            return Err(problems);
        }
        Ok(true)
    }

    /// Replaces the API's rules with those of `text` (validated with the others), stored in
    /// `journal` so that a restart keeps them.
    pub fn put_api(&self, text: &str, journal: &Journal) -> Result<usize, Vec<String>> {
        let rules = model::parse(text, "api")?;
        let mut sources = self.sources.lock().expect("rules lock poisoned");
        let previous = std::mem::replace(&mut sources.api, rules);
        if let Err(problems) = combine(&sources) {
            sources.api = previous;
            return Err(problems);
        }
        if let Err(e) = journal.write_table(&[TableOp::Put(API_RULES_KEY, text.as_bytes())]) {
            sources.api = previous;
            return Err(vec![format!("storing the rules failed: {e}")]);
        }
        self.install(&mut sources)
    }

    /// Every rule in force as TOML, the rules file and when the set was loaded.
    pub fn describe(&self) -> (String, usize, String, i64) {
        let set = self.current();
        let loaded = self.sources.lock().expect("rules lock poisoned").loaded_ms;
        let file = self
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        (model::to_toml(&set.rules), set.rules.len(), file, loaded)
    }
}

fn read_file(path: &std::path::Path) -> Result<(Vec<Rule>, Option<SystemTime>), Vec<String>> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("read rules file {}: {e}", path.display())])?;
    let rules = model::parse(&text, &path.display().to_string())?;
    Ok((rules, modified))
}

/// How often the rules file is checked for changes.
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Reloads the rules file when it changes, until `shutdown`; SIGHUP-free, so that an
/// edited file takes effect within [`RELOAD_EVERY`].
pub async fn reload_loop(book: Arc<RuleBook>, shutdown: tokio_util::sync::CancellationToken) {
    let mut ticker = tokio::time::interval(RELOAD_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match book.reload_if_changed() {
            Ok(true) => info!(rules = book.current().rules.len(), "rules file reloaded"),
            Ok(false) => {}
            Err(problems) => {
                warn!(problems = %problems.join("; "), "rules file not reloaded; the rules in force stay")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_reload_keeps_the_rules_in_force_and_a_good_one_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, "[[rules]]\nname='a'\nmetric='m'\ncritical=1\n").unwrap();
        let journal = Journal::open(dir.path().join("j"), 1000).unwrap();
        let book = RuleBook::open(&Thresholds::default(), Some(path.clone()), &journal).unwrap();
        assert_eq!(book.current().rules.len(), 4);
        let v1 = book.current().version;
        std::fs::write(&path, "[[rules]]\nname='cpu'\nmetric='m'\ncritical=1\n").unwrap();
        let filetime = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(filetime)
            .unwrap();
        let err = book.reload_if_changed().unwrap_err().join("\n");
        assert!(err.contains("rule 'cpu' is defined twice"), "{err}");
        assert_eq!(book.current().version, v1);
        assert!(book.current().get("a").is_some());
        std::fs::write(&path, "[[rules]]\nname='b'\nmetric='m'\ncritical=1\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(filetime + std::time::Duration::from_secs(5))
            .unwrap();
        assert!(book.reload_if_changed().unwrap());
        assert!(book.current().get("b").is_some() && book.current().get("a").is_none());
        assert!(!book.reload_if_changed().unwrap(), "unchanged");
    }

    #[test]
    fn api_rules_are_validated_and_kept_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), 1000).unwrap();
        let book = RuleBook::open(&Thresholds::default(), None, &journal).unwrap();
        let err = book
            .put_api("[[rules]]\nname='x'\nmetric='m'\n", &journal)
            .unwrap_err()
            .join("\n");
        assert!(err.contains("rules[0] 'x'.warning"), "{err}");
        book.put_api("[[rules]]\nname='x'\nmetric='m'\nwarning=1\n", &journal)
            .unwrap();
        drop(book);
        let book = RuleBook::open(&Thresholds::default(), None, &journal).unwrap();
        assert_eq!(book.current().get("x").unwrap().source, "api");
        assert!(book.describe().0.contains("name = \"x\""));
    }
}
