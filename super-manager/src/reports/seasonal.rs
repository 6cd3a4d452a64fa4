//! Forecasts with daily and weekly seasonality: additive Holt-Winters (level, trend and a
//! seasonal profile, each smoothed exponentially), fitted to a series sampled at a regular
//! step, and judged against the straight line on the last day it was not shown.
//!
//! CPU, memory and traffic follow the working day and the week; a line through them says
//! where the average is heading but not when the daily peak will reach a limit, and its
//! error over a day is the size of the daily swing. Holt-Winters learns the swing, so its
//! forecast of the peak is believable and its error is the noise. Each forecast says which
//! method it used and the error of both, measured the same way: fitted on all but the last
//! day, then compared with that day.

use super::trend;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;

/// Steps that divide a day, so that a season is a whole number of them.
const STEPS_MS: [i64; 16] = [
    1_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    HOUR_MS,
    2 * HOUR_MS,
    3 * HOUR_MS,
    4 * HOUR_MS,
    6 * HOUR_MS,
    DAY_MS,
];

/// The smoothing constants tried for level, trend and season.
const ALPHAS: [f64; 5] = [0.05, 0.1, 0.2, 0.3, 0.5];
const BETAS: [f64; 4] = [0.0, 0.01, 0.05, 0.1];
const GAMMAS: [f64; 4] = [0.05, 0.1, 0.2, 0.4];

/// The step at which to read a period of `span_ms` for a seasonal fit: the shortest that
/// divides a day and gives at most `max_points`.
pub fn step_for(span_ms: i64, max_points: i64) -> i64 {
    let wanted = span_ms / max_points.max(1);
    STEPS_MS
        .into_iter()
        .find(|s| *s >= wanted)
        .unwrap_or(DAY_MS)
}

/// How a forecast was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Holt-Winters with a season of this many milliseconds.
    Seasonal(i64),
    /// The least-squares line.
    Line,
}

impl Method {
    /// The name a report shows.
    pub fn name(self) -> &'static str {
        match self {
            Method::Seasonal(_) => "holt-winters",
            Method::Line => "linear",
        }
    }

    /// The season's length in hours, none for the line.
    pub fn season_hours(self) -> Option<i64> {
        match self {
            Method::Seasonal(ms) => Some(ms / HOUR_MS),
            Method::Line => None,
        }
    }
}

/// A forecast and how far each method was from the day it was not shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeasonalForecast {
    /// The method whose error was lower (the line when no season could be fitted).
    pub method: Method,
    /// The forecast's value now (the line's value, or level plus this moment's season).
    pub now: f64,
    /// Growth per day of the trend.
    pub per_day: f64,
    /// The highest value forecast over the next day.
    pub peak_next_day: f64,
    /// When the forecast first reaches the limit (None: not within a century).
    pub reaches_ms: Option<i64>,
    /// The chosen method's root-mean-square error over the held-out day.
    pub error: f64,
    /// The line's root-mean-square error over the same day.
    pub line_error: f64,
}

/// A fitted additive Holt-Winters model at the end of its series.
#[derive(Debug, Clone, PartialEq)]
struct Fit {
    level: f64,
    trend: f64,
    /// Seasonal terms, `season[i]` for the phase `i` steps after the series' first point.
    season: Vec<f64>,
    /// Points fitted (the next one has phase `n % season.len()`).
    n: usize,
    sse: f64,
}

impl Fit {
    /// The value `h` steps after the last fitted point (h ≥ 1).
    fn at(&self, h: usize) -> f64 {
        let m = self.season.len();
        self.level + h as f64 * self.trend + self.season[(self.n + h - 1) % m]
    }
}

/// Holt-Winters over `xs` with a season of `m` points and the given constants; none with
/// fewer than two seasons.
fn holt_winters(xs: &[f64], m: usize, alpha: f64, beta: f64, gamma: f64) -> Option<Fit> {
    if m < 2 || xs.len() < 2 * m {
        return None;
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let first = mean(&xs[..m]);
    let second = mean(&xs[m..2 * m]);
    let mut level = first;
    let mut trend = (second - first) / m as f64;
    // the first two seasons, each less its own mean, averaged
    let mut season: Vec<f64> = (0..m)
        .map(|i| ((xs[i] - first) + (xs[m + i] - second)) / 2.0)
        .collect();
    let mut sse = 0.0;
    for (i, &x) in xs.iter().enumerate().skip(m) {
        let phase = i % m;
        let predicted = level + trend + season[phase];
        sse += (x - predicted).powi(2);
        let previous = level;
        level = alpha * (x - season[phase]) + (1.0 - alpha) * (level + trend);
        trend = beta * (level - previous) + (1.0 - beta) * trend;
        season[phase] = gamma * (x - level) + (1.0 - gamma) * season[phase];
    }
    Some(Fit {
        level,
        trend,
        season,
        n: xs.len(),
        sse,
    })
}

/// The constants with the least one-step error over `xs`.
fn best_fit(xs: &[f64], m: usize) -> Option<Fit> {
    let mut best: Option<Fit> = None;
    for alpha in ALPHAS {
        for beta in BETAS {
            for gamma in GAMMAS {
                if let Some(fit) = holt_winters(xs, m, alpha, beta, gamma)
                    && best.as_ref().is_none_or(|b| fit.sse < b.sse)
                {
                    best = Some(fit);
                }
            }
        }
    }
    best
}

fn rmse(pairs: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (sum, n) = pairs.fold((0.0, 0usize), |(s, n), (a, b)| (s + (a - b).powi(2), n + 1));
    if n == 0 { 0.0 } else { (sum / n as f64).sqrt() }
}

/// `points` on the regular grid of `step_ms` from the first one, gaps filled by the line
/// between their neighbours; non-finite values are gaps.
fn regular(points: &[(i64, f64)], step_ms: i64) -> Option<(i64, Vec<f64>)> {
    let pts: Vec<(i64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    let (&(t0, _), &(t_last, _)) = (pts.first()?, pts.last()?);
    let len = ((t_last - t0) / step_ms + 1) as usize;
    if len > 1_000_000 {
        return None;
    }
    let mut xs: Vec<Option<f64>> = vec![None; len];
    for (t, v) in pts {
        let i = ((t - t0 + step_ms / 2) / step_ms) as usize;
        if i < len {
            xs[i] = Some(v);
        }
    }
    let mut out = Vec::with_capacity(len);
    let mut last_known: Option<(usize, f64)> = None;
    for (i, x) in xs.into_iter().enumerate() {
        if let Some(v) = x {
            if let Some((j, u)) = last_known {
                // the gap since the last known point, on the line between the two
                for (k, slot) in out.iter_mut().enumerate().skip(j + 1) {
                    let f = (k - j) as f64 / (i - j) as f64;
                    *slot = u + f * (v - u);
                }
            }
            out.push(v);
            last_known = Some((i, v));
        } else {
            out.push(f64::NAN);
        }
    }
    Some((t0, out))
}

/// The first time at or after `from_h` steps when the fit reaches `limit`, in steps.
fn first_reach(fit: &Fit, limit: f64, max_h: usize) -> Option<usize> {
    let m = fit.season.len();
    let top = fit.season.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // before `start` even the season's peak stays below the limit
    let start = if fit.level + fit.trend + top >= limit {
        1
    } else if fit.trend > 0.0 {
        ((limit - fit.level - top) / fit.trend).ceil().max(1.0) as usize
    } else {
        return None;
    };
    (start..start.saturating_add(m + 1))
        .take_while(|h| *h <= max_h)
        .find(|h| fit.at(*h) >= limit)
}

/// A forecast of `points` (read at `step_ms`, a step that divides a day) made at `now_ms`,
/// with a daily or weekly season when one fits better than the line over the last day;
/// none with fewer than two points.
pub fn forecast(
    points: &[(i64, f64)],
    step_ms: i64,
    limit: f64,
    now_ms: i64,
) -> Option<SeasonalForecast> {
    let line = trend::forecast(points, limit, now_ms)?;
    let (t0, xs) = regular(points, step_ms)?;
    let day = (DAY_MS / step_ms) as usize;
    // the line's error over the last day, fitted on what came before it
    let held = day.min(xs.len() / 3);
    let cut = xs.len() - held;
    let cut_ms = t0 + cut as i64 * step_ms;
    let line_error = match trend::forecast(&points_before(points, cut_ms), limit, cut_ms) {
        Some(before) if held > 0 => rmse((cut..xs.len()).map(|i| {
            let days = (i as i64 * step_ms + t0 - cut_ms) as f64 / DAY_MS as f64;
            (before.now + before.per_day * days, xs[i])
        })),
        _ => f64::INFINITY,
    };
    let line_forecast = SeasonalForecast {
        method: Method::Line,
        now: line.now,
        per_day: line.per_day,
        peak_next_day: line.now + line.per_day.max(0.0),
        reaches_ms: line.reaches_ms,
        error: line_error,
        line_error,
    };
    let mut best = line_forecast;
    for season_ms in [DAY_MS, WEEK_MS] {
        let m = (season_ms / step_ms) as usize;
        // two seasons to start from and one to learn, before the held-out day
        if held == 0 || cut < 3 * m {
            continue;
        }
        let Some(fit) = best_fit(&xs[..cut], m) else {
            continue;
        };
        let error = rmse((cut..xs.len()).map(|i| (fit.at(i - cut + 1), xs[i])));
        if error >= best.error {
            continue;
        }
        let Some(all) = best_fit(&xs, m) else {
            continue;
        };
        let last_ms = t0 + (xs.len() as i64 - 1) * step_ms;
        let ahead = ((now_ms - last_ms) / step_ms).max(0) as usize;
        let steps_per_day = day as f64;
        let max_h = (36_500 * day).saturating_add(ahead);
        best = SeasonalForecast {
            method: Method::Seasonal(season_ms),
            now: if ahead == 0 {
                all.level + all.season[(all.n - 1) % m]
            } else {
                all.at(ahead)
            },
            per_day: all.trend * steps_per_day,
            peak_next_day: (ahead.max(1)..=ahead + day)
                .map(|h| all.at(h))
                .fold(f64::NEG_INFINITY, f64::max),
            reaches_ms: first_reach(&all, limit, max_h)
                .map(|h| (last_ms + h as i64 * step_ms).max(now_ms)),
            error,
            line_error,
        };
    }
    Some(best)
}

fn points_before(points: &[(i64, f64)], cut_ms: i64) -> Vec<(i64, f64)> {
    points.iter().copied().filter(|p| p.0 < cut_ms).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: i64 = 600_000;

    /// A deterministic noise in [-1, 1].
    fn noise(i: i64) -> f64 {
        let x = (i as u64)
            .wrapping_mul(6_364_136_223_846_793_005)
            .rotate_left(17);
        (x % 20_001) as f64 / 10_000.0 - 1.0
    }

    /// 14 days every 10 minutes: slow growth, a daily swing of ±0.2, quieter weekends.
    fn seasonal(now: i64) -> Vec<(i64, f64)> {
        let n = 14 * DAY_MS / STEP;
        (0..n)
            .map(|i| {
                let t = now - (n - i) * STEP;
                let day = (t.rem_euclid(DAY_MS)) as f64 / DAY_MS as f64;
                let weekday = t.div_euclid(DAY_MS).rem_euclid(7);
                let weekend = if weekday >= 5 { -0.1 } else { 0.0 };
                let v = 0.3
                    + 0.005 * (i * STEP) as f64 / DAY_MS as f64
                    + 0.2 * (2.0 * std::f64::consts::PI * day).sin()
                    + weekend
                    + 0.01 * noise(i);
                (t, v)
            })
            .collect()
    }

    #[test]
    fn a_seasonal_series_is_forecast_with_its_season_and_beats_the_line() {
        let now = 20_000 * DAY_MS + 7 * HOUR_MS;
        let pts = seasonal(now);
        let f = forecast(&pts, STEP, 0.9, now).unwrap();
        assert!(matches!(f.method, Method::Seasonal(_)), "{f:?}");
        // the line's error is the daily swing (rms of 0.2 sin is 0.14), the fit's the noise
        assert!(f.line_error > 0.1, "{f:?}");
        assert!(f.error < 0.05, "{f:?}");
        assert!(f.error * 3.0 < f.line_error, "{f:?}");
        // the trend (0.005 a day) is seen through the swing
        assert!((f.per_day - 0.005).abs() < 0.004, "{f:?}");
        // the daily peak (0.3 + 0.07 + 0.2 ≈ 0.57) and when it reaches 0.6: within days
        assert!((f.peak_next_day - 0.57).abs() < 0.06, "{f:?}");
        let reach = forecast(&pts, STEP, 0.6, now).unwrap().reaches_ms.unwrap();
        let days = (reach - now) as f64 / DAY_MS as f64;
        assert!(days > 0.5 && days < 20.0, "{days}");
        // the line, which sees the average (0.37), puts it much later
        let line = trend::forecast(&pts, 0.6, now).unwrap().reaches_ms.unwrap();
        assert!(line > reach + 10 * DAY_MS, "{line} vs {reach}");
    }

    #[test]
    fn a_straight_series_keeps_the_line() {
        let now = 20_000 * DAY_MS;
        let pts: Vec<(i64, f64)> = (0..2016)
            .map(|i| (now - (2016 - i) * STEP, 0.2 + i as f64 * 1e-4))
            .collect();
        let f = forecast(&pts, STEP, 0.9, now).unwrap();
        assert_eq!(f.method, Method::Line, "{f:?}");
        assert!(f.error < 1e-9, "{f:?}");
        assert!(f.reaches_ms.is_some(), "{f:?}");
    }

    #[test]
    fn short_or_gappy_series_are_handled() {
        let now = 20_000 * DAY_MS;
        // a day only: no season can be fitted, the line answers
        let day: Vec<(i64, f64)> = (0..144).map(|i| (now - (144 - i) * STEP, 0.5)).collect();
        assert_eq!(forecast(&day, STEP, 0.9, now).unwrap().method, Method::Line);
        assert_eq!(forecast(&day[..1], STEP, 0.9, now), None);
        // every third point missing and a NaN: filled, still seasonal
        let pts: Vec<(i64, f64)> = seasonal(now)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(i, p)| if i == 100 { (p.0, f64::NAN) } else { p })
            .collect();
        let f = forecast(&pts, STEP, 0.9, now).unwrap();
        assert!(matches!(f.method, Method::Seasonal(_)), "{f:?}");
        let (t0, xs) = regular(&[(0, 1.0), (3 * STEP, 4.0)], STEP).unwrap();
        assert_eq!((t0, xs), (0, vec![1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn the_step_divides_a_day() {
        assert_eq!(step_for(14 * DAY_MS, 2000), 900_000);
        assert_eq!(step_for(HOUR_MS, 2000), 5_000);
        assert_eq!(step_for(10 * HOUR_MS, 2000), 30_000);
        assert_eq!(step_for(365 * DAY_MS, 2000), 6 * HOUR_MS);
        for s in STEPS_MS {
            assert_eq!(DAY_MS % s, 0);
        }
    }
}
