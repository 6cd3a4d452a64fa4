//! The overview's tests: members merged, incidents opened and resolved, members forgotten.

use super::*;
use strata_proto::v1::{Severity, Snapshot};
use strata_web::views::{EventCounts, ResourceCounts};

pub(super) fn member(id: &str, region: &str, healthy: bool) -> Member {
    Member {
        id: id.into(),
        role: Role::SubManager as i32,
        region: region.into(),
        address: format!("addr-{id}"),
        healthy,
        ..Default::default()
    }
}

pub(super) fn resource(host: &str, owner: &str, state: ResourceState, updated_ms: i64) -> Resource {
    Resource {
        id: format!("eu/{host}"),
        region: "eu".into(),
        host: host.into(),
        state: state as i32,
        severity: Severity::Ok as i32,
        owner: owner.into(),
        updated_ms,
        ..Default::default()
    }
}

pub(super) fn update(member: &str, seq: u64, kind: Kind) -> RegionUpdate {
    RegionUpdate {
        region: "eu".into(),
        member_id: member.into(),
        epoch: "e".into(),
        seq,
        kind: Some(kind),
    }
}

#[test]
fn merges_members_and_prefers_healthy_fresh_records() {
    let mut o = Overview::default();
    o.set_members(&[member("a", "eu", true), member("b", "eu", true)]);
    o.apply(update(
        "a",
        1,
        Kind::Snapshot(Snapshot {
            resources: vec![
                resource("h1", "a", ResourceState::Up, 10),
                resource("h2", "a", ResourceState::Up, 10),
            ],
            events: vec![],
            checks: vec![CheckStatus {
                resource_id: "eu/h1".into(),
                name: "shop".into(),
                state: CheckState::Ok as i32,
                ts_ms: 10,
                ..Default::default()
            }],
        }),
    ));
    assert_eq!(o.all_checks()[0].state(), CheckState::Ok);
    o.apply(update(
        "b",
        1,
        Kind::Resource(resource("h2", "b", ResourceState::Down, 20)),
    ));
    let rs = o.resources_json(Some("eu"));
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[1].state, "down", "b's newer record of h2 wins");
    assert_eq!(o.cursor("eu", "a"), ("e".into(), 1));

    o.set_members(&[member("a", "eu", false), member("b", "eu", true)]);
    let rs = o.resources_json(Some("eu"));
    assert_eq!(
        rs[0].state, "unknown",
        "h1 is only reported by the dead member"
    );
    assert_eq!(rs[1].state, "down");
    assert_eq!(
        o.all_checks()[0].state(),
        CheckState::Unknown,
        "a check only a dead member reports is unknown"
    );
    let region = &o.regions_json()[0];
    assert_eq!(
        region.resources,
        ResourceCounts {
            total: 2,
            up: 0,
            down: 1,
            unknown: 1
        }
    );
    assert_eq!(region.sub_managers.len(), 2);
    assert!(!region.sub_managers[0].healthy);
}

#[test]
fn events_open_and_resolve_and_removal_drops_them() {
    let mut o = Overview::default();
    o.set_members(&[member("a", "eu", true)]);
    let ev = |opened_ms, resolved_ms| Event {
        id: format!("eu/h1/cpu/{opened_ms}"),
        resource_id: "eu/h1".into(),
        rule: "cpu".into(),
        severity: Severity::Critical as i32,
        opened_ms,
        resolved_ms,
        ..Default::default()
    };
    o.apply(update("a", 1, Kind::Event(ev(1, 0))));
    assert_eq!(
        o.regions_json()[0].events,
        EventCounts {
            warning: 0,
            critical: 1,
            acknowledged: 0
        }
    );
    o.apply(update("a", 2, Kind::Event(ev(1, 5))));
    assert_eq!(o.regions_json()[0].events.critical, 0);
    o.apply(update("a", 3, Kind::Event(ev(6, 0))));
    assert_eq!(o.events_json(None, false).len(), 1);
    assert_eq!(o.events_json(None, true).len(), 2, "with the resolved one");
    o.apply(update("a", 4, Kind::ResourceRemoved("eu/h1".into())));
    assert_eq!(
        o.events_json(None, false).len(),
        1,
        "a handover does not resolve the incident: the new owner will"
    );
}

#[test]
fn unlisted_members_and_regions_are_forgotten() {
    let mut o = Overview::default();
    o.set_members(&[member("a", "eu", true), member("c", "us", true)]);
    o.apply(update("zzz", 1, Kind::ResourceRemoved("x".into())));
    assert_eq!(o.region_names(), vec!["eu", "us"]);
    o.set_members(&[member("c", "us", true)]);
    assert_eq!(o.region_names(), vec!["us"]);
    assert!(!o.is_listed("eu", "a"));
}

#[test]
fn a_region_counts_as_changed_when_an_update_or_its_members_change_it() {
    let mut o = Overview::default();
    o.set_members(&[member("a", "eu", true), member("x", "us", true)]);
    let (eu, us) = (o.changed_at("eu"), o.changed_at("us"));
    assert!(eu > 0 && us > 0);
    o.apply(update(
        "a",
        1,
        Kind::Resource(resource("h1", "a", ResourceState::Up, 10)),
    ));
    assert!(o.changed_at("eu") > eu, "an update of eu");
    assert_eq!(o.changed_at("us"), us, "nothing of us changed");
    let (eu, shape) = (o.changed_at("eu"), o.shape());
    o.set_members(&[member("a", "eu", true), member("x", "us", true)]);
    assert_eq!(
        (o.changed_at("eu"), o.shape()),
        (eu, shape),
        "the same list again"
    );
    o.set_members(&[member("a", "eu", false), member("x", "us", true)]);
    assert!(o.changed_at("eu") > eu, "a's health changed");
    assert_eq!(o.shape(), shape, "the same members");
    o.set_members(&[member("x", "us", true)]);
    assert!(o.shape() > shape, "eu's member went");
}

#[test]
fn the_shape_changes_with_the_set_of_resources_not_with_their_states() {
    let mut o = Overview::default();
    o.set_members(&[member("a", "eu", true)]);
    let up = |seq| {
        update(
            "a",
            seq,
            Kind::Resource(resource("h1", "a", ResourceState::Up, 10)),
        )
    };
    o.apply(up(1));
    let shape = o.shape();
    o.apply(update(
        "a",
        2,
        Kind::Resource(resource("h1", "a", ResourceState::Down, 20)),
    ));
    assert_eq!(o.shape(), shape, "only h1's state changed");
    o.apply(update(
        "a",
        3,
        Kind::Resource(resource("h2", "a", ResourceState::Up, 20)),
    ));
    assert!(o.shape() > shape, "h2 is new");
}
