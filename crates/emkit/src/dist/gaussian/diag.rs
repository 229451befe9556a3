//! Diagonal covariance: each component has its own `d` variances.

use super::{centred_sums, lane_total, PriorTerms};
use crate::linalg::lanes::Lane;
use crate::linalg::simd::Simd;
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
#[allow(clippy::too_many_arguments)]
pub(super) fn log_densities<S: Simd>(
    s: S,
    xt: &[Lane],
    nch: usize,
    d: usize,
    means: &[f64],
    prec: &[f64],
    log_det: &[f64],
    lp: &mut [Lane],
) {
    let (zero, half) = (s.splat(0.0), s.splat(-0.5));
    for (j, &ld) in log_det.iter().enumerate() {
        let (mu, p) = (&means[j * d..(j + 1) * d], &prec[j * d..(j + 1) * d]);
        let c0 = s.splat(-0.5 * d as f64 * LN_2PI + ld);
        for ch in 0..nch {
            let mut maha = zero;
            for f in 0..d {
                let y = s.mul(
                    s.sub(s.load(&xt[f * nch + ch]), s.splat(mu[f])),
                    s.splat(p[f]),
                );
                maha = s.madd(y, y, maha);
            }
            s.store(&mut lp[j * nch + ch], s.madd(maha, half, c0));
        }
    }
}

/// Counts, `Σ w·(x−c)` and `Σ w·(x−c)²` per component and feature.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn accumulate<S: Simd>(
    s: S,
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
        *count += lane_total(s, w);
        for f in 0..d {
            let (sa, q) = centred_sums(s, xt, w, nch, f, shifts[j * d + f]);
            first[j * d + f] += s.hsum(sa);
            second[j * d + f] += s.hsum(q);
        }
    }
}

/// Variances `(q − s²/N)/N + reg`, into `out`; with a prior,
/// `(q − s²/N + ψ)/(N + ν) + reg` (its `scale` ψ and `dof` ν per variance).
pub(super) fn from_stats(
    counts: &[f64],
    first: &[f64],
    second: &[f64],
    d: usize,
    reg: f64,
    prior: Option<PriorTerms<'_>>,
    out: &mut [f64],
) {
    for (j, &n) in counts.iter().enumerate() {
        for i in 0..d {
            let s = first[j * d + i];
            let scatter = second[j * d + i] - s * s / n;
            let v = match prior {
                None => scatter / n,
                Some(p) => (scatter + p.scale[j * d + i]) / (n + p.dof[j * d + i]),
            };
            out[j * d + i] = v + reg;
        }
    }
}
