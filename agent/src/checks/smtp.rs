//! SMTP probes: a transaction timed step by step (connect, banner, EHLO, MAIL FROM, RCPT TO,
//! QUIT); no message is ever sent.

use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use strata_proto::v1::CheckState;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::TlsConnector;

use super::outcome::{Outcome, clip};
use super::spec::SmtpSpec;
use super::{port, tls};

/// Longest reply line read (RFC 5321 allows 512; servers send more in EHLO lists).
const MAX_LINE: usize = 4096;

/// Reads one (possibly multi-line) reply; returns its code and last line (public so that
/// the fuzz targets can feed it any answer).
pub async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    reader: &mut BufReader<S>,
    deadline: Instant,
) -> Result<(u16, String), String> {
    let mut lines = 0;
    loop {
        let mut line = Vec::new();
        let read = tokio::time::timeout_at(deadline.into(), async {
            // bounded read of one line
            loop {
                let buf = reader.fill_buf().await?;
                if buf.is_empty() {
                    return Ok::<_, std::io::Error>(());
                }
                let (take, end) = match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => (i + 1, true),
                    None => (buf.len(), false),
                };
                let room = MAX_LINE.saturating_sub(line.len());
                line.extend_from_slice(&buf[..take.min(room)]);
                reader.consume(take);
                if end {
                    return Ok(());
                }
            }
        })
        .await;
        match read {
            Err(_) => return Err("no reply before the timeout".into()),
            Ok(Err(e)) => return Err(format!("read: {e}")),
            Ok(Ok(())) => {}
        }
        if line.is_empty() {
            return Err("connection closed".into());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let code: u16 = text
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("not an SMTP reply: '{}'", clip(&text, 100)))?;
        lines += 1;
        if text.as_bytes().get(3) != Some(&b'-') || lines > 100 {
            return Ok((code, text));
        }
    }
}

/// Sends `command` and reads its reply, which must be 2xx or 3xx.
async fn step<S: AsyncRead + AsyncWrite + Unpin>(
    reader: &mut BufReader<S>,
    command: &str,
    deadline: Instant,
) -> Result<(u16, String), String> {
    tokio::time::timeout_at(
        deadline.into(),
        reader
            .get_mut()
            .write_all(format!("{command}\r\n").as_bytes()),
    )
    .await
    .map_err(|_| "send timed out".to_string())?
    .map_err(|e| format!("send: {e}"))?;
    let (code, text) = reply(reader, deadline).await?;
    if code >= 400 {
        return Err(format!(
            "{} answered '{}'",
            command.split(' ').next().unwrap_or(""),
            clip(&text, 200)
        ));
    }
    Ok((code, text))
}

/// Runs the probe once.
pub async fn run(spec: &SmtpSpec, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let deadline = crate::durations::deadline(started, timeout);
    let mut outcome = Outcome::new(CheckState::Ok, String::new());
    let result = transaction(spec, deadline, &mut outcome).await;
    let total = started.elapsed();
    outcome.metric(
        "strata_probe_duration_seconds",
        &[("phase", "total")],
        total.as_secs_f64(),
    );
    match result {
        Ok(banner) => {
            outcome.metric("strata_probe_success", &[], 1.0);
            outcome.message = format!(
                "{} transaction in {:.1} ms: {}",
                spec.address,
                total.as_secs_f64() * 1e3,
                clip(&banner, 200)
            );
        }
        Err(message) => {
            outcome.metric("strata_probe_success", &[], 0.0);
            outcome.state = CheckState::Critical;
            outcome.message = format!("{}: {message}", spec.address);
        }
    }
    outcome
}

async fn transaction(
    spec: &SmtpSpec,
    deadline: Instant,
    outcome: &mut Outcome,
) -> Result<String, String> {
    let (stream, resolve, connect) = port::connect(&spec.address, deadline).await?;
    outcome.metric(
        "strata_probe_duration_seconds",
        &[("phase", "resolve")],
        resolve.as_secs_f64(),
    );
    outcome.metric(
        "strata_probe_duration_seconds",
        &[("phase", "connect")],
        connect.as_secs_f64(),
    );
    let mut reader = BufReader::new(stream);
    let t = Instant::now();
    let (code, banner) = reply(&mut reader, deadline).await?;
    outcome.metric(
        "strata_probe_duration_seconds",
        &[("phase", "banner")],
        t.elapsed().as_secs_f64(),
    );
    if code != 220 {
        return Err(format!("banner is not 220: '{}'", clip(&banner, 200)));
    }
    let ehlo = spec.ehlo.clone().unwrap_or_else(crate::procfs::hostname);
    timed(
        outcome,
        "ehlo",
        step(&mut reader, &format!("EHLO {ehlo}"), deadline),
    )
    .await?;
    if !spec.starttls {
        finish(spec, reader, deadline, outcome).await?;
        return Ok(banner);
    }
    // STARTTLS: the upgrade and the handshake are one phase, then EHLO again over TLS
    let t = Instant::now();
    step(&mut reader, "STARTTLS", deadline).await?;
    if !reader.buffer().is_empty() {
        return Err("the server sent data after its STARTTLS answer".into());
    }
    let host = spec.address.rsplit_once(':').map_or("", |(h, _)| h);
    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .map_err(|e| format!("'{host}' is not a TLS server name: {e}"))?;
    let config = tls::client_config(spec.ca_file.as_deref(), spec.insecure)?;
    let stream = tokio::time::timeout_at(
        deadline.into(),
        TlsConnector::from(config).connect(name, reader.into_inner()),
    )
    .await
    .map_err(|_| "TLS handshake timed out".to_string())?
    .map_err(|e| format!("TLS handshake: {e}"))?;
    outcome.metric(
        "strata_probe_duration_seconds",
        &[("phase", "starttls")],
        t.elapsed().as_secs_f64(),
    );
    if let Some(expiry) = stream
        .get_ref()
        .1
        .peer_certificates()
        .into_iter()
        .flatten()
        .filter_map(|c| tls::not_after(c))
        .min()
    {
        outcome.metric("strata_probe_ssl_earliest_cert_expiry", &[], expiry as f64);
    }
    let mut reader = BufReader::new(stream);
    timed(
        outcome,
        "ehlo_tls",
        step(&mut reader, &format!("EHLO {ehlo}"), deadline),
    )
    .await?;
    finish(spec, reader, deadline, outcome).await?;
    Ok(banner)
}

/// Runs `f` and records its duration as `phase`.
async fn timed<T>(
    outcome: &mut Outcome,
    phase: &'static str,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let t = Instant::now();
    let v = f.await?;
    outcome.metric(
        "strata_probe_duration_seconds",
        &[("phase", phase)],
        t.elapsed().as_secs_f64(),
    );
    Ok(v)
}

/// The envelope (when asked) and QUIT.
async fn finish<S: AsyncRead + AsyncWrite + Unpin>(
    spec: &SmtpSpec,
    mut reader: BufReader<S>,
    deadline: Instant,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let mut steps = Vec::new();
    if let Some(from) = &spec.mail_from {
        steps.push(("mail_from", format!("MAIL FROM:<{from}>")));
        if let Some(to) = &spec.rcpt_to {
            steps.push(("rcpt_to", format!("RCPT TO:<{to}>")));
        }
        steps.push(("rset", "RSET".to_string()));
    }
    steps.push(("quit", "QUIT".to_string()));
    for (phase, command) in steps {
        timed(outcome, phase, step(&mut reader, &command, deadline)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A tiny SMTP server: answers each command, refusing one recipient.
    async fn server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut r = BufReader::new(s);
                    r.get_mut().write_all(b"220 test ESMTP\r\n").await.unwrap();
                    let mut line = String::new();
                    while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                        let answer: &[u8] = if line.starts_with("EHLO") {
                            b"250-test\r\n250-SIZE 1000\r\n250 HELP\r\n"
                        } else if line.contains("nobody@") {
                            b"550 no such user\r\n"
                        } else if line.starts_with("QUIT") {
                            b"221 bye\r\n"
                        } else {
                            b"250 ok\r\n"
                        };
                        r.get_mut().write_all(answer).await.unwrap();
                        line.clear();
                    }
                });
            }
        });
        addr
    }

    fn spec(address: String, rcpt: &str) -> SmtpSpec {
        SmtpSpec {
            address,
            ehlo: Some("probe".into()),
            mail_from: Some("probe@example.org".into()),
            rcpt_to: Some(rcpt.into()),
            starttls: false,
            ca_file: None,
            insecure: false,
        }
    }

    /// An SMTP server that offers STARTTLS and answers the rest over TLS.
    async fn starttls_server() -> (String, String) {
        let (config, pem) = tls::test_server_config(30);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let mut r = BufReader::new(s);
                    r.get_mut().write_all(b"220 test ESMTP\r\n").await.unwrap();
                    let mut line = String::new();
                    r.read_line(&mut line).await.unwrap();
                    r.get_mut()
                        .write_all(b"250-test\r\n250 STARTTLS\r\n")
                        .await
                        .unwrap();
                    line.clear();
                    r.read_line(&mut line).await.unwrap();
                    assert_eq!(line, "STARTTLS\r\n");
                    r.get_mut().write_all(b"220 go ahead\r\n").await.unwrap();
                    let Ok(tls) = acceptor.accept(r.into_inner()).await else {
                        return;
                    };
                    let mut r = BufReader::new(tls);
                    line.clear();
                    while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                        let answer: &[u8] = if line.starts_with("QUIT") {
                            b"221 bye\r\n"
                        } else {
                            b"250 ok\r\n"
                        };
                        r.get_mut().write_all(answer).await.unwrap();
                        line.clear();
                    }
                });
            }
        });
        (addr, pem)
    }

    #[tokio::test]
    async fn starttls_upgrades_and_times_the_handshake() {
        let (addr, pem) = starttls_server().await;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pem).unwrap();
        let mut s = spec(addr, "postmaster@example.org");
        s.starttls = true;
        s.ca_file = Some(ca.display().to_string());
        let o = run(&s, Duration::from_secs(5)).await;
        assert_eq!(o.state, CheckState::Ok, "{}", o.message);
        let phases: Vec<&str> = o
            .metrics
            .iter()
            .filter(|m| m.name == "strata_probe_duration_seconds")
            .map(|m| m.labels[0].1.as_str())
            .collect();
        assert_eq!(
            phases,
            vec![
                "resolve",
                "connect",
                "banner",
                "ehlo",
                "starttls",
                "ehlo_tls",
                "mail_from",
                "rcpt_to",
                "rset",
                "quit",
                "total"
            ]
        );
        assert!(
            o.metrics
                .iter()
                .any(|m| m.name == "strata_probe_ssl_earliest_cert_expiry")
        );
    }

    #[tokio::test]
    async fn a_transaction_is_timed_and_refusals_are_critical() {
        let addr = server().await;
        let o = run(
            &spec(addr.clone(), "postmaster@example.org"),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(o.state, CheckState::Ok, "{}", o.message);
        let phases: Vec<&str> = o
            .metrics
            .iter()
            .filter_map(|m| m.labels.first().map(|l| l.1.as_str()))
            .collect();
        assert_eq!(
            phases,
            vec![
                "resolve",
                "connect",
                "banner",
                "ehlo",
                "mail_from",
                "rcpt_to",
                "rset",
                "quit",
                "total"
            ]
        );
        let o = run(&spec(addr, "nobody@example.org"), Duration::from_secs(5)).await;
        assert_eq!(o.state, CheckState::Critical);
        assert!(o.message.contains("550"), "{}", o.message);
    }

    #[tokio::test]
    async fn a_server_that_never_greets_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let o = run(&spec(addr, "x@y"), Duration::from_millis(300)).await;
        assert_eq!(o.state, CheckState::Critical);
        assert!(o.message.contains("timeout"), "{}", o.message);
        drop(listener);
    }
}
