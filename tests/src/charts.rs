//! The console's charts, its explore page and its service map in the browser (parts of
//! `tests/console_browser.rs`, against its `strata up`): a time range picked, the values
//! under the cursor, a span zoomed by dragging, PromQL charted on the explore page, and two
//! hundred services laid out on the map.

use std::time::Duration;

use strata_testkit::wait_for;

use crate::webdriver::Browser;

/// Takes a screenshot under a name.
pub type Snap<'a> = &'a dyn Fn(&Browser, &str);

/// On a host's page (in view, with at least two points charted): the last 15 minutes, the
/// values under the cursor, a span zoomed by dragging, then PromQL on the explore page.
pub fn range_cursor_zoom_and_explore(browser: &Browser, base: &str, snap: Snap<'_>) {
    let within = Duration::from_secs(15);
    // the last 15 minutes (the mesh has run for less: its samples are at the right edge)
    browser.click(".range-picker a[data-range='15m']");
    wait_for("the range in the URL", within, || {
        let url = browser.url();
        if url.contains("range=15m") {
            Ok(())
        } else {
            Err(url)
        }
    });
    browser.find("#cpu-chart .plot canvas", within);
    // the values under the cursor, at the last samples (the chart's right margin is 12 px)
    let half = browser.width("#cpu-chart canvas") / 2;
    wait_for("values under the cursor", within, || {
        // (moved again each time: a drawing begun before the mouse came may replace the chart)
        browser.pointer("#cpu-chart canvas", half - 14, None);
        let tip = browser.text_of("#cpu-chart .plot-tip");
        if tip.contains("cpu:") {
            Ok(())
        } else {
            Err(tip)
        }
    });
    // a span of those minutes zoomed by dragging across the chart, to its right edge (past
    // the last samples)
    browser.pointer("#cpu-chart canvas", half - 160, Some(half - 2));
    let zoomed = wait_for("the zoom in the URL", within, || {
        let url = browser.url();
        if url.contains("from=") && url.contains("to=") && !url.contains("range=") {
            Ok(url)
        } else {
            Err(url)
        }
    });
    let span = |url: &str, key: &str| -> i64 {
        url.split(['?', '&'])
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let ms = span(&zoomed, "to") - span(&zoomed, "from");
    assert!(
        ms > 0 && ms < 15 * 60 * 1000,
        "a span within the 15 minutes: {zoomed}"
    );
    // the page drawn again over that span, its picker saying so
    wait_for("the zoomed page", within, || {
        let picker = browser.text_of(".range-picker");
        if picker.contains("zoomed") {
            Ok(())
        } else {
            Err(picker)
        }
    });
    browser.find("#cpu-chart .plot canvas", within);
    snap(browser, "resource-zoomed");

    // PromQL on the explore page, charted: the regions' mean CPU
    browser.goto(&format!("{base}#/explore?range=15m"));
    browser.fill(
        "#explore-form textarea",
        "avg by (region) (host_cpu_usage_ratio{cpu=\"total\"})",
    );
    browser.click("#explore-form button");
    browser.find("#explore-chart .plot canvas", within);
    let listed = browser.text_of("#explore-series tbody");
    for region in ["east", "west"] {
        assert!(listed.contains(&format!("region=\"{region}\"")), "{listed}");
    }
    snap(browser, "explore");
    // a node_exporter name over the same series; a bad expression is said as Prometheus says it
    browser.goto(&format!("{base}#/explore?query=node_load1&range=15m"));
    wait_for("node_load1 charted", within, || {
        let listed =
            browser.text_of("#explore-series tbody") + &browser.text_of("#explore-summary");
        if listed.contains("node_load1") && listed.contains("job=\"node\"") {
            Ok(())
        } else {
            Err(listed)
        }
    });
    browser.find("#explore-chart .plot canvas", within);
    browser.goto(&format!("{base}#/explore?query=sum(("));
    browser.find("#explore-error", within);
}

/// Two hundred services put through the API at `http` still read on the map: none drawn
/// over another, the columns ordered to cross fewer dependencies than unordered; then gone.
pub fn a_map_of_200_services(browser: &Browser, http: &str, base: &str, snap: Snap<'_>) {
    let within = Duration::from_secs(15);
    // two hundred services still read on the map: none drawn over another, and the columns
    // ordered to cross fewer dependencies than they would unordered
    for i in 0..200 {
        let needs: Vec<String> = match i {
            0..120 => Vec::new(),
            120..180 => (0..3)
                .map(|k| format!("svc-{:03}", (i * 37 + k * 11) % 120))
                .collect(),
            _ => (0..3)
                .map(|k| format!("svc-{:03}", 120 + (i * 7 + k * 13) % 60))
                .collect(),
        };
        let body = serde_json::json!({"name": format!("svc-{i:03}"), "depends_on": needs,
            "components": [{"name": "app", "region": "east", "host": "~east-sim-0001"}]});
        let (status, answer) = strata_testkit::http_request(
            http,
            "PUT",
            &format!("/api/v1/services/svc-{i:03}"),
            &body.to_string(),
        )
        .unwrap();
        assert!(status < 300, "svc-{i:03}: {status} {answer}");
    }
    browser.goto(&format!("{base}#/map"));
    browser.find("#map a[data-service='svc-199']", within);
    let crossed: u64 = browser.attribute("#map", "data-crossings").parse().unwrap();
    let unordered: u64 = browser
        .attribute("#map", "data-crossings-unordered")
        .parse()
        .unwrap();
    assert!(
        crossed * 2 < unordered,
        "{crossed} crossings, {unordered} unordered"
    );
    snap(browser, "map-200");
    // (those depended on last)
    for i in (0..200).rev() {
        let (status, answer) = strata_testkit::http_request(
            http,
            "DELETE",
            &format!("/api/v1/services/svc-{i:03}"),
            "",
        )
        .unwrap();
        assert!(status < 300, "svc-{i:03}: {status} {answer}");
    }
}
