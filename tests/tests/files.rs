//! File distribution with the real binaries: a bundle published at the centre for a
//! service's component reaches every host of it (one that was down gets it when it
//! returns), a new version replaces it, a rollback restores the version before; a bundle
//! for a host whose `accept_files` does not allow its path is refused there and nothing is
//! written; each publish is in the audit log.
//!
//! At the agent's own door: `Agent.PutFiles` refuses a caller without a certificate, an
//! operator and a member of another region; from a member of its region it takes no bundle
//! the region signed itself, none changed after the centre signed it, none for another
//! host and none older than the one applied.
//!
//! The agents run on one machine and share its files: the hosts of the component write the
//! same path (each one's own record of what it applied is in its `state_dir`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use prost::Message;
use serde_json::Value;
use strata_proto::identity::{Expect, Role};
use strata_proto::v1::agent_client::AgentClient;
use strata_proto::v1::{
    BundleFile, BundleManifest, FilesOutcome, PutFilesRequest, PutFilesResponse, SignedBundle,
};
use strata_testkit::ca::impostor_channel;
use strata_testkit::{Mesh, MeshCa, Region, block_on, get_json, http_request, wait_for};
use tonic::Code;
use tonic::transport::Channel;

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

/// A bundle `version` of one file for `targets`, signed by `signer` (its manifest changed
/// after signing by `tamper`).
fn bundle(
    ca: &MeshCa,
    signer: (Role, &str, &str),
    version: u64,
    targets: &[&str],
    path: &Path,
    tamper: bool,
) -> SignedBundle {
    let manifest = |content: &str| BundleManifest {
        name: "conf".into(),
        version,
        targets: targets.iter().map(|t| t.to_string()).collect(),
        files: vec![BundleFile {
            path: path.display().to_string(),
            mode: 0o644,
            content: content.as_bytes().to_vec(),
        }],
        published_by: "test".into(),
        ..Default::default()
    };
    let signed = manifest("signed").encode_to_vec();
    let (chain, signature) = ca
        .transport(signer.0, signer.1, signer.2)
        .unwrap()
        .sign(&signed)
        .unwrap();
    SignedBundle {
        manifest: if tamper {
            manifest("changed on the way").encode_to_vec()
        } else {
            signed
        },
        chain,
        signature,
    }
}

fn put(channel: Channel, bundle: SignedBundle) -> Result<PutFilesResponse, (Code, String)> {
    block_on(async move {
        AgentClient::new(channel)
            .put_files(PutFilesRequest {
                agent_id: "web-1".into(),
                bundle: Some(bundle),
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| (s.code(), s.message().to_string()))
    })
}

#[test]
fn an_agent_takes_files_only_from_its_members_and_signed_by_a_centre_for_itself() {
    let mut mesh = Mesh::builder()
        .region(
            Region::new("eu")
                .member_ids(&["eu-1"])
                .agent(&agent("web-1", "app")),
        )
        .start();
    let dir = mesh.dir().to_path_buf();
    std::fs::create_dir_all(dir.join("srv/app")).unwrap();
    let ca = mesh.ca().clone();
    let addr = mesh.region("eu").agents[0].addr.clone();
    let path = dir.join("srv/app/conf");
    let centre = (Role::SuperManager, "", "super-1");
    let good = |version| bundle(&ca, centre, version, &["eu/web-1"], &path, false);
    let expect = || Expect::InRegion(Role::Agent, "eu".into());

    // callers the door does not take, whatever they carry
    let refused = |channel: Channel, code: Code, words: &str| match put(channel, good(1)) {
        Err((c, m)) => assert!(c == code && m.contains(words), "{c:?} {m}"),
        Ok(a) => panic!("answered: {a:?}"),
    };
    refused(
        impostor_channel(&addr, None),
        Code::Unauthenticated,
        "no client certificate",
    );
    refused(
        ca.channel_as((Role::Operator, "", "test"), &addr, expect()),
        Code::PermissionDenied,
        "only sub-managers of region eu",
    );
    refused(
        ca.channel_as((Role::SubManager, "west", "west-1"), &addr, expect()),
        Code::PermissionDenied,
        "only sub-managers of region eu",
    );

    // a member of the region, which relays bundles but cannot make one
    let member = || ca.channel_as((Role::SubManager, "eu", "eu-1"), &addr, expect());
    let answer = |bundle| put(member(), bundle).unwrap();
    for (what, b, words) in [
        (
            "signed by the region itself",
            bundle(
                &ca,
                (Role::SubManager, "eu", "eu-1"),
                1,
                &["eu/web-1"],
                &path,
                false,
            ),
            "not a super-manager",
        ),
        (
            "changed after the centre signed it",
            bundle(&ca, centre, 1, &["eu/web-1"], &path, true),
            "does not hold",
        ),
        (
            "for another host",
            bundle(&ca, centre, 1, &["eu/web-2"], &path, false),
            "eu/web-1 is not among the bundle's targets",
        ),
    ] {
        let a = answer(b);
        assert_eq!(a.outcome(), FilesOutcome::FilesRefused, "{what}: {a:?}");
        assert!(a.reason.contains(words), "{what}: {a:?}");
        assert!(!path.exists(), "{what}: a refused bundle wrote nothing");
    }
    // what the centre signed for this host is written; the same again changes nothing, and
    // an older one is refused
    let a = answer(good(2));
    assert_eq!(a.outcome(), FilesOutcome::FilesApplied, "{a:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "signed");
    assert_eq!(answer(good(2)).outcome(), FilesOutcome::FilesUnchanged);
    let a = answer(good(1));
    assert_eq!(a.outcome(), FilesOutcome::FilesRefused, "{a:?}");
    assert!(a.reason.contains("older than the applied 2"), "{a:?}");
}
