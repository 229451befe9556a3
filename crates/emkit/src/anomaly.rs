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
use crate::io::RowSource;

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
    threshold_of(scores.len(), contamination, || {
        Ok(match weights {
            None => quantile(scores, contamination),
            Some(w) => weighted_quantile(scores, w, contamination),
        })
    })
}

/// [`weighted_contamination_threshold`] of scores held in a one-column
/// source, with weights in another (`None`: unweighted), read a piece at a
/// time ([`source_quantile`]): the same threshold, in memory that does not
/// grow with the number of rows.
pub fn source_contamination_threshold(
    scores: &dyn RowSource,
    weights: Option<&dyn RowSource>,
    contamination: f64,
) -> Result<f64> {
    threshold_of(scores.n_rows(), contamination, || {
        source_quantile(scores, weights, contamination)
    })
}

/// The checks of a contamination threshold around the quantile `q` of `n`
/// scores.
fn threshold_of(
    n: usize,
    contamination: f64,
    q: impl FnOnce() -> Result<Option<f64>>,
) -> Result<f64> {
    if !(contamination > 0.0 && contamination < 0.5) {
        return Err(Error::InvalidConfig {
            field: "contamination",
            reason: format!(
                "must be a fraction between 0 and 0.5 (exclusive), got {contamination}"
            ),
        });
    }
    if n == 0 {
        return Err(Error::EmptyData {
            n_rows: 0,
            n_cols: 0,
        });
    }
    q()?.ok_or_else(|| Error::InvalidConfig {
        field: "scores",
        reason: "a score is NaN, or no weight is positive".into(),
    })
}

/// Bits of a key that one selection pass settles: 65 536 buckets.
const DIGIT_BITS: u32 = 16;

/// Values gathered into memory to finish a selection: 16 MiB of keys and
/// weights at most.
const GATHER_VALUES: usize = 1 << 20;

/// A 64-bit key with the order of [`f64::total_cmp`].
fn order_key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | 1 << 63
    }
}

/// The value of an [`order_key`].
fn key_value(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// [`weighted_quantile`] (with every weight 1 when `weights` is `None`:
/// [`quantile`]) of the values of a one-column source, read a piece at a
/// time: the same value, in memory that does not grow with the number of
/// values.
///
/// The order statistics are found by radix selection on the values'
/// order-preserving 64-bit keys: one pass sums the weights in each of 65 536
/// buckets of the keys' top 16 bits, the bucket where the cumulative weight
/// passes the wanted position is kept, the next pass splits it by the next
/// 16 bits, and so on; once the kept bucket holds at most 2^20 values they
/// are gathered and sorted. One pass counts, then two to five passes per
/// order statistic, two order statistics (the interpolation's). Weights are
/// summed bucket by bucket rather than in sorted order: with integer weights
/// (or none) every partial sum is exact and the result is
/// [`weighted_quantile`]'s bit for bit; other weights can move a cumulative
/// sum by a rounding, which matters only for a position within that
/// rounding of a boundary.
///
/// `Ok(None)` as [`weighted_quantile`]'s `None` (no value, `q` outside
/// `[0, 1]`, a NaN value, no positive weight).
///
/// # Errors
///
/// The source's read errors; [`Error::InvalidWeights`] for a negative, NaN
/// or infinite weight (naming its row), or a weight source that is not one
/// column of one weight per value; [`Error::ShapeMismatch`] when `values`
/// has more than one column.
pub fn source_quantile(
    values: &dyn RowSource,
    weights: Option<&dyn RowSource>,
    q: f64,
) -> Result<Option<f64>> {
    quantile_gathering(values, weights, q, GATHER_VALUES)
}

/// [`source_quantile`], finishing in memory once at most `gather` values
/// are in play.
fn quantile_gathering(
    values: &dyn RowSource,
    weights: Option<&dyn RowSource>,
    q: f64,
    gather: usize,
) -> Result<Option<f64>> {
    if values.n_cols() != 1 {
        return Err(Error::ShapeMismatch {
            what: "columns of the values of a quantile".into(),
            expected: 1,
            got: values.n_cols(),
        });
    }
    if let Some(w) = weights {
        if w.n_cols() != 1 || w.n_rows() != values.n_rows() {
            return Err(Error::InvalidWeights {
                problem: format!(
                    "expected one weight per value ({}), got {} x {}",
                    values.n_rows(),
                    w.n_rows(),
                    w.n_cols()
                ),
            });
        }
    }
    if values.n_rows() == 0 || !(0.0..=1.0).contains(&q) {
        return Ok(None);
    }
    let source = WeighedValues { values, weights };
    let (mut total, mut nan) = (0.0, false);
    source.each(|v, w| {
        nan |= v.is_nan();
        total += w;
    })?;
    if nan || total == 0.0 {
        return Ok(None);
    }
    let h = ((total - 1.0) * q).max(0.0);
    let lo = h.floor();
    let a = source.select(lo, gather)?;
    let b = source.select(lo + 1.0, gather)?;
    if a == b {
        return Ok(Some(a));
    }
    Ok(Some(a + (h - lo) * (b - a)))
}

/// Values and their weights, read a piece at a time.
struct WeighedValues<'a> {
    values: &'a dyn RowSource,
    weights: Option<&'a dyn RowSource>,
}

impl WeighedValues<'_> {
    /// Calls `f(value, weight)` for every value of positive weight, in row
    /// order.
    fn each(&self, mut f: impl FnMut(f64, f64)) -> Result<()> {
        let mut weights = Vec::new();
        crate::mixture::stream::for_each_piece(self.values, |start, piece| {
            let values = piece.values();
            let Some(source) = self.weights else {
                values.iter().for_each(|&v| f(v, 1.0));
                return Ok(());
            };
            source.read_rows(start, values.len(), &mut weights)?;
            for (i, (&v, &w)) in values.iter().zip(&weights).enumerate() {
                if !(w.is_finite() && w >= 0.0) {
                    return Err(Error::InvalidWeights {
                        problem: format!(
                            "weight {} (0-based) is {w}; weights must be finite and >= 0",
                            start + i
                        ),
                    });
                }
                if w > 0.0 {
                    f(v, w);
                }
            }
            Ok(())
        })
    }

    /// The smallest value whose cumulative weight (values in ascending
    /// order) exceeds `position`; the largest value when none does.
    fn select(&self, mut position: f64, gather: usize) -> Result<f64> {
        let buckets = 1usize << DIGIT_BITS;
        // The keys still in play share their top `fixed` bits, `prefix`;
        // `below` is the weight of every value under them.
        let (mut prefix, mut fixed, mut below) = (0u64, 0u32, 0.0);
        let in_play = |k: u64, prefix: u64, fixed: u32| fixed == 0 || k >> (64 - fixed) == prefix;
        while fixed < 64 {
            let shift = 64 - fixed - DIGIT_BITS;
            let (mut weight, mut count) = (vec![0.0f64; buckets], vec![0usize; buckets]);
            self.each(|v, w| {
                let k = order_key(v);
                if in_play(k, prefix, fixed) {
                    let d = ((k >> shift) as usize) & (buckets - 1);
                    weight[d] += w;
                    count[d] += 1;
                }
            })?;
            let (mut chosen, mut last) = (None, 0);
            for d in (0..buckets).filter(|&d| count[d] > 0) {
                if below + weight[d] > position {
                    chosen = Some(d);
                    break;
                }
                below += weight[d];
                last = d;
            }
            let d = chosen.unwrap_or_else(|| {
                // No value reaches the position (it is at the total weight,
                // or a rounding away from it): the largest value in play.
                position = f64::INFINITY;
                last
            });
            prefix = prefix << DIGIT_BITS | d as u64;
            fixed += DIGIT_BITS;
            if fixed < 64 && count[d] <= gather {
                let mut gathered = Vec::with_capacity(count[d]);
                self.each(|v, w| {
                    let k = order_key(v);
                    if in_play(k, prefix, fixed) {
                        gathered.push((k, w));
                    }
                })?;
                gathered.sort_unstable_by_key(|&(k, _)| k);
                let mut at = gathered.len() - 1;
                for (i, &(_, w)) in gathered.iter().enumerate() {
                    below += w;
                    if below > position {
                        at = i;
                        break;
                    }
                }
                return Ok(key_value(gathered[at].0));
            }
        }
        Ok(key_value(prefix))
    }
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

    /// Values with ties, infinities, both signs and zeros of both signs;
    /// half of them within one top-16-bit bucket, so that selection goes
    /// down every level when little is gathered.
    fn awkward_values(n: usize, seed: u64) -> Vec<f64> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        (0..n)
            .map(|i| match i % 8 {
                0 => f64::NEG_INFINITY,
                1 => -0.0,
                2 => 0.0,
                3 => -rng.random::<f64>() * 1e3,
                4 => f64::from(rng.random_range(0..5u8)),
                _ => 1.0 + rng.random::<f64>() * 1e-6,
            })
            .collect()
    }

    #[test]
    fn source_quantile_is_the_in_memory_quantile() {
        use crate::data::DataRef;
        use rand::{Rng, SeedableRng};
        // EMKIT_SEED replays another draw.
        let seed = std::env::var("EMKIT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(11u64);
        println!("seed = {seed} (set EMKIT_SEED to override)");
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        for n in [1usize, 2, 7, 64, 1000] {
            let v = awkward_values(n, seed + n as u64);
            let values = DataRef::new(&v, n, 1).unwrap();
            // Integer weights, zeros among them: every partial sum is exact.
            let w: Vec<f64> = (0..n)
                .map(|_| f64::from(rng.random_range(0..4u8)))
                .collect();
            let weights = DataRef::new(&w, n, 1).unwrap();
            for q in [0.0, 1e-9, 0.01, 0.05, 0.1, 0.25, 0.4999, 0.5, 0.9, 1.0] {
                for gather in [0, 1, 16, GATHER_VALUES] {
                    let got = quantile_gathering(&values, None, q, gather).unwrap();
                    let want = quantile(&v, q);
                    assert_eq!(
                        got.map(f64::to_bits),
                        want.map(f64::to_bits),
                        "seed {seed}, n {n}, q {q}, gather {gather}"
                    );
                    let got = quantile_gathering(&values, Some(&weights), q, gather).unwrap();
                    let want = weighted_quantile(&v, &w, q);
                    assert_eq!(
                        got.map(f64::to_bits),
                        want.map(f64::to_bits),
                        "weighted: seed {seed}, n {n}, q {q}, gather {gather}"
                    );
                }
            }
        }
    }

    #[test]
    fn source_quantile_refuses_what_memory_refuses() {
        use crate::data::DataRef;
        let v = [1.0, f64::NAN, 3.0];
        let values = DataRef::new(&v, 3, 1).unwrap();
        assert_eq!(source_quantile(&values, None, 0.5).unwrap(), None);
        let v = [1.0, 2.0, 3.0];
        let values = DataRef::new(&v, 3, 1).unwrap();
        assert_eq!(source_quantile(&values, None, 1.5).unwrap(), None);
        let zero = [0.0; 3];
        let weights = DataRef::new(&zero, 3, 1).unwrap();
        assert_eq!(source_quantile(&values, Some(&weights), 0.5).unwrap(), None);
        let bad = [1.0, -1.0, 1.0];
        let weights = DataRef::new(&bad, 3, 1).unwrap();
        let e = source_quantile(&values, Some(&weights), 0.5).unwrap_err();
        assert!(e.to_string().contains("weight 1 (0-based) is -1"), "{e}");
        let short = [1.0; 2];
        let weights = DataRef::new(&short, 2, 1).unwrap();
        assert!(source_quantile(&values, Some(&weights), 0.5).is_err());
        let wide = DataRef::new(&[1.0; 4], 2, 2).unwrap();
        assert!(source_quantile(&wide, None, 0.5).is_err());
        assert_eq!(
            source_contamination_threshold(&values, None, 0.05).unwrap(),
            contamination_threshold(&v, 0.05).unwrap()
        );
        assert!(source_contamination_threshold(&values, None, 0.5).is_err());
    }

    #[test]
    fn below_orders_by_score_then_row() {
        let scores = [-1.0, -5.0, 2.0, -5.0, -3.0];
        assert_eq!(below(&scores, 0.0), vec![1, 3, 4, 0]);
        assert_eq!(below(&scores, -5.0), Vec::<usize>::new());
    }
}
