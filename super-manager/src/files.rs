//! The file bundles the centre published and where each stands on every host it targets,
//! kept on disk ([`store`]); publishing and handing them out is [`crate::distribution`]'s.
//! This module reads no shared state, so that the shared state can hold the store.

pub mod store;

pub use store::FileStore;

pub use crate::config::files::FilesConfig;
