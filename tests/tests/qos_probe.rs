//! A service made of an HTTP probe, end to end with the real binaries: the agent probes a web
//! server that this test runs and controls; when the server slows past the probe's
//! `warn_after`, the service turns degraded, and when it refuses connections, down, each within
//! two probe intervals of the change (the Done-when of the QoS view, a functional deadline
//! rather than a performance figure); after a minute it answers again, and the service's SLA
//! report counts that minute lost. The web server "runs on" a simulated host, app-0001, which
//! the test stops with it: the service's root cause names that host first, not the host whose
//! agent runs the probe.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use strata_testkit::{Mesh, Region, get_json, wait_for};
use strata_tests::{Target, probing_agent};

/// Seconds between two runs of the probe.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

fn health(http: &str) -> Result<String, String> {
    let s = get_json(http, "/api/v1/services/shop")?;
    Ok(s["health"].as_str().unwrap_or("").to_string())
}

/// Waits until the shop is `want`, and says how long that took.
fn until(http: &str, want: &str) -> Duration {
    let started = Instant::now();
    wait_for(&format!("the shop {want}"), Duration::from_secs(30), || {
        let h = health(http)?;
        if h == want { Ok(()) } else { Err(h) }
    });
    started.elapsed()
}

#[test]
fn a_slowed_then_stopped_probe_target_turns_its_service_degraded_then_down() {
    let target = Target::start();
    // The application's hosts: app-0001 (the web server's), and api-0001 beside it.
    let mut mesh = Mesh::builder()
        .interval(Duration::from_millis(250))
        .sample_interval(Duration::from_millis(500))
        .file(
            "services.toml",
            "[[services]]\nname = \"shop\"\n[[services.components]]\nname = \"front\"\n\
             check = \"shop-http\"\n[[services.components]]\nname = \"app\"\nhost = \"~app-.*\"\n\
             [[services.components]]\nname = \"api\"\nhost = \"~api-.*\"\n",
        )
        .super_toml("services_file = \"{dir}/services.toml\"")
        .region(
            Region::new("west")
                .agent(&probing_agent(
                    &format!("http://{}/", target.addr),
                    &format!("{}s", PROBE_INTERVAL.as_secs()),
                    "timeout = \"1500ms\"\nwarn_after = \"300ms\"\n",
                ))
                .sim("api", "api-", 1)
                .sim("app", "app-", 1),
        )
        .start();
    let http = mesh.http();
    until(&http, "ok");
    let started_ms = strata_testkit::now_ms();
    let detail = get_json(&http, "/api/v1/services/shop").unwrap();
    let check = &detail["components"][0]["checks"][0];
    assert_eq!(
        (check["resource_id"].as_str(), check["kind"].as_str()),
        (Some("west/web-1"), Some("http")),
        "{detail}"
    );

    // Slowed past warn_after: degraded within two probe intervals.
    target.delay_ms.store(600, Ordering::Relaxed);
    let took = until(&http, "degraded");
    eprintln!("degraded {took:?} after the slow-down");
    assert!(
        took <= 2 * PROBE_INTERVAL,
        "degraded after {took:?}, more than two probe intervals"
    );
    let detail = get_json(&http, "/api/v1/services/shop").unwrap();
    let message = detail["components"][0]["checks"][0]["message"]
        .as_str()
        .unwrap_or("");
    assert!(message.contains("slower than 300ms"), "{detail}");

    // Refusing, its host gone with it: down within two probe intervals.
    target.refuse.store(true, Ordering::Relaxed);
    mesh.region("west").sim("app").kill();
    let stopped = Instant::now();
    let took = until(&http, "down");
    eprintln!("down {took:?} after the stop");
    assert!(
        took <= 2 * PROBE_INTERVAL,
        "down after {took:?}, more than two probe intervals"
    );

    // The root cause: app-0001 first (down, its incident opened with the outage), not the
    // prober.
    let rca = wait_for("the root cause", Duration::from_secs(20), || {
        let rca = get_json(&http, "/api/v1/services/shop/rca")?;
        match rca["causes"][0]["resource_id"].as_str() {
            Some("west/app-0001") => Ok(rca),
            _ => Err(rca.to_string()),
        }
    });
    eprintln!("{rca}");
    // The prober may appear for evidence of its own (this machine's real CPU, say), never
    // for the probe's failure.
    let causes = rca["causes"].as_array().unwrap();
    assert!(
        causes
            .iter()
            .filter(|c| c["resource_id"] == "west/web-1")
            .all(|c| !c["evidence"].to_string().contains("shop-http")),
        "the probe's failure is not evidence against the prober: {rca}"
    );
    assert!(
        rca["symptoms"][0].as_str().unwrap().contains("shop-http"),
        "{rca}"
    );
    let out = strata_testkit::cli()
        .args(["rca", "shop", "--api"])
        .arg(format!("http://{http}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\n1. west/app-0001 "),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A minute after the stop it answers quickly again: the SLA report counts one minute lost.
    std::thread::sleep(Duration::from_secs(60).saturating_sub(stopped.elapsed()));
    target.delay_ms.store(0, Ordering::Relaxed);
    target.refuse.store(false, Ordering::Relaxed);
    mesh.region("west").sim("app").restart();
    until(&http, "ok");
    // The report once the recovery is on record (the outage ends before the period does).
    let sla = wait_for("the recovery on record", Duration::from_secs(10), || {
        let to_ms = strata_testkit::now_ms();
        let sla = get_json(
            &http,
            &format!("/api/v1/services/shop/sla?from_ms={started_ms}&to_ms={to_ms}"),
        )?;
        match sla["outages"][0]["to_ms"].as_i64() {
            Some(end) if end < to_ms => Ok(sla),
            _ => Err(sla.to_string()),
        }
    });
    eprintln!("{sla}");
    assert_eq!(sla["lost_minutes"], 1, "{sla}");
    let down = sla["down_seconds"].as_f64().unwrap();
    assert!(
        (down - 60.0).abs() <= PROBE_INTERVAL.as_secs_f64() + 1.0,
        "down {down} s for a 60 s outage: {sla}"
    );
    assert!(sla["degraded_seconds"].as_f64().unwrap() > 0.0, "{sla}");
    assert_eq!(sla["outages"].as_array().unwrap().len(), 1, "{sla}");
    let out = strata_testkit::cli()
        .args(["report", "sla", "shop", "--period", "10m", "--api"])
        .arg(format!("http://{http}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("; 1 minutes lost ("),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
