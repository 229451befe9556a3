//! Categorical distributions: probabilities from expected counts, by maximum
//! likelihood or as the MAP estimate under a Dirichlet prior.
//!
//! One formula serves every probability vector the models learn (an HMM's
//! start and transition rows, categorical emission rows, mixture weights):
//! hmmlearn's `max(α − 1 + n, 0)`, normalised. With `α ≥ 1` it is the mode of
//! the Dirichlet posterior; with `α < 1` the unconstrained mode would be
//! negative for rare categories, and the constrained maximum of
//! `Σ (n_i + α_i − 1) ln p_i` over the simplex sets those to zero (hmmlearn's
//! reasoning in `BaseHMM._do_mstep`), so the result is never negative and
//! never NaN. `α = 1` everywhere is maximum likelihood: `(1 − 1) + n` is `n`
//! exactly, so the result has the same bits as `n / Σ n`.

/// The MAP pseudo-count of one category with expected count `n` under a
/// Dirichlet prior of concentration `alpha`: `max(α − 1 + n, 0)`.
pub(crate) fn pseudo_count(alpha: f64, n: f64) -> f64 {
    // hmmlearn's order of operations, `prior - 1 + counts`.
    ((alpha - 1.0) + n).max(0.0)
}

/// Replaces `row` by the normalised pseudo-counts of `count(i)` under
/// concentrations `alpha` (`None`: all 1, maximum likelihood). With
/// `keep_zeros`, entries of `row` that are exactly zero stay zero (a topology
/// such as a left-right chain; hmmlearn's `np.where(p == 0, 0, ·)`). When every
/// pseudo-count is zero (a state never left, or a prior below one that clamps
/// every category) `row` keeps its values and the result is `false`.
pub(crate) fn map_row(
    row: &mut [f64],
    count: impl Fn(usize) -> f64,
    alpha: Option<&[f64]>,
    keep_zeros: bool,
) -> bool {
    let pseudo = |row: &[f64], i: usize| {
        if keep_zeros && row[i] == 0.0 {
            0.0
        } else {
            pseudo_count(alpha.map_or(1.0, |a| a[i]), count(i))
        }
    };
    let total: f64 = (0..row.len()).map(|i| pseudo(row, i)).sum();
    if !(total > 0.0 && total.is_finite()) {
        return false;
    }
    for i in 0..row.len() {
        // Reads entry i of the old row before overwriting it.
        row[i] = pseudo(row, i) / total;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_concentrations_are_maximum_likelihood_bit_for_bit() {
        let counts = [0.3, 1e-300, 7.25, 0.0, 123.456];
        let total: f64 = counts.iter().sum();
        let mut row = [0.2; 5];
        assert!(map_row(&mut row, |i| counts[i], None, true));
        for (p, c) in row.iter().zip(&counts) {
            assert_eq!(p.to_bits(), (c / total).to_bits());
        }
        let mut with_ones = [0.2; 5];
        map_row(&mut with_ones, |i| counts[i], Some(&[1.0; 5]), false);
        assert_eq!(row, with_ones);
    }

    #[test]
    fn small_concentrations_clamp_at_zero_and_zeros_can_stay() {
        let counts = [0.2, 3.0, 1.0];
        let mut row = [0.5, 0.5, 0.0];
        // 0.2 - 0.5 < 0 is clamped; the zero entry stays zero although its
        // prior would give it mass.
        assert!(map_row(
            &mut row,
            |i| counts[i],
            Some(&[0.5, 2.0, 5.0]),
            true
        ));
        assert_eq!(row, [0.0, 1.0, 0.0]);
        let mut row = [0.5, 0.5, 0.0];
        map_row(&mut row, |i| counts[i], Some(&[0.5, 2.0, 5.0]), false);
        assert_eq!(row, [0.0, 4.0 / 9.0, 5.0 / 9.0]);
        // Everything clamped: the row is kept.
        let mut row = [0.25, 0.75];
        assert!(!map_row(&mut row, |_| 0.1, Some(&[0.0, 0.5]), false));
        assert_eq!(row, [0.25, 0.75]);
    }
}
