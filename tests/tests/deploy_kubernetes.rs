//! The Kubernetes manifests in deploy/kubernetes pass the schemas of the Kubernetes version
//! they are written for with `kubernetes-validate --strict` (a misspelt or misplaced field
//! fails, where `kubectl apply` might drop it), as kustomize renders them too where `kubectl`
//! is installed; kustomization.yaml lists every manifest and role config, and only files
//! that exist. They hold what the mesh relies on: the agent sees its node (hostPID, /proc,
//! /sys and its root read-only) with SYS_PTRACE alone, as uid 0 since Kubernetes gives no
//! capability to another user; every other pod runs as a non-root user; none escalates
//! privileges, and each has a read-only root file system and RuntimeDefault seccomp, with liveness and readiness probes on /healthz at the port its
//! config serves it on; the sub-managers are StatefulSets with a volume each; there are two
//! brokers and two super-managers; the network is denied by default; no key is kept here,
//! and every Secret the pods read is one README.md says how to make. Each role's config
//! loads with the role's own loader under its pods' environment, giving each pod the id its
//! certificate names.
//!
//! kubernetes-validate (PyPI, run as `python3 -m kubernetes_validate`) brings PyYAML, which
//! reads the manifests here too (`python3 -c`, each document as JSON). Where either is
//! missing the check says so and skips (`python3 -m pip install kubernetes-validate==1.37.0`;
//! `make test-peers` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use strata_proto::config::RoleConfig;
use strata_tests::manifests::{
    containers, items, kind, mount_path, name, pod, replicas, role, setting, strings, workloads,
};

/// The Kubernetes version the manifests are validated against.
const KUBERNETES_VERSION: &str = "1.35.0";
/// What installs kubernetes-validate (and PyYAML with it).
const INSTALL: &str = "python3 -m pip install kubernetes-validate==1.37.0";
/// Prints every document of the YAML file named by its argument as one JSON array.
const TO_JSON: &str = "import json, sys, yaml; \
    print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))";

/// Example values of a pod's field references and secrets.
const NODE: &str = "node-1";
const HOST_IP: &str = "10.0.0.5";
const POD_IP: &str = "10.1.2.3";
const SECRET: &str = "example-secret";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// The names of the files of `sub` (in deploy/kubernetes) that end with `suffix`, sorted.
fn files(sub: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir().join(sub))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// The manifests: every YAML file of deploy/kubernetes but kustomization.yaml, which is not
/// a Kubernetes object.
fn manifests() -> Vec<String> {
    let mut names = files(".", ".yaml");
    names.retain(|n| n != "kustomization.yaml");
    names
}

/// Every document of the YAML file `name` as JSON, read by PyYAML; `None` when python3 or
/// PyYAML is missing.
fn yaml(name: &str) -> Option<Vec<Value>> {
    let path = dir().join(name);
    let out = Command::new("python3")
        .args(["-c", TO_JSON])
        .arg(&path)
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No module named") {
        return None;
    }
    assert!(out.status.success(), "{}: {err}", path.display());
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Array(docs) => Some(docs),
        other => panic!("{name}: {other}"),
    }
}

/// Every object of every manifest, or `None` (said as SKIPPED) without python3 or PyYAML.
fn objects() -> Option<Vec<Value>> {
    let mut all = Vec::new();
    for name in manifests() {
        let Some(docs) = yaml(&name) else {
            strata_testkit::cannot_run(
                "reading the manifests",
                &format!("python3 or PyYAML is missing ({INSTALL})"),
            );
            return None;
        };
        all.extend(docs);
    }
    Some(all)
}

/// The port the container's `probe` asks, a number or the name of one of its ports.
fn probe_port(container: &Value, probe: &str) -> u64 {
    let port = &container[probe]["httpGet"]["port"];
    if let Some(n) = port.as_u64() {
        return n;
    }
    let port_name = port.as_str().unwrap_or("");
    items(&container["ports"])
        .find(|p| p["name"] == port_name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("{}: {probe} names no port", container["name"]))
}

fn port_of(address: &str) -> u64 {
    address.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// Every probe of the container asks the port of `address` (its config's /healthz).
fn probes_ask(container: &Value, address: &str) {
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            probe_port(container, probe),
            port_of(address),
            "{}: {probe} is not where /healthz is served ({address})",
            container["name"]
        );
    }
}

/// A container's environment as the pod `pod` sees it: field references get the example
/// values above (its own name for `metadata.name`), secrets [`SECRET`], and `$(NAME)` is
/// expanded from the variables before it, as Kubernetes does.
fn environment(container: &Value, pod: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for e in items(&container["env"]) {
        let value = if let Some(v) = e["value"].as_str() {
            let mut v = v.to_string();
            for (n, known) in &env {
                v = v.replace(&format!("$({n})"), known);
            }
            v
        } else {
            match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.name") => pod.to_string(),
                Some("spec.nodeName") => NODE.to_string(),
                Some("status.podIP") => POD_IP.to_string(),
                Some("status.hostIP") => HOST_IP.to_string(),
                Some(other) => panic!("{pod}: no example value for {other}"),
                None => {
                    assert!(e["valueFrom"]["secretKeyRef"].is_object(), "{pod}: {e}");
                    SECRET.to_string()
                }
            }
        };
        env.push((e["name"].as_str().unwrap().to_string(), value));
    }
    env
}

fn lookup(env: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    move |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// Runs kubernetes-validate in strict mode on `paths`, which must hold `objects` objects.
fn validate(paths: &[PathBuf], objects: Option<usize>) {
    let out = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "-k"])
        .arg(KUBERNETES_VERSION)
        .args(paths)
        .output()
        .unwrap();
    let said = strata_testkit::printed(&out);
    let complained = said
        .lines()
        .any(|l| l.starts_with("ERROR") || l.starts_with("WARN"));
    assert!(
        out.status.success() && !complained,
        "kubernetes-validate {KUBERNETES_VERSION}: {said}"
    );
    if let Some(n) = objects {
        assert_eq!(said.matches(" passed ").count(), n, "unchecked: {said}");
    }
}

#[test]
fn every_manifest_passes_the_schemas_of_its_kubernetes_version_in_strict_mode() {
    let validator = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--version"])
        .output();
    if !validator.is_ok_and(|out| out.status.success()) {
        strata_testkit::cannot_run(
            "the manifests' validation",
            &format!("kubernetes-validate is missing ({INSTALL})"),
        );
        return;
    }
    let paths: Vec<PathBuf> = manifests().iter().map(|n| dir().join(n)).collect();
    assert!(paths.len() >= 6, "{paths:?}");
    validate(&paths, objects().map(|o| o.len()));
    // as `kubectl apply -k` sends them: the generated ConfigMaps, names with their hashes
    match Command::new("kubectl").arg("kustomize").arg(dir()).output() {
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "kubectl kustomize: {err}");
            let rendered = tempfile::tempdir().unwrap();
            let path = rendered.path().join("rendered.yaml");
            std::fs::write(&path, out.stdout).unwrap();
            validate(&[path], None);
        }
        // kubectl is not a Debian package: its rendering is checked where it is installed
        Err(_) => eprintln!("NOTE: kubectl is missing: the kustomize rendering is not validated"),
    }
}

#[test]
fn the_kustomization_lists_every_manifest_and_config_and_only_files_that_exist() {
    let Some(docs) = yaml("kustomization.yaml") else {
        strata_testkit::cannot_run(
            "reading the kustomization",
            &format!("python3 or PyYAML is missing ({INSTALL})"),
        );
        return;
    };
    let k = &docs[0];
    assert_eq!(k["kind"], "Kustomization");
    assert_eq!(k["namespace"], "strata");
    let mut resources = strings(&k["resources"]);
    resources.sort();
    for r in &resources {
        assert!(dir().join(r).is_file(), "{r} is missing");
    }
    assert_eq!(resources, manifests(), "resources: every manifest, once");
    let mut listed = Vec::new();
    for generator in k["configMapGenerator"].as_array().unwrap() {
        for file in strings(&generator["files"]) {
            let path = file.split_once('=').map_or(file, |(_, p)| p);
            assert!(dir().join(path).is_file(), "{path} is missing");
            listed.push(path.to_string());
        }
    }
    listed.sort();
    let configs: Vec<String> = files("config", ".toml")
        .into_iter()
        .map(|n| format!("config/{n}"))
        .collect();
    assert_eq!(listed, configs, "configMapGenerator: every config");
}

#[test]
fn the_agent_sees_its_node_read_only_with_one_capability() {
    let Some(objects) = objects() else { return };
    let sets = kind(&objects, "DaemonSet");
    assert_eq!(sets.len(), 1, "one DaemonSet: the agent");
    let agent = sets[0];
    let spec = pod(agent);
    assert_eq!(spec["hostPID"], true, "the node's processes");
    assert_eq!(spec["hostNetwork"], true, "the node's network");
    assert_eq!(spec["dnsPolicy"], "ClusterFirstWithHostNet");
    let host: Vec<&Value> = items(&spec["volumes"])
        .filter(|v| v["hostPath"].is_object())
        .collect();
    assert_eq!(host.len(), 3, "hostPath volumes: /proc, /sys and / only");
    for path in ["/proc", "/sys", "/"] {
        let volume = host
            .iter()
            .find(|v| v["hostPath"]["path"] == path)
            .unwrap_or_else(|| panic!("no hostPath volume of {path}"));
        for c in containers(agent) {
            let mounts: Vec<&Value> = items(&c["volumeMounts"])
                .filter(|m| m["name"] == volume["name"])
                .collect();
            assert!(!mounts.is_empty(), "{path} is not mounted");
            for m in mounts {
                assert_eq!(m["readOnly"], true, "{path} is mounted writable: {m}");
            }
        }
    }
    for c in containers(agent) {
        let caps = &c["securityContext"]["capabilities"];
        let mut added = strings(&caps["add"]);
        added.sort();
        assert_eq!(added, ["SYS_PTRACE"], "no other");
        assert_eq!(strings(&caps["drop"]), ["ALL"]);
        // root only for that capability (Kubernetes gives a non-root process none), with no
        // escalation and nothing else
        assert_eq!(*setting(spec, c, "runAsUser"), Value::from(0));
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_ne!(c["securityContext"]["privileged"], true);
    }
}

#[test]
fn every_pod_runs_unprivileged_with_probes_on_healthz_and_bounded_resources() {
    let Some(objects) = objects() else { return };
    let all = workloads(&objects);
    assert!(
        all.len() >= 4,
        "agent, brokers, sub-managers, super-managers"
    );
    for w in all {
        let spec = pod(w);
        let agent = w["kind"] == "DaemonSet";
        assert_eq!(spec["automountServiceAccountToken"], false, "{}", name(w));
        if !agent {
            for host in ["hostPID", "hostNetwork", "hostIPC"] {
                assert_ne!(spec[host], true, "{}: {host}", name(w));
            }
            let host_path = items(&spec["volumes"]).any(|v| v["hostPath"].is_object());
            assert!(!host_path, "{}: hostPath", name(w));
        }
        for c in containers(w) {
            let who = format!("{}/{}", name(w), c["name"].as_str().unwrap_or(""));
            let sc = &c["securityContext"];
            assert_eq!(c["image"], "strata:0.1.0", "{who}");
            // the agent alone runs as root, for its one capability (checked above)
            let runs_as = [
                ("runAsNonRoot", Value::from(true)),
                ("runAsUser", 10001.into()),
            ];
            for (key, want) in runs_as.into_iter().filter(|_| !agent) {
                assert_eq!(*setting(spec, c, key), want, "{who}: {key}");
            }
            let seccomp = &setting(spec, c, "seccompProfile")["type"];
            assert_eq!(seccomp, "RuntimeDefault", "{who}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{who}");
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{who}");
            assert_ne!(sc["privileged"], true, "{who}");
            let caps = &sc["capabilities"];
            assert!(strings(&caps["drop"]).contains(&"ALL"), "{who}: drop ALL");
            assert!(agent || caps["add"].is_null(), "{who}: needs no capability");
            for probe in ["livenessProbe", "readinessProbe"] {
                assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{who}: {probe}");
            }
            for bound in ["requests", "limits"] {
                for r in ["cpu", "memory"] {
                    let set = !c["resources"][bound][r].is_null();
                    assert!(set, "{who}: resources.{bound}.{r}");
                }
            }
        }
    }
}

#[test]
fn two_brokers_two_super_managers_and_members_with_volumes_and_certificates_of_their_own() {
    let Some(objects) = objects() else { return };
    let pods = |component| {
        role(&objects, component)
            .into_iter()
            .map(replicas)
            .sum::<u64>()
    };
    assert_eq!(pods("broker"), 2, "two brokers");
    assert_eq!(pods("super-manager"), 2, "two super-managers");
    let supers = role(&objects, "super-manager");
    let members = role(&objects, "sub-manager");
    assert!(!members.is_empty(), "no sub-manager");
    for w in members.iter().chain(&supers) {
        assert_eq!(w["kind"], "StatefulSet", "{}", name(w));
        let claims = w["spec"]["volumeClaimTemplates"].as_array();
        let claimed = claims.is_some_and(|c| !c.is_empty());
        assert!(claimed, "{}: volumeClaimTemplates", name(w));
    }
    // each pod of a StatefulSet finds its own certificate and key in its Secret
    for w in kind(&objects, "StatefulSet") {
        let tls = items(&pod(w)["volumes"]).find(|v| v["name"] == "tls");
        let tls = tls.unwrap_or_else(|| panic!("{}: no tls volume", name(w)));
        let paths: Vec<&str> = items(&tls["secret"]["items"])
            .filter_map(|i| i["path"].as_str())
            .collect();
        for i in 0..replicas(w) {
            for file in ["ca.crt", "node.crt", "node.key"] {
                let path = format!("{}-{i}/{file}", name(w));
                assert!(paths.contains(&path.as_str()), "no {path} in the Secret");
            }
        }
    }
}

#[test]
fn the_network_is_denied_by_default_and_no_secret_is_kept_here() {
    let Some(objects) = objects() else { return };
    let policies = kind(&objects, "NetworkPolicy");
    let denies = policies.iter().any(|p| {
        let s = &p["spec"];
        let everyone = s["podSelector"].as_object().is_some_and(|o| o.is_empty());
        let types = strings(&s["policyTypes"]);
        everyone
            && types.contains(&"Ingress")
            && types.contains(&"Egress")
            && s["ingress"].is_null()
            && s["egress"].is_null()
    });
    assert!(denies, "no NetworkPolicy denies everything");
    for component in ["broker", "sub-manager", "super-manager"] {
        let own = policies.iter().any(|p| {
            p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
        });
        assert!(own, "no NetworkPolicy lets the {component}s' flows through");
    }
    for s in kind(&objects, "Secret") {
        assert!(
            !s.to_string().contains("BEGIN"),
            "{}: key material",
            name(s)
        );
    }
    for sub in [".", "config"] {
        for file in files(sub, "") {
            let path = dir().join(sub).join(file);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(!text.contains("-----BEGIN"), "{}: PEM text", path.display());
        }
    }
    // every Secret a pod reads is one README.md says how to make
    let readme = std::fs::read_to_string(dir().join("README.md")).unwrap();
    for w in workloads(&objects) {
        let mut secrets: Vec<&str> = items(&pod(w)["volumes"])
            .filter_map(|v| v["secret"]["secretName"].as_str())
            .collect();
        for c in containers(w) {
            let env = items(&c["env"]);
            secrets.extend(env.filter_map(|e| e["valueFrom"]["secretKeyRef"]["name"].as_str()));
        }
        for secret in secrets {
            let made = ["generic", "tls"]
                .iter()
                .any(|t| readme.contains(&format!("create secret {t} {secret}")));
            assert!(made, "README.md does not make the Secret {secret}");
        }
    }
}

/// Parses `file` of deploy/kubernetes/config with the role's loader as the container `c` of
/// the pod `pod` runs it.
fn load<C: RoleConfig>(file: &str, c: &Value, pod: &str) -> C
where
    C::Error: std::fmt::Display,
{
    let path = dir().join("config").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let config = C::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let env = environment(c, pod);
    config
        .finish(&lookup(&env))
        .unwrap_or_else(|e| panic!("{file} in {pod}: {e}"))
}

#[test]
fn each_role_config_loads_under_its_pods_environment_with_the_ids_certificates_name() {
    use strata_agent::AgentConfig;
    use strata_broker::BrokerConfig;
    use strata_sub_manager::SubManagerConfig;
    use strata_super_manager::SuperManagerConfig;
    let Some(objects) = objects() else { return };

    let c = containers(kind(&objects, "DaemonSet")[0])[0];
    let a: AgentConfig = load("agent.toml", c, "strata-agent-x7k2p");
    assert_eq!(a.id, NODE, "the agent's id is its node's name");
    assert_eq!(a.listen, format!("{HOST_IP}:7801"), "its node's address");
    assert!(
        a.registration.advertise.is_none(),
        "announces its listen address"
    );
    assert_eq!(a.enrol.token.as_deref(), Some(SECRET), "from the Secret");
    assert_eq!(
        a.enrol.ca_fingerprint.as_deref(),
        Some(SECRET),
        "the CA it pins, from the Secret"
    );
    let state = mount_path(c, "state");
    assert!(
        a.tls.dir.starts_with(state),
        "enrolment writes into its volume"
    );
    assert!(a.state_dir.is_some_and(|d| d.starts_with(state)));
    probes_ask(c, a.metrics_listen.as_deref().unwrap());
    for (path, mount) in [
        (&a.host.proc, "host-proc"),
        (&a.host.sys, "host-sys"),
        (&a.host.root, "host-root"),
    ] {
        assert_eq!(
            path,
            Path::new(mount_path(c, mount)),
            "[host] reads the node's {mount}"
        );
    }

    for w in role(&objects, "broker") {
        let c = containers(w)[0];
        for i in 0..replicas(w) {
            let pod_name = format!("{}-{i}", name(w));
            let b: BrokerConfig = load("broker.toml", c, &pod_name);
            assert_eq!(b.id, pod_name, "a broker's id is its pod's name");
            assert_eq!(b.join_token("eu"), Some(SECRET), "from the Secret");
            assert_eq!(b.tls.dir, Path::new(mount_path(c, "tls")));
            probes_ask(c, b.metrics_listen.as_deref().unwrap());
        }
    }

    for w in role(&objects, "sub-manager") {
        let c = containers(w)[0];
        let region = &w["metadata"]["labels"]["strata/region"];
        let file = format!("{}.toml", name(w).trim_start_matches("strata-"));
        for i in 0..replicas(w) {
            let pod_name = format!("{}-{i}", name(w));
            let s: SubManagerConfig = load(&file, c, &pod_name);
            assert_eq!(s.id, pod_name, "a member's id is its pod's name");
            assert_eq!(*region, s.region, "{file}");
            assert_eq!(s.listen, "0.0.0.0:7700");
            assert_eq!(
                s.advertise,
                Some(format!("{pod_name}.{}.strata.svc:7700", name(w))),
                "announces its stable name through the headless Service"
            );
            assert_eq!(s.data_dir, Path::new(mount_path(c, "data")));
            assert_eq!(s.tls.dir, Path::new(mount_path(c, "tls")));
            probes_ask(c, s.metrics_listen.as_deref().unwrap());
        }
    }

    for w in role(&objects, "super-manager") {
        let c = containers(w)[0];
        for i in 0..replicas(w) {
            let pod_name = format!("{}-{i}", name(w));
            let s: SuperManagerConfig = load("super-manager.toml", c, &pod_name);
            assert_eq!(s.id, pod_name, "a super-manager's id is its pod's name");
            assert_eq!(s.data_dir, Path::new(mount_path(c, "data")));
            assert_eq!(s.tls.dir, Path::new(mount_path(c, "tls")));
            let https = Path::new(mount_path(c, "https"));
            for file in [&s.https.cert_file, &s.https.key_file] {
                assert_eq!(file.as_deref().and_then(Path::parent), Some(https));
            }
            probes_ask(c, &s.http);
        }
    }
}
