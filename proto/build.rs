//! Compiles proto/strata/v1/*.proto and Prometheus's remote-write messages with protox (no
//! protoc binary) and tonic-prost-build.

/// Messages of super_manager.proto read from the REST API's JSON.
const FROM_JSON: &[&str] = &[
    "ServiceSummary",
    "ComponentSummary",
    "ServiceDetail",
    "ComponentDetail",
    "CheckView",
    "ResourceView",
    "IncidentView",
    "ResourceEventsResponse",
    "RootCauseResponse",
    "Cause",
    "SlaResponse",
    "Outage",
    "QosResponse",
    "ProbeRef",
    "QosFigures",
    "PlacementResponse",
    "PlacementNode",
    "Excluded",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/strata/v1/common.proto",
        "proto/strata/v1/agent.proto",
        "proto/strata/v1/sub_manager.proto",
        "proto/strata/v1/broker.proto",
        "proto/strata/v1/super_manager.proto",
        "proto/prometheus/remote.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let mut config = tonic_prost_build::configure()
        .build_client(true)
        .build_server(true);
    // The super-manager answers its gRPC API with the REST API's answers, read into these
    // messages from the same JSON.
    for message in FROM_JSON {
        config = config.type_attribute(
            format!(".strata.v1.{message}"),
            "#[derive(serde::Deserialize)] #[serde(default)]",
        );
    }
    config.compile_fds(fds)?;
    Ok(())
}
