//! The console in a real browser (headless Chromium through chromedriver) against `strata
//! up`: an admin logs in, every page loads, the admin clicks from the service map down to a
//! process of the host at fault; an operator logs in, acknowledges an incident (signed and
//! audited with their name and address) and cannot reach the admin pages; the admin has a
//! region check and save new rules and notification channels (then go back to its config
//! file's); the regional console of a sub-manager shows its region, acknowledges there, and
//! drills down to a host's processes. Apart, a regional console logs in and acknowledges
//! with the centre stopped. Screenshots go to `target/screenshots/`; with
//! `STRATA_DOCS_SCREENSHOTS=1` they also replace those of the README in `docs/console/`.

use std::path::PathBuf;
use std::time::Duration;

use strata_testkit::{Mesh, Proc, Region, get_json, wait_for};
use strata_tests::login::{ANA, ROOT, log_in, principals};
use strata_tests::sinks::WebhookReceiver;
use strata_tests::webdriver::Browser;

fn shots() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs = vec![root.join("target/screenshots")];
    if std::env::var("STRATA_DOCS_SCREENSHOTS").is_ok_and(|v| v == "1") {
        dirs.push(root.join("docs/console"));
    }
    dirs
}

fn snap(browser: &Browser, name: &str) {
    for dir in shots() {
        browser.screenshot(&dir.join(format!("{name}.png")));
    }
}

#[test]
fn an_operator_clicks_from_the_service_map_down_to_a_process() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("up");
    let parts = ["super-manager", "east-1", "west-1", "west-2"];
    principals(&parts.map(|p| data.join(p)));
    let up = Proc::start(
        "up",
        "strata",
        &[
            "up",
            "--http",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--sim-agents",
            "8",
            "--interval",
            "1s",
        ],
        dir,
    );
    let http = up.addr.clone();
    // the console probe has run and the shop's hosts are polled
    wait_for("the mesh up", Duration::from_secs(60), || {
        let s = get_json(&http, "/api/v1/services/console")?;
        let c = get_json(&http, "/api/v1/services/shop")?;
        if s["health"] == "ok"
            && c["components"][0]["resources"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        {
            Ok(())
        } else {
            Err(format!("console {}, shop {}", s["health"], c["health"]))
        }
    });
    let base = format!("http://{http}/");
    let browser = Browser::start(1280, 800);
    let within = Duration::from_secs(15);
    // nobody logged in: the login form, and nothing else
    browser.goto(&base);
    browser.find("#login-form", within);
    assert_eq!(browser.text_of("nav a[data-page=map]"), "");
    log_in(&browser, &base, ROOT);

    // every page loads and says what it is
    for (hash, title, name) in [
        ("#/", "Enterprise overview", "overview"),
        ("#/map", "Service map", "map"),
        ("#/events", "Events", "events"),
        (
            "#/reports?kind=availability&period=today",
            "Reports",
            "reports",
        ),
        ("#/service/console", "console", "service"),
    ] {
        browser.goto(&format!("{base}{hash}"));
        // the page is drawn again on every live update: read it until it says what it is
        wait_for(&format!("{hash} drawn"), within, || {
            let h1 = browser.text_of("main h1");
            if h1.starts_with(title) {
                Ok(())
            } else {
                Err(h1)
            }
        });
        assert_eq!(
            browser.text_of("main p.critical"),
            "",
            "{hash} shows an error"
        );
        snap(&browser, name);
    }
    browser.find("#rt .plot canvas", within);
    assert!(
        browser.text_of("#live").starts_with("live"),
        "the stream is followed"
    );

    // from the map to the console service, to its host (this machine's real agent), to that
    // host's live processes: three clicks
    browser.goto(&base);
    browser.click("nav a[data-page=map]");
    browser.click("#map a[data-service=console]");
    wait_for("the console service's page", within, || {
        let h1 = browser.text_of("main h1");
        if h1.starts_with("console") {
            Ok(())
        } else {
            Err(h1)
        }
    });
    browser.click("table.resources a[href^='#/resource/']");
    browser.find("#processes tbody tr", Duration::from_secs(20));
    let url = browser.url();
    assert!(url.contains("#/resource/"), "{url}");
    let row = browser.text_of("#processes tbody tr");
    assert!(
        row.split_whitespace()
            .next()
            .is_some_and(|pid| pid.parse::<u32>().is_ok()),
        "{row}"
    );
    // the host's routes, from the same live snapshot (this machine has a default route)
    assert!(browser.text_of("#routes tbody").contains('/'));
    // the processes ordered by disk I/O instead, with their read and write rates
    browser.click("#process-order a:last-child");
    wait_for("the processes by disk I/O", within, || {
        match browser.text_of("#process-order b").as_str() {
            "disk I/O" => Ok(()),
            other => Err(other.to_string()),
        }
    });
    browser.find("#processes tbody tr td.io-write", within);
    // its CPU, memory, disk, network and filesystem charts, PromQL over the region's store
    for chart in ["#cpu-chart", "#disk-chart", "#net-chart", "#fs-chart"] {
        browser.find(&format!("{chart} .plot canvas"), within);
    }
    // (a line once there are two steps)
    wait_for(
        "two points of network traffic",
        Duration::from_secs(30),
        || {
            browser.goto(&url);
            let points = browser.attribute("#net-chart .plot", "data-points");
            match points.parse::<u32>() {
                Ok(n) if n >= 2 => Ok(()),
                _ => Err(points),
            }
        },
    );
    snap(&browser, "resource");
    strata_tests::charts::range_cursor_zoom_and_explore(&browser, &base, &|b, n| snap(b, n));
    strata_tests::charts::a_map_of_200_services(&browser, &http, &base, &|b, n| snap(b, n));

    // that host beside a simulated one, on one chart and in one table
    let host = url.split("#/resource/").nth(1).unwrap().to_string();
    browser.goto(&format!(
        "{base}#/compare?resources={host},east/east-sim-0001&metric=host_cpu_usage_ratio&period=1h"
    ));
    browser.find("#compare-chart .plot canvas", within);
    wait_for("both hosts compared", within, || {
        let table = browser.text_of("#comparison tbody");
        if table.contains(&host) && table.contains("east/east-sim-0001") {
            Ok(())
        } else {
            Err(table)
        }
    });
    snap(&browser, "compare");

    // an operator acknowledges an open incident on the events page: west's hot simulated
    // host (every region's sim-0007 runs hot), found with the search box
    let hot = |region: &str| {
        let id = format!("{region}/{region}-sim-0007");
        wait_for(&format!("{id}'s incident"), Duration::from_secs(60), || {
            let events = get_json(&http, "/api/v1/events")?;
            let open = events
                .as_array()
                .is_some_and(|l| l.iter().any(|e| e["resource_id"] == id.as_str()));
            if open {
                Ok(())
            } else {
                Err(events.to_string())
            }
        });
    };
    hot("west");
    hot("east");
    // an operator now
    log_in(&browser, &base, ANA);
    browser.goto(&format!("{base}#/events?q=west-sim-0007"));
    let row = "table.events tr:has(button.ack)";
    browser.find(row, within);
    let resource = browser.attribute(row, "data-resource");
    let rule = browser.attribute(row, "data-rule");
    browser.click(&format!("{row} button.ack"));
    let acked = format!("table.events tr[data-resource='{resource}'][data-rule='{rule}'] td.state");
    wait_for("the acknowledgement shown", within, || {
        let state = browser.text_of(&acked);
        if state.contains("acknowledged by ana") {
            Ok(())
        } else {
            Err(state)
        }
    });
    // the centre folds it into its incident when the region's stream brings it
    wait_for("the centre's incident acknowledged", within, || {
        let events = get_json(&http, "/api/v1/events")?;
        let ours = events
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|e| e["resource_id"] == resource.as_str() && e["rule"] == rule.as_str())
            })
            .cloned()
            .unwrap_or_default();
        if ours["acknowledged_by"] == "ana" {
            Ok(())
        } else {
            Err(ours.to_string())
        }
    });
    snap(&browser, "events-acknowledged");
    // audited with who and from where
    let audit = get_json(&http, "/api/v1/reports/audit?period=today").unwrap();
    let subject = format!("{resource}/{rule}");
    let entry = audit["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["subject"] == subject.as_str()))
        .unwrap_or_else(|| panic!("no audit of {subject}: {audit}"))
        .clone();
    assert_eq!(
        (&entry["action"], &entry["who"], &entry["outcome"]),
        (&"acknowledge".into(), &"ana".into(), &"ok".into()),
        "{entry}"
    );
    assert!(
        entry["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{entry}"
    );
    // an operator has no Admin page, and the API refuses it anyway
    assert_eq!(browser.text_of("nav a[data-page=admin]"), "");
    browser.goto(&format!("{base}#/admin"));
    wait_for("the admin page refused", within, || {
        let said = browser.text_of("main p.critical");
        if said.contains("may not administer") {
            Ok(())
        } else {
            Err(said)
        }
    });

    // the administration page, as the admin: a region's rules, checked by the region before
    // they are saved
    log_in(&browser, &base, ROOT);
    browser.goto(&format!("{base}#/admin"));
    browser.find("#rules-form textarea", within);
    browser.fill(
        "#rules-form textarea",
        "[[rules]]\nname = 'swap'\nmetric = 'host_swap_used_ratio'\ncritcal = 0.9\n",
    );
    browser.click("#rules-form button");
    wait_for("the rules refused", within, || {
        let out = browser.text_of("#rules-result");
        if out.contains("rules[0] 'swap'") && out.contains("critcal") {
            Ok(())
        } else {
            Err(out)
        }
    });
    browser.fill(
        "#rules-form textarea",
        "[[rules]]\nname = 'swap'\nmetric = 'host_swap_used_ratio'\ncritical = 0.9\n",
    );
    browser.click("#rules-form button");
    wait_for("the rules saved", within, || {
        let out = browser.text_of("#rules-result");
        if out.starts_with("saved") {
            Ok(())
        } else {
            Err(out)
        }
    });
    // its notification channels, checked by every member of the region before they change
    let hook = "[[receivers]]\nname = 'on-call'\nkind = 'webhook'\nurl = 'URL'\n\
                headers = { Authorization = 'SECRET' }\n\
                [[routes]]\nmatch = { severity = 'critical' }\nreceivers = ['on-call']\n";
    let hook = hook.replace("SECRET", "Bearer pager-secret");
    browser.fill("#notify-form textarea", &hook.replace("URL", "ftp://pager"));
    browser.click("#notify-form button");
    wait_for("the channels refused", within, || {
        let out = browser.text_of("#notify-result");
        if out.contains("notify.receivers[0].url") {
            Ok(())
        } else {
            Err(out)
        }
    });
    let receiver = WebhookReceiver::start(0);
    let pager = format!("{}/page", receiver.url());
    browser.fill("#notify-form textarea", &hook.replace("URL", &pager));
    browser.click("#notify-form button");
    wait_for("the channels saved", within, || {
        let out = browser.text_of("#notify-result");
        if out.starts_with("saved: 1 receiver, 1 route,") {
            Ok(())
        } else {
            Err(out)
        }
    });
    let region = browser.text_of("main p b");
    let channels = get_json(&up.addr, &format!("/api/v1/regions/{region}/notify")).unwrap();
    assert_eq!(channels["source"], "api", "{channels}");
    assert!(
        channels["notify_toml"]
            .as_str()
            .unwrap_or("")
            .contains(&pager),
        "{channels}"
    );
    assert!(
        browser
            .text_of("#channels-summary")
            .starts_with("1 receiver, 1 route, 0 silences, from the API"),
        "{}",
        browser.text_of("#channels-summary")
    );
    let shown = channels["notify_toml"].as_str().unwrap_or("");
    assert!(
        !shown.contains("pager-secret") && shown.contains("<hidden>"),
        "{channels}"
    );
    // the hidden secret cannot be sent to another host: it must be given again
    let moved = hook
        .replace("Bearer pager-secret", "<hidden>")
        .replace("URL", "http://evil.example:9/page");
    browser.fill("#notify-form textarea", &moved);
    browser.click("#notify-form button");
    wait_for("the moved secret refused", within, || {
        let out = browser.text_of("#notify-result");
        if out.contains("headers.Authorization") && out.contains("give the secret again") {
            Ok(())
        } else {
            Err(out)
        }
    });
    snap(&browser, "admin");
    // shown again, they come from the API, and can go back to the config file's
    browser.goto(&format!("{base}#/admin?region={region}"));
    browser.find("#notify-file", within);
    assert!(
        browser
            .text_of("#channels-summary")
            .contains("from the API")
    );
    browser.click("#notify-file");
    wait_for("the config file's channels back", within, || {
        let out = browser.text_of("#notify-result");
        if out.contains("0 receivers") && out.contains("from the config file") {
            Ok(())
        } else {
            Err(out)
        }
    });
    // users and tokens: a token made on the page is shown this once, and listed after
    browser.fill("#token-form input[name=name]", "dashboard");
    browser.click("#token-form button");
    wait_for("the token shown once", within, || {
        let out = browser.text_of("#token-result");
        if out.contains("strata_") && out.contains("shown this once") {
            Ok(())
        } else {
            Err(out)
        }
    });
    assert!(browser.text_of("#users tbody").contains("ana"));
    // the region's agents, each with when it was last polled and by which member
    let agents = browser.text_of("#agents tbody");
    assert!(
        agents.contains("east-sim-0001") && agents.contains("east-1"),
        "{agents}"
    );
    // with what the last poll saw of its buffer: samples held of its capacity
    // (its last row brought into view for the screenshot)
    browser.click("#agents tbody tr:last-child td:last-child");
    snap(&browser, "admin-agents");
    let held = browser.text_of("tr[data-host='east-sim-0001'] td.buffer");
    let capacity = held
        .split_once(" / ")
        .and_then(|(len, cap)| Some((len.parse::<u64>().ok()?, cap.parse::<u64>().ok()?)))
        .map(|(_, cap)| cap);
    assert!(capacity.is_some_and(|c| c > 0), "buffer cell: '{held}'");
    // and what the limits left out of it: nothing
    let limits = browser.text_of("tr[data-host='east-sim-0001'] td.limits");
    assert_eq!(limits.trim(), "none", "limits cell");
    // and how late its last poll's oldest sample was stored
    let lag = browser.text_of("tr[data-host='east-sim-0001'] td.lag");
    assert!(
        lag.strip_suffix(" s")
            .is_some_and(|s| s.parse::<f64>().is_ok()),
        "lag cell: '{lag}'"
    );
    let polled = get_json(&up.addr, "/api/v1/regions/east/agents").unwrap();
    let sim = polled
        .as_array()
        .and_then(|l| l.iter().find(|a| a["agent_id"] == "east-sim-0001"))
        .cloned()
        .unwrap_or_default();
    assert!(
        sim["polled_ms"].as_i64().is_some_and(|t| t > 0)
            && sim["buffer"]["capacity"].as_u64() == capacity
            && sim["member_id"] == "east-1",
        "{polled}"
    );

    // files: a bundle published through the API, followed host by host on its page
    strata_tests::console_files::follow_a_bundle(&browser, &http, &base, within);
    snap(&browser, "files");

    // the regional console of east's sub-manager: the same console, for the region alone
    let regional = up
        .first_line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("east-1="))
        .expect("strata up names east-1's console")
        .to_string();
    log_in(&browser, &regional, ANA);
    browser.goto(&regional);
    wait_for("the regional overview", within, || {
        let h1 = browser.text_of("main h1");
        if h1 == "Region east" { Ok(()) } else { Err(h1) }
    });
    browser.find("#hosts tbody tr", within);
    assert_eq!(
        browser.text_of("nav a[data-page=map]"),
        "",
        "no service map in a region"
    );
    assert_eq!(browser.text_of("main p.critical"), "");
    browser.goto(&format!("{regional}#/events"));
    browser.click("tr[data-resource='east/east-sim-0007'] button.ack");
    wait_for(
        "east's incident acknowledged on the regional console",
        within,
        || {
            let state = browser.text_of("tr[data-resource='east/east-sim-0007'] td.state");
            if state.contains("acknowledged by ana") {
                Ok(())
            } else {
                Err(state)
            }
        },
    );
    // and the centre hears of it through the region's stream
    wait_for(
        "the centre shows the regional acknowledgement",
        within,
        || {
            let events = get_json(&http, "/api/v1/events")?;
            let acked = events.as_array().is_some_and(|l| {
                l.iter().any(|e| {
                    e["resource_id"] == "east/east-sim-0007" && e["acknowledged_by"] == "ana"
                })
            });
            if acked {
                Ok(())
            } else {
                Err(events.to_string())
            }
        },
    );
    snap(&browser, "regional");
    let host_page = format!("{regional}#/resource/{host}");
    browser.goto(&host_page);
    browser.find("#processes tbody tr", Duration::from_secs(20));
    // the region's own admin page reads its channels from the sub-manager itself
    log_in(&browser, &regional, ROOT);
    browser.goto(&format!("{regional}#/admin"));
    browser.find("#channels-summary", within);
    assert!(
        browser
            .text_of("#channels-summary")
            .contains("from the config file"),
        "{}",
        browser.text_of("#channels-summary")
    );
    // and its agents' buffers from the member itself
    let held = browser.text_of("tr[data-host='east-sim-0001'] td.buffer");
    assert!(held.contains(" / "), "regional buffer cell: '{held}'");

    // a deep link opens the same page directly, at phone width too
    let deep = url.clone();
    drop(browser);
    let phone = Browser::start(390, 844);
    log_in(&phone, &base, ANA);
    phone.goto(&deep);
    phone.find("#processes tbody tr", Duration::from_secs(20));
    snap(&phone, "resource-phone");
}

#[test]
fn a_regional_console_logs_in_and_acknowledges_with_the_centre_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    // the centre's principals are handed to the region: ana is made at both
    principals(&[dir.join("super"), dir.join("east-1")]);
    let mut mesh = Mesh::builder()
        .dir(&dir)
        .interval(Duration::from_secs(1))
        .region(Region::new("east").sim("sim", "east-sim-", 8).consoles())
        .start();
    let console = strata_tests::console_addr(&mesh.regions[0].members[0]);
    // east-sim-0007 runs hot: its incident opens in the region
    let hot = "east/east-sim-0007";
    wait_for("the hot host's incident", Duration::from_secs(60), || {
        let events = get_json(&console, "/api/v1/events")?;
        if events.to_string().contains(hot) {
            Ok(())
        } else {
            Err(events.to_string())
        }
    });
    for sup in &mut mesh.super_managers {
        sup.kill();
    }
    let browser = Browser::start(1280, 800);
    let base = format!("http://{console}/");
    log_in(&browser, &base, ANA);
    browser.goto(&format!("{base}#/events"));
    let row = format!("tr[data-resource='{hot}']");
    browser.find(&format!("{row} button.ack"), Duration::from_secs(15));
    browser.click(&format!("{row} button.ack"));
    wait_for(
        "acknowledged with the centre down",
        Duration::from_secs(15),
        || {
            let state = browser.text_of(&format!("{row} td.state"));
            if state.contains("acknowledged by ana") {
                Ok(())
            } else {
                Err(state)
            }
        },
    );
    // the region's own audit log names who, from where
    let audit = std::fs::read_to_string(dir.join("east-1/audit.jsonl")).unwrap();
    let line = audit
        .lines()
        .find(|l| l.contains("\"acknowledge\"") && l.contains(hot))
        .unwrap_or_else(|| panic!("no acknowledgement audited: {audit}"));
    assert!(
        line.contains("\"who\":\"ana\"") && line.contains("\"address\":\"127.0.0.1:"),
        "{line}"
    );
    assert!(audit.contains("\"login\""), "{audit}");
    // and once the centre is back, its own log has the region's lines, saying where
    for sup in &mut mesh.super_managers {
        sup.restart();
    }
    strata_tests::wait_for_centre_audit(
        &mesh.http(),
        "ana",
        &["acknowledge", "in region east (member east-1)"],
    );
}
