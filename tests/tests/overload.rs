//! Overload is refused early, counted, and the caller told why: a message past a door's
//! size limit (the real agent's), and a WatchRegion stream past a member's bound (the real
//! sub-manager's); each door goes on serving.

use std::time::Duration;

use strata_proto::identity::{Expect, Role};
use strata_proto::v1::agent_client::AgentClient;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{ConfigureRequest, DescribeRequest, WatchRegionRequest};
use strata_testkit::{Mesh, MeshCa, Proc, Region, block_on, http_get, metric_value, write_config};

#[test]
fn a_message_past_the_agents_limit_is_refused_counted_and_said() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = MeshCa::open(dir).unwrap();
    let tls = ca.node(Role::Agent, "lab", "loaded").unwrap();
    let config = format!(
        "id = 'loaded'\nlisten = '127.0.0.1:0'\nmetrics_listen = '127.0.0.1:0'\n\
         [tls]\ndir = '{}'\n",
        tls.display()
    );
    let path = write_config(dir, "agent.toml", &config);
    let agent = Proc::start("agent", "strata-agent", &["--config", &path], dir);
    let metrics = agent.field("metrics").expect("the agent's metrics address");
    let channel = ca.channel_as(
        (Role::SubManager, "lab", "test"),
        &agent.addr,
        Expect::Role(Role::Agent),
    );
    block_on(async {
        let mut c = AgentClient::new(channel.clone()).max_encoding_message_size(64 << 20);
        // 5 MB of TOML: past the agent's 4 MiB, refused before it is read as TOML
        let huge = format!("# {}\n", "x".repeat(5 << 20));
        let refused = c
            .configure(ConfigureRequest {
                config_toml: huge,
                ..Default::default()
            })
            .await
            .expect_err("a 5 MB message refused");
        assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused:?}");
        assert!(
            refused.message().contains("too large"),
            "{}",
            refused.message()
        );
        let d = c.describe(DescribeRequest::default()).await.unwrap();
        assert_eq!(d.into_inner().agent_id, "loaded", "still serving");
    });
    let (_, text) = http_get(&metrics, "/metrics").unwrap();
    assert_eq!(
        metric_value(&text, "strata_agent_refusals_total{reason=\"too_large\"}"),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn watch_region_streams_past_the_members_bound_are_refused_and_counted() {
    let mut mesh = Mesh::builder()
        .brokers(0)
        .super_managers(0)
        .region(
            Region::new("lab")
                .member_toml("metrics_listen = '127.0.0.1:0'\n[watch]\nmax_subscribers = 1\n")
                .sim("sim-1", "sim-", 1)
                .listed(),
        )
        .start();
    let member = &mesh.region("lab").members[0];
    let (addr, metrics) = (member.addr.clone(), member.field("metrics").unwrap());
    // as a centre would follow the region
    let channel = mesh.ca().channel_as(
        (Role::SuperManager, "", "centre-test"),
        &addr,
        Expect::Role(Role::SubManager),
    );
    let refused_again = block_on(async {
        let mut c = SubManagerClient::new(channel);
        let watch = || WatchRegionRequest {
            region: "lab".into(),
            ..Default::default()
        };
        let mut first = c.watch_region(watch()).await.unwrap().into_inner();
        let snapshot = tokio::time::timeout(Duration::from_secs(10), first.message())
            .await
            .expect("the first stream's snapshot")
            .unwrap();
        assert!(snapshot.is_some());
        let refused = c
            .watch_region(watch())
            .await
            .expect_err("a second stream past max_subscribers = 1");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused.message().contains("watch.max_subscribers"),
            "{}",
            refused.message()
        );
        drop(first);
        // the slot is given back once the server sees the stream gone (the calls made
        // before it does are refused, and counted as well)
        wait_for_async(|| {
            let mut c = c.clone();
            async move { c.watch_region(watch()).await.map(|_| ()) }
        })
        .await
    });
    let (_, text) = http_get(&metrics, "/metrics").unwrap();
    assert_eq!(
        metric_value(&text, "strata_sub_manager_watch_refused_total"),
        Some(1.0 + refused_again as f64),
        "{text}"
    );
    assert!(
        metric_value(&text, "strata_sub_manager_refusals_total{reason=\"busy\"}")
            .is_some_and(|n| n >= 1.0),
        "{text}"
    );
}

/// Calls `try_once` until it succeeds, for up to 10 s; returns how many times it failed.
async fn wait_for_async<F, Fut>(try_once: F) -> u32
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), tonic::Status>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut failed = 0;
    loop {
        match try_once().await {
            Ok(()) => return failed,
            Err(status) if tokio::time::Instant::now() >= deadline => {
                panic!("still refused after 10 s: {status:?}")
            }
            Err(_) => {
                failed += 1;
                tokio::time::sleep(Duration::from_millis(100)).await
            }
        }
    }
}
