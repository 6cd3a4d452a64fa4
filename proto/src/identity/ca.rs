//! The mesh's CA on disk, and the files every node reads.
//!
//! A CA directory holds `ca.crt`, `ca.key` (mode 0600) and `revoked.txt`; it lives at the
//! centre, with whoever runs `strata ca` — brokers and managers never need its key. A node
//! directory (the `[tls] dir` of a component) holds `ca.crt`, the node's own `node.crt` and
//! `node.key`, and a copy of `revoked.txt`. A region's enrolment CA (role `region-ca`) is a
//! certificate of this CA with a key of its own; the verifier lets it sign only agents of its
//! own region, so a region whose key leaks cannot mint identities for another.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};

use super::{Identity, IdentityError, Role};

/// The CA's certificate, in a CA directory and in every node directory.
pub const CA_CERT: &str = "ca.crt";
/// The CA's private key, in the CA directory only.
pub const CA_KEY: &str = "ca.key";
/// A node's certificate chain (its own first).
pub const NODE_CERT: &str = "node.crt";
/// A node's private key.
pub const NODE_KEY: &str = "node.key";
/// The revoked identities, one SAN URI per line (`#` starts a comment).
pub const REVOKED: &str = "revoked.txt";

/// How long the CA's own certificate is valid.
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
/// How far back a new certificate's validity starts, for clocks a little behind.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The mesh's certificate authority, loaded from its directory.
pub struct Ca {
    dir: PathBuf,
    cert_pem: String,
    der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate just issued, with its key when the CA made the key.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The identity it names.
    pub identity: Identity,
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM), when the CA generated it.
    pub key_pem: Option<String>,
    /// When it stops being valid.
    pub not_after: SystemTime,
}

impl Ca {
    /// Makes a new CA in `dir` (created when missing); refuses to replace an existing key.
    pub fn init(dir: &Path) -> Result<Ca, IdentityError> {
        let key_path = dir.join(CA_KEY);
        if key_path.exists() {
            return Err(IdentityError::cert(
                format!("init CA in {}", dir.display()),
                format!(
                    "{} exists; a CA is never replaced in place",
                    key_path.display()
                ),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| IdentityError::io("create", dir, e))?;
        let key = KeyPair::generate().map_err(|e| IdentityError::cert("generate CA key", e))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "Strata mesh CA");
        params.distinguished_name.push(
            DnType::OrganizationalUnitName,
            format!("created {}", crate::now_ms() / 1000),
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = SystemTime::now();
        params.not_before = (now - CLOCK_SKEW).into();
        params.not_after = (now + CA_LIFETIME).into();
        params.serial_number = Some(random_serial()?);
        let cert = params
            .self_signed(&key)
            .map_err(|e| IdentityError::cert("sign the CA certificate", e))?;
        write_private(&key_path, &key.serialize_pem())?;
        write_file(&dir.join(CA_CERT), &cert.pem())?;
        let revoked = dir.join(REVOKED);
        if !revoked.exists() {
            write_file(&revoked, REVOKED_HEADER)?;
        }
        Ca::load(dir)
    }

    /// The CA in `dir`.
    pub fn load(dir: &Path) -> Result<Ca, IdentityError> {
        let cert_path = dir.join(CA_CERT);
        let cert_pem = read(&cert_path)?;
        let key_pem = read(&dir.join(CA_KEY))?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| IdentityError::cert(format!("read {}/{CA_KEY}", dir.display()), e))?;
        let der = first_der(&cert_pem, &cert_path)?;
        let issuer = Issuer::from_ca_cert_der(&der.clone().into(), key)
            .map_err(|e| IdentityError::cert(format!("read {}", cert_path.display()), e))?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            cert_pem,
            der,
            issuer,
        })
    }

    /// The CA certificate (PEM), which every node trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The SHA-256 fingerprint of the CA certificate (hex), which enrolling agents pin.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.der)
    }

    /// The revocation list of this CA.
    pub fn revoked_path(&self) -> PathBuf {
        self.dir.join(REVOKED)
    }

    /// A certificate and a fresh key for `identity`, valid for `lifetime`.
    pub fn issue(&self, identity: &Identity, lifetime: Duration) -> Result<Issued, IdentityError> {
        let key = KeyPair::generate().map_err(|e| IdentityError::cert("generate a node key", e))?;
        let mut issued = self.sign(identity, &key, lifetime)?;
        issued.key_pem = Some(key.serialize_pem());
        Ok(issued)
    }

    /// A certificate for `identity` over `public_key` (a signing request's), valid for
    /// `lifetime`.
    pub fn sign(
        &self,
        identity: &Identity,
        public_key: &impl PublicKeyData,
        lifetime: Duration,
    ) -> Result<Issued, IdentityError> {
        sign_with(&self.issuer, identity, public_key, lifetime)
    }

    /// Adds `identity` to the revocation list; false when it was there already.
    pub fn revoke(&self, identity: &Identity) -> Result<bool, IdentityError> {
        let path = self.revoked_path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let uri = identity.uri();
        if parse_revoked(&text).contains(&uri) {
            return Ok(false);
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| IdentityError::io("open", &path, e))?;
        if text.is_empty() {
            file.write_all(REVOKED_HEADER.as_bytes())
                .map_err(|e| IdentityError::io("write", &path, e))?;
        }
        writeln!(file, "{uri}").map_err(|e| IdentityError::io("write", &path, e))?;
        Ok(true)
    }
}

/// Signs a certificate for `identity` over `public_key` with `issuer`.
pub(crate) fn sign_with(
    issuer: &Issuer<'_, KeyPair>,
    identity: &Identity,
    public_key: &impl PublicKeyData,
    lifetime: Duration,
) -> Result<Issued, IdentityError> {
    let what = || format!("issue a certificate for {identity}");
    let uri = identity
        .uri()
        .try_into()
        .map_err(|e| IdentityError::cert(what(), e))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("{} {}", identity.role, identity.id),
    );
    params.subject_alt_names = vec![SanType::URI(uri)];
    let now = SystemTime::now();
    let not_after = now
        .checked_add(lifetime)
        .ok_or_else(|| IdentityError::cert(what(), "lifetime too long"))?;
    params.not_before = (now - CLOCK_SKEW).into();
    params.not_after = not_after.into();
    params.serial_number = Some(random_serial()?);
    params.use_authority_key_identifier_extension = true;
    if identity.role == Role::RegionCa {
        // may sign leaves (agents of its region, the verifier checks), never another CA
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    } else {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // every component both serves and calls
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
    }
    let cert = params
        .signed_by(public_key, issuer)
        .map_err(|e| IdentityError::cert(what(), e))?;
    Ok(Issued {
        identity: identity.clone(),
        cert_pem: cert.pem(),
        key_pem: None,
        not_after,
    })
}

impl Issued {
    /// Writes this certificate (with `chain_pem` after it: the issuing region CA's, if any),
    /// its key and `ca_pem` into the node directory `dir`, key last and atomically each, so a
    /// reloading node never reads half a pair it can use.
    pub fn write_node(
        &self,
        dir: &Path,
        ca_pem: &str,
        chain_pem: &str,
    ) -> Result<(), IdentityError> {
        std::fs::create_dir_all(dir).map_err(|e| IdentityError::io("create", dir, e))?;
        write_file(&dir.join(CA_CERT), ca_pem)?;
        if let Some(key) = &self.key_pem {
            write_private(&dir.join(NODE_KEY), key)?;
        }
        write_file(
            &dir.join(NODE_CERT),
            &format!("{}{chain_pem}", self.cert_pem),
        )
    }
}

/// The revoked URIs of a revocation list's text.
pub fn parse_revoked(text: &str) -> std::collections::HashSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The SHA-256 fingerprint of DER bytes, lower-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const REVOKED_HEADER: &str =
    "# Revoked identities, one SAN URI per line; refused by every door that reads this file.\n";

fn random_serial() -> Result<SerialNumber, IdentityError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| IdentityError::cert("serial number", "no randomness"))?;
    bytes[0] &= 0x7f; // positive
    Ok(SerialNumber::from_slice(&bytes))
}

/// The first certificate of a PEM text, as DER.
pub(crate) fn first_der(pem: &str, path: &Path) -> Result<Vec<u8>, IdentityError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| IdentityError::cert(format!("read {}", path.display()), "no certificate"))?
        .map(|c| c.to_vec())
        .map_err(|e| IdentityError::cert(format!("read {}", path.display()), e))
}

pub(crate) fn read(path: &Path) -> Result<String, IdentityError> {
    std::fs::read_to_string(path).map_err(|e| IdentityError::io("read", path, e))
}

/// Writes `text` to `path` through a temporary file and a rename.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<(), IdentityError> {
    write_with_mode(path, text, 0o644)
}

pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), IdentityError> {
    write_with_mode(path, text, 0o600)
}

fn write_with_mode(path: &Path, text: &str, mode: u32) -> Result<(), IdentityError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| IdentityError::io("create", &tmp, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| IdentityError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| IdentityError::io("rename", path, e))
}
