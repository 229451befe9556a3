//! Full covariance: each component has its own `d × d` matrix.

use crate::linalg::lanes::Lane;
use crate::linalg::simd::Simd;
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
pub(super) fn centre<S: Simd>(s: S, xt: &[Lane], nch: usize, mean: &[f64], diff: &mut [Lane]) {
    for (f, &m) in mean.iter().enumerate() {
        let mv = s.splat(m);
        for ch in 0..nch {
            let v = s.sub(s.load(&xt[f * nch + ch]), mv);
            s.store(&mut diff[f * nch + ch], v);
        }
    }
}

/// `out[ch] = −½(d ln 2π + ‖diffᵀU‖²) + ln det U` for centred lanes `diff`
/// and an upper-triangular precision factor `u` (zeros below the diagonal).
/// Four columns of `U` at a time share each load of `diff`.
#[inline(always)]
pub(super) fn log_density_lanes<S: Simd>(
    s: S,
    diff: &[Lane],
    nch: usize,
    d: usize,
    u: &[f64],
    log_det: f64,
    out: &mut [Lane],
) {
    let c0 = s.splat(-0.5 * d as f64 * LN_2PI + log_det);
    let (zero, half) = (s.splat(0.0), s.splat(-0.5));
    for (ch, o) in out.iter_mut().enumerate().take(nch) {
        let mut maha = zero;
        let mut col = 0;
        while col + 4 <= d {
            let (mut y0, mut y1, mut y2, mut y3) = (zero, zero, zero, zero);
            // Rows of U below a column's diagonal are zero, so running f to
            // col + 3 for all four columns adds exact zeros.
            for f in 0..col + 4 {
                let x = s.load(&diff[f * nch + ch]);
                let r = &u[f * d + col..f * d + col + 4];
                y0 = s.madd(x, s.splat(r[0]), y0);
                y1 = s.madd(x, s.splat(r[1]), y1);
                y2 = s.madd(x, s.splat(r[2]), y2);
                y3 = s.madd(x, s.splat(r[3]), y3);
            }
            maha = s.madd(y0, y0, maha);
            maha = s.madd(y1, y1, maha);
            maha = s.madd(y2, y2, maha);
            maha = s.madd(y3, y3, maha);
            col += 4;
        }
        while col < d {
            let mut y = zero;
            for f in 0..=col {
                y = s.madd(s.load(&diff[f * nch + ch]), s.splat(u[f * d + col]), y);
            }
            maha = s.madd(y, y, maha);
            col += 1;
        }
        s.store(o, s.madd(maha, half, c0));
    }
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
    diff: &mut [Lane],
    lp: &mut [Lane],
) {
    for (j, &ld) in log_det.iter().enumerate() {
        centre(s, xt, nch, &means[j * d..(j + 1) * d], diff);
        log_density_lanes(
            s,
            diff,
            nch,
            d,
            &prec[j * d * d..(j + 1) * d * d],
            ld,
            &mut lp[j * nch..(j + 1) * nch],
        );
    }
}

/// Adds `Σ w`, `Σ w·diff` and the upper triangle of `Σ w·diff·diffᵀ` into
/// `count`, `first` (`d`) and `second` (`d × d`); `tmp` holds `nch` lanes.
/// Four columns at a time share each load of `w·diff_a`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn scatter_lanes<S: Simd>(
    s: S,
    diff: &[Lane],
    w: &[Lane],
    nch: usize,
    d: usize,
    count: &mut f64,
    first: &mut [f64],
    second: &mut [f64],
    tmp: &mut [Lane],
) {
    let zero = s.splat(0.0);
    let mut n = zero;
    for wl in &w[..nch] {
        n = s.add(n, s.load(wl));
    }
    *count += s.hsum(n);
    for a in 0..d {
        let mut sa = zero;
        for ch in 0..nch {
            let t = s.mul(s.load(&w[ch]), s.load(&diff[a * nch + ch]));
            s.store(&mut tmp[ch], t);
            sa = s.add(sa, t);
        }
        first[a] += s.hsum(sa);
        let mut b = a;
        while b + 4 <= d {
            let (mut c0, mut c1, mut c2, mut c3) = (zero, zero, zero, zero);
            for ch in 0..nch {
                let t = s.load(&tmp[ch]);
                c0 = s.madd(t, s.load(&diff[b * nch + ch]), c0);
                c1 = s.madd(t, s.load(&diff[(b + 1) * nch + ch]), c1);
                c2 = s.madd(t, s.load(&diff[(b + 2) * nch + ch]), c2);
                c3 = s.madd(t, s.load(&diff[(b + 3) * nch + ch]), c3);
            }
            second[a * d + b] += s.hsum(c0);
            second[a * d + b + 1] += s.hsum(c1);
            second[a * d + b + 2] += s.hsum(c2);
            second[a * d + b + 3] += s.hsum(c3);
            b += 4;
        }
        while b < d {
            let mut c = zero;
            for ch in 0..nch {
                c = s.madd(s.load(&tmp[ch]), s.load(&diff[b * nch + ch]), c);
            }
            second[a * d + b] += s.hsum(c);
            b += 1;
        }
    }
}

/// Statistics of every component about `shifts`, with responsibilities `resp`.
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
    diff: &mut [Lane],
    tmp: &mut [Lane],
) {
    for (j, count) in counts.iter_mut().enumerate() {
        centre(s, xt, nch, &shifts[j * d..(j + 1) * d], diff);
        scatter_lanes(
            s,
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
pub(super) fn from_stats(
    counts: &[f64],
    first: &[f64],
    second: &[f64],
    d: usize,
    reg: f64,
    out: &mut [f64],
) {
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
