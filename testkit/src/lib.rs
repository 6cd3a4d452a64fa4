//! Strata's test kit: starts the real binaries and the role libraries, for the integration
//! tests, the benchmarks and `strata up` alike.
//!
//! A mesh is described once with [`Mesh::builder`] (brokers, regions with their members,
//! real and simulated agents, super-managers, intervals) and started either as processes
//! ([`MeshBuilder::start`]: black-box, each daemon on port 0, killed on drop) or in this
//! process ([`MeshBuilder::run_local`]: the role libraries, as `strata up` runs them).
//! No listener is bound, dropped and bound again: a part binds port 0 and reports the
//! address it got.
//!
//! # Layout
//! - [`access`]: the admin token of the meshes a test process starts, sent by [`http`].
//! - [`mesh`]: the builder, and its two launchers (processes, in-process).
//! - [`proc`]: one daemon process, its addresses read from its first line, restarts pinned
//!   to its address.
//! - [`binary`]: where the workspace's binaries are.
//! - [`ca`]: the mesh's CA, the parts' node directories and the tests' operator identity.
//! - [`peer`]: another program (Alertmanager, Prometheus, chromedriver) on port 0, its
//!   address read from its output.
//! - [`proxy`]: a TCP proxy that cuts and heals a link.
//! - [`netns`]: hosts as network namespaces, LANs, a router, links cut with `ip link`.
//! - [`skip`]: a check that cannot run here: skipped on a workstation, failed under CI.
//! - [`http`]: a minimal HTTP/1.1 client.
//! - [`stored`]: what a member stored of a series, a sample of a `/metrics` text.
//! - [`wait`]: waiting on a condition with a deadline.
//! - [`error`]: the crate's error enum.
#![forbid(unsafe_code)]

pub mod access;
pub mod binary;
pub mod ca;
pub mod error;
pub mod http;
pub mod mesh;
pub mod netns;
pub mod peer;
pub mod proc;
pub mod proxy;
pub mod skip;
pub mod stored;
pub mod ticks;
pub mod wait;

pub use access::admin_token;
pub use binary::{bin, binary, cli};
pub use ca::MeshCa;
pub use error::{Result, TestkitError};
pub use http::{
    get_json, http_form, http_get, http_request, http_request_as, http_request_within,
    send_request, send_request_as,
};
pub use mesh::{LocalMesh, LocalRegion, Mesh, MeshBuilder, Region, RegionProcs, write_config};
pub use proc::{Pin, Proc, Spec, printed, spawn_first_line};
pub use proxy::Proxy;
pub use skip::cannot_run;
pub use stored::{metric_value, stored_values};
pub use wait::{block_on, now_ms, try_wait_for, wait_for};
