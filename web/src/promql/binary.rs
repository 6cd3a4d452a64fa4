//! Binary operators, as Prometheus 2.x applies them: between scalars; between a vector and
//! a scalar (each element with the scalar); between vectors, matched by their labels (all
//! but the name, or those of `on`, or all but those of `ignoring`), one to one, or many to
//! one with `group_left`/`group_right`; and the set operators `and`, `or`, `unless`.
//! Arithmetic drops the metric name (but `atan2`); a comparison filters (keeping the left value) unless
//! `bool` asks for 0 or 1.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::PromqlError;
use super::value::{Labels, NAME, Sample, Value};

/// `lhs op rhs`: the value and whether a comparison holds (always true for arithmetic).
fn apply(op: &str, lhs: f64, rhs: f64) -> Result<(f64, bool), PromqlError> {
    Ok(match op {
        "+" => (lhs + rhs, true),
        "-" => (lhs - rhs, true),
        "*" => (lhs * rhs, true),
        "/" => (lhs / rhs, true),
        "%" => (lhs % rhs, true),
        "^" => (lhs.powf(rhs), true),
        "atan2" => (lhs.atan2(rhs), true),
        "==" => (lhs, lhs == rhs),
        "!=" => (lhs, lhs != rhs),
        ">" => (lhs, lhs > rhs),
        "<" => (lhs, lhs < rhs),
        ">=" => (lhs, lhs >= rhs),
        "<=" => (lhs, lhs <= rhs),
        other => {
            return Err(PromqlError::Unsupported(format!(
                "binary operator '{other}'"
            )));
        }
    })
}

/// What an element becomes: the operation's `value` for arithmetic; for a comparison,
/// 0 or 1 with `bool`, else `kept` where it holds and nothing where it does not.
fn outcome(comparison: bool, return_bool: bool, value: f64, holds: bool, kept: f64) -> Option<f64> {
    match (comparison, return_bool) {
        (false, _) => Some(value),
        (true, true) => Some(if holds { 1.0 } else { 0.0 }),
        (true, false) => holds.then_some(kept),
    }
}

/// Whether `op` drops the metric name of its result (arithmetic but `atan2`, as in
/// Prometheus).
fn drops_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "%" | "^")
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// The value of `lhs <op> rhs` (both already evaluated).
pub(super) fn eval(b: &BinaryExpr, lhs: Value, rhs: Value) -> Result<Value, PromqlError> {
    let op = b.op.to_string();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = apply(&op, l, r)?;
            Ok(Value::Scalar(if is_comparison(&op) {
                if keep { 1.0 } else { 0.0 }
            } else {
                v
            }))
        }
        (Value::Vector(v), Value::Scalar(s)) => scalar_side(&op, v, s, false, return_bool),
        (Value::Scalar(s), Value::Vector(v)) => scalar_side(&op, v, s, true, return_bool),
        (Value::Vector(l), Value::Vector(r)) => {
            if matches!(op.as_str(), "and" | "or" | "unless") {
                Ok(Value::Vector(set_op(&op, b, l, r)))
            } else {
                vectors(&op, b, l, r, return_bool).map(Value::Vector)
            }
        }
        (l, r) => Err(PromqlError::BadData(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.kind(),
            r.kind()
        ))),
    }
}

/// A vector with a scalar (`scalar_left`: the scalar is the left operand).
fn scalar_side(
    op: &str,
    vector: Vec<Sample>,
    scalar: f64,
    scalar_left: bool,
    return_bool: bool,
) -> Result<Value, PromqlError> {
    let comparison = is_comparison(op);
    let mut out = Vec::with_capacity(vector.len());
    for s in vector {
        let (l, r) = if scalar_left {
            (scalar, s.value)
        } else {
            (s.value, scalar)
        };
        let (value, keep) = apply(op, l, r)?;
        // a filter keeps the vector's value, whichever side it is on
        let Some(value) = outcome(comparison, return_bool, value, keep, s.value) else {
            continue;
        };
        let labels = if drops_name(op) || return_bool {
            super::value::without_name(s.labels)
        } else {
            s.labels
        };
        out.push(Sample { labels, value });
    }
    Ok(Value::Vector(out))
}

/// The labels two vectors' elements are matched on.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    super::value::kept_by(labels, matching)
        .unwrap_or_else(|| super::value::without_name(labels.clone()))
}

/// `and`, `or`, `unless`.
fn set_op(op: &str, b: &BinaryExpr, lhs: Vec<Sample>, rhs: Vec<Sample>) -> Vec<Sample> {
    let matching = b.modifier.as_ref().and_then(|m| m.matching.as_ref());
    let right: HashSet<Labels> = rhs.iter().map(|s| signature(&s.labels, matching)).collect();
    match op {
        "and" => lhs
            .into_iter()
            .filter(|s| right.contains(&signature(&s.labels, matching)))
            .collect(),
        "unless" => lhs
            .into_iter()
            .filter(|s| !right.contains(&signature(&s.labels, matching)))
            .collect(),
        _ => {
            let left: HashSet<Labels> =
                lhs.iter().map(|s| signature(&s.labels, matching)).collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|s| !left.contains(&signature(&s.labels, matching))),
            );
            out
        }
    }
}

/// Arithmetic and comparisons between two vectors, with vector matching.
fn vectors(
    op: &str,
    b: &BinaryExpr,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    return_bool: bool,
) -> Result<Vec<Sample>, PromqlError> {
    let modifier = b.modifier.as_ref();
    let matching = modifier.and_then(|m| m.matching.as_ref());
    let card = modifier
        .map(|m| m.card.clone())
        .unwrap_or(VectorMatchCardinality::OneToOne);
    // group_right is group_left with the sides swapped
    let (swapped, one_to_one, include) = match &card {
        VectorMatchCardinality::OneToOne => (false, true, Vec::new()),
        VectorMatchCardinality::ManyToOne(l) => (false, false, l.labels.clone()),
        VectorMatchCardinality::OneToMany(l) => (true, false, l.labels.clone()),
        VectorMatchCardinality::ManyToMany => {
            return Err(PromqlError::BadData(
                "many-to-many matching is only allowed for set operators".into(),
            ));
        }
    };
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut right: HashMap<Labels, &Sample> = HashMap::new();
    for s in &one {
        let sig = signature(&s.labels, matching);
        if right.insert(sig.clone(), s).is_some() {
            return Err(PromqlError::Execution(format!(
                "found duplicate series for the match group {} on the {} hand-side of the operation: many-to-many matching not allowed: matching labels must be unique on one side",
                format_labels(&sig),
                if swapped { "left" } else { "right" }
            )));
        }
    }
    let comparison = is_comparison(op);
    let mut seen: HashMap<Labels, ()> = HashMap::new();
    let mut out = Vec::new();
    for s in &many {
        let sig = signature(&s.labels, matching);
        let Some(other) = right.get(&sig) else {
            continue;
        };
        let (l, r) = if swapped {
            (other.value, s.value)
        } else {
            (s.value, other.value)
        };
        let (value, keep) = apply(op, l, r)?;
        let Some(value) = outcome(comparison, return_bool, value, keep, l) else {
            continue;
        };
        let mut labels = s.labels.clone();
        if drops_name(op) || return_bool {
            labels.remove(NAME);
        }
        if one_to_one {
            match matching {
                Some(LabelModifier::Include(on)) => labels.retain(|k, _| on.labels.contains(k)),
                Some(LabelModifier::Exclude(ignoring)) => {
                    labels.retain(|k, _| !ignoring.labels.contains(k))
                }
                None => {}
            }
        }
        for name in &include {
            match other.labels.get(name) {
                Some(v) if !v.is_empty() => {
                    labels.insert(name.clone(), v.clone());
                }
                _ => {
                    labels.remove(name);
                }
            }
        }
        if one_to_one && seen.insert(sig.clone(), ()).is_some() {
            return Err(PromqlError::Execution(format!(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right) for {}",
                format_labels(&sig)
            )));
        }
        if !one_to_one && seen.insert(labels.clone(), ()).is_some() {
            return Err(PromqlError::Execution(format!(
                "multiple matches for labels: grouping labels must ensure unique matches for {}",
                format_labels(&labels)
            )));
        }
        out.push(Sample { labels, value });
    }
    Ok(out)
}

/// `{a="b", c="d"}`, for messages.
pub(super) fn format_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(", "))
}
