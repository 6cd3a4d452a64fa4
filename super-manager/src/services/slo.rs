//! Error-budget burn rates and the multi-window alerts on them.
//!
//! A burn rate is how fast a service spends its error budget: the share of time down over a
//! window, divided by the share the objective allows (1 − objective). Rate 1 spends the
//! budget exactly over the SLO window. As the SRE workbook advises, an alert fires only when
//! a long and a short window both burn too fast: the long one proves it matters, the short
//! one that it is still happening (so the alert clears soon after the service recovers):
//! - `slo-burn-fast` (critical): 1 h and 5 min above 14.4 (2 % of a 30-day budget in an hour);
//! - `slo-burn-slow` (warning): 6 h and 30 min above 6 (5 % of it in six hours).

use serde::Serialize;

use super::health::Health;
use super::timeline::Span;

/// The two alerts: (rule, long window, short window, rate above which it fires).
pub const ALERTS: [(&str, i64, i64, f64); 2] = [
    ("slo-burn-fast", 3_600_000, 300_000, 14.4),
    ("slo-burn-slow", 21_600_000, 1_800_000, 6.0),
];

/// The longest window read.
pub const LONGEST_MS: i64 = 21_600_000;

/// The burn rate over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Burn {
    pub window_ms: i64,
    /// Down time / measured time / (1 − objective); 0 when nothing was measured.
    pub rate: f64,
}

/// One alert's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub rule: &'static str,
    pub threshold: f64,
    pub long: Burn,
    pub short: Burn,
    pub firing: bool,
}

/// The burn rate of `spans` over `[to_ms − window_ms, to_ms)`, maintenance left out.
pub fn burn_rate(
    spans: &[Span],
    window_ms: i64,
    to_ms: i64,
    objective: f64,
    maintenance: &[(i64, i64)],
) -> Burn {
    let from_ms = to_ms - window_ms;
    let (mut down, mut measured) = (0i64, 0i64);
    for s in spans {
        let (a, b) = (s.from_ms.max(from_ms), s.to_ms.min(to_ms));
        if a >= b || s.health == Health::Unknown {
            continue;
        }
        let t = b - a - super::maintenance::overlap(maintenance, a, b);
        measured += t;
        if s.health == Health::Down {
            down += t;
        }
    }
    let rate = if measured > 0 {
        down as f64 / measured as f64 / (1.0 - objective).max(f64::MIN_POSITIVE)
    } else {
        0.0
    };
    Burn { window_ms, rate }
}

/// Both alerts over `spans` (which cover at least [`LONGEST_MS`] before `now_ms`).
pub fn alerts(
    spans: &[Span],
    now_ms: i64,
    objective: f64,
    maintenance: &[(i64, i64)],
) -> Vec<Alert> {
    ALERTS
        .iter()
        .map(|&(rule, long, short, threshold)| {
            let long = burn_rate(spans, long, now_ms, objective, maintenance);
            let short = burn_rate(spans, short, now_ms, objective, maintenance);
            Alert {
                rule,
                threshold,
                firing: long.rate > threshold && short.rate > threshold,
                long,
                short,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn span(from: i64, to: i64, health: Health) -> Span {
        Span {
            from_ms: from * MIN,
            to_ms: to * MIN,
            health,
        }
    }

    #[test]
    fn a_fresh_outage_fires_fast_and_clears_when_it_ends() {
        // 99.9 %: 6 down minutes in the last hour burn 0.1 / 0.001 = 100
        let now = 360;
        let mut spans = vec![span(0, 354, Health::Ok), span(354, 360, Health::Down)];
        let a = alerts(&spans, now * MIN, 0.999, &[]);
        assert_eq!(a[0].rule, "slo-burn-fast");
        assert!((a[0].long.rate - 100.0).abs() < 1e-6, "{:?}", a[0]);
        assert!(a[0].firing);
        assert!(a[1].firing, "6 h: 6/360/0.001 = 16.7 > 6, 30 min: 20 > 6");
        // recovered 10 minutes later: the 5-minute window is clean, so fast clears
        spans.push(span(360, 370, Health::Ok));
        let later = alerts(&spans, 370 * MIN, 0.999, &[]);
        assert!(!later[0].firing && later[0].long.rate > 14.4);
        assert!(later[1].firing, "the slow alert holds longer");
        // the same outage inside planned maintenance burns nothing
        let planned = alerts(&spans[..2], now * MIN, 0.999, &[(354 * MIN, 360 * MIN)]);
        assert!(planned.iter().all(|a| !a.firing && a.long.rate == 0.0));
        // unknown time is not measured: nothing known, nothing burnt
        let unknown = alerts(&[span(0, 360, Health::Unknown)], now * MIN, 0.999, &[]);
        assert!(unknown.iter().all(|a| a.long.rate == 0.0));
    }
}
