//! Pure numerical kernels: log-sum-exp, Cholesky and precision factors,
//! eigenvalues of small symmetric matrices ([`eigen`]), and the row-lane
//! vectors ([`lanes`], [`simd`]) the block kernels are written in.
//!
//! Matrices here are small (`d × d`, row-major slices); everything is written
//! out by hand so that results are bit-reproducible and free of library threading.

pub mod eigen;
pub mod lanes;
pub mod simd;

/// `ln Σ exp(xᵢ)`, computed stably; `-∞` for an empty slice or when every term is `-∞`.
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        // all -inf (or empty): exp(-inf - -inf) would be NaN.
        return f64::NEG_INFINITY;
    }
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = xs.iter().map(|&x| (x - max).exp()).sum();
    max + sum.ln()
}

/// `v > 0` and finite (false for NaN).
#[inline]
pub fn positive_finite(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

/// Lower Cholesky factor `L` of a symmetric positive-definite `d × d` matrix `a`
/// (row-major; only its lower triangle is read), written into `l` (row-major,
/// upper triangle zeroed).
///
/// Returns the 0-based pivot at which `a` turned out not to be positive definite.
pub fn cholesky_lower(a: &[f64], d: usize, l: &mut [f64]) -> Result<(), usize> {
    debug_assert!(a.len() >= d * d && l.len() >= d * d);
    l[..d * d].fill(0.0);
    for j in 0..d {
        let mut diag = a[j * d + j];
        for p in 0..j {
            diag -= l[j * d + p] * l[j * d + p];
        }
        if !positive_finite(diag) {
            return Err(j);
        }
        let ljj = diag.sqrt();
        l[j * d + j] = ljj;
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for p in 0..j {
                v -= l[i * d + p] * l[j * d + p];
            }
            l[i * d + j] = v / ljj;
        }
    }
    Ok(())
}

/// Given the lower Cholesky factor `L` of a covariance `Σ = L Lᵀ`, writes the
/// upper-triangular `U = L⁻ᵀ` into `u`, so that the precision is `Σ⁻¹ = U Uᵀ`
/// (scikit-learn's `precisions_cholesky_`), and returns `ln det U = -Σ ln Lᵢᵢ`.
pub fn precision_cholesky_from_lower(l: &[f64], d: usize, u: &mut [f64]) -> f64 {
    // Solve L · M = I for M = L⁻¹ (lower), column by column, then U = Mᵀ.
    u[..d * d].fill(0.0);
    for c in 0..d {
        // Column c of M: M[i][c] for i >= c.
        for i in c..d {
            let mut v = if i == c { 1.0 } else { 0.0 };
            for p in c..i {
                // M[p][c] is stored transposed at U[c][p].
                v -= l[i * d + p] * u[c * d + p];
            }
            u[c * d + i] = v / l[i * d + i];
        }
    }
    (0..d).map(|i| -l[i * d + i].ln()).sum()
}

/// `ln(2π)`.
pub const LN_2PI: f64 = 1.837_877_066_409_345_5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_guards_all_negative_infinity() {
        assert_eq!(log_sum_exp(&[f64::NEG_INFINITY; 3]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
        // ln(e^1000 + e^1000) = 1000 + ln 2, which a naive sum overflows.
        assert_eq!(log_sum_exp(&[1000.0, 1000.0]), 1000.0 + 2f64.ln());
        assert_eq!(log_sum_exp(&[f64::NEG_INFINITY, 0.0]), 0.0);
    }

    #[test]
    fn cholesky_reconstructs_and_precision_inverts() {
        let a = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let mut l = [0.0; 9];
        cholesky_lower(&a, 3, &mut l).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|p| l[i * 3 + p] * l[j * 3 + p]).sum();
                // Rounding of a handful of products of O(1) numbers.
                assert!((v - a[i * 3 + j]).abs() < 1e-14, "{i} {j}");
            }
        }
        let mut u = [0.0; 9];
        let log_det_u = precision_cholesky_from_lower(&l, 3, &mut u);
        // Σ · (U Uᵀ) = I
        for i in 0..3 {
            for j in 0..3 {
                let mut v = 0.0;
                for p in 0..3 {
                    let prec_pj: f64 = (0..3).map(|q| u[p * 3 + q] * u[j * 3 + q]).sum();
                    v += a[i * 3 + p] * prec_pj;
                }
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-14, "{i} {j} {v}");
            }
        }
        // det Σ = 4*5*3 + 2*1*0.6*2 - 0.6*5*0.6 - 4*1*1 - 2*2*3 = 60 + 2.4 - 1.8 - 4 - 12
        let det = 44.6f64;
        assert!((log_det_u + 0.5 * det.ln()).abs() < 1e-14);
    }

    #[test]
    fn cholesky_reports_the_failing_pivot() {
        let a = [1.0, 1.0, 1.0, 1.0];
        let mut l = [0.0; 4];
        assert_eq!(cholesky_lower(&a, 2, &mut l), Err(1));
        let nan = [f64::NAN];
        assert_eq!(cholesky_lower(&nan, 1, &mut l), Err(0));
    }
}
