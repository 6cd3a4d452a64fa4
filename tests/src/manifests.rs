//! Kubernetes objects read as JSON (the manifests converted by PyYAML): the workloads, their
//! pods, containers, settings and mounts, for the checks of `deploy/kubernetes`.

use serde_json::Value;

/// The objects of kind `k`.
pub fn kind<'a>(objects: &'a [Value], k: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == k).collect()
}

/// An object's name.
pub fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

/// The DaemonSets, Deployments and StatefulSets.
pub fn workloads(objects: &[Value]) -> Vec<&Value> {
    let kinds = ["DaemonSet", "Deployment", "StatefulSet"];
    objects
        .iter()
        .filter(|o| kinds.contains(&o["kind"].as_str().unwrap_or("")))
        .collect()
}

/// The workloads of a role (label `app.kubernetes.io/component`).
pub fn role<'a>(objects: &'a [Value], component: &str) -> Vec<&'a Value> {
    workloads(objects)
        .into_iter()
        .filter(|w| w["metadata"]["labels"]["app.kubernetes.io/component"] == component)
        .collect()
}

/// A workload's replicas (1 when unsaid).
pub fn replicas(w: &Value) -> u64 {
    w["spec"]["replicas"].as_u64().unwrap_or(1)
}

/// A workload's pod spec.
pub fn pod(w: &Value) -> &Value {
    &w["spec"]["template"]["spec"]
}

/// A workload's containers.
pub fn containers(w: &Value) -> Vec<&Value> {
    items(&pod(w)["containers"]).collect()
}

/// The items of an array (none when `v` is not one).
pub fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// The strings of an array.
pub fn strings(v: &Value) -> Vec<&str> {
    items(v).filter_map(Value::as_str).collect()
}

/// A container's security setting `key`, or its pod's where the container leaves it out.
pub fn setting<'a>(pod: &'a Value, container: &'a Value, key: &str) -> &'a Value {
    let own = &container["securityContext"][key];
    if own.is_null() {
        &pod["securityContext"][key]
    } else {
        own
    }
}

/// Where the container mounts the volume `volume`.
pub fn mount_path<'a>(container: &'a Value, volume: &str) -> &'a str {
    items(&container["volumeMounts"])
        .find(|m| m["name"] == volume)
        .and_then(|m| m["mountPath"].as_str())
        .unwrap_or_else(|| panic!("{}: no mount of {volume}", container["name"]))
}
