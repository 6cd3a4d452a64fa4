//! Whether this member still hears anyone, before it calls an agent unreachable.
//!
//! A poll that times out says only that the agent and this member no longer talk: the agent
//! (or its host) may be down, or this member's own link may be cut. Cut off, a member would
//! call every agent of its share down while another member polls them fine, and the region
//! would raise an incident for each. So a poll that fails without any answer takes its agent
//! down only when something else answered this member while that poll was under way (a
//! broker's heartbeat, another agent's poll) and the member was not cut off when it began (a
//! poll begun during a silence longer than the member's longest normal gap is not judged,
//! even when the link comes back before it times out); otherwise the member holds its
//! judgement and reports the agent unknown until a poll says more. An answer that refuses (a closed
//! port, a reset, a TLS alert, a gRPC error) proves the path works: the agent is judged as
//! before. A member with no brokers configured has nothing to compare with and judges as
//! before too.

use std::sync::atomic::{AtomicI64, Ordering};

/// When this member last heard an answer from anyone, and when it began to hear again after
/// a silence.
#[derive(Debug)]
pub struct Contact {
    last_ms: AtomicI64,
    /// The first answer after a silence longer than `window_ms`.
    resumed_ms: AtomicI64,
    /// The longest silence of a member that is not cut off.
    window_ms: i64,
    /// Whether there are brokers to hear from (without, no judgement is held).
    brokers: bool,
}

impl Contact {
    /// Contact as of `now_ms`, for a member with or without `brokers`, whose normal silences
    /// last at most `window` (its longest gap between two answers: the longer of a poll
    /// interval and a poll timeout, plus a heartbeat interval).
    pub fn new(brokers: bool, window: std::time::Duration, now_ms: i64) -> Self {
        Self {
            last_ms: AtomicI64::new(now_ms),
            resumed_ms: AtomicI64::new(now_ms),
            window_ms: window.as_millis() as i64,
            brokers,
        }
    }

    /// Something answered at `now_ms`.
    pub fn heard(&self, now_ms: i64) {
        let before = self.last_ms.fetch_max(now_ms, Ordering::Relaxed);
        if now_ms - before > self.window_ms {
            self.resumed_ms.fetch_max(now_ms, Ordering::Relaxed);
        }
    }

    /// Whether a poll begun at `started_ms` that had no answer may be judged: something else
    /// answered this member since, and it was not cut off when the poll began (a poll that
    /// straddles the end of a silence is not). Always, without brokers.
    pub fn may_judge(&self, started_ms: i64) -> bool {
        !self.brokers
            || (self.last_ms.load(Ordering::Relaxed) >= started_ms
                && self.resumed_ms.load(Ordering::Relaxed) <= started_ms)
    }
}

/// Whether a failed call's `status` still proves that the peer's host answered: anything but
/// a timeout, an unreachable network or a connection that never opened.
pub fn answered(status: &tonic::Status) -> bool {
    use tonic::Code;
    if !matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
    ) {
        return true;
    }
    // a refused or reset connection, or a TLS alert, came from the peer's host
    let mut found = false;
    walk_sources(status, |error, io| {
        let refused = io.is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            )
        });
        // a TLS error travels inside an io::Error, whose source() skips it
        let tls = io
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            || error.downcast_ref::<rustls::Error>().is_some();
        found |= refused || tls;
    });
    found
}

/// Whether a failed call's connection was refused: the peer's host is up and nothing
/// listens there (its process is gone).
pub fn refused(status: &tonic::Status) -> bool {
    let mut found = false;
    walk_sources(status, |_, io| {
        found |= io.is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
    });
    found
}

/// Calls `visit` with each error in `status`'s chain of sources (and the io::Error it is,
/// when it is one).
fn walk_sources(
    status: &tonic::Status,
    mut visit: impl FnMut(&(dyn std::error::Error + 'static), Option<&std::io::Error>),
) {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        visit(error, error.downcast_ref::<std::io::Error>());
        source = error.source();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_is_judged_only_when_others_answered_during_it_and_before() {
        let window = std::time::Duration::from_secs(5);
        let contact = Contact::new(true, window, 1_000);
        assert!(contact.may_judge(1_000));
        assert!(!contact.may_judge(1_001), "nothing since it began");
        contact.heard(3_000);
        assert!(contact.may_judge(2_000), "another answer during the poll");
        // an older answer never moves the last one back
        contact.heard(2_500);
        assert!(contact.may_judge(3_000));
        // cut off from 3 s to 20 s: a poll begun during the cut is not judged, even when an
        // answer comes once the link is back; one begun after it is
        contact.heard(20_000);
        assert!(!contact.may_judge(12_000), "began while cut off");
        contact.heard(21_000);
        assert!(contact.may_judge(20_500));
        let alone = Contact::new(false, window, 0);
        assert!(alone.may_judge(1_000_000), "without brokers, never held");
    }

    #[test]
    fn refusals_prove_the_path_and_timeouts_do_not() {
        assert!(answered(&tonic::Status::permission_denied("not yours")));
        assert!(answered(&tonic::Status::internal("boom")));
        assert!(!answered(&tonic::Status::deadline_exceeded("timed out")));
        assert!(!answered(&tonic::Status::unavailable("no route to host")));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let status = tonic::Status::from_error(Box::new(refused));
        assert!(answered(&status), "{status:?}");
        let tls = rustls::Error::AlertReceived(rustls::AlertDescription::BadCertificate);
        let status = tonic::Status::from_error(Box::new(tls.clone()));
        assert!(answered(&status), "{status:?}");
        // as tokio-rustls reports it: inside an io::Error
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let status = tonic::Status::from_error(Box::new(wrapped));
        assert!(answered(&status), "{status:?}");
        let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert!(!answered(&tonic::Status::from_error(Box::new(timed_out))));
    }
}
