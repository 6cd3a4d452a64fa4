//! Tests of parsing and validating `[[checks]]` tables.

use super::*;

fn parse(text: &str) -> Result<CheckConfig, String> {
    let table: toml::Table = toml::from_str(text).unwrap();
    CheckConfig::from_table(table)
}

#[test]
fn every_kind_parses_with_defaults() {
    let c = parse("name='web'\nkind='http'\nurl='http://127.0.0.1/'").unwrap();
    assert_eq!(c.spec.kind(), "http");
    assert_eq!(c.interval, Duration::from_secs(60));
    assert!(c.enabled);
    let c = parse("name='n'\nkind='process'\nmatch='^nginx'\ninterval='5s'").unwrap();
    match c.spec {
        CheckSpec::Process(p) => assert_eq!((p.min, p.max), (1, None)),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.interval, Duration::from_secs(5));
    let c = parse(
        "name='l'\nkind='log'\npath='/var/log/x'\nrules=[{pattern='ERR', severity='critical'}]",
    )
    .unwrap();
    match c.spec {
        CheckSpec::Log(l) => assert_eq!(l.rules[0].severity, CheckState::Critical),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_name_the_check_and_the_key() {
    for (text, needles) in [
        (
            "name='p'\nkind='process'\nmatch='x'\nmin='lots'",
            ["'p'", "min"],
        ),
        ("name='p'\nkind='process'\nmatch='('", ["'p'", "match"]),
        ("name='p'\nkind='proc'", ["'p'", "kind"]),
        (
            "name='p'\nkind='port'\naddress='nowhere'",
            ["'p'", "address"],
        ),
        (
            "name='p'\nkind='port'\naddress='a:1'\nsned='x'",
            ["'p'", "sned"],
        ),
        (
            "name='p'\nkind='log'\npath='x'\nrules=[{pattern='a', severity='bad'}]",
            ["'p'", "rules.severity"],
        ),
        (
            "name='p'\nkind='script'\ncommand=[]\ninterval='1ms'",
            ["command", "interval"],
        ),
        (
            "name='p'\nkind='dns'\nserver='1.1.1.1:53'\nquery='x'\nrecord_type='ZZ'",
            ["'p'", "record_type"],
        ),
        ("kind='dns'", ["checks", "name"]),
    ] {
        let err = parse(text).unwrap_err();
        for n in needles {
            assert!(err.contains(n), "{text}: {err} lacks {n}");
        }
    }
}

#[test]
fn restarts_must_name_a_whitelisted_action() {
    let c = parse("name='p'\nkind='process'\nmatch='x'\nrestart='fix'").unwrap();
    let problems = set_problems(&[c.clone(), c.clone()], &BTreeMap::new());
    assert!(problems.iter().any(|p| p.contains("defined twice")));
    assert!(problems.iter().any(|p| p.contains("'fix'")));
    let mut actions = BTreeMap::new();
    actions.insert("fix".to_string(), ActionConfig::new(vec!["true".into()]));
    assert!(set_problems(&[c], &actions).is_empty());
}
