//! HTTPS on the centre's address: served with the operator's certificate, nothing answered
//! in clear, a client that does not trust the certificate refused.

use strata_testkit::Mesh;
use strata_testkit::http::https_request;

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
            &format!("GET {path} HTTP/1.1\r\nHost: {http}\r\n{auth}Connection: close\r\n\r\n"),
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
    let refused = https_request(&http, &other.cert.pem(), "GET /healthz HTTP/1.1\r\n\r\n");
    assert!(refused.is_err(), "{refused:?}");
}
