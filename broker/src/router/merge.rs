//! How the members' answers to one routed call become one answer: resources by id (the
//! freshest record wins), series by identity and timestamp (copies or parts, by the region's
//! replica count).

use std::collections::{BTreeMap, HashMap};

use strata_proto::v1::{Aggregation, Point, Resource, Series};

/// Merges resource lists by id, keeping the most recently updated record of each.
pub fn merge_resources(resources: impl IntoIterator<Item = Resource>) -> Vec<Resource> {
    let mut by_id: BTreeMap<String, Resource> = BTreeMap::new();
    for r in resources {
        match by_id.get(&r.id) {
            Some(old) if (old.last_poll_ms, old.updated_ms) >= (r.last_poll_ms, r.updated_ms) => {}
            _ => {
                by_id.insert(r.id.clone(), r);
            }
        }
    }
    by_id.into_values().collect()
}

/// Series identity (name, labels) -> the merged series and the index of each timestamp in it.
type SeriesMerge = BTreeMap<(String, Vec<(String, String)>), (Series, HashMap<i64, usize>)>;

/// Merges series answered by several members: same name and labels become one series whose
/// points are the union by timestamp. A step present on two members is combined by
/// `aggregation`: if the members hold `copies` (a replica count of 2), the more complete copy
/// wins (the larger sum, count or increase); otherwise they hold parts (a resource that moved
/// during the step), added for sums, counts and increases. Min and max take theirs; other
/// aggregations the mean of the two.
pub fn merge_series(
    series: impl IntoIterator<Item = Series>,
    aggregation: Aggregation,
    copies: bool,
) -> Vec<Series> {
    let mut merged: SeriesMerge = BTreeMap::new();
    for s in series {
        let key = (
            s.name.clone(),
            s.labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
        );
        let (target, index) = merged.entry(key).or_insert_with(|| {
            (
                Series {
                    name: s.name.clone(),
                    labels: s.labels.clone(),
                    points: Vec::new(),
                },
                HashMap::new(),
            )
        });
        for p in s.points {
            match index.get(&p.ts_ms) {
                Some(&i) => {
                    let old = &mut target.points[i].value;
                    *old = match aggregation {
                        Aggregation::Min => old.min(p.value),
                        Aggregation::Max => old.max(p.value),
                        Aggregation::Sum
                        | Aggregation::Count
                        | Aggregation::Increase
                        | Aggregation::Rate
                            if copies =>
                        {
                            old.max(p.value)
                        }
                        Aggregation::Sum
                        | Aggregation::Count
                        | Aggregation::Increase
                        | Aggregation::Rate => *old + p.value,
                        _ => (*old + p.value) / 2.0,
                    };
                }
                None => {
                    index.insert(p.ts_ms, target.points.len());
                    target.points.push(p);
                }
            }
        }
    }
    merged
        .into_values()
        .map(|(mut s, _)| {
            s.points.sort_by_key(|p: &Point| p.ts_ms);
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::labels::label;

    fn res(id: &str, last_poll_ms: i64, owner: &str) -> Resource {
        Resource {
            id: id.into(),
            last_poll_ms,
            owner: owner.into(),
            ..Default::default()
        }
    }

    #[test]
    fn resources_merge_by_id_keeping_the_freshest() {
        let merged = merge_resources(vec![
            res("eu/a", 10, "old"),
            res("eu/b", 5, "x"),
            res("eu/a", 20, "new"),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].owner, "new");
    }

    #[test]
    fn series_merge_unions_points_and_combines_duplicates() {
        let s = |pts: &[(i64, f64)]| Series {
            name: "m".into(),
            labels: vec![label("agent", "a")],
            points: pts
                .iter()
                .map(|&(ts_ms, value)| Point { ts_ms, value })
                .collect(),
        };
        let merged = merge_series(
            vec![s(&[(1, 1.0), (2, 4.0)]), s(&[(2, 2.0), (3, 3.0)])],
            Aggregation::Max,
            false,
        );
        assert_eq!(merged.len(), 1);
        let pts: Vec<(i64, f64)> = merged[0]
            .points
            .iter()
            .map(|p| (p.ts_ms, p.value))
            .collect();
        assert_eq!(pts, vec![(1, 1.0), (2, 4.0), (3, 3.0)]);
        let sum = |copies| {
            merge_series(
                vec![s(&[(2, 5.0)]), s(&[(2, 4.0)])],
                Aggregation::Sum,
                copies,
            )[0]
            .points[0]
                .value
        };
        assert_eq!(sum(false), 9.0, "parts of a moved resource add up");
        assert_eq!(sum(true), 5.0, "of two copies, the more complete one");
    }
}
