//! The console's logins: a session is a random value in an HttpOnly, SameSite=Strict
//! cookie, known to this server alone by its hash, with an expiry and a token against
//! cross-site request forgery that the page sends back with every change. Sessions live in
//! memory, a bounded number of them: a restart logs everyone out, which is the safe side.
//! A server that shares its logins with others (the centres, so that a console moved to
//! another centre stays logged in) is told of each login and logout ([`SessionSink`]) and
//! takes theirs ([`Sessions::adopt`]); what travels is the session's hash, never the cookie.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::secret::{random_hex, sha256};

/// The cookie's name, followed by the console's port (`strata_session_9740`), so that two
/// consoles on one host (the centre's and a region's) keep their sessions apart.
pub const COOKIE: &str = "strata_session";

/// The session cookie's name for a request whose `Host` is `host`.
pub fn cookie_name(host: Option<&str>) -> String {
    let port = host.and_then(|h| {
        let after = h.rsplit_once(']').map_or(h, |(_, rest)| rest);
        after.rsplit_once(':').map(|(_, p)| p)
    });
    match port.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        Some(p) => format!("{COOKIE}_{p}"),
        None => COOKIE.to_string(),
    }
}

/// At most this many sessions at once; the oldest goes first.
pub const MAX_SESSIONS: usize = 10_000;

/// One login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Who logged in.
    pub user: String,
    /// The token a change must carry in `X-CSRF-Token`.
    pub csrf: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// A login or a logout, as told to the servers that share the sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum SessionChange {
    /// A session opened: the hash of its cookie's value, and the session.
    Opened { hash: String, session: Session },
    /// The session of this hash ended (a logout).
    Closed { hash: String },
}

/// Where the logins and logouts of this server are told.
pub type SessionSink = Arc<dyn Fn(SessionChange) + Send + Sync>;

/// The sessions of one server.
pub struct Sessions {
    by_hash: Mutex<HashMap<String, Session>>,
    ttl: Duration,
    sink: OnceLock<SessionSink>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("ttl", &self.ttl)
            .field("shared", &self.sink.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions that last `ttl` from login.
    pub fn new(ttl: Duration) -> Self {
        Self {
            by_hash: Mutex::new(HashMap::new()),
            ttl,
            sink: OnceLock::new(),
        }
    }

    /// Tells `sink` of every login and logout from now on (set once; a second is ignored).
    pub fn share_with(&self, sink: SessionSink) {
        let _ = self.sink.set(sink);
    }

    fn tell(&self, change: SessionChange) {
        if let Some(sink) = self.sink.get() {
            sink(change);
        }
    }

    /// Applies another server's login or logout (an expired session is not kept); not told
    /// to the sink.
    pub fn adopt(&self, change: SessionChange, now_ms: i64) {
        let mut map = self.by_hash.lock().expect("sessions lock poisoned");
        match change {
            SessionChange::Opened { hash, session } if session.expires_ms > now_ms => {
                make_room(&mut map, now_ms);
                map.insert(hash, session);
            }
            SessionChange::Opened { .. } => {}
            SessionChange::Closed { hash } => {
                map.remove(&hash);
            }
        }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Opens a session for `user`: the cookie's value and the session.
    pub fn open(&self, user: &str, now_ms: i64) -> (String, Session) {
        let value = random_hex(32);
        let session = Session {
            user: user.to_string(),
            csrf: random_hex(16),
            created_ms: now_ms,
            expires_ms: now_ms
                .saturating_add(i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)),
        };
        let hash = sha256(&value);
        {
            let mut map = self.by_hash.lock().expect("sessions lock poisoned");
            make_room(&mut map, now_ms);
            map.insert(hash.clone(), session.clone());
        }
        self.tell(SessionChange::Opened {
            hash,
            session: session.clone(),
        });
        (value, session)
    }

    /// The live session of cookie `value`.
    pub fn get(&self, value: &str, now_ms: i64) -> Option<Session> {
        let mut map = self.by_hash.lock().expect("sessions lock poisoned");
        let key = sha256(value);
        match map.get(&key) {
            Some(s) if s.expires_ms > now_ms => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session of cookie `value`.
    pub fn close(&self, value: &str) {
        let hash = sha256(value);
        let removed = self
            .by_hash
            .lock()
            .expect("sessions lock poisoned")
            .remove(&hash);
        if removed.is_some() {
            self.tell(SessionChange::Closed { hash });
        }
    }

    /// Ends every session of `user` (removed, or their password changed).
    pub fn close_user(&self, user: &str) {
        self.by_hash
            .lock()
            .expect("sessions lock poisoned")
            .retain(|_, s| s.user != user);
    }
}

/// Frees a place in `map` when it is full: the expired sessions go, else the oldest.
fn make_room(map: &mut HashMap<String, Session>, now_ms: i64) {
    if map.len() >= MAX_SESSIONS {
        map.retain(|_, s| s.expires_ms > now_ms);
    }
    if map.len() >= MAX_SESSIONS
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, s)| s.created_ms)
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_port_has_its_cookie() {
        assert_eq!(cookie_name(Some("127.0.0.1:9740")), "strata_session_9740");
        assert_eq!(cookie_name(Some("[::1]:9710")), "strata_session_9710");
        assert_eq!(cookie_name(Some("[::1]")), "strata_session");
        assert_eq!(cookie_name(Some("strata.example.com")), "strata_session");
        assert_eq!(cookie_name(None), "strata_session");
    }

    #[test]
    fn a_session_lives_until_its_expiry_or_its_logout() {
        let s = Sessions::new(Duration::from_secs(10));
        let (value, session) = s.open("ana", 1_000);
        assert_eq!(session.expires_ms, 11_000);
        assert_eq!(s.get(&value, 2_000).unwrap().user, "ana");
        assert!(s.get(&value, 11_000).is_none(), "expired");
        let (value, _) = s.open("ana", 1_000);
        s.close(&value);
        assert!(s.get(&value, 2_000).is_none(), "logged out");
        let (value, _) = s.open("ana", 1_000);
        s.close_user("ana");
        assert!(s.get(&value, 2_000).is_none(), "user's sessions closed");
        assert!(s.get("forged", 2_000).is_none());
    }

    #[test]
    fn a_login_shared_with_another_server_works_there_until_its_logout() {
        let (here, there) = (
            Sessions::new(Duration::from_secs(10)),
            Arc::new(Sessions::new(Duration::from_secs(10))),
        );
        let copy = there.clone();
        here.share_with(Arc::new(move |change| copy.adopt(change, 1_500)));
        let (value, _) = here.open("ana", 1_000);
        assert_eq!(there.get(&value, 2_000).unwrap().user, "ana");
        here.close(&value);
        assert!(there.get(&value, 2_000).is_none(), "logged out there too");
        // an expired copy is not kept
        there.adopt(
            SessionChange::Opened {
                hash: sha256("old"),
                session: Session {
                    user: "ana".into(),
                    csrf: "x".into(),
                    created_ms: 0,
                    expires_ms: 10,
                },
            },
            20,
        );
        assert!(there.get("old", 5).is_none());
    }
}
