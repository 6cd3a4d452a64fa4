//! The audit log at the centre: every change made through the API (acknowledgements,
//! rules, notification channels, services, agents' configurations, users and tokens),
//! every failed login and every recovery action run in a region, with who, from where,
//! what, when and the outcome. A change is recorded before it is answered as done, and a
//! refused one is recorded too. The records live in the services' store under keys that
//! no two records share; `reports/audit` and `strata report audit` read them.

use std::fmt::Display;

use strata_web::auth::Caller;

use crate::error::SuperManagerError;
use crate::shared::Shared;

/// Records `action` on `subject` by `by`, with its outcome taken from `result`; a change
/// that was made but could not be recorded is answered as an internal error, so that no
/// change is reported done without its record.
pub fn record<T, E: Display>(
    shared: &Shared,
    by: &Caller,
    action: &str,
    subject: &str,
    detail: String,
    result: &Result<T, E>,
) -> Result<(), SuperManagerError> {
    let outcome = match result {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("failed: {e}"),
    };
    let record = by.audit(action, subject, &outcome, detail);
    match (shared.services.record(&record), result) {
        (Ok(()), _) => Ok(()),
        (Err(e), Ok(_)) => Err(SuperManagerError::Internal(format!(
            "{action} {subject} was done, but the audit log could not be written: {}",
            crate::services::describe(&e).join("; ")
        ))),
        (Err(e), Err(_)) => {
            tracing::warn!(%action, %subject, error = ?e, "writing the audit log failed");
            Ok(())
        }
    }
}
