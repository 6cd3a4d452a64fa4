//! The JSON API and logs speak of states and severities by short lower-case names; these
//! helpers keep those names in one place, with the rule for the names the centre and the
//! agents must agree on (a file bundle's).

use crate::v1::{CheckState, ResourceState, Role, Severity};

/// "up", "down" or "unknown".
pub fn state_name(state: ResourceState) -> &'static str {
    match state {
        ResourceState::Up => "up",
        ResourceState::Down => "down",
        ResourceState::Unknown | ResourceState::Unspecified => "unknown",
    }
}

/// "ok", "warning" or "critical" ("ok" also for unspecified).
pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Warning => "warning",
        Severity::Critical => "critical",
        Severity::Ok | Severity::Unspecified => "ok",
    }
}

/// "ok", "warning", "critical" or "unknown".
pub fn check_state_name(state: CheckState) -> &'static str {
    match state {
        CheckState::Ok => "ok",
        CheckState::Warning => "warning",
        CheckState::Critical => "critical",
        CheckState::Unknown => "unknown",
    }
}

/// "sub-manager", "super-manager", "broker", "agent" or "unspecified".
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::SubManager => "sub-manager",
        Role::SuperManager => "super-manager",
        Role::Broker => "broker",
        Role::Agent => "agent",
        Role::Unspecified => "unspecified",
    }
}

/// Whether `name` can name a file bundle: letters, digits, `.`, `_` and `-`, up to 64, not
/// starting with `.` (it names a directory under an agent's `state_dir`).
pub fn valid_bundle_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_json_api() {
        assert_eq!(state_name(ResourceState::Up), "up");
        assert_eq!(state_name(ResourceState::Unspecified), "unknown");
        assert_eq!(severity_name(Severity::Critical), "critical");
        assert_eq!(severity_name(Severity::Unspecified), "ok");
        assert_eq!(role_name(Role::SubManager), "sub-manager");
    }
}
