//! Statistics of metric history for the comparison and capacity reports: summary figures
//! of a series, and a least-squares trend extended to the limit it is heading for.

/// Summary figures of a series' values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub points: usize,
    pub min: f64,
    pub avg: f64,
    pub p95: f64,
    pub max: f64,
    pub last: f64,
}

/// Summary figures of `points` (time-ordered), none when empty.
pub fn stats(points: &[(i64, f64)]) -> Option<Stats> {
    let last = points.last()?.1;
    let mut values: Vec<f64> = points
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n);
    Some(Stats {
        points: n,
        min: values[0],
        avg: values.iter().sum::<f64>() / n as f64,
        p95: values[rank - 1],
        max: values[n - 1],
        last,
    })
}

/// Where a series is heading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// The trend's value now.
    pub now: f64,
    /// Growth per day.
    pub per_day: f64,
    /// When the trend reaches the limit (None: it is not heading there).
    pub reaches_ms: Option<i64>,
}

/// The least-squares line through `points`, read at `now_ms` and extended to `limit`;
/// none with fewer than two distinct times.
pub fn forecast(points: &[(i64, f64)], limit: f64, now_ms: i64) -> Option<Forecast> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.1.is_finite())
        .map(|&(t, v)| ((t - now_ms) as f64 / 86_400_000.0, v))
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return None;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let per_day = sxy / sxx;
    let now = my - per_day * mx; // the line at day 0 (now)
    let reaches_ms = if now >= limit {
        Some(now_ms)
    } else if per_day > 0.0 {
        let days = (limit - now) / per_day;
        // beyond a century is not a forecast
        (days < 36_500.0).then(|| now_ms + (days * 86_400_000.0) as i64)
    } else {
        None
    };
    Some(Forecast {
        now,
        per_day,
        reaches_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_steady_growth_reaches_its_limit_when_the_line_says() {
        let now = 100 * DAY;
        // 1% a day, 50% now, with noise that averages out
        let pts: Vec<(i64, f64)> = (0..=30)
            .map(|d| {
                let noise = if d % 2 == 0 { 0.002 } else { -0.002 };
                (now - (30 - d) * DAY, 0.20 + 0.01 * d as f64 + noise)
            })
            .collect();
        let f = forecast(&pts, 0.9, now).unwrap();
        assert!((f.per_day - 0.01).abs() < 1e-4, "{f:?}");
        assert!((f.now - 0.5).abs() < 0.003, "{f:?}");
        let days = (f.reaches_ms.unwrap() - now) as f64 / DAY as f64;
        assert!((days - 40.0).abs() < 0.5, "{days}");
        // shrinking or flat is not heading to the limit; past it is there now
        let falling: Vec<(i64, f64)> = pts.iter().map(|&(t, v)| (t, 1.0 - v)).collect();
        assert_eq!(forecast(&falling, 0.9, now).unwrap().reaches_ms, None);
        assert_eq!(forecast(&pts, 0.3, now).unwrap().reaches_ms, Some(now));
        assert_eq!(forecast(&pts[..1], 0.9, now), None);
    }

    #[test]
    fn stats_of_a_series() {
        let pts: Vec<(i64, f64)> = (1..=100).map(|i| (i, i as f64)).collect();
        let s = stats(&pts).unwrap();
        assert_eq!(
            (s.points, s.min, s.max, s.last, s.p95),
            (100, 1.0, 100.0, 100.0, 95.0)
        );
        assert!((s.avg - 50.5).abs() < 1e-12);
        assert_eq!(stats(&[]), None);
    }
}
