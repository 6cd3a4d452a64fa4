//! HTTP probes timed by phase, as an end user would see them: resolve, connect, TLS, first
//! byte (processing) and download (transfer), and the total.
//!
//! The client is written for timing rather than taken from a library, so that each phase is
//! measured where it happens, with the same boundaries as blackbox_exporter's HTTP prober
//! (processing: from the connection being ready to the first response byte; transfer: from
//! that byte to the end of the body). One request per connection, `Connection: close`.

use std::time::{Duration, Instant};

use strata_proto::v1::CheckState;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::outcome::{Outcome, clip};
use super::spec::HttpSpec;
use super::{port, tls};

/// The parts of an http:// or https:// URL a probe needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, at least "/".
    pub path: String,
}

/// Parses `url`; the error says what is wrong with it.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("url '{url}' must start with http:// or https://"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("url '{url}': unclosed [ in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p
                .parse()
                .map_err(|_| format!("url '{url}': bad port '{p}'"))?,
            None => default_port,
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| format!("url '{url}': bad port '{p}'"))?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("url '{url}' has no host"));
    }
    Ok(Target {
        tls,
        host,
        port,
        path,
    })
}

/// Phase timings of one request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Phases {
    pub resolve: Duration,
    pub connect: Duration,
    pub tls: Duration,
    /// Connection ready to first response byte.
    pub processing: Duration,
    /// First response byte to the end of the body.
    pub transfer: Duration,
    pub total: Duration,
    /// Earliest end of validity of the server's certificates (seconds since the epoch).
    pub cert_expiry: Option<i64>,
}

/// A response as far as the probe read it.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    /// The body, up to the spec's `max_body_bytes`.
    pub body: Vec<u8>,
    /// Bytes the body had on the wire (chunk framing included).
    pub body_bytes: u64,
    pub content_type: Option<String>,
}

/// One request of `spec` within `timeout`, untimed (the agent's scrapes).
pub(crate) async fn fetch(spec: &HttpSpec, timeout: Duration) -> Result<Response, String> {
    let deadline = crate::durations::deadline(Instant::now(), timeout);
    probe(spec, deadline, &mut Phases::default()).await
}

/// Runs the probe once.
pub async fn run(spec: &HttpSpec, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let deadline = crate::durations::deadline(started, timeout);
    let mut phases = Phases::default();
    let result = probe(spec, deadline, &mut phases).await;
    phases.total = started.elapsed();
    let mut outcome = Outcome::new(CheckState::Ok, String::new());
    for (phase, d) in [
        ("resolve", phases.resolve),
        ("connect", phases.connect),
        ("tls", phases.tls),
        ("processing", phases.processing),
        ("transfer", phases.transfer),
        ("total", phases.total),
    ] {
        outcome.metric(
            "strata_probe_duration_seconds",
            &[("phase", phase)],
            d.as_secs_f64(),
        );
    }
    let mut expiry_note = None;
    if let Some(expiry) = phases.cert_expiry {
        outcome.metric("strata_probe_ssl_earliest_cert_expiry", &[], expiry as f64);
        let days = (expiry - strata_proto::now_ms() / 1000) as f64 / 86_400.0;
        if days < f64::from(spec.cert_warn_days) {
            expiry_note = Some(if days < 0.0 {
                format!("certificate expired {:.0} days ago", -days)
            } else {
                format!("certificate expires in {days:.1} days")
            });
        }
    }
    let response = match result {
        Ok(r) => r,
        Err(message) => {
            outcome.state = CheckState::Critical;
            outcome.message = format!("{}: {message}", spec.url);
            outcome.metric("strata_probe_success", &[], 0.0);
            return outcome;
        }
    };
    outcome.metric(
        "strata_probe_http_status_code",
        &[],
        f64::from(response.status),
    );
    outcome.metric(
        "strata_probe_http_content_length_bytes",
        &[],
        response.body_bytes as f64,
    );
    let status_ok = if spec.expect_status.is_empty() {
        (200..400).contains(&response.status)
    } else {
        spec.expect_status.contains(&response.status)
    };
    let mut problems = Vec::new();
    if !status_ok {
        problems.push(format!("status {}", response.status));
    }
    if let Some(re) = &spec.body_match
        && !re.is_match(&String::from_utf8_lossy(&response.body))
    {
        problems.push(format!("body does not match '{re}'"));
    }
    let ms = phases.total.as_secs_f64() * 1e3;
    if problems.is_empty() {
        outcome.metric("strata_probe_success", &[], 1.0);
        outcome.message = format!("{} {} in {ms:.1} ms", spec.url, response.status);
        if let Some(warn) = spec.warn_after
            && phases.total > warn
        {
            outcome.state = CheckState::Warning;
            outcome.message.push_str(&format!(
                " (slower than {})",
                humantime::format_duration(warn)
            ));
        }
        if let Some(note) = expiry_note {
            outcome.state = CheckState::Warning;
            outcome.message.push_str(&format!("; {note}"));
        }
    } else {
        outcome.metric("strata_probe_success", &[], 0.0);
        outcome.state = CheckState::Critical;
        outcome.message = format!("{}: {} in {ms:.1} ms", spec.url, problems.join(", "));
    }
    outcome
}

async fn probe(
    spec: &HttpSpec,
    deadline: Instant,
    phases: &mut Phases,
) -> Result<Response, String> {
    let target = parse_url(&spec.url)?;
    let address = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let (stream, resolve, connect) = port::connect(&address, deadline).await?;
    phases.resolve = resolve;
    phases.connect = connect;
    if !target.tls {
        return exchange(stream, spec, &target, deadline, phases).await;
    }
    let config = tls::client_config(spec.ca_file.as_deref(), spec.insecure)?;
    let name = ServerName::try_from(target.host.clone())
        .map_err(|e| format!("'{}' is not a TLS server name: {e}", target.host))?;
    let t = Instant::now();
    let stream = tokio::time::timeout_at(
        deadline.into(),
        TlsConnector::from(config).connect(name, stream),
    )
    .await
    .map_err(|_| "TLS handshake timed out".to_string())?
    .map_err(|e| format!("TLS handshake: {e}"))?;
    phases.tls = t.elapsed();
    phases.cert_expiry = stream
        .get_ref()
        .1
        .peer_certificates()
        .into_iter()
        .flatten()
        .filter_map(|c| tls::not_after(c))
        .min();
    exchange(stream, spec, &target, deadline, phases).await
}

/// Writes the request and reads the response on `stream`, timing processing and transfer
/// (public so that the fuzz targets can feed it any answer).
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    spec: &HttpSpec,
    target: &Target,
    deadline: Instant,
    phases: &mut Phases,
) -> Result<Response, String> {
    let ready = Instant::now();
    let host = match (target.tls, target.port) {
        (false, 80) | (true, 443) => target.host.clone(),
        (_, port) => format!("{}:{port}", target.host),
    };
    let mut request = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: strata-agent/{}\r\nAccept: */*\r\nConnection: close\r\n",
        spec.method,
        target.path,
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in &spec.headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = &spec.body {
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    } else {
        request.push_str("\r\n");
    }
    let timed_out = || "timed out".to_string();
    tokio::time::timeout_at(deadline.into(), stream.write_all(request.as_bytes()))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| format!("send request: {e}"))?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut first = None;
    // headers
    let header_end = loop {
        let n = tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| format!("read response: {e}"))?;
        if first.is_none() && n > 0 {
            first = Some(Instant::now());
        }
        if n == 0 {
            return Err("connection closed before the response headers ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err("response headers longer than 64 KiB".into());
        }
    };
    let first = first.unwrap_or_else(Instant::now);
    phases.processing = first.duration_since(ready);
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let status_line = head.lines().next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: '{}'", clip(status_line, 100)))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let length: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let no_body = spec.method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304;
    let mut body = buf.split_off(header_end);
    let mut received = body.len() as u64;
    let done = |body: &[u8], received: u64| {
        no_body
            || match length {
                Some(l) => received >= l,
                None if chunked => body.ends_with(b"0\r\n\r\n"),
                None => false,
            }
    };
    while !done(&body, received) {
        let n = tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| format!("read body: {e}"))?;
        if n == 0 {
            if length.is_some_and(|l| received < l) {
                return Err(format!(
                    "body ended after {received} of {} bytes",
                    length.unwrap_or(0)
                ));
            }
            break;
        }
        received += n as u64;
        if body.len() < spec.max_body_bytes {
            let room = spec.max_body_bytes - body.len();
            body.extend_from_slice(&chunk[..n.min(room)]);
        } else if !chunked {
            // past the cap: count bytes, keep none; a chunked body must still find its end
            continue;
        } else {
            // keep the tail so that the end marker is seen
            body.drain(..body.len().min(n));
            body.extend_from_slice(&chunk[..n]);
        }
    }
    phases.transfer = first.elapsed();
    if chunked {
        body = dechunk(&body);
    }
    Ok(Response {
        status,
        body_bytes: received,
        body,
        content_type: header("content-type"),
    })
}

/// Decodes a chunked body (as far as it is whole).
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..i]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        rest = &rest[i + 2..];
        if size == 0 || rest.len() < size {
            out.extend_from_slice(&rest[..size.min(rest.len())]);
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tokio::net::TcpListener;

    fn spec(url: String) -> HttpSpec {
        HttpSpec {
            url,
            method: "GET".into(),
            expect_status: vec![],
            body_match: Some(regex::Regex::new("hello world").unwrap()),
            headers: BTreeMap::new(),
            body: None,
            warn_after: None,
            cert_warn_days: 14,
            max_body_bytes: 1 << 20,
            ca_file: None,
            insecure: false,
        }
    }

    #[test]
    fn urls_parse() {
        let t = parse_url("http://127.0.0.1:8080/a?b=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str(), t.tls),
            ("127.0.0.1", 8080, "/a?b=1", false)
        );
        let t = parse_url("https://[::1]/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 443));
        let t = parse_url("http://example.com?x").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/?x"));
        for bad in ["ftp://x", "http://", "http://h:port/", "http://[::1/"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chunked_bodies_decode() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
        assert_eq!(dechunk(b"zz\r\n"), b"");
    }

    /// A server answering each connection with `reply` after `delay`, the body in two parts.
    async fn server(delay: Duration, chunked: bool) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    if chunked {
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n").await;
                        tokio::time::sleep(delay).await;
                        let _ = s.write_all(b"5\r\nworld\r\n0\r\n\r\n").await;
                    } else {
                        let _ = s
                            .write_all(
                                b"HTTP/1.1 503 Unavailable\r\nContent-Length: 11\r\n\r\nhello ",
                            )
                            .await;
                        tokio::time::sleep(delay).await;
                        let _ = s.write_all(b"world").await;
                    }
                });
            }
        });
        format!("http://{addr}/")
    }

    fn metric(o: &Outcome, phase: &str) -> f64 {
        o.metrics
            .iter()
            .find(|m| m.name == "strata_probe_duration_seconds" && m.labels[0].1 == phase)
            .unwrap()
            .value
    }

    #[tokio::test]
    async fn phases_status_and_body_are_measured() {
        let url = server(Duration::from_millis(40), true).await;
        let o = run(&spec(url), Duration::from_secs(5)).await;
        assert_eq!(o.state, CheckState::Ok, "{}", o.message);
        assert!(metric(&o, "processing") >= 0.039, "{o:?}");
        assert!(metric(&o, "transfer") >= 0.039, "{o:?}");
        let url = server(Duration::from_millis(1), false).await;
        let o = run(&spec(url), Duration::from_secs(5)).await;
        assert_eq!(o.state, CheckState::Critical);
        assert!(o.message.contains("status 503"), "{}", o.message);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let started = Instant::now();
        let o = run(&spec(url), Duration::from_millis(300)).await;
        assert_eq!(o.state, CheckState::Critical);
        assert!(o.message.contains("timed out"), "{}", o.message);
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }

    /// An HTTPS server with a self-signed certificate for 127.0.0.1 valid `days` more days;
    /// returns its URL and the certificate's PEM.
    async fn https_server(days: i64) -> (String, String) {
        let (config, pem) = tls::test_server_config(days);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(s).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world")
                        .await;
                    let _ = s.shutdown().await;
                });
            }
        });
        (format!("https://{addr}/"), pem)
    }

    #[tokio::test]
    async fn https_is_timed_verified_and_its_expiry_judged() {
        let dir = tempfile::tempdir().unwrap();
        let (url, pem) = https_server(400).await;
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pem).unwrap();
        let mut s = spec(url.clone());
        s.ca_file = Some(ca.display().to_string());
        let o = run(&s, Duration::from_secs(5)).await;
        assert_eq!(o.state, CheckState::Ok, "{}", o.message);
        assert!(metric(&o, "tls") > 0.0);
        let expiry = o
            .metrics
            .iter()
            .find(|m| m.name == "strata_probe_ssl_earliest_cert_expiry")
            .unwrap()
            .value;
        let days = (expiry - (strata_proto::now_ms() / 1000) as f64) / 86_400.0;
        assert!((398.0..=401.0).contains(&days), "{days}");

        let o = run(&spec(url.clone()), Duration::from_secs(5)).await;
        assert_eq!(
            o.state,
            CheckState::Critical,
            "an unknown issuer is refused"
        );
        assert!(o.message.contains("TLS handshake"), "{}", o.message);
        let mut insecure = spec(url);
        insecure.insecure = true;
        assert_eq!(
            run(&insecure, Duration::from_secs(5)).await.state,
            CheckState::Ok
        );

        let (url, _) = https_server(5).await;
        let mut s = spec(url);
        s.insecure = true;
        let o = run(&s, Duration::from_secs(5)).await;
        assert_eq!(o.state, CheckState::Warning, "{}", o.message);
        assert!(
            o.message.contains("certificate expires in"),
            "{}",
            o.message
        );
    }
}
