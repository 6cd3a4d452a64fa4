//! A minimal blocking HTTP/1.1 client for tests and benches: no client library, so that what
//! is measured or checked is the server alone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long a plain request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A minimal HTTP/1.1 GET: returns the status code and body.
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String), String> {
    http_request(addr, "GET", path, "")
}

/// Connects to `addr` and sends one HTTP/1.1 request with a JSON `body`, as the test
/// process's admin ([`crate::admin_token`]), reads timing out after `timeout`; returns the
/// stream to read the answer from.
pub fn send_request(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<TcpStream, String> {
    send_request_as(
        addr,
        method,
        path,
        body,
        timeout,
        Some(crate::admin_token()),
    )
}

/// As [`send_request`], with the API token `token` (none: no credentials).
pub fn send_request_as(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
    token: Option<&str>,
) -> Result<TcpStream, String> {
    send(addr, method, path, "application/json", body, timeout, token)
}

/// One request with a body of `content_type`; the stream to read the answer from.
fn send(
    addr: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
    token: Option<&str>,
) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).ok();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .and_then(|()| stream.write_all(body))
    .map_err(|e| format!("send {method} {path}: {e}"))?;
    Ok(stream)
}

/// A minimal HTTP/1.1 request with a JSON body (empty for none): the status code and body.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    http_request_within(addr, method, path, body.as_bytes(), TIMEOUT)
}

/// As [`http_request`], with a raw body and the time the answer may take.
pub fn http_request_within(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, String), String> {
    read_answer(
        send_request(addr, method, path, body, timeout)?,
        method,
        path,
    )
}

/// A form-encoded POST (`application/x-www-form-urlencoded`, as browsers and Grafana send
/// them), as the test process's admin: the status code and body.
pub fn http_form(addr: &str, path: &str, form: &str) -> Result<(u16, String), String> {
    let stream = send(
        addr,
        "POST",
        path,
        "application/x-www-form-urlencoded",
        form.as_bytes(),
        TIMEOUT,
        Some(crate::admin_token()),
    )?;
    read_answer(stream, "POST", path)
}

/// A POST of raw `body` as `content_type`, with the API token `token` (none: no
/// credentials): the status code and body.
pub fn http_post_bytes_as(
    addr: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    token: Option<&str>,
) -> Result<(u16, String), String> {
    let stream = send(addr, "POST", path, content_type, body, TIMEOUT, token)?;
    read_answer(stream, "POST", path)
}

/// As [`http_request`], with the API token `token` (none: no credentials).
pub fn http_request_as(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> Result<(u16, String), String> {
    let stream = send_request_as(addr, method, path, body.as_bytes(), TIMEOUT, token)?;
    read_answer(stream, method, path)
}

/// The status and body of the answer on `stream`.
fn read_answer(mut stream: TcpStream, method: &str, path: &str) -> Result<(u16, String), String> {
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read {method} {path}: {e}"))?;
    parse_answer(&raw)
}

/// The status and body of a whole HTTP/1.1 answer.
fn parse_answer(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in '{head}'"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// GET `path` and parse the body as JSON, requiring status 200.
pub fn get_json(addr: &str, path: &str) -> Result<serde_json::Value, String> {
    let (status, body) = http_get(addr, path)?;
    if status != 200 {
        return Err(format!("GET {path}: {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {path}: bad JSON: {e}: {body}"))
}

/// Sends `request` (a whole HTTP/1.1 request) over TLS to `addr`, trusting only the
/// certificates of `ca_pem` for the name of `addr`'s host: the raw answer, or why the
/// connection failed.
pub fn https_request(addr: &str, ca_pem: &str, request: &str) -> Result<String, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
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
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(host, _)| host)
        .trim_matches(['[', ']']);
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?;
    let (addr, request) = (addr.to_string(), request.to_string());
    crate::block_on(async move {
        let work = async {
            let tcp = tokio::net::TcpStream::connect(&addr)
                .await
                .map_err(|e| format!("connect {addr}: {e}"))?;
            let mut tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {addr}: {e}"))?;
            tls.write_all(request.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut answer = Vec::new();
            let _ = tls.read_to_end(&mut answer).await;
            Ok(String::from_utf8_lossy(&answer).into_owned())
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .map_err(|_| format!("no answer from {addr} within {TIMEOUT:?}"))?
    })
}

/// GET `path` over HTTPS (see [`https_request`]) as the test process's admin, and parse the
/// body as JSON, requiring status 200.
pub fn https_get_json(addr: &str, ca_pem: &str, path: &str) -> Result<serde_json::Value, String> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n\r\n",
        crate::admin_token()
    );
    let answer = https_request(addr, ca_pem, &request)?;
    let (status, body) = parse_answer(answer.as_bytes())?;
    if status != 200 {
        return Err(format!("GET {path}: {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {path}: bad JSON: {e}: {body}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chunked_body_is_joined() {
        assert_eq!(super::dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
