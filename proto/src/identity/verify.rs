//! What a presented certificate chain proves, and the rustls verifiers built on it.
//!
//! A chain is good when it leads to the mesh's CA (webpki: signatures, validity, key usage),
//! its leaf carries exactly one Strata SAN URI, its issuer may issue that identity (the CA
//! anything; a region CA only agents of its own region) and neither the leaf's identity nor
//! its issuer's is on the revocation list.
//!
//! Servers accept any client chain whose key the client proves it holds, and judge the chain
//! after the handshake ([`Trust::verify`]), so that a refusal reaches the caller as a gRPC
//! status naming what was wrong instead of a bare TLS alert. Clients judge the server's chain
//! during the handshake and refuse a server that is not what they meant to reach.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::ca::parse_revoked;
use super::{Identity, IdentityError, Role};

/// What the mesh trusts: its CA, and the identities it revoked.
#[derive(Debug)]
pub struct Trust {
    roots: RootCertStore,
    /// The subjects of the CA certificates (several while a CA is being replaced).
    ca_subjects: Vec<Vec<u8>>,
    revoked: HashSet<String>,
}

/// A chain that proved an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Who it is.
    pub identity: Identity,
    /// When its certificate started being valid.
    pub not_before: SystemTime,
    /// When its certificate stops being valid.
    pub not_after: SystemTime,
}

/// Why a chain proves nothing, as counted in `/metrics` and told to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No certificate was presented.
    NoCertificate,
    /// Not from this mesh's CA, or not a Strata identity, or issued by one who may not.
    Untrusted,
    /// Outside its validity.
    Expired,
    /// On the revocation list.
    Revoked,
    /// A good identity that this call is not open to.
    Forbidden,
    /// A message past the door's size limit (`OUT_OF_RANGE`).
    TooLarge,
    /// The door is at a bound: too many streams or subscribers, or a reader too slow
    /// (`RESOURCE_EXHAUSTED`).
    Busy,
}

impl Reason {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [Reason; 7] = [
        Reason::NoCertificate,
        Reason::Untrusted,
        Reason::Expired,
        Reason::Revoked,
        Reason::Forbidden,
        Reason::TooLarge,
        Reason::Busy,
    ];

    /// The reason's label value in `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Reason::NoCertificate => "no_certificate",
            Reason::Untrusted => "untrusted",
            Reason::Expired => "expired",
            Reason::Revoked => "revoked",
            Reason::Forbidden => "forbidden",
            Reason::TooLarge => "too_large",
            Reason::Busy => "busy",
        }
    }
}

/// A refused chain: why, and the words for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The kind of refusal.
    pub reason: Reason,
    /// What was wrong, for the caller and the log.
    pub message: String,
}

impl Refusal {
    fn new(reason: Reason, message: impl Into<String>) -> Self {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

impl Trust {
    /// Trusts every CA certificate of `ca_pem` (the new one beside the old while a CA is
    /// replaced), minus the identities listed in `revoked_text`.
    pub fn new(ca_pem: &str, revoked_text: &str) -> Result<Self, IdentityError> {
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IdentityError::cert("read the CA certificates", e))?;
        Self::from_certs(&certs, revoked_text)
    }

    /// Trusts the CA certificates `certs` (DER), minus the identities of `revoked_text`.
    pub fn from_certs(
        certs: &[CertificateDer<'_>],
        revoked_text: &str,
    ) -> Result<Self, IdentityError> {
        let mut roots = RootCertStore::empty();
        let mut ca_subjects = Vec::new();
        for der in certs {
            let (_, ca) = X509Certificate::from_der(der)
                .map_err(|e| IdentityError::cert("parse a CA certificate", e))?;
            ca_subjects.push(ca.subject().as_raw().to_vec());
            roots
                .add(der.clone().into_owned())
                .map_err(|e| IdentityError::cert("trust a CA certificate", e))?;
        }
        if ca_subjects.is_empty() {
            return Err(IdentityError::cert(
                "read the CA certificates",
                "none in ca.crt",
            ));
        }
        Ok(Trust {
            roots,
            ca_subjects,
            revoked: parse_revoked(revoked_text),
        })
    }

    /// Whether `identity` is on the revocation list.
    pub fn is_revoked(&self, identity: &Identity) -> bool {
        self.revoked.contains(&identity.uri())
    }

    /// The revoked identities, sorted, one URI per line.
    pub fn revoked_text(&self) -> String {
        let mut uris: Vec<&String> = self.revoked.iter().collect();
        uris.sort();
        uris.into_iter().map(|u| format!("{u}\n")).collect()
    }

    /// The number of revoked identities.
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// The identity `chain` (leaf first) proves at `now`, or why it proves none.
    pub fn verify(
        &self,
        chain: &[CertificateDer<'_>],
        now: SystemTime,
    ) -> Result<Verified, Refusal> {
        let Some(leaf) = chain.first() else {
            return Err(Refusal::new(Reason::NoCertificate, "no client certificate"));
        };
        let parsed = ParsedCertificate::try_from(leaf)
            .map_err(|e| Refusal::new(Reason::Untrusted, format!("bad certificate: {e}")))?;
        let unix = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            &chain[1..],
            unix,
            algorithms().all,
        )
        .map_err(chain_refusal)?;
        let (_, cert) = X509Certificate::from_der(leaf)
            .map_err(|e| Refusal::new(Reason::Untrusted, format!("bad certificate: {e}")))?;
        let identity = identity_of(&cert)?;
        let not_after =
            UNIX_EPOCH + Duration::from_secs(cert.validity().not_after.timestamp().max(0) as u64);
        if now >= not_after {
            // webpki counts whole seconds; the last second of a validity is over too
            return Err(Refusal::new(Reason::Expired, "certificate expired"));
        }
        if !self.ca_subjects.iter().any(|s| s == cert.issuer().as_raw()) {
            self.check_region_issuer(&identity, &cert, &chain[1..])?;
        }
        if self.is_revoked(&identity) {
            return Err(Refusal::new(
                Reason::Revoked,
                format!("{identity} is revoked"),
            ));
        }
        let not_before =
            UNIX_EPOCH + Duration::from_secs(cert.validity().not_before.timestamp().max(0) as u64);
        Ok(Verified {
            identity,
            not_before,
            not_after,
        })
    }

    /// A leaf not issued by the CA itself must be an agent issued by its own region's CA.
    fn check_region_issuer(
        &self,
        identity: &Identity,
        leaf: &X509Certificate<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), Refusal> {
        let issuer = intermediates.iter().find_map(|der| {
            let (_, c) = X509Certificate::from_der(der).ok()?;
            (c.subject().as_raw() == leaf.issuer().as_raw()).then(|| identity_of(&c))
        });
        let issuer = match issuer {
            Some(Ok(issuer)) => issuer,
            _ => {
                return Err(Refusal::new(
                    Reason::Untrusted,
                    format!("{identity}: issuer is neither the mesh's CA nor a region CA"),
                ));
            }
        };
        if issuer.role != Role::RegionCa
            || identity.role != Role::Agent
            || issuer.region != identity.region
        {
            return Err(Refusal::new(
                Reason::Untrusted,
                format!(
                    "{identity} was issued by {issuer}, which may only issue agents of region {}",
                    issuer.region
                ),
            ));
        }
        if self.is_revoked(&issuer) {
            return Err(Refusal::new(
                Reason::Revoked,
                format!("{issuer} is revoked"),
            ));
        }
        Ok(())
    }
}

/// When the certificate `der` stops being valid.
pub(crate) fn not_after_of(der: &CertificateDer<'_>) -> Option<SystemTime> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(cert.validity().not_after.timestamp().max(0) as u64))
}

/// The one Strata identity a certificate's SAN URIs carry.
fn identity_of(cert: &X509Certificate<'_>) -> Result<Identity, Refusal> {
    let untrusted = |m: String| Refusal::new(Reason::Untrusted, m);
    let san = cert
        .subject_alternative_name()
        .map_err(|e| untrusted(format!("bad subject alternative names: {e}")))?
        .ok_or_else(|| untrusted("certificate names no Strata identity".into()))?;
    let uris: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) if u.starts_with("spiffe://") => Some(*u),
            _ => None,
        })
        .collect();
    match uris.as_slice() {
        [uri] => Identity::parse_uri(uri).map_err(|e| untrusted(e.to_string())),
        [] => Err(untrusted("certificate names no Strata identity".into())),
        _ => Err(untrusted("certificate names more than one identity".into())),
    }
}

fn chain_refusal(error: rustls::Error) -> Refusal {
    match error {
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => Refusal::new(Reason::Expired, "certificate expired"),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => Refusal::new(Reason::Expired, "certificate not valid yet"),
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => Refusal::new(
            Reason::Untrusted,
            "certificate not issued by this mesh's CA",
        ),
        other => Refusal::new(Reason::Untrusted, format!("certificate refused: {other}")),
    }
}

/// The signature algorithms of ring, the workspace's one crypto provider.
pub(crate) fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// The server side's client verifier: asks every client for a certificate, checks that the
/// client holds its key, and leaves the judging of the chain to the door.
#[derive(Debug)]
pub(crate) struct AskClients;

impl ClientCertVerifier for AskClients {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // judged after the handshake by Trust::verify, so the refusal can say why
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        algorithms().supported_schemes()
    }
}

/// The client side's server verifier: the server's chain must prove an identity that
/// `expect` accepts (server names are not used: identities are).
#[derive(Debug)]
pub(crate) struct ExpectServer {
    pub(crate) trust: Arc<Trust>,
    pub(crate) expect: super::Expect,
}

impl ServerCertVerifier for ExpectServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone()];
        chain.extend(intermediates.iter().cloned());
        let verified = self
            .trust
            .verify(&chain, SystemTime::now())
            .map_err(|r| rustls::Error::General(format!("server: {}", r.message)))?;
        if self.expect.accepts(&verified.identity) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "server is {}, expected {}",
                verified.identity, self.expect
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        algorithms().supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::ca::{Ca, sign_with};
    use rustls::pki_types::pem::PemObject;

    fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .map(Result::unwrap)
            .collect()
    }

    fn id(role: Role, region: &str, id: &str) -> Identity {
        Identity::new(role, region, id).unwrap()
    }

    #[test]
    fn chains_prove_identities_or_say_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::init(&dir.path().join("ca")).unwrap();
        let other = Ca::init(&dir.path().join("other")).unwrap();
        let trust = Trust::new(ca.cert_pem(), "spiffe://strata/agent/eu/gone\n").unwrap();
        let day = Duration::from_secs(86_400);
        let now = SystemTime::now();

        let web = ca.issue(&id(Role::Agent, "eu", "web"), day).unwrap();
        let v = trust.verify(&chain(&web.cert_pem), now).unwrap();
        assert_eq!(v.identity, id(Role::Agent, "eu", "web"));

        let foreign = other.issue(&id(Role::Agent, "eu", "web"), day).unwrap();
        let r = trust.verify(&chain(&foreign.cert_pem), now).unwrap_err();
        assert_eq!(r.reason, Reason::Untrusted, "{r:?}");

        let r = trust
            .verify(&chain(&web.cert_pem), now + 2 * day)
            .unwrap_err();
        assert_eq!(r.reason, Reason::Expired, "{r:?}");

        let gone = ca.issue(&id(Role::Agent, "eu", "gone"), day).unwrap();
        let r = trust.verify(&chain(&gone.cert_pem), now).unwrap_err();
        assert_eq!(r.reason, Reason::Revoked, "{r:?}");

        assert_eq!(
            trust.verify(&[], now).unwrap_err().reason,
            Reason::NoCertificate
        );
    }

    #[test]
    fn a_region_ca_signs_only_agents_of_its_region() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::init(dir.path()).unwrap();
        let trust = Trust::new(ca.cert_pem(), "").unwrap();
        let day = Duration::from_secs(86_400);
        let region_key = rcgen::KeyPair::generate().unwrap();
        let region = ca
            .sign(&id(Role::RegionCa, "eu", "eu"), &region_key, day)
            .unwrap();
        let issuer = rcgen::Issuer::from_ca_cert_pem(&region.cert_pem, region_key).unwrap();
        let sign = |identity: Identity| {
            let key = rcgen::KeyPair::generate().unwrap();
            let leaf = sign_with(&issuer, &identity, &key, day).unwrap();
            chain(&format!("{}{}", leaf.cert_pem, region.cert_pem))
        };
        let now = SystemTime::now();
        let ok = trust
            .verify(&sign(id(Role::Agent, "eu", "web")), now)
            .unwrap();
        assert_eq!(ok.identity, id(Role::Agent, "eu", "web"));
        for forged in [
            id(Role::Agent, "us", "web"),
            id(Role::SubManager, "eu", "eu-9"),
            id(Role::Broker, "", "b9"),
        ] {
            let r = trust.verify(&sign(forged.clone()), now).unwrap_err();
            assert_eq!(r.reason, Reason::Untrusted, "{forged}: {r:?}");
            assert!(
                r.message.contains("may only issue agents of region eu"),
                "{r:?}"
            );
        }
    }
}
