//! `[[accept_files]]`: the only directories a bundle may write into, and whether a file
//! there may be executable; and the staged, all-or-nothing writing of a bundle's files.
//!
//! Every path is checked before anything is written: absolute, written without `.`, `..`
//! or repeated slashes, strictly under one accepted directory, its mode without set-id or
//! sticky bits and executable only where the directory allows it, its size within the
//! directory's bound. Then every file is written to a temporary file beside its target
//! (created exclusively, synced) and only when all are staged are they renamed over their
//! targets; a directory on the way that resolves (through a symbolic link) outside the
//! accepted one refuses the bundle before anything is renamed.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use strata_proto::v1::BundleFile;

/// One directory bundles may write into (`[[accept_files]]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AcceptDir {
    /// An absolute directory; files go anywhere below it.
    pub dir: String,
    /// Whether a file here may have an execute bit (default false: 0755 is refused).
    #[serde(default)]
    pub executable: bool,
    /// Largest file, in bytes (default 1 MiB).
    #[serde(default = "mebibyte")]
    pub max_file_bytes: u64,
}

fn mebibyte() -> u64 {
    1 << 20
}

/// Problems of the local `accept_files`, each naming its key.
pub fn problems(dirs: &[AcceptDir]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let normal = crate::policy::paths::normalise(&d.dir);
        match normal {
            Ok(n) if n == d.dir.trim_end_matches('/') && n != "/" => {}
            Ok(_) => out.push(format!(
                "accept_files[{i}].dir: '{}' must be an absolute directory other than /, without . or .. or repeated slashes",
                d.dir
            )),
            Err(e) => out.push(format!("accept_files[{i}].dir: {e}")),
        }
    }
    out
}

/// A file of a bundle, checked and ready to stage.
#[derive(Debug, Clone)]
pub struct Checked {
    pub path: PathBuf,
    /// The accepted directory it lies under.
    pub root: PathBuf,
    pub mode: u32,
    pub content: Vec<u8>,
}

/// Every file of `files` checked against `dirs`, or every reason to refuse them.
pub fn check(files: &[BundleFile], dirs: &[AcceptDir]) -> Result<Vec<Checked>, Vec<String>> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    if dirs.is_empty() {
        return Err(vec![
            "this host accepts no files: its agent.toml has no [[accept_files]]".into(),
        ]);
    }
    let mut seen = std::collections::HashSet::new();
    for f in files {
        let p = &f.path;
        match crate::policy::paths::normalise(p) {
            Ok(n) if &n == p => {}
            _ => {
                problems.push(format!(
                    "{p}: not an absolute path written without ., .. or repeated slashes"
                ));
                continue;
            }
        }
        if !seen.insert(p.as_str()) {
            problems.push(format!("{p}: given twice"));
            continue;
        }
        let Some(dir) = dirs.iter().find(|d| {
            let root = d.dir.trim_end_matches('/');
            p.len() > root.len() + 1 && p.starts_with(root) && p.as_bytes()[root.len()] == b'/'
        }) else {
            problems.push(format!("{p}: not under any accept_files directory"));
            continue;
        };
        if f.mode & 0o7000 != 0 {
            problems.push(format!(
                "{p}: mode {:o} has set-id or sticky bits, never applied",
                f.mode
            ));
        }
        if f.mode & 0o111 != 0 && !dir.executable {
            problems.push(format!(
                "{p}: mode {:o} is executable and {} does not allow it (executable = false)",
                f.mode, dir.dir
            ));
        }
        if f.content.len() as u64 > dir.max_file_bytes {
            problems.push(format!(
                "{p}: {} bytes, above {}'s max_file_bytes ({})",
                f.content.len(),
                dir.dir,
                dir.max_file_bytes
            ));
        }
        out.push(Checked {
            path: PathBuf::from(p),
            root: PathBuf::from(dir.dir.trim_end_matches('/')),
            mode: f.mode & 0o777,
            content: f.content.clone(),
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The temporary file a target is staged in.
fn staging(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.strata-{}", std::process::id()))
}

/// Makes the directories from `root` down to `dir` (each with 0755) and checks that `dir`,
/// resolved, still lies under `root`, resolved.
fn prepare_dir(root: &Path, dir: &Path) -> Result<(), String> {
    let real_root = root
        .canonicalize()
        .map_err(|e| format!("{}: {e}", root.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let real = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    if real.starts_with(&real_root) {
        Ok(())
    } else {
        Err(format!(
            "{} resolves to {}, outside {}",
            dir.display(),
            real.display(),
            root.display()
        ))
    }
}

/// Writes every file, all or nothing: staged beside its target, then renamed.
pub fn write_all(files: &[Checked]) -> Result<Vec<String>, String> {
    let mut staged: Vec<(PathBuf, &Checked)> = Vec::new();
    let result = (|| {
        for f in files {
            let dir = f
                .path
                .parent()
                .ok_or_else(|| format!("{}: no directory", f.path.display()))?;
            prepare_dir(&f.root, dir)?;
            let tmp = staging(&f.path);
            let _ = std::fs::remove_file(&tmp);
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&tmp)
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
            staged.push((tmp.clone(), f));
            out.write_all(&f.content)
                .and_then(|()| out.set_permissions(std::fs::Permissions::from_mode(f.mode)))
                .and_then(|()| out.sync_all())
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
        }
        Ok::<(), String>(())
    })();
    if let Err(e) = result {
        for (tmp, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    let mut written = Vec::new();
    for (i, (tmp, f)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, &f.path) {
            // what was not renamed yet is not left behind
            for (rest, _) in &staged[i..] {
                let _ = std::fs::remove_file(rest);
            }
            return Err(format!(
                "{}: {e} (after {} of {} files were written)",
                f.path.display(),
                written.len(),
                staged.len()
            ));
        }
        written.push(f.path.display().to_string());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, mode: u32, content: &str) -> BundleFile {
        BundleFile {
            path: path.into(),
            mode,
            content: content.as_bytes().to_vec(),
        }
    }

    #[test]
    fn paths_outside_modes_and_sizes_are_refused_by_name() {
        let dirs = vec![
            AcceptDir {
                dir: "/etc/app".into(),
                executable: false,
                max_file_bytes: 10,
            },
            AcceptDir {
                dir: "/opt/plugins".into(),
                executable: true,
                max_file_bytes: 100,
            },
        ];
        assert!(check(&[file("/etc/app/a.conf", 0o644, "x")], &dirs).is_ok());
        assert!(check(&[file("/opt/plugins/sub/check_x", 0o755, "x")], &dirs).is_ok());
        let refused = check(
            &[
                file("/etc/app/../shadow", 0o644, "x"),
                file("/etc/apparmor.d/x", 0o644, "x"),
                file("/etc/app", 0o644, "x"),
                file("relative", 0o644, "x"),
                file("/etc/app/run.sh", 0o755, "x"),
                file("/opt/plugins/suid", 0o4755, "x"),
                file("/etc/app/big", 0o644, "01234567890"),
            ],
            &dirs,
        )
        .unwrap_err()
        .join("\n");
        for needle in [
            "/etc/app/../shadow: not an absolute path",
            "/etc/apparmor.d/x: not under any accept_files directory",
            "/etc/app: not under any",
            "relative: not an absolute path",
            "/etc/app/run.sh: mode 755 is executable and /etc/app does not allow it",
            "/opt/plugins/suid: mode 4755 has set-id",
            "/etc/app/big: 11 bytes, above /etc/app's max_file_bytes (10)",
        ] {
            assert!(refused.contains(needle), "{needle} not in:\n{refused}");
        }
        assert!(
            check(&[file("/etc/app/a", 0o644, "")], &[]).unwrap_err()[0]
                .contains("no [[accept_files]]")
        );
        assert_eq!(
            problems(&[AcceptDir {
                dir: "/".into(),
                executable: false,
                max_file_bytes: 1
            }])
            .len(),
            1
        );
    }

    #[test]
    fn files_are_written_all_or_nothing_and_never_through_a_link_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("accept");
        std::fs::create_dir(&root).unwrap();
        let dirs = vec![AcceptDir {
            dir: root.display().to_string(),
            executable: true,
            max_file_bytes: 1000,
        }];
        let path = |p: &str| root.join(p).display().to_string();
        let ok = check(
            &[
                file(&path("a.conf"), 0o640, "a"),
                file(&path("bin/run"), 0o755, "#!/bin/sh\n"),
            ],
            &dirs,
        )
        .unwrap();
        let written = write_all(&ok).unwrap();
        assert_eq!(written.len(), 2);
        let meta = std::fs::metadata(root.join("bin/run")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(std::fs::read_to_string(root.join("a.conf")).unwrap(), "a");
        // a directory inside that links outside: nothing is renamed, the first file unchanged
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        let bad = check(
            &[
                file(&path("a.conf"), 0o640, "b"),
                file(&path("escape/x"), 0o644, "x"),
            ],
            &dirs,
        )
        .unwrap();
        let e = write_all(&bad).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        assert_eq!(std::fs::read_to_string(root.join("a.conf")).unwrap(), "a");
        assert!(!outside.join("x").exists());
        let leftovers: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".strata-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
