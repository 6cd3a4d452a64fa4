//! Series held in memory as a [`Source`]: for tests, and for evaluating PromQL over data a
//! caller already holds.

use promql_parser::parser::VectorSelector;

use super::value::RawSeries;
use super::{SelectFuture, Source, selects};

/// Series in memory, selected as a store would select them.
#[derive(Debug, Clone, Default)]
pub struct Memory(pub Vec<RawSeries>);

impl Source for Memory {
    fn select<'a>(
        &'a self,
        selector: &'a VectorSelector,
        from_ms: i64,
        to_ms: i64,
    ) -> SelectFuture<'a> {
        let found = self
            .0
            .iter()
            .filter(|s| selects(selector, &s.labels))
            .map(|s| RawSeries {
                labels: s.labels.clone(),
                samples: s
                    .samples
                    .iter()
                    .copied()
                    .filter(|(t, _)| (from_ms..=to_ms).contains(t))
                    .collect(),
            })
            .collect();
        Box::pin(async move { Ok(found) })
    }
}
