//! HTTPS on the centre's address: served with the operator's certificate, nothing answered
//! in clear, a client that does not trust the certificate refused.

use strata_testkit::Mesh;

/// One request over TLS to `addr`, trusting `ca_pem` only: the status line and the headers
/// and body, or why the connection failed.
fn https_request(addr: &str, ca_pem: &str, request: String) -> Result<String, String> {
    use rustls::pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let addr = addr.to_string();
    strata_testkit::block_on(async move {
        let tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer).await;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    })
}

#[test]
fn the_api_is_served_over_https_with_the_operators_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.join("console.crt"), dir.join("console.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let mesh = Mesh::builder()
        .dir(dir.join("mesh"))
        .super_toml(&format!(
            "[https]\ncert_file = '{}'\nkey_file = '{}'\n",
            cert.display(),
            key.display()
        ))
        .start();
    let http = mesh.http();
    assert!(
        mesh.super_managers[0].first_line.contains("scheme=https"),
        "{}",
        mesh.super_managers[0].first_line
    );
    let ask = |path: &str, auth: bool| {
        let auth = if auth {
            format!(
                "Authorization: Bearer {}\r\n",
                strata_testkit::admin_token()
            )
        } else {
            String::new()
        };
        https_request(
            &http,
            &made.cert.pem(),
            format!("GET {path} HTTP/1.1\r\nHost: {http}\r\n{auth}Connection: close\r\n\r\n"),
        )
    };
    let answer = ask("/api/v1/session", true).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("token:testkit"), "{answer}");
    let answer = ask("/api/v1/overview", false).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // in clear, nothing is answered
    let plain = strata_testkit::http_get(&http, "/healthz");
    assert!(
        plain.as_ref().map_or(true, |(status, _)| *status != 200),
        "{plain:?}"
    );
    // a client that does not trust the certificate gets nothing either
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let refused = https_request(
        &http,
        &other.cert.pem(),
        "GET /healthz HTTP/1.1\r\n\r\n".into(),
    );
    assert!(refused.is_err(), "{refused:?}");
}
