//! Every example config in deploy/ parses and validates with its role's own loader, and a bad
//! config makes the daemon exit with code 64 and name the field.

use std::path::PathBuf;
use std::process::Command;

use strata_proto::config::RoleConfig;

fn deploy(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(name)
}

#[test]
fn example_configs_load() {
    strata_agent::AgentConfig::load(&deploy("agent.toml")).unwrap();
    strata_broker::BrokerConfig::load(&deploy("broker.toml")).unwrap();
    let sub = strata_sub_manager::SubManagerConfig::load(&deploy("sub-manager.toml")).unwrap();
    assert_eq!(sub.agents.len(), 2);
    assert_eq!(sub.notify.receivers.len(), 4);
    let rules = std::fs::read_to_string(deploy("rules.toml")).unwrap();
    let rules = strata_sub_manager::rules::model::parse(&rules, "rules.toml").unwrap();
    assert_eq!(rules.len(), 4);
    strata_super_manager::SuperManagerConfig::load(&deploy("super-manager.toml")).unwrap();
    let services = std::fs::read_to_string(deploy("services.toml")).unwrap();
    let services = strata_super_manager::services::model::parse_file(&services).unwrap();
    assert_eq!(services.len(), 3);
}

#[test]
fn a_bad_config_exits_64_and_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "id = \"x\"\nregion = \"eu\"\n[poll]\ninterval = \"1ms\"\n[[agents]]\nid = \"a\"\naddress = \"nowhere\"\n").unwrap();
    let out = Command::new(strata_testkit::bin("strata-sub-manager"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("poll.interval") && err.contains("agents[0].address"),
        "{err}"
    );

    std::fs::write(&path, "lease = \"soon\"\n").unwrap();
    let out = Command::new(strata_testkit::bin("strata-broker"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lease"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
