//! Anomalies by low density: a row is anomalous when its log-density under a
//! mixture ([`GaussianMixture::score_samples`]) is below a threshold.
//!
//! The threshold is either given, or set by a *contamination* `F`: the
//! `F`-quantile of the scores of the fitting data, with numpy's default
//! (linear) interpolation ([`quantile`]), so that about a fraction `F` of those
//! rows fall below it. This is scikit-learn's convention for its outlier
//! detectors (`np.percentile(scores, 100 * contamination)`, flag `score <
//! threshold`).
//!
//! [`GaussianMixture::score_samples`]: crate::GaussianMixture::score_samples

use crate::error::{Error, Result};

/// The `q`-quantile of `values` (`0 ≤ q ≤ 1`) with linear interpolation
/// between order statistics, numpy's default (`method="linear"`, Hyndman &
/// Fan type 7): with the values sorted ascending as `s₀ ≤ … ≤ sₙ₋₁` and
/// `h = (n − 1)·q`, it is `s⌊h⌋ + (h − ⌊h⌋)·(s⌊h⌋₊₁ − s⌊h⌋)`.
///
/// `None` for an empty slice, a `q` outside `[0, 1]`, or a NaN among the values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() || !(0.0..=1.0).contains(&q) || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    if a == b {
        // Also keeps -∞ (a row of zero density) from turning into NaN.
        return Some(a);
    }
    Some(a + (h - lo as f64) * (b - a))
}

/// [`quantile`] of weighted values: the quantile of the sample in which each
/// value appears as often as its weight says. For integer weights it is
/// numpy's on the repeated values, exactly; for others the same rule on
/// cumulative weights (`h = (Σw − 1)·q`, and the value at position `p` is
/// the first whose cumulative weight exceeds `p`). Values of weight 0 take
/// no part. `None` as for [`quantile`], or when no weight is positive.
pub fn weighted_quantile(values: &[f64], weights: &[f64], q: f64) -> Option<f64> {
    if values.len() != weights.len()
        || !(0.0..=1.0).contains(&q)
        || values.iter().any(|v| v.is_nan())
    {
        return None;
    }
    let mut pairs: Vec<(f64, f64)> = values
        .iter()
        .zip(weights)
        .filter(|(_, &w)| w > 0.0)
        .map(|(&v, &w)| (v, w))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = pairs.iter().map(|p| p.1).sum();
    let h = ((total - 1.0) * q).max(0.0);
    let at = |position: f64| {
        let mut cum = 0.0;
        for &(v, w) in &pairs {
            cum += w;
            if cum > position {
                return v;
            }
        }
        pairs[pairs.len() - 1].0
    };
    let lo = h.floor();
    let (a, b) = (at(lo), at(lo + 1.0));
    if a == b {
        return Some(a);
    }
    Some(a + (h - lo) * (b - a))
}

/// The threshold for a contamination `0 < contamination < 0.5`: the
/// `contamination`-quantile of `scores` ([`quantile`]).
pub fn contamination_threshold(scores: &[f64], contamination: f64) -> Result<f64> {
    weighted_contamination_threshold(scores, None, contamination)
}

/// [`contamination_threshold`] with each row's score counted `weights[i]`
/// times ([`weighted_quantile`]); `None`: unweighted.
pub fn weighted_contamination_threshold(
    scores: &[f64],
    weights: Option<&[f64]>,
    contamination: f64,
) -> Result<f64> {
    if !(contamination > 0.0 && contamination < 0.5) {
        return Err(Error::InvalidConfig {
            field: "contamination",
            reason: format!(
                "must be a fraction between 0 and 0.5 (exclusive), got {contamination}"
            ),
        });
    }
    if scores.is_empty() {
        return Err(Error::EmptyData {
            n_rows: 0,
            n_cols: 0,
        });
    }
    let q = match weights {
        None => quantile(scores, contamination),
        Some(w) => weighted_quantile(scores, w, contamination),
    };
    q.ok_or_else(|| Error::InvalidConfig {
        field: "scores",
        reason: "a score is NaN, or no weight is positive".into(),
    })
}

/// The rows whose score is strictly below `threshold`, lowest score first
/// (ties in row order).
pub fn below(scores: &[f64], threshold: f64) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i] < threshold)
        .collect();
    rows.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_weights_quantile_as_repeated_values() {
        let v = [3.0, 1.0, 4.0, 1.5, 5.0, -2.0];
        let w = [2.0, 0.0, 1.0, 3.0, 1.0, 2.0];
        let repeated: Vec<f64> = v
            .iter()
            .zip(&w)
            .flat_map(|(&x, &n)| std::iter::repeat_n(x, n as usize))
            .collect();
        for q in [0.0, 0.05, 0.1, 0.25, 0.33, 0.5, 0.75, 0.9, 1.0] {
            assert_eq!(
                weighted_quantile(&v, &w, q),
                quantile(&repeated, q),
                "q = {q}"
            );
        }
        // Scaling every weight by 1 changes nothing; all-zero weights have no quantile.
        assert_eq!(weighted_quantile(&v, &[1.0; 6], 0.3), quantile(&v, 0.3));
        assert_eq!(weighted_quantile(&v, &[0.0; 6], 0.3), None);
    }

    #[test]
    fn quantile_matches_numpy_linear() {
        // np.quantile([3, 1, 4, 1, 5], q) for q = 0, 0.1, 0.25, 0.5, 1:
        // 1.0, 1.0, 1.0, 3.0, 5.0; q = 0.3 → h = 1.2 → 1 + 0.2 * (3 - 1) = 1.4.
        let v = [3.0, 1.0, 4.0, 1.0, 5.0];
        for (q, want) in [
            (0.0, 1.0),
            (0.1, 1.0),
            (0.25, 1.0),
            (0.3, 1.4),
            (0.5, 3.0),
            (0.9, 4.6),
            (1.0, 5.0),
        ] {
            let got = quantile(&v, q).unwrap();
            // One multiply-add on small integers: exact up to one rounding.
            assert!((got - want).abs() < 1e-15, "q={q}: {got} vs {want}");
        }
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&v, 1.5), None);
        assert_eq!(
            quantile(&[f64::NEG_INFINITY, f64::NEG_INFINITY, 0.0], 0.2),
            Some(f64::NEG_INFINITY)
        );
    }

    #[test]
    fn contamination_flags_about_that_fraction() {
        let scores: Vec<f64> = (0..100).map(|i| f64::from(i) * 0.5).collect();
        let t = contamination_threshold(&scores, 0.05).unwrap();
        // h = 99 * 0.05 = 4.95 → between rows 4 and 5: rows 0..=4 are below.
        assert_eq!(below(&scores, t), vec![0, 1, 2, 3, 4]);
        assert!(contamination_threshold(&scores, 0.5).is_err());
        assert!(contamination_threshold(&scores, 0.0).is_err());
        assert!(contamination_threshold(&[], 0.1).is_err());
    }

    #[test]
    fn below_orders_by_score_then_row() {
        let scores = [-1.0, -5.0, 2.0, -5.0, -3.0];
        assert_eq!(below(&scores, 0.0), vec![1, 3, 4, 0]);
        assert_eq!(below(&scores, -5.0), Vec::<usize>::new());
    }
}
