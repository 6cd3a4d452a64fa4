//! What Strata's two consoles share: the super-manager's console over the enterprise and a
//! sub-manager's regional console over its region are the same page, reading the same
//! JSON, so what makes them alike lives here once.
//!
//! Roles depend on this crate as they depend on proto, never on each other; it depends on
//! no role (and the agent does not depend on it: it serves no console).
//!
//! # Layout
//! - [`assets`]: the console's files (`assets/`) embedded in the binary, and the router
//!   that serves them (`/` and `/assets/{*path}`).
//! - [`views`]: the typed JSON answers both consoles give (overview, resources, incidents,
//!   acknowledgements, the console's scope), with [`views::host`] (a host's live detail,
//!   configuration and metric history) and [`views::region`] (a region's rules, channels,
//!   agents and notifications). Data only: no HTTP.
//! - [`params`]: the query parameters both read alike (a snapshot's `top`, the metric
//!   history's into a `QueryRange` request).
//! - [`error`]: [`ApiError`], the one HTTP error, with the one mapping of gRPC statuses.
//! - [`promql`]: PromQL with Prometheus 2.x's semantics over a role's store, and the
//!   Prometheus HTTP API both consoles answer.
//! - [`auth`]: who may call what: principals, the path table, sessions, the gate.
//! - [`https`]: HTTPS on the consoles' addresses (plain HTTP on loopback only, unless said).
//! - [`stream`]: the live stream (`/api/v1/stream`): server-sent events of the overview.
//! - [`alertmanager`]: Alertmanager's alert, the wire format of the regions' and the
//!   centre's notifications alike.
//! - [`mail`]: e-mail through an SMTP relay, for the regions' notifications and the
//!   centre's scheduled reports.
#![forbid(unsafe_code)]

pub mod alertmanager;
pub mod assets;
pub mod auth;
pub mod error;
pub mod https;
pub mod mail;
pub mod params;
pub mod promql;
pub mod stream;
pub mod views;

pub use error::ApiError;
