//! Full covariance: each component has its own `d × d` matrix.

use crate::data::DataRef;
use crate::linalg::{cholesky_lower, mahalanobis_upper, precision_cholesky_from_lower, LN_2PI};

/// Factors one `d × d` covariance into the upper precision Cholesky factor `out`;
/// returns its log-determinant, or `None` when not positive definite.
pub(super) fn factor(cov: &[f64], d: usize, out: &mut [f64]) -> Option<f64> {
    let mut l = vec![0.0; d * d];
    cholesky_lower(cov, d, &mut l).ok()?;
    let log_det = precision_cholesky_from_lower(&l, d, out);
    (log_det.is_finite() && out.iter().all(|v| v.is_finite())).then_some(log_det)
}

pub(super) fn log_densities(
    rows: DataRef<'_>,
    means: &[f64],
    prec: &[f64],
    log_det: &[f64],
    k: usize,
    out: &mut [f64],
) {
    let d = rows.n_cols();
    let mut diff = vec![0.0; d];
    for r in 0..rows.n_rows() {
        let x = rows.row(r);
        for j in 0..k {
            let mu = &means[j * d..(j + 1) * d];
            for i in 0..d {
                diff[i] = x[i] - mu[i];
            }
            let maha = mahalanobis_upper(&diff, &prec[j * d * d..(j + 1) * d * d], d);
            out[r * k + j] = -0.5 * (d as f64 * LN_2PI + maha) + log_det[j];
        }
    }
}

/// `second[j]` (upper triangle of a `d × d`) += Σ r·(x−c_j)(x−c_j)ᵀ.
pub(super) fn accumulate(
    rows: DataRef<'_>,
    shifts: &[f64],
    resp: &[f64],
    k: usize,
    second: &mut [f64],
) {
    let d = rows.n_cols();
    let mut diff = vec![0.0; d];
    for r in 0..rows.n_rows() {
        let x = rows.row(r);
        for j in 0..k {
            let w = resp[r * k + j];
            if w == 0.0 {
                continue;
            }
            let c = &shifts[j * d..(j + 1) * d];
            for i in 0..d {
                diff[i] = x[i] - c[i];
            }
            let s = &mut second[j * d * d..(j + 1) * d * d];
            for a in 0..d {
                let wa = w * diff[a];
                for b in a..d {
                    s[a * d + b] += wa * diff[b];
                }
            }
        }
    }
}

/// Centred scatter `S − s sᵀ/N` of one component, from shifted sums, divided by `divisor`,
/// written symmetric into `out`.
fn centred_scatter_into(n: f64, s: &[f64], upper: &[f64], d: usize, out: &mut [f64]) {
    for a in 0..d {
        for b in a..d {
            let v = upper[a * d + b] - s[a] * s[b] / n;
            out[a * d + b] += v;
            if a != b {
                out[b * d + a] += v;
            }
        }
    }
}

pub(super) fn from_stats(
    counts: &[f64],
    first: &[f64],
    second: &[f64],
    d: usize,
    reg: f64,
) -> Vec<f64> {
    let k = counts.len();
    let mut cov = vec![0.0; k * d * d];
    for j in 0..k {
        let n = counts[j];
        let c = &mut cov[j * d * d..(j + 1) * d * d];
        centred_scatter_into(
            n,
            &first[j * d..(j + 1) * d],
            &second[j * d * d..(j + 1) * d * d],
            d,
            c,
        );
        for v in c.iter_mut() {
            *v /= n;
        }
        for i in 0..d {
            c[i * d + i] += reg;
        }
    }
    cov
}
