//! The centre's own receivers (`[[notify.receivers]]`): where its scheduled reports go, by
//! e-mail through an SMTP relay or as JSON to a webhook, written as the regions write
//! theirs.

use std::collections::BTreeMap;

use serde::Deserialize;
use strata_web::mail::StartTls;

/// A named receiver.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(flatten)]
    pub kind: ReceiverKind,
}

/// Where a receiver's messages go.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ReceiverKind {
    /// An e-mail through an SMTP relay.
    Email {
        /// `host:port` of the relay.
        smtp: String,
        from: String,
        to: Vec<String>,
        /// `none`, `opportunistic` (STARTTLS when offered; the default) or `required`.
        #[serde(default)]
        starttls: StartTls,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<String>,
    },
    /// An HTTP POST of JSON.
    Webhook {
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

/// Problems of `receivers`, each naming its key.
pub fn problems(receivers: &[ReceiverConfig]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, r) in receivers.iter().enumerate() {
        let at = format!("notify.receivers[{i}]");
        if r.name.trim().is_empty() {
            errors.push(format!("{at}.name: must not be empty"));
        } else if !seen.insert(r.name.as_str()) {
            errors.push(format!("{at}.name: '{}' is used twice", r.name));
        }
        match &r.kind {
            ReceiverKind::Email {
                smtp,
                from,
                to,
                username,
                password,
                ..
            } => {
                if !strata_proto::config::is_host_port(smtp) {
                    errors.push(format!("{at}.smtp: '{smtp}' is not host:port"));
                }
                if !strata_web::mail::is_address(from) {
                    errors.push(format!("{at}.from: '{from}' is not an e-mail address"));
                }
                if to.is_empty() {
                    errors.push(format!("{at}.to: name at least one address"));
                }
                for t in to {
                    if !strata_web::mail::is_address(t) {
                        errors.push(format!("{at}.to: '{t}' is not an e-mail address"));
                    }
                }
                if username.is_some() != password.is_some() {
                    errors.push(format!("{at}: username and password go together"));
                }
            }
            ReceiverKind::Webhook { url, .. } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    errors.push(format!(
                        "{at}.url: '{url}' is not an http:// or https:// URL"
                    ));
                }
            }
        }
    }
    errors
}
