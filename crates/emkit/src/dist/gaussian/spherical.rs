//! Spherical covariance: each component has one variance, `σ²·I`.

use crate::data::DataRef;
use crate::linalg::{positive_finite, LN_2PI};

/// `out = 1/σ`; returns `d·ln(1/σ)`, or `None` on a variance that is not positive.
pub(super) fn factor(var: f64, d: usize, out: &mut f64) -> Option<f64> {
    if !positive_finite(var) {
        return None;
    }
    *out = 1.0 / var.sqrt();
    let log_det = d as f64 * out.ln();
    log_det.is_finite().then_some(log_det)
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
    for r in 0..rows.n_rows() {
        let x = rows.row(r);
        for j in 0..k {
            let mu = &means[j * d..(j + 1) * d];
            let mut sq = 0.0;
            for i in 0..d {
                let z = x[i] - mu[i];
                sq += z * z;
            }
            let p = prec[j];
            out[r * k + j] = -0.5 * (d as f64 * LN_2PI + sq * p * p) + log_det[j];
        }
    }
}

/// `second[j]` += Σ r·‖x − c_j‖².
pub(super) fn accumulate(
    rows: DataRef<'_>,
    shifts: &[f64],
    resp: &[f64],
    k: usize,
    second: &mut [f64],
) {
    let d = rows.n_cols();
    for r in 0..rows.n_rows() {
        let x = rows.row(r);
        for j in 0..k {
            let w = resp[r * k + j];
            if w == 0.0 {
                continue;
            }
            let c = &shifts[j * d..(j + 1) * d];
            let mut sq = 0.0;
            for i in 0..d {
                let z = x[i] - c[i];
                sq += z * z;
            }
            second[j] += w * sq;
        }
    }
}

/// The mean over features of the diagonal variances, as scikit-learn does.
pub(super) fn from_stats(
    counts: &[f64],
    first: &[f64],
    second: &[f64],
    d: usize,
    reg: f64,
) -> Vec<f64> {
    counts
        .iter()
        .enumerate()
        .map(|(j, &n)| {
            let s2: f64 = first[j * d..(j + 1) * d].iter().map(|s| s * s).sum();
            (second[j] - s2 / n) / (n * d as f64) + reg
        })
        .collect()
}
