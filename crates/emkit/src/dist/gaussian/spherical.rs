//! Spherical covariance: each component has one variance, `σ²·I`.

use super::{centred_sums, lane_total, PriorTerms};
use crate::linalg::lanes::Lane;
use crate::linalg::simd::Simd;
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
    let zero = s.splat(0.0);
    for (j, &ld) in log_det.iter().enumerate() {
        let mu = &means[j * d..(j + 1) * d];
        let scale = s.splat(-0.5 * prec[j] * prec[j]);
        let c0 = s.splat(-0.5 * d as f64 * LN_2PI + ld);
        for ch in 0..nch {
            let mut sq = zero;
            for f in 0..d {
                let z = s.sub(s.load(&xt[f * nch + ch]), s.splat(mu[f]));
                sq = s.madd(z, z, sq);
            }
            s.store(&mut lp[j * nch + ch], s.madd(sq, scale, c0));
        }
    }
}

/// Counts, `Σ w·(x−c)` per feature and `Σ w·‖x−c‖²` per component.
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
        let mut q_all = s.splat(0.0);
        for f in 0..d {
            let (sa, q) = centred_sums(s, xt, w, nch, f, shifts[j * d + f]);
            first[j * d + f] += s.hsum(sa);
            q_all = s.add(q_all, q);
        }
        second[j] += s.hsum(q_all);
    }
}

/// The mean over features of the diagonal variances, as scikit-learn does,
/// into `out`; with a prior, `(q − |s|²/N + ψ)/((N + ν)·d) + reg` (its `scale`
/// ψ, summed over features, and `dof` ν per component).
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
        let s2: f64 = first[j * d..(j + 1) * d].iter().map(|s| s * s).sum();
        let scatter = second[j] - s2 / n;
        out[j] = match prior {
            None => scatter / (n * d as f64),
            Some(p) => (scatter + p.scale[j]) / ((n + p.dof[j]) * d as f64),
        } + reg;
    }
}
