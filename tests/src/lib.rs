//! The peers Strata's end-to-end tests talk to: an Alertmanager, an SMTP and a webhook sink,
//! a probe target, a WebDriver client and the logins through it, an agent whose CPU the
//! test sets, VictoriaMetrics and Prometheus as remote-write receivers; region eu of the
//! alerting tests; the fault tests' exact accounting; Kubernetes objects read as JSON; every
//! parser fed from outside as a fuzz target (`fuzz`, run by `fuzz/` and `tests/fuzz.rs`).
//! Starting Strata itself — daemons on port 0, whole meshes, proxies that cut a link, waits
//! with deadlines — is the test kit's (`strata-testkit`, `Mesh::builder()`), shared with
//! the benches and `strata up`.
//!
//! The binaries must be built first (`cargo build --workspace --bins`; `make test` does it).

pub mod accounting;
pub mod alertmanager;
pub mod charts;
pub mod console_files;
pub mod cpu_agent;
pub mod eu;
pub mod fuzz;
pub mod login;
pub mod manifests;
pub mod sinks;
pub mod target;
pub mod tsdb_peers;
pub mod webdriver;

pub use cpu_agent::CpuAgent;
pub use target::Target;

/// The TOML of agent `web-1`, sampling every second, whose check `shop-http` probes `url`
/// every `interval` (`extra`: more TOML lines of the check), for `Region::agent`.
pub fn probing_agent(url: &str, interval: &str, extra: &str) -> String {
    format!(
        "id = \"web-1\"\ncollect_interval = \"1s\"\n\
         [[checks]]\nname = \"shop-http\"\nkind = \"http\"\nurl = \"{url}\"\n\
         interval = \"{interval}\"\n{extra}"
    )
}

/// Waits until the centre at `http` has, in its audit log of the last hour, a line by `who`
/// that says each of `words` (the region's lines reach it through the region's stream).
pub fn wait_for_centre_audit(http: &str, who: &str, words: &[&str]) {
    strata_testkit::wait_for(
        &format!("{who}'s line in the centre's audit log"),
        std::time::Duration::from_secs(30),
        || {
            let path = format!("/api/v1/reports/audit?period=1h&who={who}");
            let text = strata_testkit::get_json(http, &path)?.to_string();
            if words.iter().all(|w| text.contains(w)) {
                Ok(())
            } else {
                Err(text)
            }
        },
    );
}

/// The regional console's address (`host:port`) a member printed on its listening line.
pub fn console_addr(member: &strata_testkit::Proc) -> String {
    member
        .field("console")
        .unwrap_or_else(|| panic!("no console in '{}'", member.first_line))
}
