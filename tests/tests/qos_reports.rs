//! The QoS history and the reports, end to end with the real binaries: an agent probes a web
//! server of the test's every second; the centre's QoS of the service counts every run once
//! (a sub-manager SIGKILLed and restarted sends some again: none is counted twice, none is
//! lost), with response-time percentiles and phases that match the server's delay, and an
//! error rate once the server answers 500; the service's SLO fast-burn alert opens; and every
//! report kind answers, as JSON and CSV, through the API and the CLI.

use std::sync::atomic::Ordering;
use std::time::Duration;

use strata_proto::identity::Role;
use strata_testkit::{Mesh, Region, get_json, http_get, wait_for};
use strata_tests::{Target, probing_agent};

/// QoS runs of the shop and the connections the target accepted, both at once; fails the
/// test if the centre ever counted more runs than there were.
fn runs_and_accepted(http: &str, target: &Target) -> Result<(u64, u64, serde_json::Value), String> {
    let qos = get_json(http, "/api/v1/services/shop/qos?period=1h")?;
    let accepted = target.accepted.load(Ordering::SeqCst);
    let runs = qos["summary"]["runs"].as_u64().unwrap_or(0);
    assert!(
        runs <= accepted,
        "{runs} runs counted for {accepted} probes: {qos}"
    );
    Ok((runs, accepted, qos))
}

/// Waits until every probe run so far is counted, exactly.
fn all_counted(http: &str, target: &Target, at_least: u64) -> serde_json::Value {
    wait_for(
        "every probe run counted once",
        Duration::from_secs(30),
        || {
            let (runs, accepted, qos) = runs_and_accepted(http, target)?;
            if runs == accepted && runs >= at_least {
                Ok(qos)
            } else {
                Err(format!("{runs} runs counted, {accepted} accepted"))
            }
        },
    )
}

#[test]
fn probe_runs_roll_up_once_each_and_every_report_answers() {
    let target = Target::start();
    target.delay_ms.store(40, Ordering::Relaxed);
    let url = format!("http://{}/", target.addr);
    let mut mesh = Mesh::builder()
        .interval(Duration::from_millis(250))
        .file(
            "services.toml",
            "[[services]]\nname = \"shop\"\n[services.slo]\nobjective = 0.99\nwindow = \"1d\"\n\
             [[services.maintenance]]\nevery = \"sun 02:00\"\nduration = \"2h\"\n\
             [[services.components]]\nname = \"front\"\ncheck = \"shop-http\"\n",
        )
        .super_toml("services_file = \"{dir}/services.toml\"")
        .region(Region::new("west").agent(&probing_agent(&url, "1s", "timeout = \"800ms\"\n")))
        .start();
    let http = mesh.http();

    // Runs roll up with their phases; the server's 40 ms are in the processing phase.
    let qos = all_counted(&http, &target, 5);
    eprintln!("{qos}");
    let s = &qos["summary"];
    let p50 = s["p50_ms"].as_f64().unwrap();
    assert!(
        (40.0..400.0).contains(&p50),
        "p50 {p50} ms for a 40 ms server: {qos}"
    );
    assert!(s["p99_ms"].as_f64().unwrap() >= p50, "{qos}");
    assert!(
        s["phases_ms"]["processing"].as_f64().unwrap() >= 39.0,
        "{qos}"
    );
    assert!(s["phases_ms"]["connect"].as_f64().unwrap() < p50, "{qos}");
    assert_eq!(s["error_rate"], 0.0, "{qos}");
    assert_eq!(qos["resolution"], "minute", "{qos}");
    assert_eq!(qos["probes"][0]["resource_id"], "west/web-1", "{qos}");

    // The sub-manager is killed and restarts: samples it stored but had not acknowledged
    // come again, and its journal is replayed; still every run counts once.
    mesh.region("west").member("west-1").kill();
    // an outage of a probe interval and a half, so that runs pile up in the agent's buffer
    std::thread::sleep(Duration::from_millis(1500));
    mesh.region("west").member("west-1").restart();
    let before = target.accepted.load(Ordering::SeqCst);
    all_counted(&http, &target, before + 3);

    // Errors: the server answers 500; the error rate shows them, the SLO burns.
    target.status.store(500, Ordering::Relaxed);
    let failing_from = target.accepted.load(Ordering::SeqCst);
    let qos = all_counted(&http, &target, failing_from + 4);
    let s = &qos["summary"];
    let failures = s["failures"].as_u64().unwrap();
    assert!(failures >= 3, "{qos}");
    let rate = s["error_rate"].as_f64().unwrap();
    assert!(
        (rate - failures as f64 / s["runs"].as_f64().unwrap()).abs() < 1e-9,
        "{qos}"
    );
    let events = wait_for("the fast-burn alert", Duration::from_secs(40), || {
        let e = get_json(&http, "/api/v1/events")?;
        let found = e
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["resource_id"] == "services/shop" && e["rule"] == "slo-burn-fast");
        if found { Ok(e) } else { Err(e.to_string()) }
    });
    eprintln!("{events}");
    let slo = get_json(&http, "/api/v1/services/shop/slo").unwrap();
    assert_eq!(slo["alerts"][0]["firing"], true, "{slo}");
    assert!(slo["budget_remaining"].as_f64().unwrap() < 1.0, "{slo}");

    // Every report answers; the performance report has the probe's row.
    let perf = get_json(&http, "/api/v1/reports/performance?service=shop&period=1h").unwrap();
    let rows = perf["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "the probe, then all: {perf}");
    assert_eq!(rows[0]["probe"], "west/web-1/shop-http", "{perf}");
    assert!(rows[1]["runs"].as_u64().unwrap() >= 10, "{perf}");
    let audit = get_json(&http, "/api/v1/reports/audit?period=1h").unwrap();
    assert_eq!(
        (
            &audit["rows"][0]["action"],
            &audit["rows"][0]["subject"],
            &audit["rows"][0]["who"]
        ),
        (&"put service".into(), &"shop".into(), &"file".into()),
        "{audit}"
    );
    let ops = get_json(&http, "/api/v1/reports/operations?period=today").unwrap();
    let today = ops["rows"].as_array().unwrap().last().unwrap().clone();
    assert!(today["definition_changes"].as_u64().unwrap() >= 1, "{ops}");
    assert!(
        today["service_health_changes"].as_u64().unwrap() >= 1,
        "{ops}"
    );
    let availability = get_json(&http, "/api/v1/reports/availability?period=1h").unwrap();
    assert!(
        availability["rows"][0]["down_seconds"].as_f64().unwrap() > 0.0,
        "{availability}"
    );
    let failure = get_json(&http, "/api/v1/reports/failure?period=1h").unwrap();
    assert_eq!(
        failure["rows"].as_array().unwrap().last().unwrap()["resource"],
        "all",
        "{failure}"
    );
    let compared = wait_for("the comparison", Duration::from_secs(10), || {
        let c = get_json(
            &http,
            "/api/v1/reports/comparison?resources=west/web-1&period=1h",
        )?;
        if c["rows"][0]["points"].as_u64().unwrap_or(0) > 0 {
            Ok(c)
        } else {
            Err(c.to_string())
        }
    });
    assert_eq!(compared["rows"][0]["labels"], "cpu=total", "{compared}");
    let capacity = get_json(
        &http,
        "/api/v1/reports/capacity?resources=west/web-1&period=1h",
    )
    .unwrap();
    assert!(
        capacity["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["metric"] == "host_cpu_usage_ratio"),
        "{capacity}"
    );
    // CSV, through the API and the CLI; bad input names its parameter.
    let (status, csv) = http_get(
        &http,
        "/api/v1/reports/performance?service=shop&period=1h&format=csv",
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(
        csv.starts_with("service,probe,probes,runs,error_rate,p50_ms"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3, "{csv}");
    for (path, field) in [
        ("/api/v1/reports/failure?period=fortnight", "period:"),
        ("/api/v1/reports/audit?format=xml", "format:"),
        ("/api/v1/reports/comparison?period=1h", "resources:"),
        ("/api/v1/reports/performance?service=nope", "service:"),
    ] {
        let (status, body) = http_get(&http, path).unwrap();
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(field), "{path}: {body}");
    }
    let grpc = mesh
        .super_manager()
        .field("grpc")
        .expect("the gRPC address");
    grpc_answers_as_rest(&http, mesh.channel(&grpc, Role::SuperManager), &perf);
    // The bottom of the drill-down: the prober's live processes and its incidents.
    let snap = get_json(&http, "/api/v1/resources/west/web-1/snapshot?top=5").unwrap();
    let processes = snap["processes"].as_array().unwrap();
    assert!(!processes.is_empty() && processes.len() <= 5, "{snap}");
    assert!(processes[0]["pid"].as_u64().unwrap() > 0, "{snap}");
    assert!(snap["process_count"].as_u64().unwrap() >= processes.len() as u64);
    assert!(
        snap["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "shop-http"),
        "{snap}"
    );
    let events = get_json(&http, "/api/v1/resources/west/web-1/events").unwrap();
    assert!(events.is_array(), "{events}");
    let (status, body) = http_get(&http, "/api/v1/resources/west/web-1/snapshot?top=0").unwrap();
    assert!(status == 400 && body.contains("top:"), "{status} {body}");
    let out = strata_testkit::cli()
        .args([
            "drill",
            "shop",
            "--host",
            "west/web-1",
            "--top",
            "3",
            "--api",
        ])
        .arg(format!("http://{http}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("west/web-1: ") && text.contains("PID"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = strata_testkit::cli()
        .args(["report", "failure", "--period", "today", "--csv", "--api"])
        .arg(format!("http://{http}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("resource,incidents,critical,open"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = strata_testkit::cli()
        .args(["report", "performance", "shop", "--period", "1h", "--api"])
        .arg(format!("http://{http}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains("performance report")
            && text.contains("west/web-1/shop-http"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The gRPC service (mutual TLS, on its own address) answers what the REST API answers.
fn grpc_answers_as_rest(
    http: &str,
    grpc: tonic::transport::Channel,
    perf_rest: &serde_json::Value,
) {
    use strata_proto::v1::super_manager_client::SuperManagerClient;
    use strata_proto::v1::{
        AgentSnapshotRequest, GetServiceRequest, ListServicesRequest, QosRequest,
        QueryRangeRequest, ReportRequest, ResourceEventsRequest, RootCauseRequest, SlaRequest,
    };
    strata_testkit::block_on(async {
        let mut c = SuperManagerClient::new(grpc);
        let list = c
            .list_services(ListServicesRequest {})
            .await
            .unwrap()
            .into_inner();
        let rest = get_json(http, "/api/v1/services").unwrap();
        assert_eq!(list.services.len(), 1);
        assert_eq!(list.services[0].name, "shop");
        assert_eq!(list.services[0].health, rest[0]["health"].as_str().unwrap());
        assert_eq!(list.services[0].components[0].name, "front");
        let detail = c
            .get_service(GetServiceRequest {
                name: "shop".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(detail.components[0].check.as_deref(), Some("shop-http"));
        assert_eq!(detail.components[0].checks[0].resource_id, "west/web-1");
        assert_eq!(detail.components[0].checks[0].kind, "http");
        let qos = c
            .qos(QosRequest {
                name: "shop".into(),
                period: "1h".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let summary = qos.summary.unwrap();
        assert!(summary.runs >= 10 && summary.failures >= 3, "{summary:?}");
        assert!(summary.phases_ms.contains_key("processing"), "{summary:?}");
        assert_eq!(qos.resolution, "minute");
        let sla = c
            .sla(SlaRequest {
                name: "shop".into(),
                period: "1h".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sla.objective, Some(0.99));
        assert!(sla.down_seconds > 0.0, "{sla:?}");
        let report = c
            .report(ReportRequest {
                kind: "performance".into(),
                period: "1h".into(),
                service: "shop".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let columns: Vec<&str> = perf_rest["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(report.columns, columns);
        assert_eq!(report.rows[0].cells[1], "west/web-1/shop-http");
        let rca = c
            .root_cause(RootCauseRequest {
                name: "shop".into(),
                window_ms: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            rca.symptoms.iter().any(|s| s.contains("shop-http")),
            "{rca:?}"
        );
        // below a resource: its metrics, its live processes, its incidents
        let cpu = c
            .resource_metrics(QueryRangeRequest {
                region: "west".into(),
                resource_id: "west/web-1".into(),
                name: "host_cpu_usage_ratio".into(),
                from_ms: strata_testkit::now_ms() - 600_000,
                to_ms: strata_testkit::now_ms(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(cpu.series.iter().any(|s| !s.points.is_empty()), "{cpu:?}");
        let snap = c
            .resource_snapshot(AgentSnapshotRequest {
                resource_id: "west/web-1".into(),
                top: 3,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            !snap.processes.is_empty() && snap.processes.len() <= 3,
            "{snap:?}"
        );
        let events = c
            .resource_events(ResourceEventsRequest {
                resource_id: "west/web-1".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let rest = get_json(http, "/api/v1/resources/west/web-1/events").unwrap();
        assert_eq!(events.incidents.len(), rest.as_array().unwrap().len());
        let bad = c
            .resource_events(ResourceEventsRequest {
                resource_id: "web-1".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        // errors keep the REST API's message and map to gRPC codes
        let missing = c
            .get_service(GetServiceRequest {
                name: "nope".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), tonic::Code::NotFound);
        let bad = c
            .report(ReportRequest {
                kind: "failure".into(),
                period: "fortnight".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        assert!(bad.message().starts_with("period:"), "{bad:?}");
    });
}
