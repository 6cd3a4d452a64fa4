//! `allow_paths`: the files a pushed check may read, as globs, and the lexical normalisation
//! a pushed path goes through before it is matched.
//!
//! A glob is an absolute path whose segments may hold `*` (any characters but `/`) and `?`
//! (one character but `/`); a segment that is exactly `**` matches any number of segments,
//! none included. Nothing else is special. A path is allowed when it matches one glob in
//! full: `/var/log/**` allows everything below `/var/log`, `/var/log/*.log` only the `.log`
//! files directly in it.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// One segment of a glob.
#[derive(Debug, Clone)]
enum Part {
    /// `**`: any number of segments.
    AnyDepth,
    /// A segment with `*` and `?` wildcards.
    Segment(Vec<char>),
}

/// A compiled `allow_paths` entry.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    parts: Vec<Part>,
}

impl Glob {
    /// Compiles `text`, or says why it is not a glob this matcher takes.
    pub fn new(text: &str) -> Result<Self, String> {
        if !text.starts_with('/') {
            return Err(format!("'{text}' is not an absolute path"));
        }
        let mut parts = Vec::new();
        for seg in text.split('/').filter(|s| !s.is_empty()) {
            match seg {
                "." | ".." => return Err(format!("'{text}' holds a '{seg}' segment")),
                "**" => parts.push(Part::AnyDepth),
                s if s.contains("**") => {
                    return Err(format!("'{text}': '**' must be a whole path segment"));
                }
                s => parts.push(Part::Segment(s.chars().collect())),
            }
        }
        Ok(Self {
            text: text.to_string(),
            parts,
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the normalised absolute `path` matches in full.
    pub fn matches(&self, path: &str) -> bool {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match_parts(&self.parts, &segs)
    }
}

fn match_parts(parts: &[Part], segs: &[&str]) -> bool {
    match parts.split_first() {
        None => segs.is_empty(),
        Some((Part::AnyDepth, rest)) => (0..=segs.len()).any(|k| match_parts(rest, &segs[k..])),
        Some((Part::Segment(p), rest)) => segs.split_first().is_some_and(|(first, tail)| {
            let s: Vec<char> = first.chars().collect();
            wildcard(p, &s) && match_parts(rest, tail)
        }),
    }
}

/// `*` and `?` within one segment.
fn wildcard(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|k| wildcard(rest, &s[k..])),
        Some(('?', rest)) => !s.is_empty() && wildcard(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && wildcard(rest, &s[1..]),
    }
}

/// `path` with `.` and `..` resolved lexically (`..` at the root stays at the root) and
/// repeated slashes folded; a relative path is refused.
pub fn normalise(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("'{path}' is not an absolute path"));
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    Ok(format!("/{}", out.join("/")))
}

/// The compiled `allow_paths` (default empty: a pushed check reads nothing).
#[derive(Debug, Clone, Default)]
pub struct AllowPaths {
    globs: Vec<Glob>,
}

impl AllowPaths {
    /// Compiles `globs`; entries that do not compile are left out (validation names them).
    pub fn new(globs: &[String]) -> Self {
        Self {
            globs: globs.iter().filter_map(|g| Glob::new(g).ok()).collect(),
        }
    }

    /// The globs as written.
    pub fn globs(&self) -> Vec<String> {
        self.globs.iter().map(|g| g.as_str().to_string()).collect()
    }

    /// Whether the normalised absolute `path` matches one glob.
    pub fn allows(&self, path: &str) -> bool {
        self.globs.iter().any(|g| g.matches(path))
    }

    /// `path` normalised, if it is absolute and under one glob; else why not.
    pub fn check(&self, path: &str) -> Result<String, String> {
        let normal = normalise(path)?;
        if self.allows(&normal) {
            Ok(normal)
        } else if normal == path {
            Err(format!("'{path}' is not under allow_paths"))
        } else {
            Err(format!(
                "'{path}' (that is '{normal}') is not under allow_paths"
            ))
        }
    }
}

/// Problems of the `allow_paths` list, each naming its index.
pub fn problems(globs: &[String]) -> Vec<String> {
    globs
        .iter()
        .enumerate()
        .filter_map(|(i, g)| Glob::new(g).err().map(|e| format!("allow_paths[{i}]: {e}")))
        .collect()
}

/// Opens `path` for reading only if the file it really is, symbolic links resolved, is under
/// `allow`: the path is resolved, checked, opened, and the opened file's own path (from
/// `/proc/self/fd`) compared with the one checked, so no link swapped in between is followed.
pub fn open_under(path: &Path, allow: &AllowPaths) -> io::Result<File> {
    let real = std::fs::canonicalize(path)?;
    let refused = |what: String| io::Error::new(io::ErrorKind::PermissionDenied, what);
    let allowed = real.to_str().is_some_and(|r| allow.allows(r));
    if !allowed {
        return Err(refused(format!(
            "it resolves to '{}', which is not under allow_paths",
            real.display()
        )));
    }
    let file = File::open(&real)?;
    let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    if opened != real {
        return Err(refused(format!(
            "it changed to '{}' while being opened",
            opened.display()
        )));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(globs: &[&str]) -> AllowPaths {
        let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
        assert!(problems(&globs).is_empty(), "{:?}", problems(&globs));
        AllowPaths::new(&globs)
    }

    #[test]
    fn globs_match_whole_paths_by_segment() {
        let a = allow(&["/var/log/**", "/srv/*/logs/*.log", "/opt/app/?.txt"]);
        for ok in [
            "/var/log/syslog",
            "/var/log/nginx/access.log",
            "/srv/shop/logs/error.log",
            "/opt/app/a.txt",
        ] {
            assert!(a.allows(ok), "{ok}");
        }
        for no in [
            "/var/logs/x",
            "/etc/shadow",
            "/srv/shop/logs/error.txt",
            "/srv/shop/logs/old/error.log",
            "/srv/a/b/logs/x.log",
            "/opt/app/ab.txt",
        ] {
            assert!(!a.allows(no), "{no}");
        }
        assert!(!AllowPaths::default().allows("/var/log/syslog"));
    }

    #[test]
    fn dot_dot_is_resolved_before_matching_and_relative_paths_are_refused() {
        let a = allow(&["/var/log/**"]);
        assert_eq!(normalise("/var//log/./x/../y").unwrap(), "/var/log/y");
        assert_eq!(normalise("/../../etc").unwrap(), "/etc");
        assert_eq!(a.check("/var/log/a/../b.log").unwrap(), "/var/log/b.log");
        let err = a.check("/var/log/../../etc/shadow").unwrap_err();
        assert!(
            err.contains("'/etc/shadow'") && err.contains("allow_paths"),
            "{err}"
        );
        assert_eq!(
            a.check("/etc/shadow").unwrap_err(),
            "'/etc/shadow' is not under allow_paths"
        );
        assert!(
            a.check("var/log/x")
                .unwrap_err()
                .contains("not an absolute path")
        );
        assert!(a.check("../var/log/x").is_err());
    }

    #[test]
    fn bad_globs_are_named_by_index() {
        let p = problems(&[
            "/ok/**".into(),
            "rel/*".into(),
            "/a/../b".into(),
            "/a/x**".into(),
        ]);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("allow_paths[1]:"), "{p:?}");
        assert!(p[1].starts_with("allow_paths[2]:"), "{p:?}");
        assert!(p[2].starts_with("allow_paths[3]:"), "{p:?}");
    }

    #[test]
    fn a_link_out_of_the_allowed_tree_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret").unwrap();
        std::fs::write(logs.join("app.log"), "line\n").unwrap();
        std::os::unix::fs::symlink(&secret, logs.join("link.log")).unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let a = allow(&[&format!("{}/logs/**", root.display())]);
        assert!(open_under(&logs.join("app.log"), &a).is_ok());
        let err = open_under(&logs.join("link.log"), &a).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("not under allow_paths"), "{err}");
    }
}
