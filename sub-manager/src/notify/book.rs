//! The notification channels in force, changed without a restart.
//!
//! They come from the config file's `[notify]` at start, or — once put through the API —
//! from the region's store, where they outlive restarts until the API goes back to the
//! file's. A new set is validated whole (a bad one changes nothing and names each field at
//! fault) and numbered, so that the notifier takes it at its next tick. Secrets never leave
//! the sub-manager: they are shown as `<hidden>`, and a `<hidden>` given back keeps the
//! receiver's current one.

use std::sync::{Arc, RwLock};

use strata_proto::v1::NotifyResponse;
use strata_tsdb::{Journal, TableOp};
use tracing::info;

use crate::config::notify::NotifyConfig;
use crate::error::{Result, SubManagerError};

/// Table key of the channels put through the API.
const API_KEY: &[u8] = b"meta/notify_api";

/// Where the channels in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    File,
    Api,
}

impl Source {
    /// `file` or `api`.
    pub fn name(self) -> &'static str {
        match self {
            Source::File => "file",
            Source::Api => "api",
        }
    }
}

#[derive(Debug)]
struct Live {
    config: Arc<NotifyConfig>,
    source: Source,
    version: u64,
    loaded_ms: i64,
}

/// The config file's channels, the API's, and the set in force.
#[derive(Debug)]
pub struct NotifyBook {
    file: NotifyConfig,
    live: RwLock<Live>,
}

/// Reads the `[notify]` section's content, and checks it: every problem names its field
/// (or the line and column of a syntax error).
pub fn parse(text: &str) -> Result<NotifyConfig, Vec<String>> {
    let config: NotifyConfig = toml::from_str(text).map_err(|e| vec![format!("notify: {e}")])?;
    let problems = config.problems();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

impl NotifyBook {
    /// The channels of the config file (`file`, already checked with the rest of the
    /// config), unless the API's are kept in `journal`.
    pub fn open(file: NotifyConfig, journal: &Journal) -> Result<Self> {
        let (config, source) = match journal.get(API_KEY)? {
            Some(stored) => {
                let config = parse(&String::from_utf8_lossy(&stored)).map_err(|p| {
                    SubManagerError::JournalCorrupt(format!(
                        "notification channels: {}",
                        p.join("; ")
                    ))
                })?;
                info!("notification channels put through the API are in force");
                (config, Source::Api)
            }
            None => (file.clone(), Source::File),
        };
        Ok(Self {
            file,
            live: RwLock::new(Live {
                config: Arc::new(config),
                source,
                version: 1,
                loaded_ms: strata_proto::now_ms(),
            }),
        })
    }

    /// The channels in force.
    pub fn current(&self) -> Arc<NotifyConfig> {
        self.live
            .read()
            .expect("notify lock poisoned")
            .config
            .clone()
    }

    /// Changes with every new set.
    pub fn version(&self) -> u64 {
        self.live.read().expect("notify lock poisoned").version
    }

    fn install(&self, config: NotifyConfig, source: Source) {
        let mut live = self.live.write().expect("notify lock poisoned");
        *live = Live {
            config: Arc::new(config),
            source,
            version: live.version + 1,
            loaded_ms: strata_proto::now_ms(),
        };
    }

    /// Replaces the channels in force with those of `text` (secrets given as `<hidden>`
    /// kept), stored in `journal` so that a restart keeps them.
    pub fn put_api(&self, text: &str, journal: &Journal) -> Result<(), Vec<String>> {
        let mut config = parse(text)?;
        let problems = config.restore_hidden(&self.current());
        if !problems.is_empty() {
            return Err(problems);
        }
        let stored = toml::to_string(&config)
            .map_err(|e| vec![format!("notify: the channels could not be written: {e}")])?;
        journal
            .write_table(&[TableOp::Put(API_KEY, stored.as_bytes())])
            .map_err(|e| vec![format!("storing the notification channels failed: {e}")])?;
        self.install(config, Source::Api);
        Ok(())
    }

    /// Drops the API's channels: the config file's are in force again.
    pub fn use_file(&self, journal: &Journal) -> Result<(), Vec<String>> {
        journal
            .write_table(&[TableOp::Delete(API_KEY)])
            .map_err(|e| {
                vec![format!(
                    "removing the API's notification channels failed: {e}"
                )]
            })?;
        self.install(self.file.clone(), Source::File);
        Ok(())
    }

    /// The channels in force (secrets hidden), where they came from and when.
    pub fn describe(&self) -> NotifyResponse {
        let live = self.live.read().expect("notify lock poisoned");
        let c = &live.config;
        NotifyResponse {
            notify_toml: c.to_toml(),
            source: live.source.name().to_string(),
            loaded_ms: live.loaded_ms,
            receivers: c.receivers.len() as u32,
            routes: c.routes.len() as u32,
            silences: c.silences.len() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::notify::{HIDDEN, ReceiverKind};

    const MAIL: &str = r#"
        max_attempts = 3
        [[receivers]]
        name = "mail"
        kind = "email"
        smtp = "127.0.0.1:25"
        from = "strata@example.com"
        to = ["ops@example.com"]
        username = "strata"
        password = "s3cret"
        [[receivers]]
        name = "hook"
        kind = "webhook"
        url = "http://127.0.0.1:9/hook"
        headers = { Authorization = "Bearer t0ken", "Content-Language" = "en" }
        [[routes]]
        match = { severity = "critical" }
        receivers = ["mail"]
        escalate = [{ after = "10m", receivers = ["hook"] }]
        [[silences]]
        name = "backups"
        match = { rule = "disk-busy" }
        every = "sun 02:00"
        duration = "2h"
    "#;

    fn password(c: &NotifyConfig) -> Option<String> {
        match &c.receivers[0].kind {
            ReceiverKind::Email { password, .. } => password.clone(),
            _ => None,
        }
    }

    #[test]
    fn channels_put_are_shown_without_secrets_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), 1000).unwrap();
        let book = NotifyBook::open(NotifyConfig::default(), &journal).unwrap();
        assert_eq!(book.describe().source, "file");
        let v = book.version();
        book.put_api(MAIL, &journal).unwrap();
        assert!(book.version() > v);
        let shown = book.describe();
        assert_eq!(
            (
                shown.source.as_str(),
                shown.receivers,
                shown.routes,
                shown.silences
            ),
            ("api", 2, 1, 1)
        );
        assert!(
            !shown.notify_toml.contains("s3cret"),
            "{}",
            shown.notify_toml
        );
        assert!(
            !shown.notify_toml.contains("t0ken"),
            "{}",
            shown.notify_toml
        );
        assert!(shown.notify_toml.contains("Content-Language = \"en\""));
        // what is shown is put back unchanged: the secrets are kept
        book.put_api(&shown.notify_toml, &journal).unwrap();
        assert_eq!(password(&book.current()).as_deref(), Some("s3cret"));
        let again = parse(&book.describe().notify_toml).unwrap();
        assert_eq!(again.routes[0].escalate[0].after.as_secs(), 600);
        assert_eq!(again.silences[0].duration.unwrap().as_secs(), 7200);
        assert_eq!(again.max_attempts, 3);
        // a restart keeps the API's channels, secrets included
        drop(book);
        let book = NotifyBook::open(NotifyConfig::default(), &journal).unwrap();
        assert_eq!(book.describe().source, "api");
        assert_eq!(password(&book.current()).as_deref(), Some("s3cret"));
        match &book.current().receivers[1].kind {
            ReceiverKind::Webhook { headers, .. } => {
                assert_eq!(headers["Authorization"], "Bearer t0ken")
            }
            other => panic!("{other:?}"),
        }
        book.use_file(&journal).unwrap();
        assert_eq!(book.describe().receivers, 0);
        drop(book);
        let book = NotifyBook::open(NotifyConfig::default(), &journal).unwrap();
        assert_eq!(book.describe().source, "file");
    }

    #[test]
    fn a_bad_set_changes_nothing_and_names_its_field() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), 1000).unwrap();
        let book = NotifyBook::open(NotifyConfig::default(), &journal).unwrap();
        book.put_api(MAIL, &journal).unwrap();
        let v = book.version();
        let bad = MAIL.replace("http://127.0.0.1:9/hook", "ftp://x");
        let err = book.put_api(&bad, &journal).unwrap_err().join("\n");
        assert!(err.contains("notify.receivers[1].url"), "{err}");
        let err = book
            .put_api("[[receivers]]\nname = \"x\"\nkind = \"pager\"\n", &journal)
            .unwrap_err()
            .join("\n");
        assert!(err.contains("pager") && err.contains("line"), "{err}");
        // a hidden secret of a receiver that has none to keep
        let renamed = MAIL
            .replace("\"s3cret\"", &format!("\"{HIDDEN}\""))
            .replace("name = \"mail\"", "name = \"mail2\"")
            .replace("[\"mail\"]", "[\"mail2\"]");
        let err = book.put_api(&renamed, &journal).unwrap_err().join("\n");
        assert!(err.contains("notify.receivers[0].password"), "{err}");
        // a hidden secret sent to another host: the relay, or the webhook's host
        let shown = book.describe().notify_toml;
        for (from, to, field) in [
            (
                "127.0.0.1:25",
                "mail.evil.example:25",
                "receivers[0].password",
            ),
            (
                "http://127.0.0.1:9/hook",
                "http://evil.example:9/hook",
                "receivers[1].headers.Authorization",
            ),
        ] {
            assert!(shown.contains(from), "{shown}");
            let err = book
                .put_api(&shown.replace(from, to), &journal)
                .unwrap_err()
                .join("\n");
            assert!(
                err.contains(field) && err.contains("give the secret again"),
                "{err}"
            );
        }
        assert_eq!(book.version(), v, "nothing refused changed anything");
        // the same destination keeps them, and a URL's own secret comes back masked
        book.put_api(&shown, &journal).unwrap();
        let with_token = MAIL.replace("/hook", "/hook?token=abc123");
        book.put_api(&with_token, &journal).unwrap();
        let shown = book.describe().notify_toml;
        assert!(
            shown.contains("/hook?token=<hidden>") && !shown.contains("abc123"),
            "{shown}"
        );
        book.put_api(&shown, &journal).unwrap();
        assert!(
            matches!(&book.current().receivers[1].kind, crate::config::notify::ReceiverKind::Webhook { url, .. } if url.ends_with("token=abc123")),
            "the URL given back masked keeps its token"
        );
        let err = book
            .put_api(&shown.replace("/hook?", "/other?"), &journal)
            .unwrap_err()
            .join("\n");
        assert!(err.contains("receivers[1].url"), "{err}");
        // the API reads no variable or file of the member
        let err = book
            .put_api(&MAIL.replace("\"s3cret\"", "\"${env:HOME}\""), &journal)
            .unwrap_err()
            .join("\n");
        assert!(
            err.contains("receivers[0].password") && err.contains("config files only"),
            "{err}"
        );
        assert_eq!(book.current().receivers[0].name, "mail");
    }
}
