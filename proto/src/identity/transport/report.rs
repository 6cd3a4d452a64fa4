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
    /// were new; returns how many were.
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
                warn!(%error, "revocations learnt from a broker could not be kept");
                0
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
