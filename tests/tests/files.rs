//! File distribution with the real binaries: a bundle published at the centre for a
//! service's component reaches every host of it (one that was down gets it when it
//! returns), a new version replaces it, a rollback restores the version before; a bundle
//! for a host whose `accept_files` does not allow its path is refused there and nothing is
//! written; each publish is in the audit log.
//!
//! The agents run on one machine and share its files: the hosts of the component write the
//! same path (each one's own record of what it applied is in its `state_dir`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use strata_testkit::{Mesh, Region, get_json, http_request, wait_for};

fn agent(id: &str, accept: &str) -> String {
    format!(
        "id = \"{id}\"\ncollect_interval = \"1s\"\nstate_dir = \"{{dir}}/{id}-state\"\n\
         [[accept_files]]\ndir = \"{{dir}}/srv/{accept}\"\n"
    )
}

/// The version of bundle `name` agent `id` applied, by its own record.
fn applied_on(dir: &Path, id: &str, name: &str) -> Option<u64> {
    std::fs::read_to_string(dir.join(format!("{id}-state/files/{name}/applied")))
        .ok()
        .and_then(|t| t.trim().parse().ok())
}

/// Posts `body` to `path` at the centre, answering its JSON (a non-2xx fails the test).
fn post(http: &str, path: &str, body: &str) -> Value {
    let (status, answer) = http_request(http, "POST", path, body).unwrap();
    assert_eq!(status, 200, "POST {path}: {answer}");
    serde_json::from_str(&answer).unwrap()
}

/// `strata <args> --api <http>`'s output; a failure fails the test.
fn strata(http: &str, args: &[&str]) -> String {
    let out = strata_testkit::cli()
        .args(args)
        .arg("--api")
        .arg(format!("http://{http}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "strata {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Waits until every host of bundle `name` at `version` is in `state`, answering the
/// bundle.
fn settled(http: &str, name: &str, version: u64, hosts: &[&str], state: &str) -> Value {
    wait_for(
        &format!("{name} v{version} {state} on {hosts:?}"),
        Duration::from_secs(40),
        || {
            let b = get_json(http, &format!("/api/v1/files/{name}"))?;
            let done = b["version"] == version
                && hosts.iter().all(|h| {
                    b["hosts"][*h]["state"] == state && b["hosts"][*h]["version"] == version
                });
            if done { Ok(b) } else { Err(b.to_string()) }
        },
    )
}

#[test]
fn a_bundle_reaches_its_component_waits_for_a_host_away_rolls_back_and_is_refused_where_not_accepted()
 {
    let mut mesh = Mesh::builder()
        .interval(Duration::from_secs(1))
        .super_toml("[files]\nretry_interval = \"1s\"\nmax_backoff = \"2s\"\n")
        .region(
            Region::new("eu")
                .member_ids(&["eu-1"])
                .agent(&agent("web-1", "app"))
                .agent(&agent("web-2", "app"))
                .agent(&agent("web-3", "app"))
                .agent(&agent("db-1", "db")),
        )
        .start();
    let http = mesh.http();
    let dir = mesh.dir().to_path_buf();
    std::fs::create_dir_all(dir.join("srv/app")).unwrap();
    std::fs::create_dir_all(dir.join("srv/db")).unwrap();
    let (status, answer) = http_request(
        &http,
        "PUT",
        "/api/v1/services/shop",
        r#"{"name":"shop","components":[{"name":"front","region":"eu","host":"~web-.*"}]}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    wait_for(
        "the front component's three hosts",
        Duration::from_secs(30),
        || {
            let s = get_json(&http, "/api/v1/services/shop")?;
            let n = s["components"][0]["resources"]
                .as_array()
                .map_or(0, Vec::len);
            if n == 3 { Ok(()) } else { Err(s.to_string()) }
        },
    );

    // web-3 is away when the bundle is published
    mesh.region("eu").agents[2].kill();
    let conf = dir.join("srv/app/app.conf");
    let publish = |content: &str| {
        format!(
            r#"{{"name":"app-conf","files":[{{"path":"{}","mode":"0640","content":"{content}"}}],
                "targets":{{"service":"shop","component":"front"}}}}"#,
            conf.display()
        )
    };
    let v1 = post(&http, "/api/v1/files", &publish("port = 8080\\n"));
    assert_eq!(v1["version"], 1, "{v1}");
    let hosts: Vec<&str> = v1["hosts"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(hosts, ["eu/web-1", "eu/web-2", "eu/web-3"], "{v1}");
    let b = settled(&http, "app-conf", 1, &["eu/web-1", "eu/web-2"], "applied");
    assert_eq!(b["hosts"]["eu/web-3"]["state"], "pending", "{b}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "port = 8080\n");
    let mode = std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(applied_on(&dir, "web-1", "app-conf"), Some(1));
    assert_eq!(applied_on(&dir, "web-2", "app-conf"), Some(1));
    assert_eq!(applied_on(&dir, "web-3", "app-conf"), None);
    assert_eq!(
        applied_on(&dir, "db-1", "app-conf"),
        None,
        "db-1 is not of the component"
    );
    let waiting = wait_for("web-3 tried and waiting", Duration::from_secs(20), || {
        let b = get_json(&http, "/api/v1/files/app-conf")?;
        let h = &b["hosts"]["eu/web-3"];
        if h["attempts"].as_u64().unwrap_or(0) >= 1 {
            Ok(h.clone())
        } else {
            Err(b.to_string())
        }
    });
    eprintln!("web-3 while away: {waiting}");

    // web-3 returns and gets it
    mesh.region("eu").agents[2].restart();
    settled(&http, "app-conf", 1, &["eu/web-3"], "applied");
    assert_eq!(applied_on(&dir, "web-3", "app-conf"), Some(1));

    // a new version from the command line, then a rollback to the first
    let all = ["eu/web-1", "eu/web-2", "eu/web-3"];
    let source = dir.join("app.conf.v2");
    std::fs::write(&source, "port = 9090\n").unwrap();
    let file = format!("{}={}:0640", conf.display(), source.display());
    let out = strata(
        &http,
        &[
            "files",
            "publish",
            "app-conf",
            "--file",
            &file,
            "--service",
            "shop",
            "--component",
            "front",
        ],
    );
    assert!(out.starts_with("app-conf version 2 by "), "{out}");
    settled(&http, "app-conf", 2, &all, "applied");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "port = 9090\n");
    let out = strata(&http, &["files", "rollback", "app-conf"]);
    assert!(out.starts_with("app-conf version 3 (restores 1)"), "{out}");
    settled(&http, "app-conf", 3, &all, "applied");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "port = 8080\n");
    for id in ["web-1", "web-2", "web-3"] {
        assert_eq!(applied_on(&dir, id, "app-conf"), Some(3), "{id}");
    }

    // db-1 accepts only srv/db: a bundle for srv/app is refused there, nothing written
    let stray = dir.join("srv/app/db.conf");
    let refused = post(
        &http,
        "/api/v1/files",
        &format!(
            r#"{{"name":"db-conf","files":[{{"path":"{}","content":"x"}}],"targets":{{"region":"eu","hosts":"db-*"}}}}"#,
            stray.display()
        ),
    );
    assert_eq!(refused["hosts"].as_object().unwrap().len(), 1, "{refused}");
    let b = wait_for("db-1's refusal", Duration::from_secs(30), || {
        let b = get_json(&http, "/api/v1/files/db-conf")?;
        if b["hosts"]["eu/db-1"]["state"] == "refused" {
            Ok(b)
        } else {
            Err(b.to_string())
        }
    });
    let reason = b["hosts"]["eu/db-1"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("not under any accept_files directory"),
        "{reason}"
    );
    assert!(!stray.exists(), "a refused bundle wrote nothing");
    assert_eq!(applied_on(&dir, "db-1", "db-conf"), None);

    let out = strata(&http, &["files", "status", "app-conf"]);
    for host in all {
        assert!(
            out.lines()
                .any(|l| l.starts_with(host) && l.contains("applied")),
            "{out}"
        );
    }

    // the list and the audit log
    let list = get_json(&http, "/api/v1/files").unwrap();
    let app = list
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "app-conf")
        .unwrap();
    assert_eq!(
        (app["applied"].as_u64(), app["pending"].as_u64()),
        (Some(3), Some(0)),
        "{list}"
    );
    let audit = get_json(&http, "/api/v1/reports/audit?period=today&subject=app-conf").unwrap();
    let actions: Vec<&str> = audit["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "publish files").count(),
        2,
        "{audit}"
    );
    assert!(actions.contains(&"roll back files"), "{audit}");
}
