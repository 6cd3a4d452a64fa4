//! PromQL's functions of instant vectors and scalars (math, clamping, time and date, labels,
//! `histogram_quantile`, `absent`, `sort`...), and the dispatch to those of range vectors
//! ([`range`]). Like Prometheus, a function that computes a new value drops the metric
//! name; `label_replace`, `label_join`, `sort` and `last_over_time` keep it.

pub(super) mod range;

use promql_parser::parser::{Call, Expr};

use super::value::{Labels, NAME, Sample, Value, without_name};
use super::{Evaluator, PromqlError};

/// An argument's value as a scalar.
fn scalar(ctx: &dyn Evaluator, expr: &Expr, t: i64, what: &str) -> Result<f64, PromqlError> {
    match ctx.eval(expr, t)? {
        Value::Scalar(v) => Ok(v),
        other => Err(PromqlError::BadData(format!(
            "expected type scalar in call to function \"{what}\", got {}",
            other.kind()
        ))),
    }
}

/// An argument's value as an instant vector.
fn vector(
    ctx: &dyn Evaluator,
    expr: &Expr,
    t: i64,
    what: &str,
) -> Result<Vec<Sample>, PromqlError> {
    match ctx.eval(expr, t)? {
        Value::Vector(v) => Ok(v),
        other => Err(PromqlError::BadData(format!(
            "expected type instant vector in call to function \"{what}\", got {}",
            other.kind()
        ))),
    }
}

/// An argument's value as a string.
fn string(ctx: &dyn Evaluator, expr: &Expr, t: i64, what: &str) -> Result<String, PromqlError> {
    match ctx.eval(expr, t)? {
        Value::String(s) => Ok(s),
        other => Err(PromqlError::BadData(format!(
            "expected type string in call to function \"{what}\", got {}",
            other.kind()
        ))),
    }
}

/// Each element's value mapped by `f`, the name dropped.
fn map(samples: Vec<Sample>, f: impl Fn(f64) -> f64) -> Value {
    Value::Vector(
        samples
            .into_iter()
            .map(|s| Sample {
                labels: without_name(s.labels),
                value: f(s.value),
            })
            .collect(),
    )
}

/// The calendar fields of a time (UTC), as PromQL's date functions give them.
struct Civil {
    year: i64,
    /// 1 to 12.
    month: i64,
    day: i64,
    /// 0 = Sunday.
    weekday: i64,
    /// 1 to 366.
    yday: i64,
    hour: i64,
    minute: i64,
    days_in_month: i64,
}

/// The calendar fields of a time in seconds since the epoch.
fn civil(secs: f64) -> Civil {
    let secs = secs.floor() as i64;
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    // days to a proleptic Gregorian date (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut year = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    if month <= 2 {
        year += 1;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let before = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][(month - 1) as usize];
    Civil {
        year,
        month,
        day,
        weekday: (days + 4).rem_euclid(7),
        yday: before + day + i64::from(leap && month > 2),
        hour: of_day / 3600,
        minute: (of_day % 3600) / 60,
        days_in_month: match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        },
    }
}

/// `$1`, `${1}`, `$name` and `${name}` of `template`, from `captures`.
fn expand(template: &str, captures: &regex::Captures<'_>) -> String {
    let mut out = String::new();
    captures.expand(template, &mut out);
    out
}

/// The value of the call `c` at `t`.
pub(super) fn call(ctx: &dyn Evaluator, c: &Call, t: i64) -> Result<Value, PromqlError> {
    let name = c.func.name;
    let args = &c.args.args;
    let arg = |i: usize| -> Result<&Expr, PromqlError> {
        args.get(i).map(|a| a.as_ref()).ok_or_else(|| {
            PromqlError::BadData(format!("missing argument {} of function \"{name}\"", i + 1))
        })
    };
    let now = t as f64 / 1000.0;
    // date functions take a vector of times, or the evaluation time
    let dates = |f: fn(&Civil) -> i64| -> Result<Value, PromqlError> {
        if args.is_empty() {
            return Ok(Value::Vector(vec![Sample {
                labels: Labels::new(),
                value: f(&civil(now)) as f64,
            }]));
        }
        Ok(map(vector(ctx, arg(0)?, t, name)?, move |v| {
            if v.is_nan() || v.is_infinite() {
                f64::NAN
            } else {
                f(&civil(v)) as f64
            }
        }))
    };
    match name {
        "abs" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::abs)),
        "ceil" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::ceil)),
        "floor" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::floor)),
        "exp" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::exp)),
        "sqrt" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::sqrt)),
        "ln" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::ln)),
        "log2" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::log2)),
        "log10" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::log10)),
        "sgn" => Ok(map(vector(ctx, arg(0)?, t, name)?, |v| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        })),
        "sin" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::sin)),
        "cos" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::cos)),
        "tan" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::tan)),
        "asin" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::asin)),
        "acos" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::acos)),
        "atan" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::atan)),
        "sinh" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::sinh)),
        "cosh" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::cosh)),
        "tanh" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::tanh)),
        "asinh" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::asinh)),
        "acosh" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::acosh)),
        "atanh" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::atanh)),
        "deg" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::to_degrees)),
        "rad" => Ok(map(vector(ctx, arg(0)?, t, name)?, f64::to_radians)),
        "pi" => Ok(Value::Scalar(std::f64::consts::PI)),
        "round" => {
            let to = match args.get(1) {
                Some(a) => scalar(ctx, a, t, name)?,
                None => 1.0,
            };
            // Prometheus rounds half up: floor(v / to + 0.5) * to, by the inverse of `to`
            let inverse = 1.0 / to;
            Ok(map(vector(ctx, arg(0)?, t, name)?, move |v| {
                (v * inverse + 0.5).floor() / inverse
            }))
        }
        "clamp" => {
            let (lo, hi) = (
                scalar(ctx, arg(1)?, t, name)?,
                scalar(ctx, arg(2)?, t, name)?,
            );
            let v = vector(ctx, arg(0)?, t, name)?;
            if hi < lo {
                return Ok(Value::Vector(Vec::new()));
            }
            Ok(map(v, move |x| x.max(lo).min(hi)))
        }
        "clamp_min" => {
            let lo = scalar(ctx, arg(1)?, t, name)?;
            Ok(map(vector(ctx, arg(0)?, t, name)?, move |x| x.max(lo)))
        }
        "clamp_max" => {
            let hi = scalar(ctx, arg(1)?, t, name)?;
            Ok(map(vector(ctx, arg(0)?, t, name)?, move |x| x.min(hi)))
        }
        "time" => Ok(Value::Scalar(now)),
        "timestamp" => timestamp(ctx, arg(0)?, t),
        "vector" => Ok(Value::Vector(vec![Sample {
            labels: Labels::new(),
            value: scalar(ctx, arg(0)?, t, name)?,
        }])),
        "scalar" => {
            let v = vector(ctx, arg(0)?, t, name)?;
            Ok(Value::Scalar(if v.len() == 1 {
                v[0].value
            } else {
                f64::NAN
            }))
        }
        "year" => dates(|c| c.year),
        "month" => dates(|c| c.month),
        "day_of_month" => dates(|c| c.day),
        "day_of_week" => dates(|c| c.weekday),
        "day_of_year" => dates(|c| c.yday),
        "hour" => dates(|c| c.hour),
        "minute" => dates(|c| c.minute),
        "days_in_month" => dates(|c| c.days_in_month),
        "sort" | "sort_desc" => {
            let mut v = vector(ctx, arg(0)?, t, name)?;
            let desc = name == "sort_desc";
            v.sort_by(|a, b| {
                // NaN last either way
                match (a.value.is_nan(), b.value.is_nan()) {
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if desc => b.value.total_cmp(&a.value),
                    _ => a.value.total_cmp(&b.value),
                }
            });
            Ok(Value::Vector(v))
        }
        "label_replace" => {
            let v = vector(ctx, arg(0)?, t, name)?;
            let dst = string(ctx, arg(1)?, t, name)?;
            let replacement = string(ctx, arg(2)?, t, name)?;
            let src = string(ctx, arg(3)?, t, name)?;
            let pattern = string(ctx, arg(4)?, t, name)?;
            let re = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| {
                PromqlError::BadData(format!(
                    "invalid regular expression in label_replace(): {pattern}: {e}"
                ))
            })?;
            Ok(Value::Vector(
                v.into_iter()
                    .map(|mut s| {
                        let value = s.labels.get(&src).cloned().unwrap_or_default();
                        if let Some(caps) = re.captures(&value) {
                            let new = expand(&replacement, &caps);
                            if new.is_empty() {
                                s.labels.remove(&dst);
                            } else {
                                s.labels.insert(dst.clone(), new);
                            }
                        }
                        s
                    })
                    .collect(),
            ))
        }
        "label_join" => {
            let v = vector(ctx, arg(0)?, t, name)?;
            let dst = string(ctx, arg(1)?, t, name)?;
            let sep = string(ctx, arg(2)?, t, name)?;
            let mut srcs = Vec::new();
            for a in args.iter().skip(3) {
                srcs.push(string(ctx, a, t, name)?);
            }
            Ok(Value::Vector(
                v.into_iter()
                    .map(|mut s| {
                        let joined: Vec<String> = srcs
                            .iter()
                            .map(|l| s.labels.get(l).cloned().unwrap_or_default())
                            .collect();
                        let joined = joined.join(&sep);
                        if joined.is_empty() {
                            s.labels.remove(&dst);
                        } else {
                            s.labels.insert(dst.clone(), joined);
                        }
                        s
                    })
                    .collect(),
            ))
        }
        "histogram_quantile" => {
            let q = scalar(ctx, arg(0)?, t, name)?;
            Ok(Value::Vector(histogram_quantile(
                q,
                vector(ctx, arg(1)?, t, name)?,
            )))
        }
        "absent" => {
            let v = vector(ctx, arg(0)?, t, name)?;
            Ok(Value::Vector(if v.is_empty() {
                vec![Sample {
                    labels: absent_labels(arg(0)?),
                    value: 1.0,
                }]
            } else {
                Vec::new()
            }))
        }
        _ => range::call(ctx, c, t),
    }
}

/// `timestamp(v)`: each element's sample time, in seconds.
fn timestamp(ctx: &dyn Evaluator, expr: &Expr, t: i64) -> Result<Value, PromqlError> {
    let Expr::VectorSelector(vs) = strip_parens(expr) else {
        // of a computed vector, the evaluation time
        return Ok(map(vector(ctx, expr, t, "timestamp")?, move |_| {
            t as f64 / 1000.0
        }));
    };
    ctx.sample_times(vs, t)
}

fn strip_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => strip_parens(&p.expr),
        other => other,
    }
}

/// The labels `absent` gives: the equality matchers of its selector argument.
pub(super) fn absent_labels(expr: &Expr) -> Labels {
    let vs = match strip_parens(expr) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::new(),
    };
    let mut labels = Labels::new();
    let mut twice = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == NAME || !matches!(m.op, promql_parser::label::MatchOp::Equal) {
            continue;
        }
        if labels.insert(m.name.clone(), m.value.clone()).is_some() {
            twice.push(m.name.clone());
        }
    }
    for name in twice {
        labels.remove(&name);
    }
    labels
}

/// `histogram_quantile(q, buckets)` over classic buckets (`le` labels), per series.
fn histogram_quantile(q: f64, buckets: Vec<Sample>) -> Vec<Sample> {
    let mut groups: std::collections::BTreeMap<Labels, Vec<(f64, f64)>> = Default::default();
    for s in buckets {
        let Some(le) = s.labels.get("le").and_then(|l| parse_bound(l)) else {
            continue;
        };
        let mut labels = without_name(s.labels);
        labels.remove("le");
        groups.entry(labels).or_default().push((le, s.value));
    }
    groups
        .into_iter()
        .map(|(labels, b)| Sample {
            labels,
            value: bucket_quantile(q, b),
        })
        .collect()
}

fn parse_bound(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// The quantile of one histogram's `(upper bound, cumulative count)` buckets.
fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // equal bounds summed
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (le, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += count,
            _ => merged.push((le, count)),
        }
    }
    // counts made monotonic
    let mut max = f64::NEG_INFINITY;
    for b in &mut merged {
        if b.1 > max {
            max = b.1;
        } else {
            b.1 = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged.partition_point(|x| x.1 < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}
