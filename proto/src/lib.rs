//! Strata's wire contract.
//!
//! The `.proto` files under `proto/strata/v1/` are the source of truth; `build.rs` compiles
//! them at build time with protox and tonic-prost-build, so nothing generated is committed.
//! Roles never depend on each other's crates: they meet only through these types.
//!
//! # Layout
//! - [`v1`]: generated messages, clients and servers of package `strata.v1`.
//! - [`prometheus`]: Prometheus remote write 1.0's messages (forwarding and receiving).
//! - [`labels`]: conversions between label lists and sorted maps, and label matchers' text.
//! - [`names`]: the lower-case names used in JSON and logs for states, severities and roles.
//! - `relabel` (feature `relabel`): Prometheus-style relabelling rules.
//! - [`rendezvous`]: the hashing that assigns agents to a region's members.
//! - [`resource`]: `ResourceId`, the (region, host) pair and its one text form.
//! - `config` (feature `config`): reading TOML config files, shared by the roles' loaders.
//! - `telemetry` (feature `daemon`): `/healthz` and `/metrics` for every component.
//! - `daemon` (feature `daemon`): signal handling and logging shared by the daemons' `main`.
//! - `identity` (feature `identity`): the mesh's CA, mutual TLS on every door and channel,
//!   callers' identities and the one authorization layer.
#![forbid(unsafe_code)]

/// Generated code of package `strata.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("strata.v1");
}

/// Prometheus remote write 1.0's messages (package `prometheus`).
pub mod prometheus {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("prometheus");
}

#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "daemon")]
pub mod daemon;
#[cfg(feature = "identity")]
pub mod identity;
pub mod labels;
pub mod names;
#[cfg(feature = "relabel")]
pub mod relabel;
pub mod rendezvous;
pub mod resource;
#[cfg(feature = "daemon")]
pub mod telemetry;
#[cfg(feature = "config")]
pub mod windows;

pub use resource::ResourceId;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
