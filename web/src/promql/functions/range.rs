//! PromQL's functions of range vectors, as Prometheus 2.x computes them: `rate`,
//! `increase` and `delta` extrapolated to the window's edges (not beyond the time a counter
//! would have been zero, nor more than half an average interval past a sample when the gap
//! is wider than 1.1 of the average), counter resets added back; `irate` and `idelta` from
//! the last two samples; the `*_over_time` family; `deriv` and `predict_linear` by least
//! squares; `changes` and `resets`.

use promql_parser::parser::{Call, Expr};

use super::super::aggregate::{average, mean_and_variance, quantile};
use super::super::value::{Sample, Value, copy_without_name};
use super::super::{Evaluator, PromqlError};

/// `rate`, `increase` or `delta` of one series' samples over the window `[start, end]` (ms).
fn extrapolated(
    points: &[(i64, f64)],
    start: i64,
    end: i64,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    let mut result = last.1 - first.1;
    if counter {
        let mut prev = first.1;
        for &(_, v) in &points[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first.0 - start) as f64 / 1000.0;
    let to_end = (end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let average_interval = sampled / (points.len() - 1) as f64;
    if counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average_interval * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average_interval / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average_interval / 2.0
    };
    result *= interval / sampled;
    if rate {
        result /= (end - start) as f64 / 1000.0;
    }
    Some(result)
}

/// `irate` or `idelta` from the last two samples.
fn instant(points: &[(i64, f64)], rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (prev, last) = (points[points.len() - 2], points[points.len() - 1]);
    let mut result = if rate && last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    if rate {
        let interval = (last.0 - prev.0) as f64 / 1000.0;
        if interval == 0.0 {
            return None;
        }
        result /= interval;
    }
    Some(result)
}

/// `sum + inc` with Neumaier's compensation `c` (as Prometheus sums in its regression).
fn kahan(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Slope and intercept (at `intercept_ms`) of the least-squares line through `points`,
/// with compensated sums as Prometheus computes them.
fn linear_regression(points: &[(i64, f64)], intercept_ms: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let first = points[0].1;
    let mut constant = true;
    for &(t, y) in points {
        let x = (t - intercept_ms) as f64 / 1000.0;
        n += 1.0;
        (sx, cx) = kahan(x, sx, cx);
        (sy, cy) = kahan(y, sy, cy);
        (sxy, cxy) = kahan(x * y, sxy, cxy);
        (sx2, cx2) = kahan(x * x, sx2, cx2);
        constant &= y == first;
    }
    if constant {
        if first.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, first);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn scalar_arg(ctx: &dyn Evaluator, expr: &Expr, t: i64, name: &str) -> Result<f64, PromqlError> {
    match ctx.eval(expr, t)? {
        Value::Scalar(v) => Ok(v),
        other => Err(PromqlError::BadData(format!(
            "expected type scalar in call to function \"{name}\", got {}",
            other.kind()
        ))),
    }
}

/// What the range-vector function `name` computes of one series' samples in a window
/// `[start, end]` evaluated at `t` (`param`: `quantile_over_time`'s φ, `predict_linear`'s
/// seconds ahead).
pub(crate) fn series_fn(name: &str, param: Option<f64>) -> Result<SeriesFn, PromqlError> {
    Ok(match name {
        "rate" => Box::new(|s, start, end, _| extrapolated(s, start, end, true, true)),
        "increase" => Box::new(|s, start, end, _| extrapolated(s, start, end, true, false)),
        "delta" => Box::new(|s, start, end, _| extrapolated(s, start, end, false, false)),
        "irate" => Box::new(|s, _, _, _| instant(s, true)),
        "idelta" => Box::new(|s, _, _, _| instant(s, false)),
        "avg_over_time" => Box::new(|s, _, _, _| Some(average(&values(s)))),
        "sum_over_time" => Box::new(|s, _, _, _| Some(values(s).iter().sum())),
        "count_over_time" => Box::new(|s, _, _, _| Some(s.len() as f64)),
        "min_over_time" => Box::new(|s, _, _, _| {
            Some(
                values(s)
                    .into_iter()
                    .fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
            )
        }),
        "max_over_time" => Box::new(|s, _, _, _| {
            Some(
                values(s)
                    .into_iter()
                    .fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
            )
        }),
        "last_over_time" => Box::new(|s, _, _, _| s.last().map(|p| p.1)),
        "present_over_time" => Box::new(|_, _, _, _| Some(1.0)),
        "stddev_over_time" => {
            Box::new(|s, _, _, _| Some(mean_and_variance(values(s).into_iter()).1.sqrt()))
        }
        "stdvar_over_time" => {
            Box::new(|s, _, _, _| Some(mean_and_variance(values(s).into_iter()).1))
        }
        "quantile_over_time" => {
            let q = param.unwrap_or(f64::NAN);
            Box::new(move |s, _, _, _| Some(quantile(q, values(s))))
        }
        "changes" => Box::new(|s, _, _, _| {
            let changes = s
                .windows(2)
                .filter(|w| w[0].1 != w[1].1 && !(w[0].1.is_nan() && w[1].1.is_nan()))
                .count();
            Some(changes as f64)
        }),
        "resets" => {
            Box::new(|s, _, _, _| Some(s.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64))
        }
        "deriv" => Box::new(|s, _, _, _| (s.len() >= 2).then(|| linear_regression(s, s[0].0).0)),
        "predict_linear" => {
            let ahead = param.unwrap_or(0.0);
            Box::new(move |s, _, _, t| {
                (s.len() >= 2).then(|| {
                    let (slope, intercept) = linear_regression(s, t);
                    slope * ahead + intercept
                })
            })
        }
        other => return Err(PromqlError::Unsupported(format!("the function {other}"))),
    })
}

/// The value of the range-vector function call `c` at `t`.
pub(super) fn call(ctx: &dyn Evaluator, c: &Call, t: i64) -> Result<Value, PromqlError> {
    let name = c.func.name;
    let args = &c.args.args;
    // the range vector is the first argument but for quantile_over_time and predict_linear
    let (matrix_at, param) = match name {
        "quantile_over_time" => (1, Some(0)),
        "predict_linear" => (0, Some(1)),
        "holt_winters" | "double_exponential_smoothing" => {
            return Err(PromqlError::Unsupported(format!("the function {name}")));
        }
        _ => (0, None),
    };
    let Some(matrix_arg) = args.get(matrix_at) else {
        return Err(PromqlError::Unsupported(format!("the function {name}")));
    };
    let param = match param {
        Some(i) => match args.get(i) {
            Some(a) => Some(scalar_arg(ctx, a, t, name)?),
            None => {
                return Err(PromqlError::BadData(format!(
                    "missing argument of function \"{name}\""
                )));
            }
        },
        None => None,
    };
    let (series, start, end) = ctx.range_arg(matrix_arg, t)?;
    if name == "absent_over_time" {
        return Ok(Value::Vector(if series.is_empty() {
            vec![Sample {
                labels: super::absent_labels(matrix_arg),
                value: 1.0,
            }]
        } else {
            Vec::new()
        }));
    }
    let f = series_fn(name, param)?;
    let keep_name = name == "last_over_time";
    Ok(Value::Vector(
        series
            .each()
            .into_iter()
            .filter_map(|(labels, points)| {
                f(points, start, end, t).map(|value| Sample {
                    labels: if keep_name {
                        labels.clone()
                    } else {
                        copy_without_name(labels)
                    },
                    value,
                })
            })
            .collect(),
    ))
}

/// What a range-vector function computes of one series' samples in a window `[start, end]`
/// at `t` (`None`: no element for it).
pub(crate) type SeriesFn = Box<dyn Fn(&[(i64, f64)], i64, i64, i64) -> Option<f64>>;

fn values(s: &[(i64, f64)]) -> Vec<f64> {
    s.iter().map(|p| p.1).collect()
}
