//! What a transport reports and learns beside its connections: the refusals counted at the
//! doors and its lines of `/metrics`, and the revocation lists the brokers hand out, which
//! a node only ever adds to its own (a broker cannot un-revoke anything).

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use tracing::{info, warn};

use super::super::Identity;
use super::super::ca::{REVOKED, parse_revoked, write_file};
use super::super::verify::Reason;
use super::Transport;

impl Transport {
    /// The revoked identities this process knows, one URI per line (empty when insecure).
    pub fn revoked_text(&self) -> String {
        self.trust().map(|t| t.revoked_text()).unwrap_or_default()
    }

    /// Adds the revoked identities of `text` (one URI per line, as a broker hands them out)
    /// to this node's `revoked.txt` — never removing any — and reloads at once when some
    /// were new; returns how many were. A node directory this process may not write (a
    /// package's, a Kubernetes Secret) keeps them in memory instead: refused all the same.
    pub fn merge_revoked(&self, text: &str) -> usize {
        let Some(tls) = &self.inner.tls else { return 0 };
        let Some(trust) = self.trust() else { return 0 };
        let fresh: Vec<String> = parse_revoked(text)
            .into_iter()
            .filter(|uri| Identity::parse_uri(uri).is_ok_and(|id| !trust.is_revoked(&id)))
            .collect();
        if fresh.is_empty() {
            return 0;
        }
        let path = tls.config.dir.join(REVOKED);
        let mut all = std::fs::read_to_string(&path).unwrap_or_default();
        if !all.is_empty() && !all.ends_with('\n') {
            all.push('\n');
        }
        for uri in &fresh {
            all.push_str(uri);
            all.push('\n');
        }
        match write_file(&path, &all) {
            Ok(()) => {
                info!(added = fresh.len(), "revocations learnt from a broker");
                self.reload_if_changed();
                fresh.len()
            }
            Err(error) => {
                warn!(
                    %error,
                    added = fresh.len(),
                    "revocations learnt from a broker kept in memory: the node directory \
                     is not writable (they are learnt again after a restart)"
                );
                let mut learnt = tls.learnt.lock().expect("learnt lock poisoned");
                for uri in &fresh {
                    learnt.push_str(uri);
                    learnt.push('\n');
                }
                drop(learnt);
                self.reload(true);
                fresh.len()
            }
        }
    }

    /// Counts a refusal at a door.
    pub fn count_refusal(&self, reason: Reason) {
        let i = Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.inner.refusals[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The refusals counted for `reason` so far.
    pub fn refusals(&self, reason: Reason) -> u64 {
        let i = Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.inner.refusals[i].load(Ordering::Relaxed)
    }

    /// This transport's lines of `/metrics`, each metric named after `prefix`.
    pub fn render_metrics(&self, prefix: &str) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP {prefix}_refusals_total Calls and connections refused at the doors, by reason.\n\
             # TYPE {prefix}_refusals_total counter"
        );
        for reason in Reason::ALL {
            let _ = writeln!(
                out,
                "{prefix}_refusals_total{{reason=\"{}\"}} {}",
                reason.name(),
                self.refusals(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP {prefix}_tls_handshake_failures_total TLS handshakes that failed or timed out.\n\
             # TYPE {prefix}_tls_handshake_failures_total counter\n\
             {prefix}_tls_handshake_failures_total {}",
            self.inner.handshake_failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP {prefix}_insecure 1 when this component runs without TLS (tls.insecure).\n\
             # TYPE {prefix}_insecure gauge\n{prefix}_insecure {}",
            u8::from(self.is_insecure())
        );
        if let Some(loaded) = self.loaded() {
            let left = loaded
                .me
                .not_after
                .duration_since(SystemTime::now())
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let _ = writeln!(
                out,
                "# HELP {prefix}_certificate_expiry_seconds Seconds until this component's certificate expires.\n\
                 # TYPE {prefix}_certificate_expiry_seconds gauge\n\
                 {prefix}_certificate_expiry_seconds {left:.0}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::identity::ca::Ca;
    use crate::identity::{Identity, Role, TlsConfig, Transport};

    #[test]
    fn revocations_a_node_directory_cannot_keep_are_refused_from_memory() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = Ca::init(&tmp.path().join("ca")).unwrap();
        let me = Identity::new(Role::Broker, "", "broker-1").unwrap();
        let dir = tmp.path().join("node");
        let issued = ca.issue(&me, Duration::from_secs(3600)).unwrap();
        issued.write_node(&dir, ca.cert_pem(), "").unwrap();
        // a revoked.txt that cannot be written (a directory stands in for a read-only one,
        // as root may write anywhere)
        std::fs::create_dir(dir.join("revoked.txt")).unwrap();
        let config = TlsConfig {
            dir: dir.clone(),
            ..TlsConfig::default()
        };
        let transport = Transport::load(&config, Role::Broker, None, Some("broker-1")).unwrap();
        let stolen = Identity::new(Role::Agent, "eu", "web-1").unwrap();
        assert!(!transport.trust().unwrap().is_revoked(&stolen));
        assert_eq!(transport.merge_revoked(&format!("{}\n", stolen.uri())), 1);
        assert!(transport.trust().unwrap().is_revoked(&stolen));
        // kept across a reload of the directory, and not counted twice
        transport.reload(true);
        assert!(transport.trust().unwrap().is_revoked(&stolen));
        assert_eq!(transport.merge_revoked(&stolen.uri()), 0);
    }
}
