//! Aggregations over an instant vector, grouped by the labels of `by` (or all but those of
//! `without`, and the name), as Prometheus 2.x computes them: `avg` and `stddev`/`stdvar`
//! with running means, `quantile` by linear interpolation between the nearest ranks, `topk`
//! and `bottomk` keeping the elements' own labels, `count_values` labelling each count with
//! its value.

use std::collections::BTreeMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::PromqlError;
use super::value::{Labels, Sample, Value, format_value};

/// The labels `labels` is grouped under.
fn group_of(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    super::value::kept_by(labels, modifier).unwrap_or_default()
}

/// The φ-quantile of `values` (sorted here), as Prometheus's `quantile`.
pub(super) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Mean and variance as Prometheus's running computation gives them.
pub(super) fn mean_and_variance(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut count, mut mean, mut aux) = (0.0, 0.0, 0.0);
    for v in values {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        aux += delta * (v - mean);
    }
    (mean, aux / count)
}

/// Prometheus's incremental average (with its care for infinities).
pub(super) fn average(values: &[f64]) -> f64 {
    let mut mean = 0.0f64;
    let mut count = 0.0;
    for &v in values {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && mean.signum() != v.signum() {
                mean = f64::NAN;
            }
            continue;
        }
        if v.is_infinite() {
            mean = v;
            continue;
        }
        mean += v / count - mean / count;
    }
    mean
}

/// The `k` elements `topk` (`top`) or `bottomk` keeps of `members`, chosen as Prometheus
/// 2.x chooses them, which decides among equal values: through a heap of `k` whose root is
/// the least kept (NaN first), fed in the input's order; an element that beats the root (or
/// any, while the root is NaN) takes a place: the root is popped and the element pushed.
fn select_k(members: Vec<Sample>, k: usize, top: bool) -> Vec<Sample> {
    let less = |a: f64, b: f64| {
        if a.is_nan() {
            true
        } else if top {
            a < b
        } else {
            a > b
        }
    };
    // Go's container/heap, over the first `n` elements
    let down = |heap: &mut [Sample], mut i: usize, n: usize| {
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let mut j = left;
            if left + 1 < n && less(heap[left + 1].value, heap[left].value) {
                j = left + 1;
            }
            if !less(heap[j].value, heap[i].value) {
                break;
            }
            heap.swap(i, j);
            i = j;
        }
    };
    let up = |heap: &mut [Sample], mut j: usize| {
        while j > 0 {
            let i = (j - 1) / 2;
            if !less(heap[j].value, heap[i].value) {
                break;
            }
            heap.swap(i, j);
            j = i;
        }
    };
    let mut heap: Vec<Sample> = Vec::with_capacity(k.min(members.len()));
    for s in members {
        if heap.is_empty() {
            heap.push(s);
            continue;
        }
        let root = heap[0].value;
        let beats = if top { root < s.value } else { root > s.value };
        if heap.len() < k || beats || root.is_nan() {
            if heap.len() == k {
                if k == 1 {
                    heap[0] = s;
                    continue;
                }
                let last = heap.len() - 1;
                heap.swap(0, last);
                down(&mut heap, 0, last);
                heap.pop();
            }
            heap.push(s);
            let last = heap.len() - 1;
            up(&mut heap, last);
        }
    }
    heap
}

fn scalar_param(param: &Option<Value>, name: &str) -> Result<f64, PromqlError> {
    match param {
        Some(Value::Scalar(v)) => Ok(*v),
        _ => Err(PromqlError::BadData(format!(
            "expected type scalar in aggregation parameter of {name}"
        ))),
    }
}

/// The aggregation `a` of `input`, its parameter (for `topk`, `quantile`...) evaluated.
pub(super) fn eval(
    a: &AggregateExpr,
    param: Option<Value>,
    input: Vec<Sample>,
) -> Result<Value, PromqlError> {
    let op = a.op.to_string();
    let modifier = a.modifier.as_ref();
    if op == "count_values" {
        let Some(Value::String(label)) = &param else {
            return Err(PromqlError::BadData(
                "expected type string in aggregation parameter of count_values".into(),
            ));
        };
        let mut counts: BTreeMap<Labels, f64> = BTreeMap::new();
        for s in &input {
            let mut g = group_of(&s.labels, modifier);
            g.insert(label.clone(), format_value(s.value));
            *counts.entry(g).or_default() += 1.0;
        }
        return Ok(Value::Vector(
            counts
                .into_iter()
                .map(|(labels, value)| Sample { labels, value })
                .collect(),
        ));
    }
    let mut groups: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for s in input {
        groups
            .entry(group_of(&s.labels, modifier))
            .or_default()
            .push(s);
    }
    if op == "topk" || op == "bottomk" {
        let k = scalar_param(&param, &op)?;
        if k < 1.0 || k.is_nan() {
            return Ok(Value::Vector(Vec::new()));
        }
        let k = k.min(1e9) as usize;
        let mut out = Vec::new();
        for (_, members) in groups {
            out.extend(select_k(members, k, op == "topk"));
        }
        return Ok(Value::Vector(out));
    }
    let q = if op == "quantile" {
        Some(scalar_param(&param, &op)?)
    } else {
        None
    };
    let mut out = Vec::with_capacity(groups.len());
    for (labels, members) in groups {
        let values: Vec<f64> = members.iter().map(|s| s.value).collect();
        let value = reduce(&op, values, q)?;
        out.push(Sample { labels, value });
    }
    Ok(Value::Vector(out))
}

/// One group's value under the aggregation `op` of its members' `values`, in input order
/// (`q`: `quantile`'s φ).
pub(super) fn reduce(op: &str, values: Vec<f64>, q: Option<f64>) -> Result<f64, PromqlError> {
    Ok(match op {
        "sum" => values.iter().sum(),
        "avg" => average(&values),
        "min" => values
            .iter()
            .copied()
            .fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
        "max" => values
            .iter()
            .copied()
            .fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
        "count" => values.len() as f64,
        "group" => 1.0,
        "stddev" => mean_and_variance(values.iter().copied()).1.sqrt(),
        "stdvar" => mean_and_variance(values.iter().copied()).1,
        "quantile" => quantile(q.unwrap_or(f64::NAN), values),
        other => return Err(PromqlError::Unsupported(format!("aggregation '{other}'"))),
    })
}
