//! The console's logins: a session is a random value in an HttpOnly, SameSite=Strict
//! cookie, known to this server alone by its hash, with an expiry and a token against
//! cross-site request forgery that the page sends back with every change. Sessions live in
//! memory, a bounded number of them: a restart logs everyone out, which is the safe side.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who logged in.
    pub user: String,
    /// The token a change must carry in `X-CSRF-Token`.
    pub csrf: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// The sessions of one server.
#[derive(Debug)]
pub struct Sessions {
    by_hash: Mutex<HashMap<String, Session>>,
    ttl: Duration,
}

impl Sessions {
    /// Sessions that last `ttl` from login.
    pub fn new(ttl: Duration) -> Self {
        Self {
            by_hash: Mutex::new(HashMap::new()),
            ttl,
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
        let mut map = self.by_hash.lock().expect("sessions lock poisoned");
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
        map.insert(sha256(&value), session.clone());
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
        self.by_hash
            .lock()
            .expect("sessions lock poisoned")
            .remove(&sha256(value));
    }

    /// Ends every session of `user` (removed, or their password changed).
    pub fn close_user(&self, user: &str) {
        self.by_hash
            .lock()
            .expect("sessions lock poisoned")
            .retain(|_, s| s.user != user);
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
}
