//! The statistics of the reports, defined once:
//!
//! - **mean**: the arithmetic mean;
//! - **median**: the middle value of the sorted values; for an even count, the mean of the two middle values
//!   (so the median of 1, 2, 3, 4 is 2.5);
//! - **p90**: the nearest-rank 90th percentile, the smallest value that at least 90 % of the values are less
//!   than or equal to: the value at rank ⌈0.9·n⌉ (1-based) of the sorted values. It is always one of the
//!   values (of 1…10 it is 9; of 1…11 it is 10; of a single value, that value).
//!
//! With no values there is no mean, median or p90 (`None`, `null` in JSON, empty in CSV), never a zero.

use serde::Serialize;

/// Count, mean, median and p90 of some values, in their own unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

impl Summary {
    pub fn of(values: &[i64]) -> Summary {
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len();
        if n == 0 {
            return Summary { count: 0, mean: None, median: None, p90: None };
        }
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        let median = if n % 2 == 1 { v[n / 2] as f64 } else { (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0 };
        // ⌈0.9·n⌉ in integers, so that 0.9 × 10 is exactly 9 and not 9.000000000000002.
        let rank = (9 * n).div_ceil(10);
        Summary { count: n, mean: Some(mean), median: Some(median), p90: Some(v[rank - 1] as f64) }
    }
}

/// Durations given in milliseconds, reported in seconds rounded to a tenth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DurationStats {
    pub count: usize,
    pub mean_s: Option<f64>,
    pub median_s: Option<f64>,
    pub p90_s: Option<f64>,
}

impl DurationStats {
    pub fn of_millis(values: &[i64]) -> DurationStats {
        let s = Summary::of(values);
        let secs = |x: Option<f64>| x.map(|ms| tenths(ms / 1000.0));
        DurationStats { count: s.count, mean_s: secs(s.mean), median_s: secs(s.median), p90_s: secs(s.p90) }
    }
}

/// Rounded to one decimal, halves away from zero.
pub fn tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A figure as the CSV writes it: with one decimal, or empty when there is none.
pub fn decimal(x: Option<f64>) -> String {
    x.map(|x| format!("{x:.1}")).unwrap_or_default()
}
