//! Replication between the centres: `SuperManager.WatchCentre` answered ([`serve`]) and
//! read ([`follow`]). Kept apart from [`crate::centres`] (what this centre knows of the
//! others, held in the shared state) because these tasks read the shared state.

pub mod follow;
pub mod serve;
