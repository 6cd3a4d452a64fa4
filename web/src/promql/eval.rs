//! The evaluator: an expression's value at one time, over the series fetched beforehand.
//! Selectors follow Prometheus 2.x: an instant selector takes each series' latest sample
//! within the lookback (`[t - 5m, t]`), a range selector the samples in `[t - range, t]`,
//! both after `@` (which fixes the time) and `offset` (which moves it back); a subquery
//! evaluates its expression at the multiples of its step within its range.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, AtModifier, Expr, Offset, VectorSelector};

use super::pushdown::{self, Partials};
use super::value::{Labels, RangeVector, RawSeries, Sample, Series, Value};
use super::{DEFAULT_SUBQUERY_STEP_MS, Evaluator, LOOKBACK_MS, PromqlError};

/// Each series' labels and its samples in a window, borrowed from what was fetched.
type Windows<'a> = Vec<(&'a Labels, &'a [(i64, f64)])>;

/// The key under which a selector's series are fetched (its name and matchers).
pub(super) fn key(vs: &VectorSelector) -> String {
    format!("{:?}|{:?}", vs.name, vs.matchers)
}

fn millis(d: &std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        Some(Offset::Pos(d)) => millis(d),
        Some(Offset::Neg(d)) => -millis(d),
        None => 0,
    }
}

/// The time `at` fixes (`None`: the evaluation's own), given the query's start and end.
fn at_ms(at: &Option<AtModifier>, start: i64, end: i64) -> Result<Option<i64>, PromqlError> {
    Ok(match at {
        None => None,
        Some(AtModifier::Start) => Some(start),
        Some(AtModifier::End) => Some(end),
        Some(AtModifier::At(time)) => Some(match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => millis(&d),
            Err(e) => -millis(&e.duration()),
        }),
    })
}

/// The window each selector needs (by [`key`]), leaving out the aggregations pushed down.
pub(super) struct Needs<'a> {
    pub windows: HashMap<String, (VectorSelector, i64, i64)>,
    pub pushed: &'a Partials,
}

/// Collects into `out` the window each selector of `expr` needs when `expr` is evaluated at
/// times in `[lo, hi]` of a query from `start` to `end`.
pub(super) fn windows(
    expr: &Expr,
    lo: i64,
    hi: i64,
    start: i64,
    end: i64,
    out: &mut Needs,
) -> Result<(), PromqlError> {
    let mut need = |vs: &VectorSelector, back: i64| -> Result<(), PromqlError> {
        let (lo, hi) = match at_ms(&vs.at, start, end)? {
            Some(at) => (at, at),
            None => (lo, hi),
        };
        let off = offset_ms(&vs.offset);
        let (from, to) = (lo - off - back, hi - off);
        let entry = out
            .windows
            .entry(key(vs))
            .or_insert_with(|| (vs.clone(), from, to));
        entry.1 = entry.1.min(from);
        entry.2 = entry.2.max(to);
        Ok(())
    };
    match expr {
        Expr::VectorSelector(vs) => need(vs, LOOKBACK_MS),
        Expr::MatrixSelector(ms) => need(&ms.vs, millis(&ms.range)),
        Expr::Subquery(sq) => {
            let (lo, hi) = match at_ms(&sq.at, start, end)? {
                Some(at) => (at, at),
                None => (lo, hi),
            };
            let off = offset_ms(&sq.offset);
            windows(
                &sq.expr,
                lo - off - millis(&sq.range),
                hi - off,
                start,
                end,
                out,
            )
        }
        Expr::Aggregate(a) if out.pushed.contains_key(&pushdown::node(a)) => Ok(()),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                windows(p, lo, hi, start, end, out)?;
            }
            windows(&a.expr, lo, hi, start, end, out)
        }
        Expr::Unary(u) => windows(&u.expr, lo, hi, start, end, out),
        Expr::Binary(b) => {
            windows(&b.lhs, lo, hi, start, end, out)?;
            windows(&b.rhs, lo, hi, start, end, out)
        }
        Expr::Paren(p) => windows(&p.expr, lo, hi, start, end, out),
        Expr::Call(c) => {
            for arg in &c.args.args {
                windows(arg, lo, hi, start, end, out)?;
            }
            Ok(())
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Extension(_) => Err(PromqlError::Unsupported("extension expressions".into())),
    }
}

/// The evaluation of one query: what was fetched, and the query's start and end (for `@
/// start()` and `@ end()`).
pub(super) struct Ctx<'a> {
    data: &'a HashMap<String, Vec<RawSeries>>,
    partials: &'a Partials,
    start: i64,
    end: i64,
    /// What each subquery's expression gave at each of its times (the same times recur
    /// from one step of a range query to the next), by the expression's address.
    subqueries: std::cell::RefCell<HashMap<usize, Span>>,
    /// The group of each fetched series under an aggregation, by the aggregation's address.
    groupings: std::cell::RefCell<HashMap<usize, std::rc::Rc<Vec<Labels>>>>,
}

/// The samples of `samples` in `[from, to]`.
fn window(samples: &[(i64, f64)], from: i64, to: i64) -> &[(i64, f64)] {
    let lo = samples.partition_point(|(t, _)| *t < from);
    let hi = samples.partition_point(|(t, _)| *t <= to);
    &samples[lo..hi.max(lo)]
}

impl<'a> Ctx<'a> {
    /// Over `data` and the aggregations pushed down, for a query from `start` to `end`.
    pub(super) fn new(
        data: &'a HashMap<String, Vec<RawSeries>>,
        partials: &'a Partials,
        start: i64,
        end: i64,
    ) -> Self {
        Self {
            data,
            partials,
            start,
            end,
            subqueries: Default::default(),
            groupings: Default::default(),
        }
    }

    fn series(&self, vs: &VectorSelector) -> &[RawSeries] {
        self.data.get(&key(vs)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The time a selector or subquery with `at` and `offset` reads at, evaluated at `t`.
    fn read_time(
        &self,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
        t: i64,
    ) -> Result<i64, PromqlError> {
        Ok(at_ms(at, self.start, self.end)?.unwrap_or(t) - offset_ms(offset))
    }

    /// The instant vector `vs` selects at `t`.
    pub(super) fn vector(&self, vs: &VectorSelector, t: i64) -> Result<Vec<Sample>, PromqlError> {
        let te = self.read_time(&vs.at, &vs.offset, t)?;
        Ok(self
            .series(vs)
            .iter()
            .filter_map(|s| {
                let w = window(&s.samples, te - LOOKBACK_MS, te);
                w.last().map(|(_, v)| Sample {
                    labels: s.labels.clone(),
                    value: *v,
                })
            })
            .collect())
    }

    /// The range vector `vs[range]` selects at `t`.
    fn matrix(&self, vs: &VectorSelector, range: i64, t: i64) -> Result<Vec<Series>, PromqlError> {
        Ok(self
            .windows_at(vs, range, t)?
            .into_iter()
            .map(|(labels, w)| Series {
                labels: labels.clone(),
                points: w.to_vec(),
            })
            .collect())
    }

    /// A range query of a range function over one metric's selector (`rate(x[5m])`, the
    /// commonest panel) computed series by series, each series' labels made once rather
    /// than at every step; `None` for any other expression (evaluated step by step).
    pub(super) fn range_by_series(
        &self,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Option<Vec<Series>>, PromqlError> {
        let Some((name, ms, f)) = range_call(expr) else {
            return Ok(None);
        };
        let range = millis(&ms.range);
        let mut out = Vec::new();
        for s in self.series(&ms.vs) {
            let mut points = Vec::new();
            let mut t = start;
            while t <= end {
                let te = self.read_time(&ms.vs.at, &ms.vs.offset, t)?;
                let w = window(&s.samples, te - range, te);
                if let Some(v) = (!w.is_empty()).then(|| f(w, te - range, te, t)).flatten() {
                    points.push((t, v));
                }
                t += step;
            }
            if !points.is_empty() {
                let labels = if name == "last_over_time" {
                    s.labels.clone()
                } else {
                    super::value::copy_without_name(&s.labels)
                };
                out.push(Series { labels, points });
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Some(out))
    }

    /// `op by (...) (f(x[r]))` at `t` for an aggregation that needs no parameter, without
    /// making each series' sample: each fetched series' group is worked out once per query.
    /// `None` for any other aggregation (evaluated as any expression).
    fn aggregate_by_series(&self, a: &AggregateExpr, t: i64) -> Result<Option<Value>, PromqlError> {
        const SIMPLE: &[&str] = &[
            "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
        ];
        let op = a.op.to_string();
        if a.param.is_some() || !SIMPLE.contains(&op.as_str()) {
            return Ok(None);
        }
        let Some((name, ms, f)) = range_call(&a.expr) else {
            return Ok(None);
        };
        let series = self.series(&ms.vs);
        let node = a as *const AggregateExpr as usize;
        let groups = self
            .groupings
            .borrow_mut()
            .entry(node)
            .or_insert_with(|| {
                std::rc::Rc::new(
                    series
                        .iter()
                        .map(|s| {
                            let labels = if name == "last_over_time" {
                                s.labels.clone()
                            } else {
                                super::value::copy_without_name(&s.labels)
                            };
                            super::value::kept_by(&labels, a.modifier.as_ref()).unwrap_or_default()
                        })
                        .collect(),
                )
            })
            .clone();
        let range = millis(&ms.range);
        let te = self.read_time(&ms.vs.at, &ms.vs.offset, t)?;
        let mut members: std::collections::BTreeMap<&Labels, Vec<f64>> = Default::default();
        for (s, group) in series.iter().zip(groups.iter()) {
            let w = window(&s.samples, te - range, te);
            if let Some(v) = (!w.is_empty()).then(|| f(w, te - range, te, t)).flatten() {
                members.entry(group).or_default().push(v);
            }
        }
        let mut out = Vec::with_capacity(members.len());
        for (labels, values) in members {
            out.push(Sample {
                labels: labels.clone(),
                value: super::aggregate::reduce(&op, values, None)?,
            });
        }
        Ok(Some(Value::Vector(out)))
    }

    /// The samples of each series of `vs` in the range ending at `t`, borrowed.
    fn windows_at(
        &self,
        vs: &VectorSelector,
        range: i64,
        t: i64,
    ) -> Result<Windows<'a>, PromqlError> {
        let te = self.read_time(&vs.at, &vs.offset, t)?;
        let data: &'a HashMap<String, Vec<RawSeries>> = self.data;
        let series = data.get(&key(vs)).map(Vec::as_slice).unwrap_or(&[]);
        Ok(series
            .iter()
            .filter_map(|s| {
                let w = window(&s.samples, te - range, te);
                (!w.is_empty()).then_some((&s.labels, w))
            })
            .collect())
    }

    /// The range vector a subquery makes at `t`.
    fn subquery(
        &self,
        sq: &promql_parser::parser::SubqueryExpr,
        t: i64,
    ) -> Result<Vec<Series>, PromqlError> {
        let te = self.read_time(&sq.at, &sq.offset, t)?;
        let step = sq
            .step
            .as_ref()
            .map(millis)
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_SUBQUERY_STEP_MS);
        let from = te - millis(&sq.range);
        let mut ts = from.div_euclid(step) * step;
        if ts < from {
            ts += step;
        }
        let node = sq.expr.as_ref() as *const Expr as usize;
        // what was evaluated for earlier steps of the query is kept: a later step (at a
        // later time) evaluates only the times it adds
        let mut cache = self.subqueries.borrow_mut();
        let span = cache.entry(node).or_insert_with(|| Span {
            from: ts,
            upto: ts - step,
            series: Default::default(),
        });
        if ts < span.from || ts > span.upto + step {
            // an earlier time than the kept span (a nested evaluation), or one past it (a
            // query step longer than the subquery's range): start again from it
            *span = Span {
                from: ts,
                upto: ts - step,
                series: Default::default(),
            };
        }
        let mut next = span.upto + step;
        drop(cache);
        while next <= te {
            let value = self.eval(&sq.expr, next)?;
            let mut cache = self.subqueries.borrow_mut();
            let span = cache.get_mut(&node).expect("kept above");
            match value {
                Value::Vector(samples) => {
                    for s in samples {
                        span.series
                            .entry(s.labels)
                            .or_default()
                            .push((next, s.value));
                    }
                }
                Value::Scalar(v) => span
                    .series
                    .entry(Labels::new())
                    .or_default()
                    .push((next, v)),
                other => {
                    return Err(PromqlError::BadData(format!(
                        "subquery is only allowed on instant vector, got {} instead",
                        other.kind()
                    )));
                }
            }
            span.upto = next;
            next += step;
        }
        let mut cache = self.subqueries.borrow_mut();
        let span = cache.get_mut(&node).expect("kept above");
        let out = span
            .series
            .iter()
            .filter_map(|(labels, points)| {
                let w = window(points, ts, te);
                (!w.is_empty()).then(|| Series {
                    labels: labels.clone(),
                    points: w.to_vec(),
                })
            })
            .collect();
        // what is before this window is not asked again by a later step: let it go, so that
        // the span holds one window's points, not the whole query's
        span.series.retain(|_, points| {
            points.drain(..points.partition_point(|p| p.0 < ts));
            !points.is_empty()
        });
        span.from = ts;
        Ok(out)
    }
}

/// `expr` when it is a range function of one metric's selector without a parameter
/// (`rate(x[5m])`): the function's name, the selector and what it computes of a window.
/// One name, so that no two series end with the same labels once the name is dropped.
fn range_call(
    expr: &Expr,
) -> Option<(
    &'static str,
    &promql_parser::parser::MatrixSelector,
    super::functions::range::SeriesFn,
)> {
    let mut expr = expr;
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    let Expr::Call(c) = expr else {
        return None;
    };
    let name = c.func.name;
    let [arg] = c.args.args.as_slice() else {
        return None;
    };
    let Expr::MatrixSelector(ms) = arg.as_ref() else {
        return None;
    };
    if ms.vs.name.is_none() || name == "absent_over_time" || name == "predict_linear" {
        return None;
    }
    let f = super::functions::range::series_fn(name, None).ok()?;
    Some((name, ms, f))
}

/// What a subquery's expression gave at each of its times from `from` to `upto`.
struct Span {
    from: i64,
    upto: i64,
    series: std::collections::BTreeMap<Labels, Vec<(i64, f64)>>,
}

impl Evaluator for Ctx<'_> {
    /// The value of `expr` at `t`.
    fn eval(&self, expr: &Expr, t: i64) -> Result<Value, PromqlError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.vector(vs, t)?)),
            Expr::MatrixSelector(ms) => {
                Ok(Value::Matrix(self.matrix(&ms.vs, millis(&ms.range), t)?))
            }
            Expr::Subquery(sq) => Ok(Value::Matrix(self.subquery(sq, t)?)),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(samples) => Ok(Value::Vector(
                    samples
                        .into_iter()
                        .map(|s| Sample {
                            labels: super::value::without_name(s.labels),
                            value: -s.value,
                        })
                        .collect(),
                )),
                other => Err(PromqlError::BadData(format!(
                    "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                    other.kind()
                ))),
            },
            Expr::Binary(b) => {
                let lhs = self.eval(&b.lhs, t)?;
                let rhs = self.eval(&b.rhs, t)?;
                super::binary::eval(b, lhs, rhs)
            }
            Expr::Aggregate(a) if self.partials.contains_key(&pushdown::node(a)) => {
                pushdown::combine(a, &self.partials[&pushdown::node(a)], t)
            }
            Expr::Aggregate(a) => {
                if let Some(value) = self.aggregate_by_series(a, t)? {
                    return Ok(value);
                }
                let param = match &a.param {
                    Some(p) => Some(self.eval(p, t)?),
                    None => None,
                };
                let Value::Vector(input) = self.eval(&a.expr, t)? else {
                    return Err(PromqlError::BadData(format!(
                        "expected type instant vector in aggregation expression {}",
                        a.op
                    )));
                };
                super::aggregate::eval(a, param, input)
            }
            Expr::Call(c) => super::functions::call(self, c, t),
            Expr::Extension(_) => Err(PromqlError::Unsupported("extension expressions".into())),
        }
    }

    /// `timestamp(vs)` at `t`: the time (in seconds) of each selected sample.
    fn sample_times(&self, vs: &VectorSelector, t: i64) -> Result<Value, PromqlError> {
        let te = self.read_time(&vs.at, &vs.offset, t)?;
        Ok(Value::Vector(
            self.series(vs)
                .iter()
                .filter_map(|s| {
                    let w = window(&s.samples, te - LOOKBACK_MS, te);
                    w.last().map(|(at, _)| Sample {
                        labels: super::value::without_name(s.labels.clone()),
                        value: *at as f64 / 1000.0,
                    })
                })
                .collect(),
        ))
    }

    /// The range vector argument `expr` of a function, at `t`, and the window it covers
    /// (`(start, end)` of the range in ms), for the functions that extrapolate to it.
    fn range_arg(&self, expr: &Expr, t: i64) -> Result<(RangeVector<'_>, i64, i64), PromqlError> {
        match expr {
            Expr::MatrixSelector(ms) => {
                let range = millis(&ms.range);
                let te = self.read_time(&ms.vs.at, &ms.vs.offset, t)?;
                let windows = self.windows_at(&ms.vs, range, t)?;
                Ok((RangeVector::Fetched(windows), te - range, te))
            }
            Expr::Subquery(sq) => {
                let te = self.read_time(&sq.at, &sq.offset, t)?;
                let series = self.subquery(sq, t)?;
                Ok((RangeVector::Computed(series), te - millis(&sq.range), te))
            }
            Expr::Paren(p) => self.range_arg(&p.expr, t),
            other => Err(PromqlError::BadData(format!(
                "expected type range vector in call, got {}",
                other.value_type()
            ))),
        }
    }
}
