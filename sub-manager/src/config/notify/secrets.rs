//! The secrets of the notification channels: an SMTP password, credential headers, and what
//! hides inside a URL (a password before the host, a token in the query or in a long path
//! segment, as chat webhooks carry). They never leave the sub-manager: answers and errors
//! show them as `<hidden>`. A `<hidden>` given back keeps the secret in force only while the
//! receiver's destination (its URL's scheme, host and port; its SMTP relay) is unchanged, so
//! that no one who may edit the channels can send a stored secret to a host of their own.

use super::{NotifyConfig, ReceiverKind};

/// How a secret is shown outside the sub-manager, and given back to keep it unchanged.
pub const HIDDEN: &str = "<hidden>";

/// Whether a header or a URL's query parameter of this name carries a credential.
fn secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "token",
        "key",
        "secret",
        "password",
        "passwd",
        "pass",
        "sig",
        "auth",
        "credential",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// Whether a URL's path segment looks like a credential: long, with letters and digits.
fn secret_segment(segment: &str) -> bool {
    segment.len() >= 20
        && segment.chars().any(|c| c.is_ascii_digit())
        && segment.chars().any(|c| c.is_ascii_alphabetic())
}

/// `url` with its secrets (password, credential query parameters, long token-like path
/// segments) replaced by `<hidden>`; text that is no URL comes back as it was.
pub fn mask_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return url.to_string();
    };
    let secret_in_path = parsed
        .path_segments()
        .is_some_and(|mut s| s.any(secret_segment));
    let secret_in_query = parsed.query_pairs().any(|(k, _)| secret_name(&k));
    if parsed.password().is_none()
        && parsed.username().is_empty()
        && !secret_in_path
        && !secret_in_query
    {
        return url.to_string();
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(HIDDEN));
    } else if !parsed.username().is_empty() {
        let _ = parsed.set_username(HIDDEN);
    }
    let segments: Option<Vec<String>> = parsed.path_segments().map(|s| {
        s.map(|seg| {
            if secret_segment(seg) {
                HIDDEN.to_string()
            } else {
                seg.to_string()
            }
        })
        .collect()
    });
    if let Some(segments) = segments
        && let Ok(mut path) = parsed.path_segments_mut()
    {
        path.clear().extend(segments);
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if secret_name(&k) {
                HIDDEN.to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if !pairs.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // the URL type escapes `<` and `>`; the mask is shown as written
    parsed.to_string().replace("%3Chidden%3E", HIDDEN)
}

/// Where a receiver sends (what its secrets are for): a URL's scheme, host and port, or
/// the SMTP relay.
fn destination(kind: &ReceiverKind) -> String {
    let of_url = |url: &str| {
        reqwest::Url::parse(url).map_or_else(
            |_| url.to_string(),
            |u| {
                format!(
                    "{}://{}:{}",
                    u.scheme(),
                    u.host_str().unwrap_or(""),
                    u.port_or_known_default().unwrap_or(0)
                )
            },
        )
    };
    match kind {
        ReceiverKind::Webhook { url, .. }
        | ReceiverKind::Alertmanager { url }
        | ReceiverKind::Sms { url, .. } => of_url(url),
        ReceiverKind::Email { smtp, .. } => smtp.clone(),
    }
}

/// The URL of a receiver, when it has one.
fn url_of(kind: &mut ReceiverKind) -> Option<&mut String> {
    match kind {
        ReceiverKind::Webhook { url, .. }
        | ReceiverKind::Alertmanager { url }
        | ReceiverKind::Sms { url, .. } => Some(url),
        ReceiverKind::Email { .. } => None,
    }
}

/// The secrets of a receiver: its password and credential headers, by field name.
fn secrets(kind: &mut ReceiverKind) -> Vec<(String, &mut String)> {
    let mut out = Vec::new();
    match kind {
        ReceiverKind::Email {
            password: Some(p), ..
        } => out.push(("password".to_string(), p)),
        ReceiverKind::Webhook { headers, .. } | ReceiverKind::Sms { headers, .. } => {
            for (name, value) in headers.iter_mut() {
                if secret_name(name) {
                    out.push((format!("headers.{name}"), value));
                }
            }
        }
        _ => {}
    }
    out
}

impl NotifyConfig {
    /// Reads the secrets (and URLs) a config file names as `${env:NAME}` or `${file:PATH}`;
    /// the problems name their fields.
    pub fn resolve_refs(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, r) in self.receivers.iter_mut().enumerate() {
            for (field, value) in secrets(&mut r.kind) {
                let name = format!("notify.receivers[{i}].{field}");
                problems.extend(strata_proto::config::resolve_secret(&name, value, var));
            }
            if let Some(url) = url_of(&mut r.kind) {
                let name = format!("notify.receivers[{i}].url");
                problems.extend(strata_proto::config::resolve_secret(&name, url, var));
            }
        }
        problems
    }

    /// The same channels with every secret replaced by [`HIDDEN`], URLs masked.
    pub fn hidden(&self) -> NotifyConfig {
        let mut out = self.clone();
        for r in &mut out.receivers {
            for (_, value) in secrets(&mut r.kind) {
                *value = HIDDEN.to_string();
            }
            if let Some(url) = url_of(&mut r.kind) {
                *url = mask_url(url);
            }
        }
        out
    }

    /// Puts back the secrets given as [`HIDDEN`] (and URLs given masked) from the receiver
    /// of the same name in `current`, while its destination is unchanged; a hidden secret
    /// with nothing to keep, or given for another destination, is a problem naming its field.
    pub fn restore_hidden(&mut self, current: &NotifyConfig) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, r) in self.receivers.iter_mut().enumerate() {
            let mut before = current
                .receivers
                .iter()
                .find(|c| c.name == r.name)
                .map(|c| c.kind.clone());
            let moved = before.as_ref().and_then(|old| {
                let (from, to) = (destination(old), destination(&r.kind));
                (from != to).then_some((from, to))
            });
            let kept: Vec<(String, String)> = before
                .as_mut()
                .map(|k| {
                    secrets(k)
                        .into_iter()
                        .map(|(f, v)| (f, v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let old_url = before.as_mut().and_then(url_of).cloned();
            let name = r.name.clone();
            let mut refuse = |field: &str, why: String| {
                problems.push(format!("notify.receivers[{i}].{field}: {why}"));
            };
            for (field, value) in secrets(&mut r.kind) {
                if value != HIDDEN {
                    continue;
                }
                match (kept.iter().find(|(f, _)| *f == field), &moved) {
                    (Some(_), Some((from, to))) => refuse(
                        &field,
                        format!(
                            "'{HIDDEN}' keeps a secret only for its destination ({from}), not for {to}: give the secret again"
                        ),
                    ),
                    (Some((_, old)), None) => *value = old.clone(),
                    (None, _) => refuse(
                        &field,
                        format!(
                            "'{HIDDEN}' keeps a secret, but receiver '{name}' has none in force to keep"
                        ),
                    ),
                }
            }
            // the channels put through the API read no file and no variable of the member
            let mut refs: Vec<String> = secrets(&mut r.kind)
                .into_iter()
                .filter(|(_, v)| strata_proto::config::is_secret_ref(v))
                .map(|(f, _)| f)
                .collect();
            if url_of(&mut r.kind).is_some_and(|u| strata_proto::config::is_secret_ref(u)) {
                refs.push("url".to_string());
            }
            for field in refs {
                refuse(
                    &field,
                    "'${env:…}' and '${file:…}' are read from config files only: give the value"
                        .into(),
                );
            }
            if let Some(url) = url_of(&mut r.kind)
                && url.contains(HIDDEN)
            {
                match old_url.filter(|old| mask_url(old) == *url) {
                    Some(old) => *url = old,
                    None => refuse(
                        "url",
                        format!(
                            "'{HIDDEN}' keeps a URL's secrets only when the URL is given back unchanged: give the whole URL again"
                        ),
                    ),
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_urls_are_masked() {
        assert_eq!(
            mask_url("https://u:pw@hooks.example:8443/a?token=abc&x=1"),
            "https://u:<hidden>@hooks.example:8443/a?token=<hidden>&x=1"
        );
        assert_eq!(
            mask_url("https://hooks.slack.example/services/T000/B000/XkT4q9zLmN2pQ7rS8vW1"),
            "https://hooks.slack.example/services/T000/B000/<hidden>"
        );
        assert_eq!(
            mask_url("http://am:9093"),
            "http://am:9093",
            "nothing to hide"
        );
        assert_eq!(mask_url("not a url"), "not a url");
    }
}
