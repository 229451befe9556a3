//! Tied covariance: one `d × d` matrix shared by all components. Its statistics
//! are the full kernel's, pooled over components (`full::accumulate`).

use super::full::{centre, common_shift, log_density_lanes, project};
use super::PriorTerms;
use crate::linalg::lanes::Lane;
use crate::linalg::simd::Simd;

/// Log-densities of every component with the shared factor `u`: `lp[j·nch + ch]`
/// (rows shifted once, as in the full kernel); `work` holds at least `2d` values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn log_densities<S: Simd>(
    s: S,
    xt: &[Lane],
    nch: usize,
    d: usize,
    k: usize,
    means: &[f64],
    u: &[f64],
    log_det: f64,
    diff: &mut [Lane],
    lp: &mut [Lane],
    work: &mut [f64],
) {
    let (z, m) = work[..2 * d].split_at_mut(d);
    common_shift(&means[..k * d], d, z);
    centre(s, xt, nch, z, diff);
    for j in 0..k {
        project(&means[j * d..(j + 1) * d], z, u, d, m);
        log_density_lanes(
            s,
            diff,
            nch,
            d,
            u,
            m,
            log_det,
            &mut lp[j * nch..(j + 1) * nch],
        );
    }
}

/// The pooled within-component covariance `(Σ_j S_j − s_j s_jᵀ/N_j) / Σ N_j + reg·I`,
/// into `out`; with a prior, `(Σ_j (S_j − s_j s_jᵀ/N_j) + Ψ) / (Σ N_j + ν) + reg·I`
/// (the upper triangle of its `scale` Ψ, its one `dof` ν).
pub(super) fn from_stats(
    counts: &[f64],
    first: &[f64],
    second: &[f64],
    d: usize,
    reg: f64,
    prior: Option<PriorTerms<'_>>,
    out: &mut [f64],
) {
    for a in 0..d {
        for b in a..d {
            out[a * d + b] = second[a * d + b];
        }
    }
    for (j, &n) in counts.iter().enumerate() {
        let s = &first[j * d..(j + 1) * d];
        for a in 0..d {
            for b in a..d {
                out[a * d + b] -= s[a] * s[b] / n;
            }
        }
    }
    let total: f64 = counts.iter().sum();
    for a in 0..d {
        for b in a..d {
            let v = match prior {
                None => out[a * d + b] / total,
                Some(p) => (out[a * d + b] + p.scale[a * d + b]) / (total + p.dof[0]),
            };
            out[a * d + b] = v;
            out[b * d + a] = v;
        }
        out[a * d + a] += reg;
    }
}
