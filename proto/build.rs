//! Compiles proto/strata/v1/*.proto with protox (no protoc binary) and tonic-prost-build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/strata/v1/common.proto",
        "proto/strata/v1/agent.proto",
        "proto/strata/v1/sub_manager.proto",
        "proto/strata/v1/broker.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
