//! The systemd units in deploy/systemd pass `systemd-analyze verify` with no warning (an
//! unknown or misspelt key is only a warning to systemd, so any output fails), each runs as a
//! user of its own with its own state directory and the hardening its role allows, and the
//! agent holds only the two capabilities reading other users' processes needs.
//!
//! `systemd-analyze` checks that the command exists: the unit's `/usr/bin/strata-*` is
//! pointed at the binary built here for the check, nothing else is changed. Where
//! `systemd-analyze` is missing the check says so and skips (`apt-get install systemd`).

use std::path::PathBuf;
use std::process::Command;

const ROLES: [&str; 4] = ["agent", "broker", "sub-manager", "super-manager"];

fn unit(role: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/systemd")
        .join(format!("strata-{role}.service"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The values of `key` in `text`'s lines (`Key=value`), comments left out.
fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn every_unit_passes_systemd_analyze_verify_with_no_warning() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        strata_testkit::cannot_run(
            "systemd-analyze verify",
            "systemd-analyze is missing (apt-get install systemd)",
        );
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    for role in ROLES {
        let binary = strata_testkit::bin(&format!("strata-{role}"));
        let text = unit(role).replace(
            &format!("/usr/bin/strata-{role}"),
            &binary.display().to_string(),
        );
        let path = dir.path().join(format!("strata-{role}.service"));
        std::fs::write(&path, text).unwrap();
        let out = Command::new("timeout")
            .args(["60", "systemd-analyze", "verify"])
            .arg(&path)
            .output()
            .unwrap();
        let said = strata_testkit::printed(&out);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "strata-{role}.service: {} {said}",
            out.status
        );
    }
}

#[test]
fn every_unit_runs_as_its_own_user_with_the_least_privilege_of_its_role() {
    for role in ROLES {
        let text = unit(role);
        let one = |key: &str| {
            let v = values(&text, key);
            assert_eq!(v.len(), 1, "strata-{role}.service: {key} {v:?}");
            v[0].to_string()
        };
        let own = format!("strata-{role}");
        assert_eq!(one("User"), own);
        assert_eq!(one("Group"), own);
        assert_eq!(one("StateDirectory"), own);
        assert_eq!(
            one("ExecStart").split(' ').next(),
            Some(format!("/usr/bin/{own}").as_str())
        );
        assert!(
            values(&text, "DynamicUser").is_empty(),
            "{own}: a dynamic user cannot keep its files' owner"
        );
        for (key, want) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("PrivateTmp", "yes"),
            ("ProtectKernelModules", "yes"),
            ("RestrictSUIDSGID", "yes"),
            ("RestartPreventExitStatus", "64"),
        ] {
            assert_eq!(one(key), want, "{own}: {key}");
        }
        let caps = one("CapabilityBoundingSet");
        if role == "agent" {
            assert_eq!(caps, "CAP_SYS_PTRACE CAP_DAC_READ_SEARCH");
            assert_eq!(one("AmbientCapabilities"), caps);
            assert_eq!(
                one("SupplementaryGroups"),
                "adm",
                "log checks read /var/log"
            );
        } else {
            assert_eq!(caps, "", "{own} needs no capability");
            assert_eq!(one("ProtectProc"), "invisible");
            assert_eq!(one("SystemCallFilter"), "@system-service");
        }
    }
}
