//! The container images, built by `deploy/container/build-image` with buildah from the
//! binaries built here: `strata` with every binary and an image per role on the same layers.
//! Each runs as the user `strata` (10001), not root; its health check is `strata healthz`
//! at the health address of the config it ships; its root holds the binaries and the
//! libraries they load from Debian's packages, and no shell or package manager; the agent's
//! binary carries exactly its two capabilities. Then the broker's image is run as its image
//! says (user, command, environment) and its health check passes, and fails once the broker
//! is gone.
//!
//! The image is run from its own root filesystem (`buildah mount`, then `chroot` as its
//! user), as a runtime would start it without the isolation: where `podman run` works, the
//! test runs the image that way first. Needs root, buildah and setcap; skips, saying why,
//! without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

const ROLES: [&str; 4] = ["agent", "broker", "sub-manager", "super-manager"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `program args`: success and all it printed.
fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = strata_testkit::printed(&out);
    (out.status.success(), text)
}

fn must(program: &str, args: &[&str]) -> String {
    let (ok, text) = run(program, args);
    assert!(ok, "{program} {}: {text}", args.join(" "));
    text
}

/// Why this machine cannot build the images, if it cannot.
fn missing() -> Option<String> {
    if must("id", &["-u"]).trim() != "0" {
        return Some("buildah's images are built as root here".into());
    }
    for tool in ["buildah", "setcap", "getcap", "strip", "debootstrap"] {
        let found = strata_testkit::binary::which(tool).is_some()
            || Path::new("/usr/sbin").join(tool).exists();
        if !found {
            return Some(format!(
                "{tool} is missing (apt-get install -y buildah libcap2-bin binutils debootstrap)"
            ));
        }
    }
    None
}

/// The Docker-format config of image `name`.
fn config(name: &str) -> Value {
    let text = must("buildah", &["inspect", "--type", "image", name]);
    let all: Value = serde_json::from_str(&text).unwrap();
    all["Docker"]["config"].clone()
}

/// An image's root filesystem, mounted through a working container removed on drop.
struct Mounted {
    container: String,
    root: PathBuf,
}

impl Mounted {
    fn new(image: &str) -> Mounted {
        let container = must("buildah", &["from", "--pull-never", image])
            .trim()
            .to_string();
        let root = PathBuf::from(must("buildah", &["mount", &container]).trim());
        Mounted { container, root }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = run("buildah", &["rm", &self.container]);
    }
}

/// The images of one build, removed on drop.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = run("buildah", &["rmi", "-f", image]);
        }
    }
}

/// `KEY=value` of an image's environment.
fn env_of(config: &Value, key: &str) -> Option<String> {
    config["Env"].as_array()?.iter().find_map(|e| {
        e.as_str()?
            .strip_prefix(&format!("{key}="))
            .map(str::to_string)
    })
}

/// Runs the image's health check, as its config says, as its user in its root.
fn health_check(root: &Path, config: &Value) -> (bool, String) {
    let test: Vec<&str> = config["Healthcheck"]["Test"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(test[0], "CMD", "an exec-form check: the image has no shell");
    let url = env_of(config, "STRATA_HEALTHZ_URL").unwrap();
    let out = Command::new("chroot")
        .arg("--userspec=10001:10001")
        .arg(root)
        .args(&test[1..])
        .env("STRATA_HEALTHZ_URL", url)
        .output()
        .unwrap();
    let said = strata_testkit::printed(&out);
    (out.status.success(), said)
}

#[test]
fn the_images_run_as_a_user_with_a_health_check_and_nothing_else() {
    if let Some(why) = missing() {
        strata_testkit::cannot_run("the container images' build", &why);
        return;
    }
    let tag = format!("test-{}", std::process::id());
    let bins = strata_testkit::bin("strata-broker");
    let built = must(
        &repo()
            .join("deploy/container/build-image")
            .to_string_lossy(),
        &[&bins.parent().unwrap().to_string_lossy(), &tag],
    );
    let images = Images(
        built
            .lines()
            .filter(|l| l.ends_with(&format!(":{tag}")))
            .map(str::to_string)
            .collect(),
    );
    assert_eq!(images.0.len(), 5, "strata and one per role: {built}");

    for role in ROLES {
        let image = format!("strata-{role}:{tag}");
        let c = config(&image);
        assert_eq!(c["User"], "10001:10001", "{image} runs as strata, not root");
        let cmd: Vec<&str> = c["Cmd"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let config_file = format!("/etc/strata/{role}.toml");
        assert_eq!(
            cmd,
            [
                format!("/usr/bin/strata-{role}").as_str(),
                "--config",
                &config_file
            ]
        );
        assert_eq!(
            c["Healthcheck"]["Test"],
            serde_json::json!(["CMD", "/usr/bin/strata", "healthz"]),
            "{image}"
        );
        // the check asks the health address of the config the image ships
        let mounted = Mounted::new(&image);
        let shipped =
            std::fs::read_to_string(mounted.root.join(config_file.trim_start_matches('/')))
                .unwrap();
        let table: toml::Table = shipped.parse().unwrap();
        let listen = table
            .get("metrics_listen")
            .or_else(|| table.get("http"))
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{role}'s shipped config serves no /healthz"));
        assert_eq!(
            env_of(&c, "STRATA_HEALTHZ_URL"),
            Some(format!("http://{listen}/healthz")),
            "{image}"
        );
    }

    let everything = Mounted::new(&format!("strata:{tag}"));
    let root = &everything.root;
    for absent in ["bin/sh", "usr/bin/sh", "usr/bin/dpkg", "usr/bin/apt"] {
        assert!(!root.join(absent).exists(), "the image holds {absent}");
    }
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("strata:x:10001:10001:"), "{passwd}");
    let caps = must(
        "getcap",
        &[&root.join("usr/bin/strata-agent").to_string_lossy()],
    );
    assert!(
        caps.contains("cap_dac_read_search,cap_sys_ptrace=ep"),
        "the agent's file capabilities: {caps}"
    );
    let others = must("getcap", &["-r", &root.join("usr/bin").to_string_lossy()]);
    assert_eq!(
        others.lines().count(),
        1,
        "only the agent has capabilities: {others}"
    );
    assert!(root.join("usr/share/doc/libc6/copyright").exists());

    let image = format!("strata:{tag}");
    let podman_args = [
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "/usr/bin/strata",
        "--version",
    ];
    // podman is optional: not installed is one more way of not running containers here
    let (podman, said) = match Command::new("podman").args(podman_args).output() {
        Ok(out) => (out.status.success(), strata_testkit::printed(&out)),
        Err(e) => (false, format!("podman: {e}")),
    };
    if !podman {
        eprintln!(
            "NOTE: podman cannot run containers here ({}); the image is run from its root \
             with chroot instead",
            said.lines().last().unwrap_or_default()
        );
    }

    // the broker's image, run as its config says: healthy while it runs, not once it is gone
    let broker = config(&format!("strata-broker:{tag}"));
    let (ok, said) = health_check(root, &broker);
    assert!(!ok, "healthy with no broker running: {said}");
    let cmd: Vec<String> = broker["Cmd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    // the broker refuses to start without its certificate: give it one, as an operator would
    // mount one, readable by the image's user
    let ca = strata_testkit::MeshCa::temp();
    let node = ca
        .node(strata_proto::identity::Role::Broker, "", "broker-1")
        .unwrap();
    let tls = root.join("etc/strata/tls/broker");
    std::fs::create_dir_all(&tls).unwrap();
    for file in ["ca.crt", "node.crt", "node.key", "revoked.txt"] {
        if node.join(file).exists() {
            std::fs::copy(node.join(file), tls.join(file)).unwrap();
        }
    }
    must("chown", &["-R", "10001:10001", &tls.to_string_lossy()]);
    let mut command = Command::new("chroot");
    command
        .arg("--userspec=10001:10001")
        .arg(root)
        .args(&cmd)
        .env("STRATA_BROKER_LISTEN", "127.0.0.1:0");
    let (mut child, line) = strata_testkit::spawn_first_line(command);
    let healthy =
        strata_testkit::try_wait_for("the image's health check", Duration::from_secs(20), || {
            match health_check(root, &broker) {
                (true, said) => Ok(said),
                (false, said) => Err(said),
            }
        });
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        line.contains("listening"),
        "the broker's image did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = healthy.unwrap_or_else(|e| panic!("{e}"));
    assert!(said.contains("200"), "{said}");
    let (ok, said) = health_check(root, &broker);
    assert!(!ok, "healthy once the broker is gone: {said}");
}
