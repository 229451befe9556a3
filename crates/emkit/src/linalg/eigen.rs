//! Eigenvalues of small symmetric matrices (cyclic Jacobi) and the smallest
//! generalised eigenvalue of a symmetric pair `(A, B)` with `B` positive definite.
//!
//! These serve diagnostics on `d × d` covariances (model selection's collapse
//! test), not the hot loops: Jacobi is simple, accurate to a few ulps of the
//! largest eigenvalue, and fast enough for `d` up to about a hundred.

use super::cholesky_lower;

/// Most Jacobi sweeps. Convergence is quadratic once the off-diagonal mass is
/// small; real matrices need 5–10 sweeps, 100 only guards against a loop.
const MAX_SWEEPS: usize = 100;

/// Eigenvalues of the symmetric `d × d` matrix `a` (row-major; only the lower
/// triangle is read), in ascending order. Cyclic Jacobi rotations until the
/// off-diagonal part vanishes relative to the diagonal.
pub fn symmetric_eigenvalues(a: &[f64], d: usize) -> Vec<f64> {
    debug_assert!(a.len() >= d * d);
    // Work on a symmetrised copy.
    let mut m = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            m[i * d + j] = a[i * d + j];
            m[j * d + i] = a[i * d + j];
        }
    }
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..d)
            .flat_map(|i| (0..i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * d + j] * m[i * d + j])
            .sum();
        let diag: f64 = (0..d).map(|i| m[i * d + i] * m[i * d + i]).sum();
        // Off-diagonal mass below the rounding of the diagonal: done.
        if off <= f64::EPSILON * f64::EPSILON * diag || off == 0.0 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = m[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (m[p * d + p], m[q * d + q]);
                // The rotation that zeroes m[p][q] (Golub & Van Loan, Alg. 8.5.1),
                // with the smaller angle for stability.
                let theta = (aqq - app) / (2.0 * apq);
                // (signum(0) is 1: a 45° rotation when the diagonal entries tie.)
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..d {
                    let (mrp, mrq) = (m[r * d + p], m[r * d + q]);
                    m[r * d + p] = c * mrp - s * mrq;
                    m[r * d + q] = s * mrp + c * mrq;
                }
                for r in 0..d {
                    let (mpr, mqr) = (m[p * d + r], m[q * d + r]);
                    m[p * d + r] = c * mpr - s * mqr;
                    m[q * d + r] = s * mpr + c * mqr;
                }
                m[p * d + q] = 0.0;
                m[q * d + p] = 0.0;
            }
        }
    }
    let mut values: Vec<f64> = (0..d).map(|i| m[i * d + i]).collect();
    values.sort_by(f64::total_cmp);
    values
}

/// The smallest `λ` with `A v = λ B v` for symmetric `A` and symmetric positive
/// definite `B` (both `d × d`, row-major): the smallest ratio `vᵀAv / vᵀBv` over
/// all directions `v`. Computed as the smallest eigenvalue of `L⁻¹ A L⁻ᵀ` with
/// `B = L Lᵀ`.
///
/// Returns the 0-based pivot at which `B` turned out not to be positive definite.
pub fn min_generalized_eigenvalue(a: &[f64], b: &[f64], d: usize) -> Result<f64, usize> {
    let mut l = vec![0.0; d * d];
    cholesky_lower(b, d, &mut l)?;
    // Y = L⁻¹ A (forward substitution, column by column of A), then
    // C = L⁻¹ Yᵀ = L⁻¹ A L⁻ᵀ (A symmetric, so Yᵀ = A L⁻ᵀ).
    let solve = |rhs: &[f64]| -> Vec<f64> {
        let mut x = vec![0.0; d * d];
        for c in 0..d {
            for i in 0..d {
                let mut v = rhs[i * d + c];
                for p in 0..i {
                    v -= l[i * d + p] * x[p * d + c];
                }
                x[i * d + c] = v / l[i * d + i];
            }
        }
        x
    };
    let mut sym_a = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            sym_a[i * d + j] = a[i * d + j];
            sym_a[j * d + i] = a[i * d + j];
        }
    }
    let y = solve(&sym_a);
    let mut yt = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            yt[j * d + i] = y[i * d + j];
        }
    }
    let c = solve(&yt);
    Ok(symmetric_eigenvalues(&c, d)[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Q diag(λ) Qᵀ` for a rotation `Q` built from Householder reflections of
    /// fixed vectors: a symmetric matrix whose eigenvalues are known exactly.
    fn with_eigenvalues(lambda: &[f64]) -> Vec<f64> {
        let d = lambda.len();
        let mut m = vec![0.0; d * d];
        for i in 0..d {
            m[i * d + i] = lambda[i];
        }
        for h in 0..3 {
            // H = I − 2 v vᵀ / vᵀv; M ← H M H keeps the spectrum.
            let v: Vec<f64> = (0..d)
                .map(|i| ((i + 1) * (h + 2)) as f64 % 7.0 - 2.5)
                .collect();
            let vv: f64 = v.iter().map(|x| x * x).sum();
            let hm = |m: &[f64]| -> Vec<f64> {
                let mut out = m.to_vec();
                for c in 0..d {
                    let dot: f64 = (0..d).map(|r| v[r] * m[r * d + c]).sum();
                    for r in 0..d {
                        out[r * d + c] -= 2.0 * v[r] * dot / vv;
                    }
                }
                out
            };
            let left = hm(&m);
            // (H M) H = (H (H M)ᵀ)ᵀ, and H M H is symmetric, so transpose is free.
            let mut lt = vec![0.0; d * d];
            for i in 0..d {
                for j in 0..d {
                    lt[j * d + i] = left[i * d + j];
                }
            }
            m = hm(&lt);
        }
        m
    }

    #[test]
    fn jacobi_finds_known_spectra() {
        for lambda in [
            vec![3.0],
            vec![2.0, -1.0],
            vec![5.0, 1e-9, 0.5, 2.0],
            vec![1.0, 1.0, 1.0, 4.0, 1e-4, 7.5, 0.3, 12.0],
        ] {
            let d = lambda.len();
            let m = with_eigenvalues(&lambda);
            let got = symmetric_eigenvalues(&m, d);
            let mut want = lambda.clone();
            want.sort_by(f64::total_cmp);
            let scale = want.iter().map(|v| v.abs()).fold(0.0, f64::max);
            for (g, w) in got.iter().zip(&want) {
                // Jacobi is backward stable: each eigenvalue is exact to a small
                // multiple of ε times the largest one (the reflections that built
                // the matrix round at that level too).
                assert!((g - w).abs() <= 1e-13 * scale, "{lambda:?}: {got:?}");
            }
        }
    }

    #[test]
    fn generalized_eigenvalue_against_brute_force_directions() {
        // B = diag(4, 1) and A = [[2, 1], [1, 3]]: λ solves det(A − λB) = 0,
        // (2 − 4λ)(3 − λ) − 1 = 4λ² − 14λ + 5 = 0, λ = (14 − √116) / 8.
        let a = [2.0, 1.0, 1.0, 3.0];
        let b = [4.0, 0.0, 0.0, 1.0];
        let got = min_generalized_eigenvalue(&a, &b, 2).unwrap();
        let want = (14.0 - 116f64.sqrt()) / 8.0;
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");

        // A 3 × 3 pair against the minimum of the Rayleigh quotient vᵀAv / vᵀBv
        // over a fine grid of directions on the sphere.
        let a = [2.0, 0.3, -0.2, 0.3, 1.0, 0.4, -0.2, 0.4, 0.7];
        let b = [1.5, 0.5, 0.1, 0.5, 2.0, -0.3, 0.1, -0.3, 1.2];
        let got = min_generalized_eigenvalue(&a, &b, 3).unwrap();
        let quad = |m: &[f64], v: &[f64; 3]| -> f64 {
            (0..3)
                .map(|i| (0..3).map(|j| v[i] * m[i * 3 + j] * v[j]).sum::<f64>())
                .sum()
        };
        let mut best = f64::INFINITY;
        let steps = 400;
        for s in 0..=steps {
            let theta = std::f64::consts::PI * s as f64 / steps as f64;
            for t in 0..2 * steps {
                let phi = std::f64::consts::PI * t as f64 / steps as f64;
                let v = [
                    theta.sin() * phi.cos(),
                    theta.sin() * phi.sin(),
                    theta.cos(),
                ];
                best = best.min(quad(&a, &v) / quad(&b, &v));
            }
        }
        // The grid never undershoots the true minimum, and a step of π/400 in
        // angle misses it by O(step²) ≈ 6e-5 relative at most.
        assert!(got <= best + 1e-12, "{got} > grid minimum {best}");
        assert!(
            best - got < 1e-4 * got.abs(),
            "{got} vs grid minimum {best}"
        );
    }

    #[test]
    fn generalized_eigenvalue_reports_a_singular_b() {
        let a = [1.0, 0.0, 0.0, 1.0];
        let b = [1.0, 1.0, 1.0, 1.0];
        assert_eq!(min_generalized_eigenvalue(&a, &b, 2), Err(1));
    }
}
