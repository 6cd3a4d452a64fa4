//! The evaluator: an expression's value at one time, over the series fetched beforehand.
//! Selectors follow Prometheus 2.x: an instant selector takes each series' latest sample
//! within the lookback (`[t - 5m, t]`), a range selector the samples in `[t - range, t]`,
//! both after `@` (which fixes the time) and `offset` (which moves it back); a subquery
//! evaluates its expression at the multiples of its step within its range.

use std::collections::HashMap;

use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

use super::value::{Labels, RawSeries, Sample, Series, Value};
use super::{DEFAULT_SUBQUERY_STEP_MS, Evaluator, LOOKBACK_MS, PromqlError};

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

/// Collects into `out` the window each selector of `expr` needs when `expr` is evaluated at
/// times in `[lo, hi]` of a query from `start` to `end`.
pub(super) fn windows(
    expr: &Expr,
    lo: i64,
    hi: i64,
    start: i64,
    end: i64,
    out: &mut HashMap<String, (VectorSelector, i64, i64)>,
) -> Result<(), PromqlError> {
    let mut need = |vs: &VectorSelector, back: i64| -> Result<(), PromqlError> {
        let (lo, hi) = match at_ms(&vs.at, start, end)? {
            Some(at) => (at, at),
            None => (lo, hi),
        };
        let off = offset_ms(&vs.offset);
        let (from, to) = (lo - off - back, hi - off);
        let entry = out.entry(key(vs)).or_insert_with(|| (vs.clone(), from, to));
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
    start: i64,
    end: i64,
}

/// The samples of `samples` in `[from, to]`.
fn window(samples: &[(i64, f64)], from: i64, to: i64) -> &[(i64, f64)] {
    let lo = samples.partition_point(|(t, _)| *t < from);
    let hi = samples.partition_point(|(t, _)| *t <= to);
    &samples[lo..hi.max(lo)]
}

impl<'a> Ctx<'a> {
    /// Over `data`, for a query from `start` to `end`.
    pub(super) fn new(data: &'a HashMap<String, Vec<RawSeries>>, start: i64, end: i64) -> Self {
        Self { data, start, end }
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
        let te = self.read_time(&vs.at, &vs.offset, t)?;
        Ok(self
            .series(vs)
            .iter()
            .filter_map(|s| {
                let w = window(&s.samples, te - range, te);
                (!w.is_empty()).then(|| Series {
                    labels: s.labels.clone(),
                    points: w.to_vec(),
                })
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
        let mut out: std::collections::BTreeMap<Labels, Vec<(i64, f64)>> = Default::default();
        while ts <= te {
            match self.eval(&sq.expr, ts)? {
                Value::Vector(samples) => {
                    for s in samples {
                        out.entry(s.labels).or_default().push((ts, s.value));
                    }
                }
                Value::Scalar(v) => out.entry(Labels::new()).or_default().push((ts, v)),
                other => {
                    return Err(PromqlError::BadData(format!(
                        "subquery is only allowed on instant vector, got {} instead",
                        other.kind()
                    )));
                }
            }
            ts += step;
        }
        Ok(out
            .into_iter()
            .map(|(labels, points)| Series { labels, points })
            .collect())
    }
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
            Expr::Aggregate(a) => {
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
    fn range_arg(&self, expr: &Expr, t: i64) -> Result<(Vec<Series>, i64, i64), PromqlError> {
        match expr {
            Expr::MatrixSelector(ms) => {
                let range = millis(&ms.range);
                let te = self.read_time(&ms.vs.at, &ms.vs.offset, t)?;
                Ok((self.matrix(&ms.vs, range, t)?, te - range, te))
            }
            Expr::Subquery(sq) => {
                let te = self.read_time(&sq.at, &sq.offset, t)?;
                Ok((self.subquery(sq, t)?, te - millis(&sq.range), te))
            }
            Expr::Paren(p) => self.range_arg(&p.expr, t),
            other => Err(PromqlError::BadData(format!(
                "expected type range vector in call, got {}",
                other.value_type()
            ))),
        }
    }
}
