//! Another program Strata is tested or measured beside (Alertmanager, Prometheus,
//! node_exporter, chromedriver...), started on port 0: the address it got is read from its
//! own output, so no port is chosen before the program binds it. For a program that does
//! not say which port it got, [`Peer::start_on_free_port`] retries on another port when the
//! one it tried was taken meanwhile.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::{Result, TestkitError};
use crate::proc::{START_WITHIN, await_line};

/// Ports tried before giving up, for peers started on a chosen port.
const PORT_ATTEMPTS: usize = 5;

/// Which output a peer reports its address on.
#[derive(Debug, Clone, Copy)]
pub enum Output {
    Stdout,
    Stderr,
}

/// A peer process, killed and reaped on drop.
pub struct Peer {
    pub child: Child,
    /// Where it listens (`host:port`).
    pub addr: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// Starts `command`, copies the chosen `output` to `log`, and waits up to 30 s for a
    /// line from which `find` reads the address.
    pub fn start(
        mut command: Command,
        output: Output,
        log: &Path,
        find: impl Fn(&str) -> Option<String> + Send + 'static,
    ) -> Result<Peer> {
        let what = format!("{command:?}");
        match output {
            Output::Stdout => command.stdout(Stdio::piped()).stderr(Stdio::null()),
            Output::Stderr => command.stderr(Stdio::piped()).stdout(Stdio::null()),
        };
        let mut child =
            command
                .stdin(Stdio::null())
                .spawn()
                .map_err(|source| TestkitError::Io {
                    doing: format!("start {what}"),
                    source,
                })?;
        let stream: Box<dyn std::io::Read + Send> = match output {
            Output::Stdout => Box::new(child.stdout.take().expect("piped stdout")),
            Output::Stderr => Box::new(child.stderr.take().expect("piped stderr")),
        };
        let mut file = std::fs::File::create(log).map_err(|source| TestkitError::Io {
            doing: format!("create {}", log.display()),
            source,
        })?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                if let Some(addr) = find(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = await_line(&rx, &mut child, &what, log)?;
        Ok(Peer { child, addr })
    }

    /// For a peer that does not report the port it got: `command(addr)` is started on a
    /// free loopback port, and `ready(addr)` polled until it holds; when the peer exits
    /// first (the port was taken meanwhile), another port is tried.
    pub fn start_on_free_port(
        command: impl Fn(&str) -> Command,
        log: &Path,
        ready: impl Fn(&str) -> bool,
    ) -> Result<Peer> {
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let addr = free_loopback_addr()?;
            let mut c = command(&addr);
            let file = std::fs::File::create(log).map_err(|source| TestkitError::Io {
                doing: format!("create {}", log.display()),
                source,
            })?;
            let what = format!("{c:?}");
            let child = c
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(file)
                .spawn()
                .map_err(|source| TestkitError::Io {
                    doing: format!("start {what}"),
                    source,
                })?;
            let mut peer = Peer { child, addr };
            let deadline = std::time::Instant::now() + START_WITHIN;
            loop {
                if ready(&peer.addr) {
                    return Ok(peer);
                }
                if let Ok(Some(status)) = peer.child.try_wait() {
                    last = Some(TestkitError::Exited {
                        name: what,
                        status: status.to_string(),
                        log: std::fs::read_to_string(log).unwrap_or_default(),
                    });
                    break;
                }
                if std::time::Instant::now() > deadline {
                    return Err(TestkitError::Silent {
                        name: what,
                        within: START_WITHIN,
                        log: std::fs::read_to_string(log).unwrap_or_default(),
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Err(last.expect("at least one attempt"))
    }
}

/// A loopback port free a moment ago: only for [`Peer::start_on_free_port`], which retries
/// when another process took it first.
fn free_loopback_addr() -> Result<String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.to_string())
        .map_err(|source| TestkitError::Io {
            doing: "find a free loopback port".into(),
            source,
        })
}

/// The address in an exporter-toolkit log line (Prometheus, Alertmanager, node_exporter,
/// blackbox_exporter): `... msg="Listening on" address=127.0.0.1:41439`.
pub fn listening_on(line: &str) -> Option<String> {
    if !line.contains("Listening on") {
        return None;
    }
    let addr = line.split("address=").nth(1)?.split_whitespace().next()?;
    Some(addr.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_exporter_log_line_gives_its_address() {
        let line = r#"ts=2026-12-03T17:22:48.903Z caller=tls_config.go:232 level=info msg="Listening on" address=127.0.0.1:41439"#;
        assert_eq!(
            super::listening_on(line).as_deref(),
            Some("127.0.0.1:41439")
        );
        assert_eq!(super::listening_on("level=info msg=other"), None);
    }
}
