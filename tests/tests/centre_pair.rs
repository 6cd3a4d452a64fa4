//! Two centres, both active, that agree: what is made at one (services changed through its
//! API, a user, a login) is in force at the other; one is SIGKILLed while services change,
//! probes run and a service goes down and up again; the other answers on its own with the
//! changes (to the console's login made at the dead one, and to the CLI given both); the
//! killed one comes back and catches up: both then answer the same services and versions,
//! the same SLA minutes, the same QoS percentiles and the same audit log, each line once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use strata_testkit::{Mesh, Region, get_json, http_request, wait_for};
use strata_tests::login::{session_cookie, with_session};
use strata_tests::{Target, probing_agent};

/// A service of one component, checked by the probe.
fn service(name: &str, description: &str) -> String {
    serde_json::json!({
        "name": name,
        "description": description,
        "components": [{"name": "front", "check": "shop-http"}],
    })
    .to_string()
}

/// The services a centre lists, as (name, version).
fn services(centre: &str) -> Result<Vec<(String, u64)>, String> {
    let list = get_json(centre, "/api/v1/services")?;
    let mut out: Vec<(String, u64)> = list
        .as_array()
        .ok_or_else(|| list.to_string())?
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("").to_string(),
                s["version"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Waits until `centre` says service shop is `health`.
fn shop_is(centre: &str, health: &str) {
    wait_for(
        &format!("shop {health} at {centre}"),
        Duration::from_secs(30),
        || {
            let s = get_json(centre, "/api/v1/services/shop")?;
            if s["health"] == health {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    );
}

/// What both centres must agree on over `[from_ms, to_ms)`: shop's SLA and QoS, the
/// services, the audit log.
fn figures(centre: &str, (from_ms, to_ms): (i64, i64)) -> Result<Value, String> {
    let window = format!("from_ms={from_ms}&to_ms={to_ms}");
    let sla = get_json(centre, &format!("/api/v1/services/shop/sla?{window}"))?;
    let qos = get_json(centre, &format!("/api/v1/services/shop/qos?{window}"))?;
    let audit = get_json(centre, &format!("/api/v1/reports/audit?{window}"))?;
    Ok(serde_json::json!({
        "services": services(centre)?,
        "down_seconds": sla["down_seconds"],
        "lost_minutes": sla["lost_minutes"],
        "outages": sla["outages"],
        "qos": qos["summary"],
        "audit": audit["rows"],
    }))
}

#[test]
fn a_killed_centre_catches_up_and_both_agree_with_nothing_lost_or_doubled() {
    let target = Target::start();
    target.delay_ms.store(20, Ordering::Relaxed);
    let url = format!("http://{}/", target.addr);
    let mut mesh = Mesh::builder()
        .super_managers(2)
        .interval(Duration::from_millis(250))
        .file(
            "services.toml",
            "[[services]]\nname = \"shop\"\n\
             [services.slo]\nobjective = 0.99\nwindow = \"1d\"\n\
             [[services.components]]\nname = \"front\"\ncheck = \"shop-http\"\n",
        )
        .super_toml("services_file = \"{dir}/services.toml\"")
        .region(Region::new("west").agent(&probing_agent(&url, "1s", "timeout = \"800ms\"\n")))
        .start();
    let from_ms = strata_proto::now_ms();
    let (a, b) = (
        mesh.super_managers[0].addr.clone(),
        mesh.super_managers[1].addr.clone(),
    );
    shop_is(&a, "ok");
    shop_is(&b, "ok");

    // made at one centre, in force at the other: services, a user, a login
    let put = |centre: &str, name: &str, description: &str| {
        let path = format!("/api/v1/services/{name}");
        let (status, said) =
            http_request(centre, "PUT", &path, &service(name, description)).unwrap();
        assert_eq!(status, 200, "PUT {name} at {centre}: {said}");
    };
    put(&a, "pay", "payments");
    put(&b, "cart", "baskets");
    let olga = ("olga", "olga's long password");
    let user = serde_json::json!({"name": olga.0, "password": olga.1, "role": "viewer"});
    let (status, said) = http_request(&a, "POST", "/api/v1/users", &user.to_string()).unwrap();
    assert!(status == 200 || status == 201, "{status} {said}");
    let both = wait_for(
        "both centres list the same services",
        Duration::from_secs(20),
        || {
            let (sa, sb) = (services(&a)?, services(&b)?);
            if sa == sb && sa.len() == 3 {
                Ok(sa)
            } else {
                Err(format!("{sa:?} / {sb:?}"))
            }
        },
    );
    assert_eq!(
        both,
        vec![
            ("cart".to_string(), 1),
            ("pay".to_string(), 1),
            ("shop".to_string(), 1)
        ]
    );
    // olga, made at a, logs in there; the session is honoured at b, where she can log in too
    let cookie = session_cookie(&a, olga).unwrap();
    let at_b = wait_for(
        "a's login honoured at b",
        Duration::from_secs(20),
        || match with_session(&b, "GET", "/api/v1/session", &cookie)? {
            (200, answer) => Ok(answer),
            (status, answer) => Err(format!("{status}: {answer}")),
        },
    );
    assert!(at_b.contains("\"olga\""), "{at_b}");
    wait_for("olga known at b", Duration::from_secs(20), || {
        session_cookie(&b, olga)
    });

    // a is killed; services change at b, probes run, shop goes down and comes back
    mesh.super_managers[0].kill();
    put(&b, "pay", "payments, second version");
    let (status, said) = http_request(&b, "DELETE", "/api/v1/services/cart", "").unwrap();
    assert!(status == 200 || status == 204, "{status} {said}");
    target.status.store(500, Ordering::Relaxed);
    shop_is(&b, "down");
    let failing = target.accepted.load(Ordering::SeqCst);
    wait_for("three failed probes", Duration::from_secs(20), || {
        let n = target.accepted.load(Ordering::SeqCst);
        if n >= failing + 3 {
            Ok(())
        } else {
            Err(format!("{n} probes"))
        }
    });
    target.status.store(200, Ordering::Relaxed);
    shop_is(&b, "ok");
    assert_eq!(
        services(&b).unwrap(),
        vec![("pay".to_string(), 2), ("shop".to_string(), 1)],
        "b answers alone with the changes made while a is down"
    );
    // the console's login goes on at b, and the CLI given both centres answers from b
    let (status, answer) = with_session(&b, "GET", "/api/v1/session", &cookie).unwrap();
    assert_eq!(status, 200, "{answer}");
    let out = strata_testkit::cli()
        .args(["services", "--api", &format!("http://{a},http://{b}")])
        .env("STRATA_TOKEN", strata_testkit::admin_token())
        .output()
        .unwrap();
    let said = strata_testkit::printed(&out);
    assert!(out.status.success() && said.contains("pay"), "{said}");
    assert!(!said.contains("cart"), "{said}");

    // a comes back and catches up
    mesh.super_managers[0].restart();
    let to_ms = strata_proto::now_ms();
    let window = (from_ms - 60_000, to_ms);
    let accepted = target.accepted.load(Ordering::SeqCst);
    let agreed = wait_for(
        "both centres agree on everything",
        Duration::from_secs(60),
        || {
            let (fa, fb) = (figures(&a, window)?, figures(&b, window)?);
            if fa != fb {
                return Err(format!("a: {fa}\nb: {fb}"));
            }
            // every probe run up to the window's end, once
            let runs = fa["qos"]["runs"].as_u64().unwrap_or(0);
            if runs + 2 < accepted {
                return Err(format!("{runs} runs of {accepted} probes"));
            }
            Ok(fa)
        },
    );
    eprintln!("{agreed:#}");
    let runs = agreed["qos"]["runs"].as_u64().unwrap();
    let total = target.accepted.load(Ordering::SeqCst);
    assert!(runs <= total, "{runs} runs counted for {total} probes");
    assert!(agreed["qos"]["failures"].as_u64().unwrap() >= 3, "{agreed}");
    assert!(
        agreed["down_seconds"].as_f64().unwrap() > 1.0,
        "the outage while a was down is in both SLAs: {agreed}"
    );
    assert_eq!(agreed["outages"].as_array().unwrap().len(), 1, "{agreed}");
    assert_eq!(
        agreed["services"],
        serde_json::json!([["pay", 2], ["shop", 1]]),
        "{agreed}"
    );
    // each change once in the audit log, whichever centre made it
    let rows = agreed["audit"].as_array().unwrap();
    let lines = |action: &str, subject: &str| {
        rows.iter()
            .filter(|r| r["action"] == action && r["subject"] == subject && r["outcome"] == "ok")
            .count()
    };
    assert_eq!(lines("put service", "pay"), 2, "{rows:?}");
    assert_eq!(lines("put service", "cart"), 1, "{rows:?}");
    assert_eq!(lines("delete service", "cart"), 1, "{rows:?}");
    assert_eq!(lines("add user", "olga"), 1, "{rows:?}");
    assert_eq!(lines("login", "olga"), 2, "one at each centre: {rows:?}");
    // shop's outage burnt its error budget at both centres; an acknowledgement at one is
    // in force at the other
    let fast_burn = |centre: &str| -> Result<Value, String> {
        let events = get_json(centre, "/api/v1/events")?;
        events
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["resource_id"] == "services/shop" && e["rule"] == "slo-burn-fast")
            .cloned()
            .ok_or_else(|| events.to_string())
    };
    wait_for(
        "both centres fire slo-burn-fast",
        Duration::from_secs(40),
        || {
            fast_burn(&a)?;
            fast_burn(&b)
        },
    );
    let ack = serde_json::json!({"resource_id": "services/shop", "rule": "slo-burn-fast"});
    let (status, said) = http_request(&a, "POST", "/api/v1/events/ack", &ack.to_string()).unwrap();
    assert_eq!(status, 200, "{said}");
    wait_for("the acknowledgement at b", Duration::from_secs(20), || {
        let e = fast_burn(&b)?;
        if e["acknowledged_by"] == "token:testkit" {
            Ok(())
        } else {
            Err(e.to_string())
        }
    });

    // the login survives a's death and return
    let (status, answer) = with_session(&a, "GET", "/api/v1/session", &cookie).unwrap();
    assert_eq!(status, 200, "{answer}");
}
