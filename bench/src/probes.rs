//! `strata bench probes`: the agent's HTTP and DNS probes beside Debian's
//! prometheus-blackbox-exporter, against the same local targets, phase by phase.
//!
//! The targets are served here: an HTTP server that waits before its first byte and again
//! in the middle of its body (so that processing and transfer are long enough to compare),
//! and a DNS server that answers one A record after a delay. Probes alternate between the
//! two probers, and the medians of each phase are compared: they agree when they differ by
//! at most 1 ms or 10%.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use strata_agent::checks::spec::{DnsSpec, HttpSpec};
use strata_agent::checks::{Outcome, dns, http as http_probe};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use strata_testkit::peer::{Output, Peer, listening_on};

use crate::measure::{http, wait_until, which};

/// Options of `strata bench probes`.
#[derive(Args, Debug)]
pub struct ProbesBench {
    /// Probes of each kind by each prober.
    #[arg(long, default_value_t = 15)]
    pub rounds: usize,
    /// The HTTP target's wait before its first byte, and again in the middle of its body.
    #[arg(long, default_value = "25ms", value_parser = humantime::parse_duration)]
    pub delay: Duration,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One phase compared.
#[derive(Debug, Serialize)]
pub struct Phase {
    pub strata_ms: f64,
    pub blackbox_ms: f64,
    /// |strata - blackbox| <= max(1 ms, 10% of blackbox).
    pub agree: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    rounds: usize,
    http: BTreeMap<&'static str, Phase>,
    https: BTreeMap<&'static str, Phase>,
    dns: BTreeMap<&'static str, Phase>,
    all_agree: bool,
}

/// Answers one request on `s`: waits `delay`, sends headers and half the body, waits
/// again, sends the rest.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, delay: Duration) {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let body = "x".repeat(64 * 1024);
    tokio::time::sleep(delay).await;
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len() * 2
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body.as_bytes()).await;
    tokio::time::sleep(delay).await;
    let _ = s.write_all(body.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// A TLS acceptor with a fresh self-signed certificate for 127.0.0.1.
fn acceptor() -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])?.self_signed(&key)?;
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// Serves HTTP (HTTPS with `tls`) answering as [`answer`] does.
async fn http_target(delay: Duration, tls: bool) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = if tls { Some(acceptor()?) } else { None };
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    Some(a) => {
                        if let Ok(s) = a.accept(s).await {
                            answer(s, delay).await;
                        }
                    }
                    None => answer(s, delay).await,
                }
            });
        }
    });
    let scheme = if tls { "https" } else { "http" };
    Ok(format!("{scheme}://{addr}/"))
}

/// Serves DNS over UDP: answers every question with one A record after `delay`.
async fn dns_target(delay: Duration) -> anyhow::Result<String> {
    let socket = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let addr = socket.local_addr()?;
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let mut reply = buf[..n].to_vec();
            if reply.len() < 12 {
                continue;
            }
            reply[2] = 0x81; // response, recursion desired
            reply[3] = 0x80; // recursion available, NOERROR
            reply[6..8].copy_from_slice(&1u16.to_be_bytes());
            reply[8..12].fill(0);
            reply.truncate(n);
            // the answer: a pointer to the question's name, A, IN, TTL 60, 127.0.0.1
            reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
            let socket = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = socket.send_to(&reply, from).await;
            });
        }
    });
    Ok(addr.to_string())
}

/// Seconds of one phase measured by Strata and by blackbox_exporter, round after round.
type Seconds = (Vec<f64>, Vec<f64>);

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The seconds of each `phase` label of `metric` in a Prometheus text exposition.
fn phases(text: &str, metric: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with('{'))
        .filter_map(|l| {
            let start = l.find("phase=\"")? + 7;
            let end = start + l[start..].find('"')?;
            let value = l.rsplit(' ').next()?.parse().ok()?;
            Some((l[start..end].to_string(), value))
        })
        .collect()
}

fn value(text: &str, metric: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(metric) && l[metric.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn succeeded(o: &Outcome) -> bool {
    o.metrics
        .iter()
        .any(|m| m.name == "strata_probe_success" && m.value == 1.0)
}

fn ours(o: &Outcome) -> BTreeMap<String, f64> {
    o.metrics
        .iter()
        .filter(|m| m.name == "strata_probe_duration_seconds")
        .map(|m| (m.labels[0].1.clone(), m.value))
        .collect()
}

fn blackbox_config(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("blackbox.yml");
    std::fs::write(
        &path,
        "modules:\n  http:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n  https:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n      tls_config:\n        insecure_skip_verify: true\n  dns:\n    prober: dns\n    timeout: 5s\n    dns:\n      query_name: example.org\n      query_type: A\n      transport_protocol: udp\n      preferred_ip_protocol: ip4\n",
    )?;
    Ok(path)
}

/// Runs the comparison.
pub async fn run(args: ProbesBench) -> anyhow::Result<()> {
    let binary = which(
        "prometheus-blackbox-exporter",
        "prometheus-blackbox-exporter",
    )?;
    let dir = tempfile::tempdir()?;
    let config = blackbox_config(dir.path())?;
    let mut command = Command::new(&binary);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg("--web.listen-address=127.0.0.1:0");
    let blackbox = Peer::start(
        command,
        Output::Stderr,
        &dir.path().join("blackbox.log"),
        listening_on,
    )?;
    let listen = blackbox.addr.clone();
    let probe_addr = listen.clone();
    tokio::task::spawn_blocking(move || {
        wait_until(
            "blackbox_exporter to answer",
            Duration::from_secs(20),
            || http(&probe_addr, "GET", "/metrics", b"").is_ok_and(|(s, _)| s == 200),
        )
    })
    .await??;

    let dns_server = dns_target(args.delay).await?;
    let dns_spec = DnsSpec {
        server: dns_server.clone(),
        query: "example.org".into(),
        record_type: "A".into(),
        min_answers: 1,
    };
    let mut http_kinds = Vec::new();
    for tls in [false, true] {
        let url = http_target(args.delay, tls).await?;
        let spec = HttpSpec {
            url: url.clone(),
            method: "GET".into(),
            expect_status: vec![],
            body_match: None,
            headers: BTreeMap::new(),
            body: None,
            warn_after: None,
            cert_warn_days: 14,
            max_body_bytes: 1 << 20,
            ca_file: None,
            // the target's certificate is self-signed; blackbox skips verification too
            insecure: tls,
        };
        http_kinds.push((if tls { "https" } else { "http" }, spec));
    }
    let mut samples: BTreeMap<(&str, String), Seconds> = BTreeMap::new();
    let timeout = Duration::from_secs(5);
    let blackbox = |module: &'static str, target: String| {
        let addr = listen.clone();
        tokio::task::spawn_blocking(move || {
            let (_, text) = http(
                &addr,
                "GET",
                &format!("/probe?module={module}&target={target}"),
                b"",
            )?;
            if value(&text, "probe_success") != Some(1.0) {
                bail!("blackbox_exporter's {module} probe failed:\n{text}");
            }
            Ok(text)
        })
    };
    // one round of each first, unmeasured: connection set-up and page cache
    for round in 0..=args.rounds {
        for (kind, spec) in &http_kinds {
            let o = http_probe::run(spec, timeout).await;
            if !succeeded(&o) {
                bail!("strata's {kind} probe failed: {}", o.message);
            }
            let bb = blackbox(kind, spec.url.clone()).await??;
            if round == 0 {
                continue;
            }
            for (phase, v) in ours(&o) {
                samples.entry((kind, phase)).or_default().0.push(v);
            }
            for (phase, v) in phases(&bb, "probe_http_duration_seconds") {
                samples.entry((kind, phase)).or_default().1.push(v);
            }
        }
        let d = dns::run(&dns_spec, timeout).await;
        if !succeeded(&d) {
            bail!("strata's DNS probe failed: {}", d.message);
        }
        let bb = blackbox("dns", dns_server.clone()).await??;
        if round == 0 {
            continue;
        }
        let e = samples.entry(("dns", "query".into())).or_default();
        e.0.push(ours(&d).get("query").copied().unwrap_or(f64::NAN));
        // blackbox splits a DNS probe into resolve (the server's name), connect and request
        e.1.push(
            phases(&bb, "probe_dns_duration_seconds")
                .values()
                .sum::<f64>(),
        );
    }
    let mut compare = |kind: &'static str, phase: &'static str| -> anyhow::Result<Phase> {
        let (s, b) = samples
            .remove(&(kind, phase.to_string()))
            .unwrap_or_default();
        if b.is_empty() {
            bail!("blackbox_exporter reported no {kind} '{phase}' phase");
        }
        let (s, b) = (median(s) * 1e3, median(b) * 1e3);
        Ok(Phase {
            strata_ms: s,
            blackbox_ms: b,
            agree: (s - b).abs() <= f64::max(1.0, 0.1 * b),
        })
    };
    let mut report = Report {
        rounds: args.rounds,
        http: BTreeMap::new(),
        https: BTreeMap::new(),
        dns: BTreeMap::new(),
        all_agree: false,
    };
    for phase in ["resolve", "connect", "processing", "transfer"] {
        report.http.insert(phase, compare("http", phase)?);
    }
    for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
        report.https.insert(phase, compare("https", phase)?);
    }
    report.dns.insert("query", compare("dns", "query")?);
    report.all_agree = report
        .http
        .values()
        .chain(report.https.values())
        .chain(report.dns.values())
        .all(|p| p.agree);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "probe phases, median of {} rounds (target waits {:?} before its first byte and mid-body)",
            args.rounds, args.delay
        );
        println!(
            "{:<16} {:>12} {:>14} {:>7}",
            "phase", "strata ms", "blackbox ms", "agree"
        );
        for (kind, phases) in [
            ("http", &report.http),
            ("https", &report.https),
            ("dns", &report.dns),
        ] {
            for (name, p) in phases {
                println!(
                    "{:<16} {:>12.3} {:>14.3} {:>7}",
                    format!("{kind} {name}"),
                    p.strata_ms,
                    p.blackbox_ms,
                    if p.agree { "yes" } else { "NO" }
                );
            }
        }
    }
    if !report.all_agree {
        bail!("some phases differ by more than 1 ms and 10%");
    }
    Ok(())
}
