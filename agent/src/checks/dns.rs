//! DNS probes: one question over UDP, timed, judged by response code and answer count.

use std::time::{Duration, Instant};

use strata_proto::v1::CheckState;
use tokio::net::UdpSocket;

use super::outcome::Outcome;
use super::spec::{DnsSpec, record_type};

/// A DNS query message for `name` of type `qtype`, recursion desired.
pub fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, String> {
    let mut m = Vec::with_capacity(32 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("query: '{name}' is not a valid name"));
        }
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    Ok(m)
}

/// What a response's header says: response code and answer count.
pub fn parse_header(id: u16, reply: &[u8]) -> Result<(u8, u16), String> {
    if reply.len() < 12 {
        return Err(format!(
            "reply of {} bytes is shorter than a header",
            reply.len()
        ));
    }
    if u16::from_be_bytes([reply[0], reply[1]]) != id {
        return Err("reply id does not match the query".into());
    }
    if reply[2] & 0x80 == 0 {
        return Err("reply is not a response".into());
    }
    let rcode = reply[3] & 0x0f;
    let answers = u16::from_be_bytes([reply[6], reply[7]]);
    Ok((rcode, answers))
}

fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "other",
    }
}

/// Runs the probe once.
pub async fn run(spec: &DnsSpec, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let result = ask(spec, crate::durations::deadline(started, timeout)).await;
    let elapsed = started.elapsed();
    let mut outcome = Outcome::new(CheckState::Ok, String::new());
    outcome.metric(
        "strata_probe_duration_seconds",
        &[("phase", "query")],
        elapsed.as_secs_f64(),
    );
    match result {
        Ok((rcode, answers)) => {
            outcome.metric("strata_probe_dns_answers", &[], f64::from(answers));
            outcome.metric("strata_probe_dns_rcode", &[], f64::from(rcode));
            let ok = rcode == 0 && u32::from(answers) >= spec.min_answers;
            outcome.metric("strata_probe_success", &[], if ok { 1.0 } else { 0.0 });
            outcome.state = if ok {
                CheckState::Ok
            } else {
                CheckState::Critical
            };
            outcome.message = format!(
                "{} {} from {}: {}, {answers} answers in {:.2} ms",
                spec.query,
                spec.record_type,
                spec.server,
                rcode_name(rcode),
                elapsed.as_secs_f64() * 1e3
            );
        }
        Err(message) => {
            outcome.metric("strata_probe_success", &[], 0.0);
            outcome.state = CheckState::Critical;
            outcome.message = format!(
                "{} {} from {}: {message}",
                spec.query, spec.record_type, spec.server
            );
        }
    }
    outcome
}

async fn ask(spec: &DnsSpec, deadline: Instant) -> Result<(u8, u16), String> {
    let qtype = record_type(&spec.record_type)
        .ok_or_else(|| format!("record_type '{}' is not supported", spec.record_type))?;
    let id = (strata_proto::now_ms() as u16) ^ (std::process::id() as u16);
    let message = query(id, &spec.query, qtype)?;
    let server: std::net::SocketAddr = tokio::net::lookup_host(&spec.server)
        .await
        .map_err(|e| format!("server '{}': {e}", spec.server))?
        .next()
        .ok_or_else(|| format!("server '{}' resolves to nothing", spec.server))?;
    let bind = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    socket
        .connect(server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    socket
        .send(&message)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = vec![0u8; 4096];
    loop {
        let n = tokio::time::timeout_at(deadline.into(), socket.recv(&mut reply))
            .await
            .map_err(|_| "no answer before the timeout".to_string())?
            .map_err(|e| format!("receive: {e}"))?;
        match parse_header(id, &reply[..n]) {
            // a stray datagram: keep waiting for ours
            Err(e) if e.contains("id does not match") => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(server: String) -> DnsSpec {
        DnsSpec {
            server,
            query: "example.org".into(),
            record_type: "A".into(),
            min_answers: 1,
        }
    }

    #[test]
    fn queries_are_well_formed() {
        let q = query(0x1234, "www.example.org.", 1).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..17], &[3, b'w', b'w', b'w', 7]);
        assert_eq!(&q[q.len() - 4..], &[0, 1, 0, 1]);
        assert!(query(1, "a..b", 1).is_err());
        assert!(parse_header(1, &[0; 5]).is_err());
    }

    #[tokio::test]
    async fn answers_and_silence() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                let mut reply = buf[..n].to_vec();
                reply[2] |= 0x80;
                reply[7] = 1; // one answer (the record itself is not needed by the probe)
                server.send_to(&reply, from).await.unwrap();
            }
        });
        let o = run(&spec(addr), Duration::from_secs(2)).await;
        assert_eq!(o.state, CheckState::Ok, "{}", o.message);
        assert!(o.message.contains("NOERROR, 1 answers"), "{}", o.message);

        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let o = run(
            &spec(silent.local_addr().unwrap().to_string()),
            Duration::from_millis(200),
        )
        .await;
        assert_eq!(o.state, CheckState::Critical);
        assert!(o.message.contains("before the timeout"), "{}", o.message);
    }
}
