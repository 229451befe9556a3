//! Spherical covariance: each component has one variance, `σ²·I`.

use crate::linalg::lanes::{hsum, Lane, LANES, ZERO};
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

/// Log-densities of every component: `lp[j·nch + ch]`.
#[inline(always)]
pub(super) fn log_densities(xt: &[Lane], nch: usize, d: usize, means: &[f64], prec: &[f64], log_det: &[f64], lp: &mut [Lane]) {
    let c0 = -0.5 * d as f64 * LN_2PI;
    for (j, &ld) in log_det.iter().enumerate() {
        let mu = &means[j * d..(j + 1) * d];
        let p2 = prec[j] * prec[j];
        for ch in 0..nch {
            let mut sq = ZERO;
            for f in 0..d {
                let x = &xt[f * nch + ch];
                for l in 0..LANES {
                    let z = x[l] - mu[f];
                    sq[l] += z * z;
                }
            }
            let o = &mut lp[j * nch + ch];
            for l in 0..LANES {
                o[l] = c0 - 0.5 * (sq[l] * p2) + ld;
            }
        }
    }
}

/// Counts, `Σ w·(x−c)` per feature and `Σ w·‖x−c‖²` per component.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn accumulate(
    xt: &[Lane],
    nch: usize,
    d: usize,
    shifts: &[f64],
    resp: &[Lane],
    counts: &mut [f64],
    first: &mut [f64],
    second: &mut [f64],
) {
    for (j, count) in counts.iter_mut().enumerate() {
        let w = &resp[j * nch..(j + 1) * nch];
        let mut n = ZERO;
        for wl in w {
            for l in 0..LANES {
                n[l] += wl[l];
            }
        }
        *count += hsum(&n);
        let mut q = ZERO;
        for f in 0..d {
            let c = shifts[j * d + f];
            let mut s = ZERO;
            for ch in 0..nch {
                let x = &xt[f * nch + ch];
                for l in 0..LANES {
                    let z = x[l] - c;
                    let wz = w[ch][l] * z;
                    s[l] += wz;
                    q[l] += wz * z;
                }
            }
            first[j * d + f] += hsum(&s);
        }
        second[j] += hsum(&q);
    }
}

/// The mean over features of the diagonal variances, as scikit-learn does, into `out`.
pub(super) fn from_stats(counts: &[f64], first: &[f64], second: &[f64], d: usize, reg: f64, out: &mut [f64]) {
    for (j, &n) in counts.iter().enumerate() {
        let s2: f64 = first[j * d..(j + 1) * d].iter().map(|s| s * s).sum();
        out[j] = (second[j] - s2 / n) / (n * d as f64) + reg;
    }
}
