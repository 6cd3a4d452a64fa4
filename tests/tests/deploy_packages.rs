//! The Debian packages, as an operator installs them: `deploy/debian/build-packages` builds
//! them from the binaries built here, and they are installed with the scratch root's own
//! dpkg into a Debian root of this machine's release (debootstrap's minbase, made once by
//! `deploy/debian/minbase-root` and kept in `/var/cache/strata`, or `STRATA_CACHE_DIR`). There, each role has a system user
//! of its own with no shell, the agent alone is in `adm`, the config is readable by root and
//! the role only, the data directory by the role only, the unit is the one in
//! deploy/systemd; a broker given its certificate by `strata ca issue --group` starts as
//! its own user; no role may write another's data; removing a package keeps its config and
//! data.
//!
//! Needs root, dpkg-deb, debootstrap and chroot, and Debian's mirror the first time (or
//! `STRATA_DEBIAN_MIRROR`); without them it says so and skips.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ROLES: [&str; 4] = ["agent", "broker", "sub-manager", "super-manager"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `program args`, panicking with its output when it fails; returns its stdout.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {}: {text}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Runs `args` inside `root` (`chroot`), as `user` when given: status and all it printed.
fn chroot(root: &Path, user: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut c = Command::new("chroot");
    if let Some(user) = user {
        c.arg(format!("--userspec={user}:{user}"));
    }
    let out = c.arg(root).args(args).output().expect("chroot runs");
    let text = strata_testkit::printed(&out);
    (out.status.success(), text)
}

/// Why this machine cannot run the check, if it cannot.
fn missing() -> Option<String> {
    if run("id", &["-u"]).trim() != "0" {
        return Some("it installs into a chroot, which needs root".into());
    }
    for tool in ["dpkg-deb", "debootstrap", "chroot", "strip"] {
        if strata_testkit::binary::which(tool).is_none() {
            return Some(format!(
                "{tool} is missing (apt-get install -y debootstrap dpkg-dev binutils)"
            ));
        }
    }
    None
}

/// The minbase root of this machine's release (`deploy/debian/minbase-root`, made once).
fn base_root() -> Result<PathBuf, String> {
    let out = Command::new(repo().join("deploy/debian/minbase-root"))
        .output()
        .map_err(|e| format!("deploy/debian/minbase-root: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Owner, group and permission bits of `path`, names read from the root's own files.
fn owner(root: &Path, path: &str) -> (String, String, u32) {
    let meta = std::fs::metadata(root.join(path.trim_start_matches('/')))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let name = |file: &str, id: u32| {
        std::fs::read_to_string(root.join(file))
            .unwrap()
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == id.to_string()).then(|| f[0].to_string())
            })
            .unwrap_or_else(|| id.to_string())
    };
    (
        name("etc/passwd", meta.uid()),
        name("etc/group", meta.gid()),
        meta.permissions().mode() & 0o7777,
    )
}

/// Starts role `role` in `root` as its user with its packaged config and `env`, and returns
/// the first line it printed (its `listening` line) within 30 s; stops it once `until`
/// holds (or 30 s have passed).
fn first_line(root: &Path, role: &str, env: &[(&str, &str)], until: &dyn Fn() -> bool) -> String {
    let (user, binary) = (format!("strata-{role}"), format!("/usr/bin/strata-{role}"));
    let config = format!("/etc/strata/{role}.toml");
    let mut command = Command::new("chroot");
    command
        .arg(format!("--userspec={user}:{user}"))
        .arg(root)
        .args([&binary, "--config", &config])
        .envs(env.iter().copied());
    let (mut child, line) = strata_testkit::spawn_first_line(command);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !line.is_empty() && !until() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        line.contains("listening"),
        "{binary} as {user}: '{line}' {}",
        String::from_utf8_lossy(&out.stderr)
    );
    line
}

/// Builds the packages of `version` from the binaries built here into `out`.
fn build_packages(out: &Path, version: &str) {
    let bins = strata_testkit::bin("strata-broker");
    let built = Command::new(repo().join("deploy/debian/build-packages"))
        .arg(bins.parent().unwrap())
        .arg(out)
        .env("DEB_COMPRESSION", "gzip")
        .env("STRATA_PACKAGE_VERSION", version)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "build-packages: {}",
        String::from_utf8_lossy(&built.stderr)
    );
}

/// The text of each block of docs/deploying.md marked `marker`, in order.
fn documented_blocks(marker: &str) -> Vec<String> {
    let doc = std::fs::read_to_string(repo().join("docs/deploying.md")).unwrap();
    let mut lines = doc.lines();
    let mut blocks = Vec::new();
    while let Some(line) = lines.next() {
        if line.trim() != marker {
            continue;
        }
        let fence = lines.next().map(str::trim).unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "a marked block follows its marker: {fence}"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(block.join("\n"));
    }
    blocks
}

/// The command lines of docs/deploying.md's blocks marked as run by this test, in order.
fn documented_commands() -> Vec<String> {
    let commands: Vec<String> = documented_blocks("<!-- run by tests/tests/deploy_packages.rs -->")
        .iter()
        .flat_map(|block| {
            block
                .lines()
                .map(str::trim)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert!(
        commands.len() >= 15,
        "docs/deploying.md's commands: {commands:?}"
    );
    commands
}

/// The join token the documented commands are given.
const JOIN_TOKEN: &str = "east-join-token-of-the-test";

#[test]
fn the_packages_install_with_a_user_per_role_and_least_privilege() {
    if let Some(why) = missing() {
        strata_testkit::cannot_run("the packages' install into a scratch root", &why);
        return;
    }
    let base = match base_root() {
        Ok(base) => base,
        Err(why) => {
            strata_testkit::cannot_run("the packages' install into a Debian root", &why);
            return;
        }
    };
    let scratch = tempfile::tempdir_in("/var/tmp").unwrap();
    let root = scratch.path().join("root");
    run(
        "cp",
        &["-a", &base.to_string_lossy(), &root.to_string_lossy()],
    );
    let debs = root.join("tmp/debs");
    build_packages(&debs, env!("CARGO_PKG_VERSION"));
    let built = std::fs::read_dir(&debs).unwrap().count();
    assert_eq!(built, 5, "a package per role and the CLI");
    // docs/deploying.md's commands, as an operator runs them
    for line in documented_commands() {
        if let Some(rest) = line.strip_prefix("systemctl ") {
            // no systemd in a scratch root: the units it names must be installed
            for unit in rest
                .split_whitespace()
                .skip(1)
                .filter(|w| !w.starts_with('-'))
            {
                let path = root.join(format!("lib/systemd/system/{unit}.service"));
                assert!(
                    path.exists(),
                    "docs/deploying.md names {unit}, not installed"
                );
            }
            continue;
        }
        let out = Command::new("chroot")
            .arg(&root)
            .args(["sh", "-c", &format!("cd /tmp/debs && {line}")])
            .env("JOIN_TOKEN", JOIN_TOKEN)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docs/deploying.md: {line}: {}",
            strata_testkit::printed(&out)
        );
    }
    // the agent's documented lines load, with the files those commands made
    let toml = documented_blocks("<!-- read by tests/tests/deploy_packages.rs -->");
    assert_eq!(toml.len(), 1, "the agent's lines");
    let here = format!("{}/etc/strata/", root.display());
    let text = toml[0].replace("/etc/strata/", &here);
    use strata_proto::config::RoleConfig;
    let agent = strata_agent::AgentConfig::parse(&text)
        .and_then(|c| c.finish(&|_| None).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("docs/deploying.md's agent.toml: {e}"));
    assert_eq!(agent.enrol.token.as_deref(), Some(JOIN_TOKEN));
    let pin = agent.enrol.ca_fingerprint.unwrap_or_default();
    assert!(
        pin.starts_with("sha256:") && pin.len() == 71,
        "the pinned CA: '{pin}'"
    );
    for secret in ["/etc/strata/join-token", "/etc/strata/ca.fingerprint"] {
        assert_eq!(
            owner(&root, secret),
            ("root".into(), "strata-agent".into(), 0o640),
            "{secret}"
        );
    }

    for role in ROLES {
        let user = format!("strata-{role}");
        let (ok, entry) = chroot(&root, None, &["getent", "passwd", &user]);
        assert!(ok, "no user {user}: {entry}");
        let fields: Vec<&str> = entry.trim().split(':').collect();
        let uid: u32 = fields[2].parse().unwrap();
        assert!(uid < 1000, "{user} is not a system user: {entry}");
        assert_eq!(fields[5], format!("/var/lib/{user}"), "{entry}");
        assert_eq!(fields[6], "/usr/sbin/nologin", "{entry}");
        let (_, groups) = chroot(&root, None, &["id", "-nG", &user]);
        let in_adm = groups.split_whitespace().any(|g| g == "adm");
        assert_eq!(in_adm, role == "agent", "{user}'s groups: {groups}");

        let root_only = ("root".to_string(), "root".to_string(), 0o755);
        assert_eq!(owner(&root, &format!("/usr/bin/strata-{role}")), root_only);
        assert_eq!(
            owner(&root, &format!("/etc/strata/{role}.toml")),
            ("root".into(), user.clone(), 0o640),
            "the config may hold secrets"
        );
        assert_eq!(
            owner(&root, &format!("/var/lib/{user}")),
            (user.clone(), user.clone(), 0o750)
        );
        if role != "agent" {
            assert_eq!(
                owner(&root, &format!("/etc/strata/tls/{role}")),
                ("root".into(), user.clone(), 0o750)
            );
        }
        let unit = format!("lib/systemd/system/strata-{role}.service");
        assert_eq!(
            std::fs::read_to_string(root.join(&unit)).unwrap(),
            std::fs::read_to_string(repo().join(format!("deploy/systemd/strata-{role}.service")))
                .unwrap(),
            "{unit}"
        );
        let conffiles = root.join(format!("var/lib/dpkg/info/strata-{role}.conffiles"));
        assert!(
            std::fs::read_to_string(&conffiles)
                .unwrap_or_default()
                .contains(&format!("/etc/strata/{role}.toml")),
            "an edited config survives upgrades"
        );
        // its own data directory only
        let probe = format!("/var/lib/{user}/probe");
        assert!(
            chroot(&root, Some(&user), &["touch", &probe]).0,
            "{user} writes its data"
        );
        let other = if role == "broker" {
            "strata-agent"
        } else {
            "strata-broker"
        };
        let (wrote, _) = chroot(&root, Some(other), &["touch", &probe]);
        assert!(!wrote, "{other} wrote into {user}'s data");
    }
    // no polkit rule is active by default: the agent restarts nothing until one is installed
    assert!(
        !root
            .join("etc/polkit-1/rules.d/50-strata-agent.rules")
            .exists()
    );
    assert!(
        root.join("usr/share/doc/strata-agent/examples/50-strata-agent.rules")
            .exists()
    );

    // a broker given its certificate for its group (as the docs do) starts as its own user
    assert_eq!(
        owner(&root, "/etc/strata/tls/broker/node.key"),
        ("root".into(), "strata-broker".into(), 0o640)
    );
    let (read, _) = chroot(
        &root,
        Some("strata-agent"),
        &["cat", "/etc/strata/tls/broker/node.key"],
    );
    assert!(!read, "another role read the broker's key");
    let line = first_line(
        &root,
        "broker",
        &[("STRATA_BROKER_LISTEN", "127.0.0.1:0")],
        &|| true,
    );
    assert!(line.contains("grpc=127.0.0.1:"), "{line}");
    // the member opens its store in its data directory, as its own user
    let data = root.join("var/lib/strata-sub-manager");
    let store_made = || data.join("journal").exists();
    let line = first_line(
        &root,
        "sub-manager",
        &[
            ("STRATA_SUB_MANAGER_LISTEN", "127.0.0.1:0"),
            ("STRATA_SUB_MANAGER_BROKERS", ""),
        ],
        &store_made,
    );
    assert!(line.contains("grpc=127.0.0.1:"), "{line}");
    assert!(
        store_made(),
        "the member made no store in its data directory"
    );
    let line = first_line(
        &root,
        "super-manager",
        &[
            ("STRATA_SUPER_MANAGER_HTTP", "127.0.0.1:0"),
            ("STRATA_SUPER_MANAGER_GRPC", "127.0.0.1:0"),
        ],
        &|| true,
    );
    assert!(line.contains("listening"), "{line}");
    // the agent reads its config and stops at what its operator has still to do (enrol, or
    // put a certificate in its tls dir), not at a permission
    let (ok, said) = chroot(
        &root,
        Some("strata-agent"),
        &[
            "/usr/bin/strata-agent",
            "--config",
            "/etc/strata/agent.toml",
        ],
    );
    assert!(!ok && said.contains("No such file"), "agent: {said}");
    assert!(!said.contains("ermission denied"), "agent: {said}");

    // upgraded to a newer version as docs/deploying.md says ("Upgrading a region"): an
    // edited config and the stored data stay
    let edited = root.join("etc/strata/sub-manager.toml");
    let mine = format!(
        "{}\n# edited by its operator\n",
        std::fs::read_to_string(&edited).unwrap()
    );
    std::fs::write(&edited, &mine).unwrap();
    let newer = format!("{}+1", env!("CARGO_PKG_VERSION"));
    build_packages(&root.join("tmp/debs-new"), &newer);
    let upgrade = "cd /tmp/debs-new && dpkg -i --force-confold strata-sub-manager_*.deb";
    let (ok, said) = chroot(&root, None, &["sh", "-c", upgrade]);
    assert!(ok, "{said}");
    let (_, version) = chroot(
        &root,
        None,
        &["dpkg-query", "-W", "-f=${Version}", "strata-sub-manager"],
    );
    assert_eq!(version, newer);
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), mine);
    assert!(store_made(), "the member's store survives its upgrade");

    // removed, a role's config and data stay
    let (ok, said) = chroot(&root, None, &["dpkg", "-r", "strata-broker"]);
    assert!(ok, "{said}");
    assert!(!root.join("usr/bin/strata-broker").exists());
    assert!(root.join("etc/strata/broker.toml").exists());
    assert!(root.join("var/lib/strata-broker/probe").exists());
}
