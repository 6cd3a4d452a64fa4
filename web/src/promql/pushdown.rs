//! Aggregations computed where the data lives. The centre's series are spread over regions;
//! reading every raw sample of `sum by (job) (rate(x[5m]))` from every region to sum them at
//! the centre moves far more than it needs. An aggregation whose operation composes (`sum`,
//! `min`, `max`, `count`, `group`, and `avg` as a sum and a count) over an expression that
//! never mixes two regions' series (selectors, range functions of selectors, per-series
//! math, arithmetic with numbers, operators matching on every label) is asked of each region as a partial that keeps the
//! region apart (`sum by (job, region) (rate(x[5m]))`), evaluated for the region (by the
//! broker routing to it, over the region's merged series) at the query's steps; the centre
//! aggregates the partials (`count`'s by `sum`, `avg` as the sum of the sums over the sum
//! of the counts). What is evaluated at other times (inside a subquery) or does not compose
//! (`topk`, `quantile`, `stddev`...) is read raw, as before.

use std::collections::HashMap;

use promql_parser::label::Labels as Grouping;
use promql_parser::parser::token::{T_SUM, TokenType};
use promql_parser::parser::{
    AggregateExpr, BinModifier, Expr, LabelModifier, VectorMatchCardinality,
};

use super::PromqlError;
use super::value::{Sample, Series, Value};

/// One aggregation to push down: the node (its address in the parsed expression) and the
/// text of the partial the source evaluates (for `avg`, the sum, with the count beside it).
#[derive(Debug, Clone, PartialEq)]
pub struct Pushed {
    pub node: usize,
    pub partial: String,
    pub count: Option<String>,
}

/// What a source answered for one aggregation pushed down.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// The partial's series (for `avg`, the sums).
    pub values: Vec<Series>,
    /// For `avg`, the counts.
    pub counts: Option<Vec<Series>>,
}

/// The node key of `a` (its address: stable while the parsed expression lives).
pub(super) fn node(a: &AggregateExpr) -> usize {
    a as *const AggregateExpr as usize
}

const COMPOSES: &[&str] = &["sum", "min", "max", "count", "group", "avg"];

/// Functions of one series' value at a time.
const PER_SERIES: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "exp",
    "sqrt",
    "ln",
    "log2",
    "log10",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "sgn",
];

/// The aggregations of `expr` worth pushing down to sources told apart by `label`.
pub fn plan(expr: &Expr, label: &str) -> Vec<Pushed> {
    let mut out = Vec::new();
    collect(expr, label, &mut out);
    out
}

fn collect(expr: &Expr, label: &str, out: &mut Vec<Pushed>) {
    match expr {
        Expr::Aggregate(a) => {
            if let Some(partial) = partial(a, label) {
                let count =
                    (a.op.to_string() == "avg").then(|| partial.replacen("sum", "count", 1));
                out.push(Pushed {
                    node: node(a),
                    partial,
                    count,
                });
            } else {
                collect(&a.expr, label, out);
            }
        }
        Expr::Paren(p) => collect(&p.expr, label, out),
        Expr::Unary(u) => collect(&u.expr, label, out),
        Expr::Binary(b) => {
            collect(&b.lhs, label, out);
            collect(&b.rhs, label, out);
        }
        // a function's instant-vector arguments are evaluated at the query's steps; what is
        // under a subquery is not
        Expr::Call(c) => {
            for arg in &c.args.args {
                collect(arg, label, out);
            }
        }
        _ => {}
    }
}

/// Whether `expr` gives, for each source, what it gives over that source's series alone.
fn local(expr: &Expr, label: &str) -> bool {
    match expr {
        Expr::VectorSelector(_) | Expr::NumberLiteral(_) => true,
        Expr::Paren(p) => local(&p.expr, label),
        Expr::Unary(u) => local(&u.expr, label),
        Expr::Call(c) => {
            let name = c.func.name;
            let args = &c.args.args;
            // the range functions of one series' samples (the series keeps its labels)
            if super::functions::range::series_fn(name, None).is_ok() {
                args.iter()
                    .all(|a| matches!(a.as_ref(), Expr::MatrixSelector(_) | Expr::NumberLiteral(_)))
            } else if PER_SERIES.contains(&name) {
                args.iter().all(|a| local(a, label))
            } else {
                false
            }
        }
        Expr::Binary(b) => {
            let matched_within = match &b.modifier {
                None => true,
                Some(BinModifier { matching, card, .. }) => {
                    matches!(card, VectorMatchCardinality::OneToOne)
                        && match matching {
                            None => true,
                            Some(LabelModifier::Include(on)) => {
                                on.labels.iter().any(|l| l == label)
                            }
                            Some(LabelModifier::Exclude(ignoring)) => {
                                !ignoring.labels.iter().any(|l| l == label)
                            }
                        }
                }
            };
            matched_within && local(&b.lhs, label) && local(&b.rhs, label)
        }
        Expr::Aggregate(a) => {
            // an inner aggregation that keeps the sources apart
            a.param.is_none() && keeps(a.modifier.as_ref(), label) && local(&a.expr, label)
        }
        _ => false,
    }
}

/// Whether an aggregation's grouping keeps `label`.
fn keeps(modifier: Option<&LabelModifier>, label: &str) -> bool {
    match modifier {
        Some(LabelModifier::Include(by)) => by.labels.iter().any(|l| l == label),
        Some(LabelModifier::Exclude(without)) => !without.labels.iter().any(|l| l == label),
        None => false,
    }
}

/// The text of `a`'s partial (its grouping with `label` kept), when `a` composes over a
/// local expression.
fn partial(a: &AggregateExpr, label: &str) -> Option<String> {
    let op = a.op.to_string();
    if !COMPOSES.contains(&op.as_str()) || a.param.is_some() || !local(&a.expr, label) {
        return None;
    }
    let modifier = match &a.modifier {
        None => LabelModifier::Include(Grouping::new(vec![label])),
        Some(LabelModifier::Include(by)) => {
            let mut by = by.clone();
            if !by.labels.iter().any(|l| l == label) {
                by.labels.push(label.to_string());
            }
            LabelModifier::Include(by)
        }
        Some(LabelModifier::Exclude(without)) => LabelModifier::Exclude(Grouping {
            labels: without
                .labels
                .iter()
                .filter(|l| *l != label)
                .cloned()
                .collect(),
        }),
    };
    // an average is the sum of the parts' sums over the sum of their counts
    let op = if op == "avg" {
        TokenType::new(T_SUM)
    } else {
        a.op
    };
    let pushed = AggregateExpr {
        op,
        modifier: Some(modifier),
        ..a.clone()
    };
    Some(Expr::Aggregate(pushed).to_string())
}

/// The partials' points at `t`.
fn at(partials: &[Series], t: i64) -> Vec<Sample> {
    partials
        .iter()
        .filter_map(|s| {
            let i = s.points.binary_search_by_key(&t, |p| p.0).ok()?;
            Some(Sample {
                labels: s.labels.clone(),
                value: s.points[i].1,
            })
        })
        .collect()
}

/// `a` at `t` from its parts: the partials' points at `t` aggregated by `a`'s grouping
/// (`count`'s partials summed; `avg` the sum of the sums over the sum of the counts).
pub(super) fn combine(a: &AggregateExpr, parts: &Parts, t: i64) -> Result<Value, PromqlError> {
    let op = a.op.to_string();
    let summed = AggregateExpr {
        op: TokenType::new(T_SUM),
        ..a.clone()
    };
    let outer = if op == "count" || op == "avg" {
        &summed
    } else {
        a
    };
    let Some(counts) = &parts.counts else {
        return super::aggregate::eval(outer, None, at(&parts.values, t));
    };
    // an average from the parts that gave both their sum and their count at `t` (a region
    // that answered one request but not the other is left out, not half counted)
    let (mut sums, mut counts) = (at(&parts.values, t), at(counts, t));
    let with_sum: std::collections::HashSet<_> = sums.iter().map(|s| s.labels.clone()).collect();
    counts.retain(|s| with_sum.contains(&s.labels));
    let with_count: std::collections::HashSet<_> = counts.iter().map(|s| &s.labels).collect();
    sums.retain(|s| with_count.contains(&s.labels));
    let Value::Vector(sums) = super::aggregate::eval(&summed, None, sums)? else {
        return Ok(Value::Vector(Vec::new()));
    };
    let Value::Vector(counts) = super::aggregate::eval(&summed, None, counts)? else {
        return Ok(Value::Vector(Vec::new()));
    };
    let counts: HashMap<_, _> = counts.into_iter().map(|s| (s.labels, s.value)).collect();
    Ok(Value::Vector(
        sums.iter()
            .filter_map(|s| {
                counts.get(&s.labels).map(|n| Sample {
                    labels: s.labels.clone(),
                    value: s.value / n,
                })
            })
            .collect(),
    ))
}

/// The parts fetched for a query, by node.
pub type Partials = HashMap<usize, Parts>;

#[cfg(test)]
mod tests;
