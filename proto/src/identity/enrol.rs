//! Enrolment: how an agent gets its identity without anyone copying a key to its host, and
//! renews it before it expires.
//!
//! The agent is given its brokers' addresses, the mesh CA's SHA-256 fingerprint and its
//! region's join token. It makes its key on the host and sends a signing request with the
//! token (`Broker.Enrol`, the one call a client without a certificate may make), over TLS to
//! a broker that must present a chain up to the CA with that fingerprint. The broker checks
//! the token and asks a member of the region (`SubManager.SignAgent`), which signs with the
//! region's CA — a CA the verifiers let sign agents of that region only — for the agent's
//! id in its region, whatever the request says. Renewal is the same call made with the
//! current certificate instead of the token.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{CertificateParams, CertificateSigningRequestParams, Issuer, KeyPair};
use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tonic::transport::{Channel, Endpoint};

use super::ca::{CA_CERT, NODE_CERT, NODE_KEY, REVOKED, fingerprint, read, sign_with, write_file};
use super::transport::{Connector, provider};
use super::verify::{ExpectServer, Trust, algorithms};
use super::{Expect, Identity, IdentityError, Role};
use crate::v1::{EnrolRequest, EnrolResponse};

/// A region CA's certificate, in the directory of the members that sign for the region.
pub const REGION_CA_CERT: &str = "region-ca.crt";
/// A region CA's key.
pub const REGION_CA_KEY: &str = "region-ca.key";

/// A region's CA, loaded by the members that sign its agents' certificates.
pub struct RegionCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    /// The region it signs for.
    pub region: String,
}

impl RegionCa {
    /// The region CA in `dir` (`region-ca.crt`, `region-ca.key`), if there is one.
    pub fn load(dir: &Path) -> Result<Option<Self>, IdentityError> {
        let key_path = dir.join(REGION_CA_KEY);
        if !key_path.exists() {
            return Ok(None);
        }
        let cert_pem = read(&dir.join(REGION_CA_CERT))?;
        let key = KeyPair::from_pem(&read(&key_path)?)
            .map_err(|e| IdentityError::cert(format!("read {}", key_path.display()), e))?;
        let der = super::ca::first_der(&cert_pem, &dir.join(REGION_CA_CERT))?;
        let region = {
            use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
            let (_, cert) = X509Certificate::from_der(&der)
                .map_err(|e| IdentityError::cert("parse the region CA", e))?;
            let uri = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .and_then(|san| {
                    san.value.general_names.iter().find_map(|n| match n {
                        GeneralName::URI(u) => Some(u.to_string()),
                        _ => None,
                    })
                })
                .ok_or_else(|| IdentityError::cert("the region CA", "names no identity"))?;
            let identity = Identity::parse_uri(&uri)?;
            if identity.role != Role::RegionCa {
                return Err(IdentityError::cert(
                    format!("{}", dir.join(REGION_CA_CERT).display()),
                    format!("{identity} is not a region CA"),
                ));
            }
            identity.region
        };
        let issuer = Issuer::from_ca_cert_der(&der.into(), key)
            .map_err(|e| IdentityError::cert("use the region CA", e))?;
        Ok(Some(RegionCa {
            issuer,
            cert_pem,
            region,
        }))
    }

    /// Signs `csr_pem` as agent `agent_id` of this region for `lifetime`: the certificate,
    /// then this CA's (PEM), and when it expires.
    pub fn sign(
        &self,
        agent_id: &str,
        csr_pem: &str,
        lifetime: Duration,
    ) -> Result<(String, SystemTime), IdentityError> {
        let identity = Identity::new(Role::Agent, &self.region, agent_id)?;
        let csr = read_request(csr_pem)?;
        let issued = sign_with(&self.issuer, &identity, &csr.public_key, lifetime)?;
        Ok((
            format!("{}{}", issued.cert_pem, self.cert_pem),
            issued.not_after,
        ))
    }
}

/// An agent's signing request (PEM) read: it comes from a host without a certificate yet,
/// before anything else about it is known.
pub fn read_request(csr_pem: &str) -> Result<CertificateSigningRequestParams, IdentityError> {
    CertificateSigningRequestParams::from_pem(csr_pem)
        .map_err(|e| IdentityError::cert("read the signing request", e))
}

/// Writes a region CA just issued (with its key) into `dir` as `region-ca.crt` and
/// `region-ca.key`, beside a member's own node files.
pub fn write_region_ca(dir: &Path, issued: &super::ca::Issued) -> Result<(), IdentityError> {
    let key = issued
        .key_pem
        .as_deref()
        .ok_or_else(|| IdentityError::cert("write the region CA", "no key"))?;
    std::fs::create_dir_all(dir).map_err(|e| IdentityError::io("create", dir, e))?;
    super::ca::write_private(&dir.join(REGION_CA_KEY), key)?;
    write_file(&dir.join(REGION_CA_CERT), &issued.cert_pem)
}

/// A fresh key (PKCS#8 PEM) and a signing request over it (PEM).
pub fn signing_request() -> Result<(String, String), IdentityError> {
    let key = KeyPair::generate().map_err(|e| IdentityError::cert("generate a key", e))?;
    let csr = CertificateParams::new(Vec::<String>::new())
        .and_then(|p| p.serialize_request(&key))
        .and_then(|r| r.pem())
        .map_err(|e| IdentityError::cert("make a signing request", e))?;
    Ok((key.serialize_pem(), csr))
}

/// A channel to the broker at `addr` for an agent without a certificate: no client
/// certificate, and the broker must present a chain up to the CA whose SHA-256 is
/// `ca_fingerprint` (hex).
pub fn pinned_channel(addr: &str, ca_fingerprint: &str) -> Result<Channel, IdentityError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| IdentityError::cert("TLS client config", e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCa {
            fingerprint: normalise(ca_fingerprint),
        }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.enable_sni = false;
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| IdentityError::cert(format!("broker address '{addr}'"), e))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15));
    Ok(endpoint.connect_with_connector_lazy(Connector::Fixed(Arc::new(config))))
}

/// A fingerprint as compared: lower-case hex without `sha256:` or colons.
fn normalise(fingerprint: &str) -> String {
    fingerprint
        .trim()
        .trim_start_matches("sha256:")
        .replace(':', "")
        .to_ascii_lowercase()
}

/// Writes what an enrolment answered, with the key `key_pem`, into the node directory
/// `dir` — after checking that the CA it names is the one pinned.
pub fn write_enrolled(
    dir: &Path,
    key_pem: &str,
    answer: &EnrolResponse,
    ca_fingerprint: &str,
) -> Result<(), IdentityError> {
    // any of the CA certificates (two while a CA is replaced) may be the pinned one
    let pinned = normalise(ca_fingerprint);
    let known = CertificateDer::pem_slice_iter(answer.ca_pem.as_bytes())
        .flatten()
        .any(|c| fingerprint(&c) == pinned);
    if !known {
        return Err(IdentityError::cert(
            "enrolment",
            "the answer's CA is not the one whose fingerprint was given",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| IdentityError::io("create", dir, e))?;
    write_file(&dir.join(CA_CERT), &answer.ca_pem)?;
    write_file(&dir.join(REVOKED), &answer.revoked)?;
    super::ca::write_private(&dir.join(NODE_KEY), key_pem)?;
    write_file(&dir.join(NODE_CERT), &answer.chain_pem)
}

/// Milliseconds since the epoch of `t`.
pub fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The request of agent `agent_id` of `region` for a certificate over a signing request.
pub fn request(region: &str, agent_id: &str, token: &str, csr_pem: String) -> EnrolRequest {
    EnrolRequest {
        region: region.to_string(),
        agent_id: agent_id.to_string(),
        token: token.to_string(),
        csr_pem,
    }
}

/// Accepts a server whose chain leads to the pinned CA (found in the chain by its
/// fingerprint) and proves a broker's identity.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
}

impl PinnedCa {
    /// A verifier trusting the CA of the pinned fingerprint among `intermediates`, expecting
    /// a broker.
    fn verifier(
        &self,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<ExpectServer, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| fingerprint(c) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::General(
                    "the broker's chain has no CA of the pinned fingerprint".into(),
                )
            })?;
        let trust = Trust::from_certs(std::slice::from_ref(ca), "")
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        Ok(ExpectServer {
            trust: Arc::new(trust),
            expect: Expect::Role(Role::Broker),
        })
    }
}

/// The chain is judged as every channel judges a server's ([`ExpectServer`]), against the
/// CA it carries of the pinned fingerprint.
impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier(intermediates)?
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
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

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        algorithms().supported_schemes()
    }
}
