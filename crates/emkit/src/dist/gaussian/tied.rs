//! Tied covariance: one `d × d` matrix shared by all components.

use crate::data::DataRef;
use crate::linalg::{mahalanobis_upper, LN_2PI};

pub(super) fn log_densities(
    rows: DataRef<'_>,
    means: &[f64],
    prec: &[f64],
    log_det: f64,
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
            let maha = mahalanobis_upper(&diff, prec, d);
            out[r * k + j] = -0.5 * (d as f64 * LN_2PI + maha) + log_det;
        }
    }
}

/// `second` (one upper triangle) += Σ_j Σ r·(x−c_j)(x−c_j)ᵀ: the pooled scatter
/// about each row's own component shift.
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
            for a in 0..d {
                let wa = w * diff[a];
                for b in a..d {
                    second[a * d + b] += wa * diff[b];
                }
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
    let mut cov = vec![0.0; d * d];
    // Σ_j (S_j − s_j s_jᵀ/N_j) = pooled − Σ_j s_j s_jᵀ/N_j
    for a in 0..d {
        for b in a..d {
            cov[a * d + b] = second[a * d + b];
        }
    }
    for (j, &n) in counts.iter().enumerate() {
        let s = &first[j * d..(j + 1) * d];
        for a in 0..d {
            for b in a..d {
                cov[a * d + b] -= s[a] * s[b] / n;
            }
        }
    }
    let total: f64 = counts.iter().sum();
    for a in 0..d {
        for b in a..d {
            let v = cov[a * d + b] / total;
            cov[a * d + b] = v;
            cov[b * d + a] = v;
        }
        cov[a * d + a] += reg;
    }
    cov
}
