//! Tests of rules files: parsing, round trips, problems named, the built-in rules.

use super::*;

#[test]
fn a_rules_file_parses_and_round_trips() {
    let text = r#"
            [[rules]]
            name = "disk-free"
            metric = "host_filesystem_free_bytes"
            labels = { mountpoint = "~/var.*", fstype = "!tmpfs" }
            direction = "below"
            warning = 2e9
            critical = 1e9
            clear = 3e9
            for = "1m"
            tags = { team = "storage" }
            summary = "{mountpoint} has {value} bytes free on {agent}"

            [[rules]]
            name = "heartbeat"
            metric = "app_heartbeat"
            absent_for = 3
        "#;
    let rules = parse(text, "rules.toml").unwrap();
    assert_eq!(rules.len(), 2);
    let disk = &rules[0];
    assert_eq!(disk.hold_ms(), 60_000);
    let labels: LabelMap = [("mountpoint", "/var/log"), ("fstype", "ext4")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(disk.selects("host_filesystem_free_bytes", &labels));
    let mut tmp = labels.clone();
    tmp.insert("fstype".into(), "tmpfs".into());
    assert!(!disk.selects("host_filesystem_free_bytes", &tmp));
    assert_eq!(disk.level(5e8), Severity::Critical);
    assert_eq!(disk.level(1.5e9), Severity::Warning);
    assert_eq!(disk.level(2.5e9), Severity::Ok);
    assert!(!disk.cleared(2.5e9) && disk.cleared(3.5e9));
    assert_eq!(disk.combine([3.0, 1.0, 2.0].into_iter()), Some(1.0));
    assert_eq!(
        disk.message("web-1", Severity::Warning, 1.5e9, &labels),
        "/var/log has 1500000000 bytes free on web-1"
    );
    assert_eq!(
        rules[1].kind,
        Kind::Absent {
            intervals: 3,
            severity: Severity::Critical
        }
    );
    let again = parse(&to_toml(&rules), "again").unwrap();
    assert_eq!(again[0].spec, rules[0].spec);
    assert_eq!(again[1].spec, rules[1].spec);
}

#[test]
fn every_problem_names_its_rule_and_field() {
    let text = r#"
            [[rules]]
            name = "a b"
            metric = ""
            warning = 0.9
            critical = 0.5
            clear = 0.95

            [[rules]]
            name = "typo"
            metric = "m"
            criticl = 1.0

            [[rules]]
            name = "both"
            metric = "m"
            absent_for = 0
            warning = 1.0
            labels = { x = "~(" }
        "#;
    let problems = parse(text, "r.toml").unwrap_err().join("\n");
    for needle in [
        "rules[0] 'a b'.name",
        "rules[0] 'a b'.metric",
        "rules[0] 'a b'.warning: 0.9 is past critical 0.5",
        "rules[0] 'a b'.clear",
        "rules[1] 'typo': unknown field `criticl`",
        "rules[2] 'both'.absent_for: an absence rule",
        "rules[2] 'both'.absent_for: must be at least 1",
        "rules[2] 'both'.labels.x",
    ] {
        assert!(
            problems.contains(needle),
            "{needle} missing from:\n{problems}"
        );
    }
    assert!(parse("[rule]\n", "r.toml").unwrap_err()[0].contains("unknown key 'rule'"));
}

#[test]
fn builtins_follow_the_thresholds() {
    let rules = builtin(&Thresholds::default());
    let cpu = &rules[0];
    let total: LabelMap = [("cpu".to_string(), "total".to_string())].into();
    assert!(cpu.selects("host_cpu_usage_ratio", &total));
    assert!(!cpu.selects("host_cpu_usage_ratio", &LabelMap::new()));
    assert_eq!(cpu.level(0.97), Severity::Critical);
    assert_eq!(
        cpu.message("h", Severity::Critical, 0.97, &total),
        "CPU usage 97.0%"
    );
    let fs: LabelMap = [("mountpoint".to_string(), "/var".to_string())].into();
    assert_eq!(
        rules[2].message("h", Severity::Warning, 0.9, &fs),
        "filesystem /var used 90.0%"
    );
}
