//! Port checks and TCP probes: connect, optionally send a line and expect a reply.

use std::time::{Duration, Instant};

use strata_proto::v1::CheckState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::outcome::{Outcome, clip};
use super::spec::PortSpec;

/// Most reply bytes read while waiting for `expect`.
const REPLY_CAP: usize = 16 * 1024;

/// Resolves `address` and connects within `deadline`; the two phases are timed.
pub async fn connect(
    address: &str,
    deadline: Instant,
) -> Result<(TcpStream, Duration, Duration), String> {
    let started = Instant::now();
    let addrs = tokio::time::timeout_at(deadline.into(), tokio::net::lookup_host(address))
        .await
        .map_err(|_| format!("resolving {address} timed out"))?
        .map_err(|e| format!("cannot resolve {address}: {e}"))?;
    let resolved = started.elapsed();
    let mut last = format!("{address} resolves to no address");
    for addr in addrs {
        let t = Instant::now();
        match tokio::time::timeout_at(deadline.into(), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, resolved, t.elapsed()));
            }
            Ok(Err(e)) => last = format!("connect to {addr}: {e}"),
            Err(_) => return Err(format!("connect to {addr} timed out")),
        }
    }
    Err(last)
}

/// Replaces the escapes `\r`, `\n` and `\t` written in TOML strings taken literally.
pub fn unescape(s: &str) -> String {
    s.replace("\\r", "\r")
        .replace("\\n", "\n")
        .replace("\\t", "\t")
}

/// Runs the check once.
pub async fn run(spec: &PortSpec, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let deadline = crate::durations::deadline(started, timeout);
    let (mut stream, resolve, connect_time) = match connect(&spec.address, deadline).await {
        Ok(c) => c,
        Err(message) => {
            let mut o = Outcome::new(CheckState::Critical, message);
            o.metric("strata_probe_success", &[], 0.0);
            return o;
        }
    };
    let mut outcome = Outcome::new(CheckState::Ok, String::new());
    outcome.metric(
        "strata_probe_duration_seconds",
        &[("phase", "resolve")],
        resolve.as_secs_f64(),
    );
    outcome.metric(
        "strata_probe_duration_seconds",
        &[("phase", "connect")],
        connect_time.as_secs_f64(),
    );
    let mut reply_time = None;
    if spec.send.is_some() || spec.expect.is_some() {
        let t = Instant::now();
        let result = exchange(&mut stream, spec, deadline).await;
        reply_time = Some(t.elapsed());
        if let Err(message) = result {
            outcome.state = CheckState::Critical;
            outcome.message = message;
        }
    }
    if let Some(t) = reply_time {
        outcome.metric(
            "strata_probe_duration_seconds",
            &[("phase", "reply")],
            t.as_secs_f64(),
        );
    }
    let total = started.elapsed();
    outcome.metric(
        "strata_probe_duration_seconds",
        &[("phase", "total")],
        total.as_secs_f64(),
    );
    let ok = outcome.state == CheckState::Ok;
    outcome.metric("strata_probe_success", &[], if ok { 1.0 } else { 0.0 });
    if ok {
        outcome.message = format!(
            "{} answered in {:.2} ms",
            spec.address,
            total.as_secs_f64() * 1e3
        );
    }
    outcome
}

/// Sends the spec's line and reads until the reply matches `expect`.
async fn exchange(
    stream: &mut TcpStream,
    spec: &PortSpec,
    deadline: Instant,
) -> Result<(), String> {
    if let Some(send) = &spec.send {
        tokio::time::timeout_at(deadline.into(), stream.write_all(unescape(send).as_bytes()))
            .await
            .map_err(|_| "sending timed out".to_string())?
            .map_err(|e| format!("send: {e}"))?;
    }
    let Some(expect) = &spec.expect else {
        return Ok(());
    };
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk)).await {
            Err(_) => {
                return Err(format!(
                    "no reply matching '{expect}' before the timeout; got '{}'",
                    clip(&String::from_utf8_lossy(&reply), 200)
                ));
            }
            Ok(Err(e)) => return Err(format!("read: {e}")),
            Ok(Ok(n)) => n,
        };
        reply.extend_from_slice(&chunk[..n]);
        if expect.is_match(&String::from_utf8_lossy(&reply)) {
            return Ok(());
        }
        if n == 0 || reply.len() >= REPLY_CAP {
            return Err(format!(
                "reply does not match '{expect}': '{}'",
                clip(&String::from_utf8_lossy(&reply), 200)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn spec(address: String, send: Option<&str>, expect: Option<&str>) -> PortSpec {
        PortSpec {
            address,
            send: send.map(String::from),
            expect: expect.map(|e| regex::Regex::new(e).unwrap()),
        }
    }

    #[tokio::test]
    async fn send_and_expect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let _ = s
                    .write_all(if &buf[..n] == b"PING\r\n" {
                        b"+PONG\r\n"
                    } else {
                        b"-ERR\r\n"
                    })
                    .await;
            }
        });
        let o = run(
            &spec(addr.clone(), Some("PING\\r\\n"), Some("PONG")),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(o.state, CheckState::Ok, "{}", o.message);
        let o = run(
            &spec(addr, Some("HELLO\\r\\n"), Some("PONG")),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(o.state, CheckState::Critical);
        assert!(o.message.contains("-ERR"), "{}", o.message);
    }

    #[tokio::test]
    async fn a_port_that_never_answers_fails_within_the_timeout() {
        // accepts (the kernel completes the handshake) but never writes
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let started = Instant::now();
        let o = run(
            &spec(addr, Some("hello\\n"), Some("welcome")),
            Duration::from_millis(300),
        )
        .await;
        assert_eq!(o.state, CheckState::Critical);
        assert!(o.message.contains("before the timeout"), "{}", o.message);
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }

    #[tokio::test]
    async fn a_closed_port_is_critical() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let o = run(&spec(addr, None, None), Duration::from_secs(2)).await;
        assert_eq!(o.state, CheckState::Critical);
        assert!(o.message.contains("connect"), "{}", o.message);
    }
}
