//! Diagonal covariance: each component has its own `d` variances.

use crate::data::DataRef;
use crate::linalg::{positive_finite, LN_2PI};

/// `out = 1/σ` per feature; returns `Σ ln(1/σ)`, or `None` on a variance that is not positive.
pub(super) fn factor(var: &[f64], out: &mut [f64]) -> Option<f64> {
    let mut log_det = 0.0;
    for (o, &v) in out.iter_mut().zip(var) {
        if !positive_finite(v) {
            return None;
        }
        *o = 1.0 / v.sqrt();
        log_det += o.ln();
    }
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
            let p = &prec[j * d..(j + 1) * d];
            let mut maha = 0.0;
            for i in 0..d {
                let y = (x[i] - mu[i]) * p[i];
                maha += y * y;
            }
            out[r * k + j] = -0.5 * (d as f64 * LN_2PI + maha) + log_det[j];
        }
    }
}

/// `second[j][i]` += Σ r·(x_i − c_ji)².
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
            let s = &mut second[j * d..(j + 1) * d];
            for i in 0..d {
                let z = x[i] - c[i];
                s[i] += w * z * z;
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
    let mut var = vec![0.0; counts.len() * d];
    for (j, &n) in counts.iter().enumerate() {
        for i in 0..d {
            let s = first[j * d + i];
            var[j * d + i] = (second[j * d + i] - s * s / n) / n + reg;
        }
    }
    var
}
