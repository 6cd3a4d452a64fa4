//! The principals document and the file it lives in. One JSON file holds every user (with
//! its password's Argon2id hash) and every token (with its secret's SHA-256), each with its
//! role and regions; its `version` grows with every change, so that a copy knows whether
//! another is newer. The file is written whole (a temporary file renamed over it, mode
//! 0600), and read again when it changes on disk, so that `strata user` and `strata token`
//! run beside a live manager take effect within a second.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::secret::{self, same, sha256, split_token};
use super::{AuthError, Principal, Role, Scope};

/// A local account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The password's Argon2id hash (PHC string).
    pub hash: String,
    pub role: Role,
    pub scope: Scope,
    pub created_ms: i64,
    /// When the password or role last changed.
    pub changed_ms: i64,
}

/// An API token: its secret's hash, never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// What it is for, as its creator named it.
    pub name: String,
    /// SHA-256 of the secret part, hex.
    pub hash: String,
    pub role: Role,
    pub scope: Scope,
    pub created_ms: i64,
    /// When it stops working (0: never).
    pub expires_ms: i64,
    /// When it was revoked (0: not revoked).
    #[serde(default)]
    pub revoked_ms: i64,
}

/// Every user and token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Principals {
    /// Grows with every change.
    pub version: u64,
    /// Users by name.
    #[serde(default)]
    pub users: BTreeMap<String, UserRecord>,
    /// Tokens by id.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenRecord>,
}

/// A user as listed: no hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserView {
    pub name: String,
    pub role: Role,
    pub regions: String,
    pub created_ms: i64,
    pub changed_ms: i64,
}

/// A token as listed: no hash, no secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub regions: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub revoked_ms: i64,
}

/// When a token made at `now_ms` stops working, for `text`: a duration (`30d`, `12h`), or
/// `never` (0); empty is 90 days.
pub fn expires_at(text: &str, now_ms: i64) -> Result<i64, AuthError> {
    let text = text.trim();
    let d = match text {
        "never" => return Ok(0),
        "" => std::time::Duration::from_secs(90 * 86_400),
        _ => humantime::parse_duration(text)
            .map_err(|e| AuthError::Invalid(format!("expires: '{text}': {e}")))?,
    };
    Ok(now_ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}

/// Whether `name` may name a user or a token: 1 to 64 of letters, digits, `.`, `_`, `@`, `-`.
fn check_name(field: &str, name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "{field}: '{name}' must be 1 to 64 letters, digits, '.', '_', '@' or '-'"
        )))
    }
}

fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < 8 {
        return Err(AuthError::Invalid(
            "password: must be at least 8 characters".into(),
        ));
    }
    Ok(())
}

impl Principals {
    /// Adds user `name` with `password`, `role` and `scope`.
    pub fn add_user(
        &mut self,
        name: &str,
        password: &str,
        role: Role,
        scope: Scope,
        now_ms: i64,
    ) -> Result<(), AuthError> {
        check_name("name", name)?;
        check_password(password)?;
        if self.users.contains_key(name) {
            return Err(AuthError::Invalid(format!("name: user '{name}' exists")));
        }
        self.users.insert(
            name.to_string(),
            UserRecord {
                hash: secret::hash_password(password),
                role,
                scope,
                created_ms: now_ms,
                changed_ms: now_ms,
            },
        );
        Ok(())
    }

    /// Sets the password of user `name`.
    pub fn set_password(
        &mut self,
        name: &str,
        password: &str,
        now_ms: i64,
    ) -> Result<(), AuthError> {
        check_password(password)?;
        let user = self
            .users
            .get_mut(name)
            .ok_or_else(|| AuthError::Invalid(format!("name: no user '{name}'")))?;
        user.hash = secret::hash_password(password);
        user.changed_ms = now_ms;
        Ok(())
    }

    /// Removes user `name`.
    pub fn remove_user(&mut self, name: &str) -> Result<(), AuthError> {
        self.users
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| AuthError::Invalid(format!("name: no user '{name}'")))
    }

    /// Makes a token named `name`: its id and its whole text, the only time the text is
    /// known. `expires_ms` 0 is never.
    pub fn create_token(
        &mut self,
        name: &str,
        role: Role,
        scope: Scope,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<(String, String), AuthError> {
        check_name("name", name)?;
        if expires_ms != 0 && expires_ms <= now_ms {
            return Err(AuthError::Invalid("expires: must be in the future".into()));
        }
        let (_, text) = secret::new_token();
        let id = self.insert_token(&text, name, role, scope, now_ms)?;
        if let Some(token) = self.tokens.get_mut(&id) {
            token.expires_ms = expires_ms;
        }
        Ok((id, text))
    }

    /// Adds a token whose text was made elsewhere (a test kit's or an installer's), as
    /// [`Principals::create_token`] would have.
    pub fn insert_token(
        &mut self,
        text: &str,
        name: &str,
        role: Role,
        scope: Scope,
        now_ms: i64,
    ) -> Result<String, AuthError> {
        check_name("name", name)?;
        let (id, secret_part) = split_token(text)
            .ok_or_else(|| AuthError::Invalid("token: not strata_<id>_<secret>".into()))?;
        self.tokens.insert(
            id.to_string(),
            TokenRecord {
                name: name.to_string(),
                hash: sha256(secret_part),
                role,
                scope,
                created_ms: now_ms,
                expires_ms: 0,
                revoked_ms: 0,
            },
        );
        Ok(id.to_string())
    }

    /// Revokes the token with id (or, when only one has it, name) `which`.
    pub fn revoke_token(&mut self, which: &str, now_ms: i64) -> Result<String, AuthError> {
        let id = if self.tokens.contains_key(which) {
            which.to_string()
        } else {
            let named: Vec<&String> = self
                .tokens
                .iter()
                .filter(|(_, t)| t.name == which && t.revoked_ms == 0)
                .map(|(id, _)| id)
                .collect();
            match named.as_slice() {
                [one] => (*one).clone(),
                [] => return Err(AuthError::Invalid(format!("token: no token '{which}'"))),
                _ => {
                    return Err(AuthError::Invalid(format!(
                        "token: several tokens are named '{which}'; give the id"
                    )));
                }
            }
        };
        let token = self.tokens.get_mut(&id).expect("id found above");
        if token.revoked_ms == 0 {
            token.revoked_ms = now_ms;
        }
        Ok(id)
    }

    /// The user `name` when `password` is theirs.
    pub fn check_password(&self, name: &str, password: &str) -> Option<Principal> {
        match self.users.get(name) {
            Some(user) if secret::verify_password(password, &user.hash) => Some(Principal {
                name: name.to_string(),
                role: user.role,
                scope: user.scope.clone(),
            }),
            Some(_) => None,
            None => {
                // as long as a wrong password takes
                secret::verify_password(password, secret::decoy_hash());
                None
            }
        }
    }

    /// The token whose text is `text`, when it is known, not revoked and not expired.
    pub fn check_token(&self, text: &str, now_ms: i64) -> Option<Principal> {
        let (id, secret_part) = split_token(text)?;
        let token = self.tokens.get(id)?;
        let live = token.revoked_ms == 0 && (token.expires_ms == 0 || now_ms < token.expires_ms);
        (live && same(&token.hash, &sha256(secret_part))).then(|| Principal {
            name: format!("token:{}", token.name),
            role: token.role,
            scope: token.scope.clone(),
        })
    }

    /// The users, by name, without their hashes.
    pub fn user_views(&self) -> Vec<UserView> {
        self.users
            .iter()
            .map(|(name, u)| UserView {
                name: name.clone(),
                role: u.role,
                regions: u.scope.to_string(),
                created_ms: u.created_ms,
                changed_ms: u.changed_ms,
            })
            .collect()
    }

    /// The tokens, by id, without their hashes.
    pub fn token_views(&self) -> Vec<TokenView> {
        self.tokens
            .iter()
            .map(|(id, t)| TokenView {
                id: id.clone(),
                name: t.name.clone(),
                role: t.role,
                regions: t.scope.to_string(),
                created_ms: t.created_ms,
                expires_ms: t.expires_ms,
                revoked_ms: t.revoked_ms,
            })
            .collect()
    }
}

/// How often the file is looked at for a change made beside the running manager.
const RECHECK: Duration = Duration::from_secs(1);

/// The principals file of a manager: read at start, read again when it changes, written
/// whole on every change made through it.
#[derive(Debug)]
pub struct PrincipalsFile {
    path: PathBuf,
    current: RwLock<Arc<Principals>>,
    /// The file's modification time when last read, and when it was last looked at.
    seen: Mutex<(Option<SystemTime>, Instant)>,
    /// Held while a change is read, made and written, so two changes never interleave.
    writing: Mutex<()>,
    /// How often the file is looked at.
    recheck: Duration,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Whether `a` comes after `b` in the order the centres converge on: by version, then by
/// the SHA-256 of the JSON (equal documents come after neither).
pub fn later(a: &Principals, b: &Principals) -> bool {
    let digest = |p: &Principals| sha256(&serde_json::to_string(p).unwrap_or_default());
    match a.version.cmp(&b.version) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => a != b && digest(a) > digest(b),
    }
}

/// Reads the principals at `path` (none when there is no file).
pub fn read(path: &Path) -> Result<Principals, AuthError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AuthError::Format {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Principals::default()),
        Err(source) => Err(AuthError::Io {
            doing: "read principals",
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes `principals` to `path` whole (a temporary file renamed over it), readable by its
/// owner only.
pub fn write(path: &Path, principals: &Principals) -> Result<(), AuthError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |doing, source| AuthError::Io {
        doing,
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(principals).expect("principals serialize");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("write principals", e))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io("write principals", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("replace principals", e))
}

impl PrincipalsFile {
    /// The principals at `path` (none yet when there is no file).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, AuthError> {
        let path = path.into();
        let principals = read(&path)?;
        Ok(Self {
            seen: Mutex::new((modified(&path), Instant::now())),
            path,
            current: RwLock::new(Arc::new(principals)),
            writing: Mutex::new(()),
            recheck: RECHECK,
        })
    }

    /// The same, looking at the file every `recheck` (tests: zero).
    pub fn with_recheck(mut self, recheck: Duration) -> Self {
        self.recheck = recheck;
        self
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The principals now, read again first when the file changed (looked at once a second
    /// at most). A file that became unreadable keeps the last good copy, and says so.
    pub fn current(&self) -> Arc<Principals> {
        let changed = {
            let mut seen = self.seen.lock().expect("principals lock poisoned");
            if seen.1.elapsed() >= self.recheck {
                seen.1 = Instant::now();
                let now = modified(&self.path);
                (now != seen.0).then(|| {
                    seen.0 = now;
                })
            } else {
                None
            }
        };
        if changed.is_some() {
            match read(&self.path) {
                Ok(p) => *self.current.write().expect("principals lock poisoned") = Arc::new(p),
                Err(e) => {
                    tracing::warn!(error = %e, "principals file unreadable; the last copy stays")
                }
            }
        }
        self.current
            .read()
            .expect("principals lock poisoned")
            .clone()
    }

    /// Applies `change` to the principals as on disk, gives them the next version and
    /// writes them; returns what `change` returned.
    pub fn change<T>(
        &self,
        change: impl FnOnce(&mut Principals) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let _writing = self.writing.lock().expect("principals lock poisoned");
        let mut principals = read(&self.path)?;
        let answer = change(&mut principals)?;
        principals.version += 1;
        write(&self.path, &principals)?;
        self.installed(principals);
        Ok(answer)
    }

    /// Installs `copy` (the centre's, which owns the principals) when it differs from what
    /// is here, whatever the versions; whether it did.
    pub fn replace_if_different(&self, copy: Principals) -> Result<bool, AuthError> {
        let _writing = self.writing.lock().expect("principals lock poisoned");
        if copy == read(&self.path)? {
            return Ok(false);
        }
        write(&self.path, &copy)?;
        self.installed(copy);
        Ok(true)
    }

    /// Installs `copy` (the centre's, say) when it is newer than what is here; whether it was.
    pub fn replace_if_newer(&self, copy: Principals) -> Result<bool, AuthError> {
        let _writing = self.writing.lock().expect("principals lock poisoned");
        if copy.version <= read(&self.path)?.version {
            return Ok(false);
        }
        write(&self.path, &copy)?;
        self.installed(copy);
        Ok(true)
    }

    /// Installs `copy` (another centre's) when it comes later in the order every centre
    /// applies: the higher version, and between two different documents of one version (two
    /// centres changed them at once) the one whose JSON has the greater SHA-256, so that
    /// all converge on the same document; whether it did.
    pub fn converge(&self, copy: Principals) -> Result<bool, AuthError> {
        let _writing = self.writing.lock().expect("principals lock poisoned");
        let here = read(&self.path)?;
        if !later(&copy, &here) {
            return Ok(false);
        }
        write(&self.path, &copy)?;
        self.installed(copy);
        Ok(true)
    }

    fn installed(&self, principals: Principals) {
        *self.current.write().expect("principals lock poisoned") = Arc::new(principals);
        let mut seen = self.seen.lock().expect("principals lock poisoned");
        seen.0 = modified(&self.path);
    }
}

#[cfg(test)]
mod tests;
