//! Values as decimals: the smallest scale at which every value of a chunk is an exact
//! decimal (at most [`MAX_SCALE`] digits), and the scaled integers as steps from the first.

use super::MAX_SCALE;

/// The smallest scale at which every value is an exact decimal, with the scaled values.
pub(super) fn decimal_ints(points: &[(i64, f64)]) -> Option<(u8, Vec<i64>)> {
    (0..=MAX_SCALE).find_map(|scale| scaled(points, scale).map(|ints| (scale, ints)))
}

/// The values × 10^scale as integers, if each one decodes back to its exact bits.
pub(super) fn scaled(points: &[(i64, f64)], scale: u8) -> Option<Vec<i64>> {
    let p = 10f64.powi(i32::from(scale));
    points
        .iter()
        .map(|&(_, v)| {
            let m = (v * p).round();
            if !m.is_finite() || m.abs() >= 9_007_199_254_740_992.0 {
                return None;
            }
            let i = m as i64;
            ((i as f64 / p).to_bits() == v.to_bits()).then_some(i)
        })
        .collect()
}

/// The greatest common divisor of the differences from the first value (1 if none).
pub(super) fn common_step(ints: &[i64]) -> u64 {
    pub(super) fn gcd(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    let first = ints[0];
    let g = ints
        .iter()
        .fold(0u64, |g, &x| gcd(g, x.wrapping_sub(first).unsigned_abs()));
    g.max(1)
}

/// The values as multiples of `step` from the first: (x - first) / step.
pub(super) fn in_steps(ints: &[i64], step: u64) -> Vec<i64> {
    let first = ints[0];
    ints.iter()
        .map(|&x| x.wrapping_sub(first) / step as i64)
        .collect()
}

/// The middle value of `xs` (0 if empty).
pub(super) fn median(xs: &[i64]) -> i64 {
    if xs.is_empty() {
        return 0;
    }
    let mut sorted = xs.to_vec();
    let mid = sorted.len() / 2;
    *sorted.select_nth_unstable(mid).1
}

/// `xs` each less `base` (wrapping).
pub(super) fn less(mut xs: Vec<i64>, base: i64) -> Vec<i64> {
    for x in &mut xs {
        *x = x.wrapping_sub(base);
    }
    xs
}
