//! Who is calling. Every component of a mesh holds a certificate from the mesh's own CA that
//! names its role, region and id, every gRPC link is mutual TLS, and every call is judged by
//! the caller's identity at the door it comes through — so that no process can pose as
//! another member, poll under another poller's name or push to a host of another region.
//!
//! # The identity in a certificate
//! One SAN URI in the SPIFFE form, trust domain `strata`:
//! - regional roles: `spiffe://strata/<role>/<region>/<id>` — `agent`, `sub-manager`, and
//!   `region-ca` (a region's enrolment CA, whose id is the region);
//! - central roles: `spiffe://strata/<role>/<id>` — `broker`, `super-manager`, `operator`
//!   (people's and scripts' tools speaking gRPC).
//!
//! Segments are `[A-Za-z0-9._-]`, at most 128 bytes: nothing to escape, nothing ambiguous.
//!
//! # Layout
//! - [`ca`]: the mesh's CA on disk: init, issue, revoke, and the files a node reads.
//! - [`enrol`]: how an agent gets and renews its certificate with a join token, signed by
//!   its region's CA.
//! - [`verify`]: what a presented chain proves: the trust anchors, the issuing rules, the
//!   revocation list, and the rustls verifiers built on them.
//! - [`transport`]: a component's TLS state, reloaded from disk; the accepting side of a door
//!   (each connection tagged with its [`transport::Caller`]) and the connecting side (one
//!   connector for every channel).
//! - [`authz`]: the layer every gRPC door puts in front of its services: one policy per door,
//!   refusals as `UNAUTHENTICATED`/`PERMISSION_DENIED`, counted.

pub mod authz;
pub mod ca;
pub mod enrol;
pub mod signed;
pub mod transport;
pub mod verify;

use std::fmt;
use std::path::PathBuf;

pub use authz::{AuthorizeLayer, caller_of};
pub use transport::{Caller, Expect, TlsConfig, Transport};

/// The trust domain of every Strata identity.
pub const TRUST_DOMAIN: &str = "strata";

/// Longest segment (region or id) of an identity.
const MAX_SEGMENT: usize = 128;

/// What a certificate's holder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A host's agent (regional).
    Agent,
    /// A region's sub-manager (regional).
    SubManager,
    /// A region's enrolment CA, which may only sign agents of its region (regional).
    RegionCa,
    /// A broker (central).
    Broker,
    /// A super-manager (central).
    SuperManager,
    /// A person's or script's tool speaking gRPC (central).
    Operator,
}

impl Role {
    /// Every role, in the order of the docs.
    pub const ALL: [Role; 6] = [
        Role::Agent,
        Role::SubManager,
        Role::RegionCa,
        Role::Broker,
        Role::SuperManager,
        Role::Operator,
    ];

    /// The role's name, as written in URIs, flags and messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::SubManager => "sub-manager",
            Role::RegionCa => "region-ca",
            Role::Broker => "broker",
            Role::SuperManager => "super-manager",
            Role::Operator => "operator",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether identities of this role belong to a region.
    pub fn regional(self) -> bool {
        matches!(self, Role::Agent | Role::SubManager | Role::RegionCa)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A component's identity: role, region (empty for central roles) and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// What it is.
    pub role: Role,
    /// Its region; empty for central roles.
    pub region: String,
    /// Its id (a member's id, an agent's id, a broker's name, a person's login).
    pub id: String,
}

impl Identity {
    /// The identity of `role` named `id` in `region` (ignored for central roles), checked.
    pub fn new(role: Role, region: &str, id: &str) -> Result<Self, IdentityError> {
        let region = if role.regional() { region } else { "" };
        let identity = Identity {
            role,
            region: region.to_string(),
            id: id.to_string(),
        };
        if role.regional() {
            check_segment(&identity, "region", region)?;
        }
        check_segment(&identity, "id", id)?;
        Ok(identity)
    }

    /// Whether this identity speaks for agent `agent`: its own id, or its id followed by
    /// digits (the agents of a simulator named after its prefix, `<id>0001`...).
    pub fn serves_agent(&self, agent: &str) -> bool {
        agent
            .strip_prefix(self.id.as_str())
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The SAN URI that carries this identity.
    pub fn uri(&self) -> String {
        if self.role.regional() {
            format!(
                "spiffe://{TRUST_DOMAIN}/{}/{}/{}",
                self.role, self.region, self.id
            )
        } else {
            format!("spiffe://{TRUST_DOMAIN}/{}/{}", self.role, self.id)
        }
    }

    /// The identity a SAN URI carries.
    pub fn parse_uri(uri: &str) -> Result<Self, IdentityError> {
        let bad = |why: &str| IdentityError::BadIdentity {
            identity: uri.to_string(),
            reason: why.to_string(),
        };
        let path = uri
            .strip_prefix("spiffe://")
            .and_then(|rest| rest.strip_prefix(TRUST_DOMAIN))
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| bad(&format!("not a spiffe://{TRUST_DOMAIN}/ URI")))?;
        let parts: Vec<&str> = path.split('/').collect();
        let role = Role::parse(parts[0]).ok_or_else(|| bad("unknown role"))?;
        match (role.regional(), parts.as_slice()) {
            (true, [_, region, id]) => Identity::new(role, region, id),
            (false, [_, id]) => Identity::new(role, "", id),
            (true, _) => Err(bad("a regional role needs /<role>/<region>/<id>")),
            (false, _) => Err(bad("a central role needs /<role>/<id>")),
        }
    }

    /// Whether this is `role` in `region`.
    pub fn is(&self, role: Role, region: &str) -> bool {
        self.role == role && self.region == region
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

fn check_segment(identity: &Identity, what: &str, value: &str) -> Result<(), IdentityError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_SEGMENT
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::BadIdentity {
            identity: format!("{} {}/{}", identity.role, identity.region, identity.id),
            reason: format!(
                "{what} '{value}' must be 1-{MAX_SEGMENT} characters of A-Z a-z 0-9 . - _"
            ),
        })
    }
}

/// What went wrong with the mesh's identities: files, certificates, names.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A name that cannot be an identity.
    #[error("identity '{identity}': {reason}")]
    BadIdentity { identity: String, reason: String },
    /// A file of the CA or of a node could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A certificate, key or request that could not be made, parsed or used.
    #[error("{what}: {reason}")]
    Certificate { what: String, reason: String },
    /// A node's certificate names another identity than the one configured.
    #[error("tls: the certificate in {dir} names {found}, but this process is {expected}")]
    WrongIdentity {
        dir: PathBuf,
        found: String,
        expected: String,
    },
}

impl IdentityError {
    pub(crate) fn cert(what: impl Into<String>, reason: impl fmt::Display) -> Self {
        IdentityError::Certificate {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        IdentityError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_speaks_for_itself_and_its_numbered_agents_only() {
        let sim = Identity::new(Role::Agent, "eu", "sim-").unwrap();
        let web = Identity::new(Role::Agent, "eu", "web-7").unwrap();
        for (who, agent, speaks) in [
            (&sim, "sim-0001", true),
            (&sim, "sim-", true),
            (&sim, "sim-x1", false),
            (&sim, "db-0001", false),
            (&web, "web-7", true),
            (&web, "web-70", true),
            (&web, "web-8", false),
            (&web, "web-7a", false),
            (&web, "web-", false),
            (&web, "", false),
        ] {
            assert_eq!(who.serves_agent(agent), speaks, "{who} for {agent}");
        }
    }

    #[test]
    fn uris_round_trip_and_bad_names_are_refused() {
        for (role, region, id) in [
            (Role::Agent, "eu", "web-01"),
            (Role::SubManager, "eu", "eu-1"),
            (Role::Broker, "", "b1"),
            (Role::Operator, "", "alice.smith"),
        ] {
            let identity = Identity::new(role, region, id).unwrap();
            assert_eq!(Identity::parse_uri(&identity.uri()).unwrap(), identity);
        }
        assert_eq!(
            Identity::new(Role::Agent, "eu", "web-01").unwrap().uri(),
            "spiffe://strata/agent/eu/web-01"
        );
        assert_eq!(
            Identity::new(Role::Broker, "ignored", "b1").unwrap().uri(),
            "spiffe://strata/broker/b1"
        );
        for bad in [
            "spiffe://strata/agent/eu",
            "spiffe://strata/broker/eu/b1",
            "spiffe://other/agent/eu/x",
            "spiffe://strata/root/x",
            "spiffe://strata/agent/eu/../x",
            "spiffe://strata/agent/e u/x",
        ] {
            assert!(Identity::parse_uri(bad).is_err(), "{bad} parsed");
        }
        let err = Identity::new(Role::Agent, "eu", "a/b")
            .unwrap_err()
            .to_string();
        assert!(err.contains("id 'a/b'"), "{err}");
    }
}
