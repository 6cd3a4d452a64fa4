//! Publishing a bundle: the admin's request read and checked, its hosts chosen, its
//! manifest signed with the centre's own key; and a rollback, signed the same way.

use std::collections::BTreeMap;

use base64::Engine;
use prost::Message;
use serde::Deserialize;
use strata_proto::ResourceId;
use strata_proto::v1::{BundleFile, BundleManifest, SignedBundle};

use crate::error::{Result, SuperManagerError};
use crate::files::store::{BundleRecord, FileInfo, HostStatus};
use crate::overview::Overview;
use crate::shared::Shared;

/// One file of a publish request: its path, mode and content (text, or base64).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIn {
    pub path: String,
    /// Octal permission bits (default `0644`).
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub content_base64: Option<String>,
}

/// The hosts a bundle is for: every host matching all the selectors given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Hosts of this region.
    #[serde(default)]
    pub region: Option<String>,
    /// Host names matching this pattern (`*` and `?`).
    #[serde(default)]
    pub hosts: Option<String>,
    /// The hosts of this service's component (`component`, or all its components).
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
}

/// `POST /api/v1/files`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub name: String,
    pub files: Vec<FileIn>,
    pub targets: Targets,
}

/// `*` and `?` over a host name.
fn glob(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|k| glob(rest, &name[k..])),
        Some(('?', rest)) => name.split_first().is_some_and(|(_, n)| glob(rest, n)),
        Some((c, rest)) => name
            .split_first()
            .is_some_and(|(h, n)| h == c && glob(rest, n)),
    }
}

fn bad(message: String) -> SuperManagerError {
    SuperManagerError::BadRequest(message)
}

/// The ids (`region/host`) of the hosts `targets` selects.
pub fn resolve(shared: &Shared, targets: &Targets) -> Result<Vec<String>> {
    if targets.region.is_none() && targets.hosts.is_none() && targets.service.is_none() {
        return Err(bad(
            "targets: give a region, a hosts pattern or a service (and component)".into(),
        ));
    }
    if targets.component.is_some() && targets.service.is_none() {
        return Err(bad("targets.component: only with targets.service".into()));
    }
    let of_service: Option<Vec<String>> = match &targets.service {
        None => None,
        Some(name) => {
            let health = crate::catalog::healths(shared);
            let h = health
                .get(name)
                .ok_or_else(|| bad(format!("targets.service: no service '{name}'")))?;
            let components: Vec<_> = h
                .components
                .iter()
                .filter(|c| targets.component.as_ref().is_none_or(|n| &c.name == n))
                .collect();
            if components.is_empty() {
                return Err(bad(format!(
                    "targets.component: service '{name}' has no component '{}'",
                    targets.component.as_deref().unwrap_or_default()
                )));
            }
            Some(
                components
                    .iter()
                    .flat_map(|c| c.resources.iter().cloned())
                    .collect(),
            )
        }
    };
    let pattern: Option<Vec<char>> = targets.hosts.as_ref().map(|p| p.chars().collect());
    let mut ids: Vec<String> = Overview::all_resources_of(&shared.overview)
        .into_iter()
        .map(|r| r.id)
        .filter(|id| {
            let Ok(rid) = ResourceId::parse(id) else {
                return false;
            };
            targets.region.as_ref().is_none_or(|r| rid.region() == r)
                && pattern
                    .as_ref()
                    .is_none_or(|p| glob(p, &rid.host().chars().collect::<Vec<_>>()))
                && of_service.as_ref().is_none_or(|s| s.contains(id))
        })
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Err(bad("targets: no known host matches".into()));
    }
    Ok(ids)
}

/// The files of a request, checked: absolute paths, octal modes, content given once.
fn files_of(files: &[FileIn], max_bytes: u64) -> Result<Vec<BundleFile>> {
    if files.is_empty() {
        return Err(bad("files: give at least one file".into()));
    }
    let mut total = 0u64;
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let at = format!("files[{i}]");
        if !f.path.starts_with('/') || f.path.split('/').any(|s| s == "." || s == "..") {
            return Err(bad(format!(
                "{at}.path: '{}' is not an absolute path without . or ..",
                f.path
            )));
        }
        let mode_text = f.mode.as_deref().unwrap_or("0644");
        let mode = u32::from_str_radix(mode_text, 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                bad(format!(
                    "{at}.mode: '{mode_text}' is not octal permission bits (0644, 0755)"
                ))
            })?;
        let content = match (&f.content, &f.content_base64) {
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| bad(format!("{at}.content_base64: {e}")))?,
            _ => {
                return Err(bad(format!(
                    "{at}: give exactly one of content and content_base64"
                )));
            }
        };
        total += content.len() as u64;
        out.push(BundleFile {
            path: f.path.clone(),
            mode,
            content,
        });
    }
    if total > max_bytes {
        return Err(bad(format!(
            "files: {total} bytes in all, above files.max_bundle_bytes ({max_bytes})"
        )));
    }
    Ok(out)
}

/// `manifest` signed with the centre's key.
fn sign(shared: &Shared, manifest: &BundleManifest) -> Result<SignedBundle> {
    let bytes = manifest.encode_to_vec();
    let (chain, signature) = shared.transport.sign(&bytes).map_err(|e| {
        SuperManagerError::BadRequest(format!(
            "the centre cannot sign bundles: {e} (file distribution needs mutual TLS)"
        ))
    })?;
    Ok(SignedBundle {
        manifest: bytes,
        chain,
        signature,
    })
}

fn record_of(manifest: &BundleManifest, files: &[BundleFile], targets: &[String]) -> BundleRecord {
    BundleRecord {
        name: manifest.name.clone(),
        version: manifest.version,
        rollback_to: manifest.rollback_to,
        published_by: manifest.published_by.clone(),
        published_ms: manifest.published_ms,
        files: files
            .iter()
            .map(|f| FileInfo {
                path: f.path.clone(),
                mode: format!("{:04o}", f.mode),
                bytes: f.content.len() as u64,
            })
            .collect(),
        hosts: targets
            .iter()
            .map(|t| {
                (
                    t.clone(),
                    HostStatus {
                        state: "pending".into(),
                        ..HostStatus::default()
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

/// Publishes `req` as the next version of its bundle, signed, every target pending.
pub fn publish(shared: &Shared, req: &PublishRequest, by: &str) -> Result<BundleRecord> {
    if !strata_proto::names::valid_bundle_name(&req.name) {
        return Err(bad(format!(
            "name: '{}' is not a bundle name (letters, digits, . _ -, up to 64, not starting with .)",
            req.name
        )));
    }
    let files = files_of(&req.files, shared.config.files.max_bundle_bytes)?;
    let targets = resolve(shared, &req.targets)?;
    let version = shared.files.get(&req.name).map_or(0, |b| b.version) + 1;
    let manifest = BundleManifest {
        name: req.name.clone(),
        version,
        targets: targets.clone(),
        files: files.clone(),
        rollback_to: 0,
        published_by: by.to_string(),
        published_ms: strata_proto::now_ms(),
    };
    let signed = sign(shared, &manifest)?;
    let record = record_of(&manifest, &files, &targets);
    shared
        .files
        .publish(record.clone(), &signed)
        .map_err(SuperManagerError::Internal)?;
    Ok(record)
}

/// Publishes a rollback of bundle `name` to version `to` (default: the one before the
/// latest) for the latest version's hosts, which restore the files they kept.
pub fn rollback(shared: &Shared, name: &str, to: Option<u64>, by: &str) -> Result<BundleRecord> {
    let latest = shared
        .files
        .get(name)
        .ok_or_else(|| SuperManagerError::NotFound(format!("no bundle '{name}'")))?;
    let to = to.unwrap_or(latest.version.saturating_sub(1));
    if to == 0 || to >= latest.version {
        return Err(bad(format!(
            "to: {to} is not a version before the latest ({})",
            latest.version
        )));
    }
    let old = shared.files.signed(name, to).ok_or_else(|| {
        SuperManagerError::NotFound(format!("bundle '{name}' has no version {to} kept"))
    })?;
    let old = BundleManifest::decode(old.manifest.as_slice())
        .map_err(|e| SuperManagerError::Internal(format!("bundle '{name}' v{to}: {e}")))?;
    let targets: Vec<String> = latest.hosts.keys().cloned().collect();
    let manifest = BundleManifest {
        name: name.to_string(),
        version: latest.version + 1,
        targets: targets.clone(),
        files: Vec::new(),
        rollback_to: to,
        published_by: by.to_string(),
        published_ms: strata_proto::now_ms(),
    };
    let signed = sign(shared, &manifest)?;
    // shown with the files it restores
    let record = record_of(&manifest, &old.files, &targets);
    shared
        .files
        .publish(record.clone(), &signed)
        .map_err(SuperManagerError::Internal)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_and_files_are_read_strictly() {
        let g = |p: &str, n: &str| {
            glob(
                &p.chars().collect::<Vec<_>>(),
                &n.chars().collect::<Vec<_>>(),
            )
        };
        assert!(g("web-*", "web-1") && g("web-?", "web-2") && g("*", "x"));
        assert!(!g("web-?", "web-10") && !g("db-*", "web-1"));
        let f = |path: &str, mode: Option<&str>, content: Option<&str>| FileIn {
            path: path.into(),
            mode: mode.map(String::from),
            content: content.map(String::from),
            content_base64: None,
        };
        let ok = files_of(&[f("/etc/app/a", None, Some("x"))], 10).unwrap();
        assert_eq!(ok[0].mode, 0o644);
        for (files, needle) in [
            (vec![f("etc/a", None, Some("x"))], "files[0].path"),
            (vec![f("/etc/../a", None, Some("x"))], "files[0].path"),
            (vec![f("/a", Some("999"), Some("x"))], "files[0].mode"),
            (vec![f("/a", Some("4755"), Some("x"))], "files[0].mode"),
            (vec![f("/a", None, None)], "exactly one of content"),
            (vec![f("/a", None, Some("0123456789x"))], "max_bundle_bytes"),
            (vec![], "at least one file"),
        ] {
            let e = files_of(&files, 10).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle} not in {e}");
        }
        let name = strata_proto::names::valid_bundle_name;
        assert!(name("nginx-conf.v2") && !name(".x") && !name("a/b") && !name(""));
    }
}
