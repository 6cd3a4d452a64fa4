//! Debian's `prometheus-alertmanager` as a real peer: started on loopback port 0 (its log says
//! which port it got) with a
//! configuration that notifies nobody (its own API is what the tests read), clustering off,
//! its data in the test's directory; killed on drop.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use strata_testkit::{get_json, wait_for, write_config};

use strata_testkit::peer::{Output, Peer, listening_on};

/// The binary Debian's package installs.
pub const BINARY: &str = "/usr/bin/prometheus-alertmanager";

/// A running Alertmanager.
pub struct Alertmanager {
    /// `host:port` of its API.
    pub addr: String,
    /// Killed on drop.
    _peer: Peer,
}

impl Alertmanager {
    /// Starts Alertmanager in `dir` and waits until it is ready.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(
            dir,
            "route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n",
        )
    }

    /// Starts Alertmanager in `dir` notifying the webhook at `url` once per alert group
    /// (grouped by alert name and service, a second's wait, no repeat within the test).
    pub fn notifying(dir: &Path, url: &str) -> Self {
        Self::start_with(
            dir,
            &format!(
                "route:\n  receiver: hook\n  group_by: ['alertname', 'service']\n  group_wait: 1s\n  \
                 group_interval: 10m\n  repeat_interval: 4h\nreceivers:\n  - name: hook\n    \
                 webhook_configs:\n      - url: '{url}/'\n        send_resolved: false\n"
            ),
        )
    }

    /// Starts Alertmanager in `dir` with the configuration `yaml`.
    pub fn start_with(dir: &Path, yaml: &str) -> Self {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing (make test installs prometheus-alertmanager)"
        );
        let config = write_config(dir, "alertmanager.yml", yaml);
        let mut command = Command::new(BINARY);
        command
            .arg(format!("--config.file={config}"))
            .arg(format!(
                "--storage.path={}",
                dir.join("alertmanager").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg("--cluster.listen-address=");
        let peer = Peer::start(
            command,
            Output::Stderr,
            &dir.join("alertmanager.log"),
            listening_on,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let addr = peer.addr.clone();
        let am = Self { addr, _peer: peer };
        wait_for("Alertmanager ready", Duration::from_secs(30), || {
            get_json(&am.addr, "/api/v2/status").map(|_| ())
        });
        am
    }

    /// The alerts it holds (`GET /api/v2/alerts`), active or not.
    pub fn alerts(&self) -> Result<Vec<serde_json::Value>, String> {
        let v = get_json(
            &self.addr,
            "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true",
        )?;
        v.as_array()
            .cloned()
            .ok_or_else(|| format!("not a list of alerts: {v}"))
    }
}
