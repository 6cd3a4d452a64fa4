//! Debian's `prometheus-alertmanager` as a real peer: started on a free loopback port with a
//! configuration that notifies nobody (its own API is what the tests read), clustering off,
//! its data in the test's directory; killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_addr, get_json, wait_for};

/// The binary Debian's package installs.
pub const BINARY: &str = "/usr/bin/prometheus-alertmanager";

/// A running Alertmanager.
pub struct Alertmanager {
    /// `host:port` of its API.
    pub addr: String,
    child: Child,
}

impl Alertmanager {
    /// Starts Alertmanager in `dir` and waits until it is ready.
    pub fn start(dir: &Path) -> Self {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing (make test installs prometheus-alertmanager)"
        );
        let config = crate::write_config(
            dir,
            "alertmanager.yml",
            "route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n",
        );
        let addr = free_addr();
        let log = std::fs::File::create(dir.join("alertmanager.log")).expect("log file");
        let child = Command::new(BINARY)
            .arg(format!("--config.file={config}"))
            .arg(format!(
                "--storage.path={}",
                dir.join("alertmanager").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {BINARY}: {e}"));
        let am = Self { addr, child };
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

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
