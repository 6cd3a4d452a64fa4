//! What names a series: its id in one store and, as a selection answers it, its name and
//! labels. A leaf: the head, the write-ahead records, the keys and the store all speak of
//! series by these.

use crate::Labels;

/// Identifier of one series in one store.
pub type SeriesId = u64;

/// A series found by [`crate::Tsdb::select`].
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    /// Its id in the store.
    pub id: SeriesId,
    /// The metric name.
    pub name: String,
    /// The labels, the name left out.
    pub labels: Labels,
}
