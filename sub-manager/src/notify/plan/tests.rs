//! Tests of the planner: routes, groups, repeats, escalations, silences, resolutions.

use super::*;

fn config(text: &str) -> NotifyConfig {
    let c: NotifyConfig = toml::from_str(text).unwrap();
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    c
}

const BASE: &str = r#"
        [[receivers]]
        name = "mail"
        kind = "email"
        smtp = "127.0.0.1:25"
        from = "s@x"
        to = ["o@x"]
        [[receivers]]
        name = "am"
        kind = "alertmanager"
        url = "http://127.0.0.1:9093"
        [[receivers]]
        name = "pager"
        kind = "webhook"
        url = "http://127.0.0.1:1"
        [[routes]]
        match = { severity = "critical" }
        receivers = ["mail", "am"]
        group_wait = "2s"
        repeat_interval = "1h"
        escalate = [{ after = "10s", receivers = ["pager"] }]
    "#;

fn event(id: &str, host: &str, severity: &str, opened_ms: i64) -> EventView {
    EventView {
        id: id.into(),
        resource_id: format!("eu/{host}"),
        region: "eu".into(),
        host: host.into(),
        rule: "cpu".into(),
        severity: severity.into(),
        message: "CPU".into(),
        value: 1.0,
        opened_ms,
        resolved_ms: 0,
        acknowledged_ms: 0,
        acknowledged_by: String::new(),
        labels: BTreeMap::new(),
        past_severities: Vec::new(),
    }
}

fn told(plan: &Plan) -> Vec<String> {
    plan.outgoing
        .iter()
        .map(|o| {
            let ids: Vec<&str> = o.events.iter().map(|e| e.id.as_str()).collect();
            format!("{}:{}:{}", o.receiver, o.reason.name(), ids.join(","))
        })
        .collect()
}

#[test]
fn an_event_is_told_once_after_the_group_wait_then_escalates_unless_acknowledged() {
    let mut p = Planner::new(&config(BASE), Vec::new());
    let none = HashSet::new();
    let a = event("a", "h1", "critical", 0);
    let warn = event("w", "h2", "warning", 0);
    assert!(told(&p.plan(&[a.clone(), warn.clone()], &none, 0)).is_empty());
    assert!(told(&p.plan(std::slice::from_ref(&a), &none, 1000)).is_empty());
    assert_eq!(
        told(&p.plan(std::slice::from_ref(&a), &none, 2000)),
        ["mail:firing:a", "am:firing:a"]
    );
    assert!(
        told(&p.plan(std::slice::from_ref(&a), &none, 3000)).is_empty(),
        "told once"
    );
    assert_eq!(
        told(&p.plan(std::slice::from_ref(&a), &none, 10_000)),
        ["pager:escalation:a"]
    );
    // a second event, acknowledged before its escalation
    let b = event("b", "h3", "critical", 20_000);
    p.plan(&[a.clone(), b.clone()], &none, 20_000);
    assert_eq!(
        told(&p.plan(&[a.clone(), b.clone()], &none, 22_000)),
        ["mail:firing:b", "am:firing:b"]
    );
    let acked = EventView {
        acknowledged_ms: 25_000,
        ..b.clone()
    };
    assert!(told(&p.plan(&[a.clone(), acked.clone()], &none, 31_000)).is_empty());
    // resolved: everyone told of them hears of it
    let plan = p.plan(&[], &none, 40_000);
    assert_eq!(
        told(&plan),
        [
            "mail:resolved:a",
            "am:resolved:a",
            "mail:resolved:b",
            "am:resolved:b",
            "pager:resolved:a"
        ]
    );
    assert_eq!(plan.gone.len(), 2);
}

#[test]
fn events_of_a_group_go_together_and_a_rise_in_severity_is_told_again() {
    let text = BASE
        .replace(
            "group_wait = \"2s\"",
            "group_wait = \"0s\"\ngroup_by = [\"rule\"]",
        )
        .replace("match = { severity = \"critical\" }", "");
    let mut p = Planner::new(&config(&text), Vec::new());
    let none = HashSet::new();
    let a = event("a", "h1", "warning", 0);
    let b = event("b", "h2", "warning", 0);
    assert_eq!(
        told(&p.plan(&[a.clone(), b.clone()], &none, 0)),
        ["mail:firing:a,b", "am:firing:a,b"]
    );
    let a2 = EventView {
        severity: "critical".into(),
        ..a.clone()
    };
    assert_eq!(
        told(&p.plan(&[a2.clone(), b.clone()], &none, 1000)),
        ["mail:firing:a", "am:firing:a"]
    );
    let repeat = p.plan(&[a2.clone(), b.clone()], &none, 3_600_000);
    assert!(told(&repeat).contains(&"pager:escalation:a,b".to_string()));
}

#[test]
fn held_events_are_not_told_and_silences_match_by_label_and_time() {
    let text = format!(
        "{BASE}\n[[silences]]\nname = 'upgrade'\nmatch = {{ host = '~h[12]' }}\nto = '1970-01-01T00:01:00Z'\n"
    );
    let mut p = Planner::new(&config(&text), Vec::new());
    let a = event("a", "h1", "critical", 0);
    assert_eq!(p.silenced_by(&a, 1000), ["upgrade"]);
    assert!(p.silenced_by(&a, 61_000).is_empty(), "over");
    assert!(
        p.silenced_by(&event("x", "h9", "critical", 0), 1000)
            .is_empty()
    );
    let held: HashSet<String> = ["a".to_string()].into();
    assert!(told(&p.plan(std::slice::from_ref(&a), &held, 5000)).is_empty());
    assert!(
        told(&p.plan(&[], &held, 6000)).is_empty(),
        "nobody was told, so nobody hears of the resolution"
    );
}

#[test]
fn a_planner_resumed_from_its_tracking_tells_nothing_twice() {
    let c = config(BASE);
    let mut p = Planner::new(&c, Vec::new());
    let none = HashSet::new();
    let a = event("a", "h1", "critical", 0);
    p.plan(std::slice::from_ref(&a), &none, 0);
    let plan = p.plan(std::slice::from_ref(&a), &none, 2000);
    assert_eq!(plan.outgoing.len(), 2);
    let mut resumed = Planner::new(&c, plan.changed.clone());
    assert!(told(&resumed.plan(std::slice::from_ref(&a), &none, 3000)).is_empty());
    assert_eq!(
        told(&resumed.plan(std::slice::from_ref(&a), &none, 62_000)),
        ["pager:escalation:a", "am:refresh:a"]
    );
    // a fall in severity tells nobody but Alertmanager, at once
    let lower = EventView {
        severity: "warning".into(),
        past_severities: vec!["critical".into()],
        ..a.clone()
    };
    assert_eq!(
        told(&resumed.plan(std::slice::from_ref(&lower), &none, 63_000)),
        ["am:refresh:a"]
    );
    assert!(told(&resumed.plan(&[lower], &none, 64_000)).is_empty());
}

#[test]
fn new_channels_keep_what_unchanged_routes_followed_and_tell_changed_routes_afresh() {
    let c = config(BASE);
    let mut p = Planner::new(&c, Vec::new());
    let none = HashSet::new();
    let a = event("a", "h1", "critical", 0);
    p.plan(std::slice::from_ref(&a), &none, 0);
    assert_eq!(
        p.plan(std::slice::from_ref(&a), &none, 2000).outgoing.len(),
        2
    );
    // a receiver added, the route untouched: nothing is told again
    let more = config(&format!(
        "{BASE}\n[[receivers]]\nname = 'ops'\nkind = 'webhook'\nurl = 'http://127.0.0.1:2'\n"
    ));
    let (kept, dropped) = p.into_tracked(&c, &more);
    assert_eq!((kept.len(), dropped.len()), (1, 0));
    let mut p = Planner::new(&more, kept);
    assert!(told(&p.plan(std::slice::from_ref(&a), &none, 3000)).is_empty());
    // the route now goes to ops: its open event is told there, as new
    let mut changed = more.clone();
    changed.routes[0].receivers = vec!["ops".into()];
    let (kept, dropped) = p.into_tracked(&more, &changed);
    assert_eq!((kept.len(), dropped), (0, vec![("a".to_string(), 0)]));
    let mut p = Planner::new(&changed, kept);
    assert!(told(&p.plan(std::slice::from_ref(&a), &none, 4000)).is_empty());
    assert_eq!(
        told(&p.plan(std::slice::from_ref(&a), &none, 6000)),
        ["ops:firing:a"]
    );
}
