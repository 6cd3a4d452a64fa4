//! The console's files page in a real browser: a bundle published through the API and
//! followed host by host on its page.

use std::time::Duration;

use strata_testkit::wait_for;

use crate::webdriver::Browser;

/// Publishes a bundle to east's simulated hosts through the centre at `http`, then follows
/// it on the console at `base`: a simulated host takes no files, so each stays pending,
/// with its agent's answer as the reason, and is tried again.
pub fn follow_a_bundle(browser: &Browser, http: &str, base: &str, within: Duration) {
    let (status, answer) = strata_testkit::http_request(
        http,
        "POST",
        "/api/v1/files",
        r#"{"name":"motd","files":[{"path":"/etc/strata-demo/motd","content":"hello"}],
            "targets":{"region":"east","hosts":"east-sim-000?"}}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    browser.goto(&format!("{base}#/files"));
    browser.find("#bundles tbody tr", within);
    browser.click("#bundles tbody a");
    browser.find("#bundle-hosts tbody tr", within);
    wait_for("the hosts tried", within, || {
        let hosts = browser.text_of("#bundle-hosts tbody");
        if hosts.contains("east/east-sim-0001")
            && hosts.contains("pending")
            && hosts.contains("simulated")
        {
            Ok(())
        } else {
            Err(hosts)
        }
    });
}
