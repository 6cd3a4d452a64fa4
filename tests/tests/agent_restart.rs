//! An agent that restarts numbers its samples from 1 again. Its poller still holds a cursor
//! from the agent's earlier life; that cursor must not free the new samples: the first
//! sample of the new life is stored, and none after it is missing.

use std::time::Duration;

use strata_proto::identity::Role;
use strata_testkit::{Mesh, Region, now_ms, stored_values, wait_for};
use tonic::transport::Channel;

/// The values of `sim_sample_number` of sim-0001 stored by the sub-manager at `addr` since
/// `from_ms`, in time order.
fn stored_ticks(addr: &Channel, from_ms: i64) -> Result<Vec<f64>, String> {
    stored_values(addr, "lab/sim-0001", "sim_sample_number", from_ms)
}

#[test]
fn a_restarted_agent_loses_no_sample_to_an_old_cursor() {
    // one member polling one simulated agent, with no broker and no centre
    let mut mesh = Mesh::builder()
        .brokers(0)
        .super_managers(0)
        .interval(Duration::from_millis(300))
        .sample_interval(Duration::from_millis(200))
        .region(
            Region::new("lab")
                .member_toml("[poll]\ntimeout = \"1s\"\nbackoff_max = \"300ms\"\n")
                .sim("sim-1", "sim-", 1)
                .listed(),
        )
        .start();
    let addr = mesh.region("lab").members[0].addr.clone();
    let sub = mesh.channel(&addr, Role::SubManager);

    // Let the cursor run well past what the new life will have produced by its first poll.
    wait_for("forty ticks stored", Duration::from_secs(30), || {
        let ticks = stored_ticks(&sub, 0)?;
        if ticks.len() >= 40 {
            Ok(())
        } else {
            Err(format!("{} ticks", ticks.len()))
        }
    });
    let sim = mesh.region("lab").sim("sim-1");
    sim.kill();
    let restarted_at = now_ms();
    sim.restart();

    let ticks = wait_for(
        "ten ticks of the new life stored",
        Duration::from_secs(30),
        || {
            let ticks = stored_ticks(&sub, restarted_at)?;
            if ticks.len() >= 10 {
                Ok(ticks)
            } else {
                Err(format!("{ticks:?}"))
            }
        },
    );
    assert_eq!(
        ticks[0], 1.0,
        "the first sample of the new life was lost: {ticks:?}"
    );
    for pair in ticks.windows(2) {
        assert_eq!(pair[1], pair[0] + 1.0, "a sample is missing: {ticks:?}");
    }
}
