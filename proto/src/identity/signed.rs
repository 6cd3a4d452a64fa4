//! Messages signed with a node's own key and proved by its certificate: what the centre
//! publishes to hosts (file bundles) carries the centre's certificate chain and an ECDSA
//! signature, and a host believes it only when the chain proves a super-manager of the
//! mesh's CA (not revoked, not expired) and the signature holds over the exact bytes.
//!
//! The mesh's identities already say who may do what on every link; reusing them here
//! means no second key to distribute or rotate, and a compromised region, whose
//! certificates name sub-managers, cannot forge what only a centre may publish.

use std::time::SystemTime;

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::verify::Trust;
use super::{Identity, IdentityError, Role};

/// The signature of `message` with `key` (an ECDSA P-256 key in PKCS#8, as Strata's CA
/// makes them).
pub fn sign(key: &PrivateKeyDer<'_>, message: &[u8]) -> Result<Vec<u8>, IdentityError> {
    let PrivateKeyDer::Pkcs8(pkcs8) = key else {
        return Err(IdentityError::cert(
            "sign",
            "signing needs a PKCS#8 key, as Strata's CA makes them",
        ));
    };
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.secret_pkcs8_der(),
        &rng,
    )
    .map_err(|e| IdentityError::cert("sign", format!("the node key signs nothing: {e}")))?;
    pair.sign(&rng, message)
        .map(|s| s.as_ref().to_vec())
        .map_err(|e| IdentityError::cert("sign", format!("signing failed: {e}")))
}

/// Who signed `message`, when `chain` (leaf first, DER) is proved by `trust` at `now` to be
/// of role `role` and `signature` is its leaf key's over `message`; or why not.
pub fn verify(
    trust: &Trust,
    chain: &[Vec<u8>],
    message: &[u8],
    signature: &[u8],
    role: Role,
    now: SystemTime,
) -> Result<Identity, String> {
    let ders: Vec<CertificateDer<'_>> = chain
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let verified = trust
        .verify(&ders, now)
        .map_err(|r| format!("the signer's certificate: {}", r.message))?;
    if verified.identity.role != role {
        return Err(format!(
            "signed by {}, not a {}",
            verified.identity,
            role.name()
        ));
    }
    let (_, leaf) = X509Certificate::from_der(&chain[0])
        .map_err(|e| format!("the signer's certificate: {e}"))?;
    let public = leaf.public_key().subject_public_key.data.to_vec();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public)
        .verify(message, signature)
        .map_err(|_| format!("the signature of {} does not hold", verified.identity))?;
    Ok(verified.identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::ca::Ca;
    use std::time::Duration;

    #[test]
    fn a_centre_signs_and_a_host_proves_it_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::init(dir.path()).unwrap();
        let day = Duration::from_secs(86_400);
        let centre = Identity::new(Role::SuperManager, "", "super-1").unwrap();
        let region = Identity::new(Role::SubManager, "eu", "eu-1").unwrap();
        let issued = |who: &Identity| {
            let i = ca.issue(who, day).unwrap();
            (i.cert_pem, i.key_pem.unwrap())
        };
        let (centre_cert, centre_key) = issued(&centre);
        let (region_cert, region_key) = issued(&region);
        let trust = Trust::new(ca.cert_pem(), "").unwrap();
        let der = |pem: &str| {
            use rustls::pki_types::pem::PemObject;
            CertificateDer::from_pem_slice(pem.as_bytes())
                .unwrap()
                .to_vec()
        };
        let key = |pem: &str| {
            use rustls::pki_types::pem::PemObject;
            PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap()
        };
        let now = SystemTime::now();
        let message = b"bundle v1";
        let sig = sign(&key(&centre_key), message).unwrap();
        let chain = vec![der(&centre_cert)];
        assert_eq!(
            verify(&trust, &chain, message, &sig, Role::SuperManager, now).unwrap(),
            centre
        );
        // another message, another role, another CA: refused
        let e = verify(&trust, &chain, b"bundle v2", &sig, Role::SuperManager, now).unwrap_err();
        assert!(e.contains("does not hold"), "{e}");
        let region_sig = sign(&key(&region_key), message).unwrap();
        let e = verify(
            &trust,
            &[der(&region_cert)],
            message,
            &region_sig,
            Role::SuperManager,
            now,
        )
        .unwrap_err();
        assert!(e.contains("not a super-manager"), "{e}");
        let other = tempfile::tempdir().unwrap();
        let other_ca = Ca::init(other.path()).unwrap();
        let other_trust = Trust::new(other_ca.cert_pem(), "").unwrap();
        let e = verify(&other_trust, &chain, message, &sig, Role::SuperManager, now).unwrap_err();
        assert!(e.contains("the signer's certificate"), "{e}");
        // revoked
        let revoked = Trust::new(ca.cert_pem(), &format!("{}\n", centre.uri())).unwrap();
        assert!(verify(&revoked, &chain, message, &sig, Role::SuperManager, now).is_err());
    }
}
