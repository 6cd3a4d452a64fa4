//! Region eu of the alerting tests: one member, eu-1, polling agent app-1 (a [`crate::CpuAgent`])
//! every second with the rule `cpu-high` (critical at 0.9 held for 2 s, warning at 0.8,
//! clearing under 0.6), and the helpers that read what the region did.

use std::time::Duration;

use strata_proto::v1::region_update::Kind;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{Event, ListNotificationsRequest, Notification, WatchRegionRequest};
use strata_testkit::{Mesh, MeshBuilder, Region, block_on, get_json, wait_for};

/// The sub-manager's poll interval.
pub const POLL: Duration = Duration::from_secs(1);

pub const RULES: &str = r#"
[[rules]]
name = "cpu-high"
metric = "host_cpu_usage_ratio"
labels = { cpu = "total" }
warning = 0.8
critical = 0.9
clear = 0.6
for = "2s"
tags = { team = "web" }
summary = "CPU usage {percent} on {agent}"
"#;

/// A mesh of a broker, region eu whose one member eu-1 polls `agent` (app-1) with the rules
/// file and `extra` TOML, and the centre.
pub fn eu(agent: &str, extra: &str) -> MeshBuilder {
    let member = format!(
        r#"
rules_file = "{{dir}}/rules.toml"
[thresholds]
cpu_warning = 0.99
cpu_critical = 1.0
[[agents]]
id = "app-1"
address = "{agent}"
{extra}"#
    );
    Mesh::builder()
        .interval(POLL)
        .file("rules.toml", RULES)
        .region(Region::new("eu").member_ids(&["eu-1"]).member_toml(&member))
}

/// The member eu-1 of a running mesh: its address and the tests' operator channel to it.
#[derive(Clone)]
pub struct Sub {
    pub addr: String,
    channel: tonic::transport::Channel,
}

impl Sub {
    /// The first member of region eu of `mesh`.
    pub fn eu_1(mesh: &mut Mesh) -> Self {
        let addr = mesh.region("eu").members[0].addr.clone();
        let channel = mesh.channel(&addr, strata_proto::identity::Role::SubManager);
        Sub { addr, channel }
    }
}

/// The tests' operator node directory of `ca`, for the `strata` CLI's `--tls-dir`.
pub fn operator_dir(ca: &strata_testkit::MeshCa) -> std::path::PathBuf {
    ca.node(strata_proto::identity::Role::Operator, "", "test")
        .expect("the operator's node directory")
}

/// A SubManager client of `sub`, as the tests' operator.
pub async fn client(sub: &Sub) -> SubManagerClient<tonic::transport::Channel> {
    SubManagerClient::new(sub.channel.clone())
}

/// The sub-manager's open events, from the snapshot its WatchRegion starts with.
pub fn open_events(sub: &Sub) -> Result<Vec<Event>, String> {
    block_on(async {
        let mut c = client(sub).await;
        let mut stream = c
            .watch_region(WatchRegionRequest {
                region: "eu".into(),
                ..Default::default()
            })
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
        match stream.message().await.map_err(|s| s.to_string())? {
            Some(u) => match u.kind {
                Some(Kind::Snapshot(s)) => Ok(s.events),
                other => Err(format!("first update is not a snapshot: {other:?}")),
            },
            None => Err("the stream ended".into()),
        }
    })
}

/// Waits until the super-manager at `http` shows app-1 up.
pub fn up_at_the_centre(http: &str) {
    wait_for("app-1 up at the centre", Duration::from_secs(20), || {
        let r = get_json(http, "/api/v1/resources")?;
        let up = r
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["host"] == "app-1" && x["state"] == "up"));
        if up { Ok(()) } else { Err(r.to_string()) }
    });
}

/// When the sub-manager last polled app-1.
pub fn last_poll_ms(sub: &Sub) -> Result<i64, String> {
    let resources = block_on(async {
        client(sub)
            .await
            .list_resources(strata_proto::v1::ListResourcesRequest {
                region: "eu".into(),
            })
            .await
            .map_err(|s| s.to_string())
    })?
    .into_inner()
    .resources;
    resources
        .iter()
        .find(|r| r.host == "app-1")
        .map(|r| r.last_poll_ms)
        .ok_or_else(|| "app-1 not reported".to_string())
}

/// The open `cpu-high` event of the sub-manager at `sub`, if any.
pub fn cpu_event(sub: &Sub) -> Result<Option<Event>, String> {
    Ok(open_events(sub)?.into_iter().find(|e| e.rule == "cpu-high"))
}

/// The notifications the sub-manager at `sub` keeps.
pub fn notifications(sub: &Sub) -> Vec<Notification> {
    block_on(async {
        client(sub)
            .await
            .list_notifications(ListNotificationsRequest {
                region: "eu".into(),
                limit: 100,
            })
            .await
            .expect("ListNotifications")
            .into_inner()
            .notifications
    })
}
