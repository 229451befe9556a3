//! Diagonal covariance: each component has its own `d` variances.

use crate::linalg::lanes::{hsum, Lane, LANES, ZERO};
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

/// Log-densities of every component: `lp[j·nch + ch]`.
#[inline(always)]
pub(super) fn log_densities(xt: &[Lane], nch: usize, d: usize, means: &[f64], prec: &[f64], log_det: &[f64], lp: &mut [Lane]) {
    let c0 = -0.5 * d as f64 * LN_2PI;
    for (j, &ld) in log_det.iter().enumerate() {
        let (mu, p) = (&means[j * d..(j + 1) * d], &prec[j * d..(j + 1) * d]);
        for ch in 0..nch {
            let mut maha = ZERO;
            for f in 0..d {
                let x = &xt[f * nch + ch];
                for l in 0..LANES {
                    let y = (x[l] - mu[f]) * p[f];
                    maha[l] += y * y;
                }
            }
            let o = &mut lp[j * nch + ch];
            for l in 0..LANES {
                o[l] = c0 - 0.5 * maha[l] + ld;
            }
        }
    }
}

/// Counts, `Σ w·(x−c)` and `Σ w·(x−c)²` per component and feature.
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
        for f in 0..d {
            let c = shifts[j * d + f];
            let (mut s, mut q) = (ZERO, ZERO);
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
            second[j * d + f] += hsum(&q);
        }
    }
}

/// Variances `(q − s²/N)/N + reg`, into `out`.
pub(super) fn from_stats(counts: &[f64], first: &[f64], second: &[f64], d: usize, reg: f64, out: &mut [f64]) {
    for (j, &n) in counts.iter().enumerate() {
        for i in 0..d {
            let s = first[j * d + i];
            out[j * d + i] = (second[j * d + i] - s * s / n) / n + reg;
        }
    }
}
