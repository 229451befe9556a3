//! Full covariance: each component has its own `d × d` matrix.

use crate::linalg::lanes::{hsum, mul_acc, mul_acc_scalar, Lane, LANES, ZERO};
use crate::linalg::{cholesky_lower, precision_cholesky_from_lower, LN_2PI};

/// Factors one `d × d` covariance into the upper precision Cholesky factor `out`;
/// returns its log-determinant, or `None` when not positive definite. `scratch`
/// holds at least `d × d` values.
pub(super) fn factor(cov: &[f64], d: usize, out: &mut [f64], scratch: &mut [f64]) -> Option<f64> {
    let l = &mut scratch[..d * d];
    cholesky_lower(cov, d, l).ok()?;
    let log_det = precision_cholesky_from_lower(l, d, out);
    (log_det.is_finite() && out.iter().all(|v| v.is_finite())).then_some(log_det)
}

/// `diff[f] = x[f] − mean[f]` for every lane of a transposed block.
#[inline(always)]
pub(super) fn centre(xt: &[Lane], nch: usize, mean: &[f64], diff: &mut [Lane]) {
    for (f, &m) in mean.iter().enumerate() {
        let src = &xt[f * nch..(f + 1) * nch];
        let dst = &mut diff[f * nch..(f + 1) * nch];
        for (o, x) in dst.iter_mut().zip(src) {
            for l in 0..LANES {
                o[l] = x[l] - m;
            }
        }
    }
}

/// `out[ch] = −½(d ln 2π + ‖diffᵀU‖²) + ln det U` for centred lanes `diff`
/// and an upper-triangular precision factor `u`.
#[inline(always)]
pub(super) fn log_density_lanes(diff: &[Lane], nch: usize, d: usize, u: &[f64], log_det: f64, out: &mut [Lane]) {
    let c0 = -0.5 * d as f64 * LN_2PI + log_det;
    for (ch, o) in out.iter_mut().enumerate().take(nch) {
        let mut maha = ZERO;
        for col in 0..d {
            let mut y = ZERO;
            for f in 0..=col {
                mul_acc_scalar(&mut y, &diff[f * nch + ch], u[f * d + col]);
            }
            mul_acc(&mut maha, &y, &y);
        }
        for l in 0..LANES {
            o[l] = c0 - 0.5 * maha[l];
        }
    }
}

/// Log-densities of every component: `lp[j·nch + ch]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn log_densities(
    xt: &[Lane],
    nch: usize,
    d: usize,
    means: &[f64],
    prec: &[f64],
    log_det: &[f64],
    diff: &mut [Lane],
    lp: &mut [Lane],
) {
    for (j, &ld) in log_det.iter().enumerate() {
        centre(xt, nch, &means[j * d..(j + 1) * d], diff);
        log_density_lanes(diff, nch, d, &prec[j * d * d..(j + 1) * d * d], ld, &mut lp[j * nch..(j + 1) * nch]);
    }
}

/// Adds `Σ w`, `Σ w·diff` and the upper triangle of `Σ w·diff·diffᵀ` into
/// `count`, `first` (`d`) and `second` (`d × d`); `tmp` holds `nch` lanes.
#[inline(always)]
pub(super) fn scatter_lanes(
    diff: &[Lane],
    w: &[Lane],
    nch: usize,
    d: usize,
    count: &mut f64,
    first: &mut [f64],
    second: &mut [f64],
    tmp: &mut [Lane],
) {
    let mut n = ZERO;
    for wl in w {
        for l in 0..LANES {
            n[l] += wl[l];
        }
    }
    *count += hsum(&n);
    for a in 0..d {
        let da = &diff[a * nch..(a + 1) * nch];
        let mut s = ZERO;
        for ch in 0..nch {
            for l in 0..LANES {
                tmp[ch][l] = w[ch][l] * da[ch][l];
                s[l] += tmp[ch][l];
            }
        }
        first[a] += hsum(&s);
        for b in a..d {
            let db = &diff[b * nch..(b + 1) * nch];
            let mut acc = ZERO;
            for ch in 0..nch {
                mul_acc(&mut acc, &tmp[ch], &db[ch]);
            }
            second[a * d + b] += hsum(&acc);
        }
    }
}

/// Statistics of every component about `shifts`, with responsibilities `resp`.
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
    diff: &mut [Lane],
    tmp: &mut [Lane],
) {
    for (j, count) in counts.iter_mut().enumerate() {
        centre(xt, nch, &shifts[j * d..(j + 1) * d], diff);
        scatter_lanes(
            diff,
            &resp[j * nch..(j + 1) * nch],
            nch,
            d,
            count,
            &mut first[j * d..(j + 1) * d],
            &mut second[j * d * d..(j + 1) * d * d],
            tmp,
        );
    }
}

/// Covariances `(S − s sᵀ/N)/N + reg·I` from shifted sums (upper triangles), into `out`.
pub(super) fn from_stats(counts: &[f64], first: &[f64], second: &[f64], d: usize, reg: f64, out: &mut [f64]) {
    for (j, &n) in counts.iter().enumerate() {
        let s = &first[j * d..(j + 1) * d];
        let upper = &second[j * d * d..(j + 1) * d * d];
        let c = &mut out[j * d * d..(j + 1) * d * d];
        for a in 0..d {
            for b in a..d {
                let v = (upper[a * d + b] - s[a] * s[b] / n) / n;
                c[a * d + b] = v;
                c[b * d + a] = v;
            }
            c[a * d + a] += reg;
        }
    }
}
