//! Full covariance: each component has its own `d × d` matrix.

use super::lane_total;
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
///
/// Columns of `U` go in groups of eight (then four, then one): each load of
/// `diff` feeds eight independent multiply-add chains, enough to cover the
/// latency of the FMA units.
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
    let half = s.splat(-0.5);
    // Two lanes (sixteen rows) at a time: each broadcast of U feeds both.
    let mut ch = 0;
    while ch + 2 <= nch {
        let maha = mahalanobis::<S, 2>(s, diff, nch, ch, d, u);
        s.store(&mut out[ch], s.madd(maha[0], half, c0));
        s.store(&mut out[ch + 1], s.madd(maha[1], half, c0));
        ch += 2;
    }
    if ch < nch {
        let maha = mahalanobis::<S, 1>(s, diff, nch, ch, d, u);
        s.store(&mut out[ch], s.madd(maha[0], half, c0));
    }
}

/// `‖diffᵀU‖²` for `L` lanes starting at `ch`, columns in groups of 8, 4, 1.
#[inline(always)]
fn mahalanobis<S: Simd, const L: usize>(
    s: S,
    diff: &[Lane],
    nch: usize,
    ch: usize,
    d: usize,
    u: &[f64],
) -> [S::V; L] {
    let mut maha = [s.splat(0.0); L];
    let mut col = 0;
    while col + 8 <= d {
        maha = column_group::<S, 8, L>(s, diff, nch, ch, d, u, col, maha);
        col += 8;
    }
    while col + 4 <= d {
        maha = column_group::<S, 4, L>(s, diff, nch, ch, d, u, col, maha);
        col += 4;
    }
    while col < d {
        maha = column_group::<S, 1, L>(s, diff, nch, ch, d, u, col, maha);
        col += 1;
    }
    maha
}

/// Adds `Σ_{c in col..col+G} (Σ_f diff_f U_fc)²` to `maha` for `L` lanes
/// starting at `ch`. Rows of `U` below a column's diagonal are zero, so running
/// `f` to `col + G − 1` for every column of the group adds exact zeros.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn column_group<S: Simd, const G: usize, const L: usize>(
    s: S,
    diff: &[Lane],
    nch: usize,
    ch: usize,
    d: usize,
    u: &[f64],
    col: usize,
    maha: [S::V; L],
) -> [S::V; L] {
    let mut y = [[s.splat(0.0); G]; L];
    for f in 0..col + G {
        let r = &u[f * d + col..f * d + col + G];
        let x: [S::V; L] = std::array::from_fn(|l| s.load(&diff[f * nch + ch + l]));
        for g in 0..G {
            let ug = s.splat(r[g]);
            for l in 0..L {
                y[l][g] = s.madd(x[l], ug, y[l][g]);
            }
        }
    }
    let mut maha = maha;
    for l in 0..L {
        for g in 0..G {
            maha[l] = s.madd(y[l][g], y[l][g], maha[l]);
        }
    }
    maha
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
/// `count`, `first` (`d`) and `second` (`d × d`).
///
/// The second moments go in 4 × 4 tiles of (a, b): per lane, four loads of
/// `diff_a` (scaled by `w`) and four of `diff_b` feed sixteen independent
/// multiply-adds. Each row of `diff` is 2 KiB, so a block of 64 features is
/// larger than L1; tiles read each row once per four partners instead of once
/// per partner, which is what keeps this loop off the L2 bandwidth limit.
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
) {
    let zero = s.splat(0.0);
    *count += lane_total(s, &w[..nch]);
    for a in 0..d {
        let mut sa = zero;
        for ch in 0..nch {
            sa = s.add(sa, s.mul(s.load(&w[ch]), s.load(&diff[a * nch + ch])));
        }
        first[a] += s.hsum(sa);
    }
    let mut a0 = 0;
    while a0 < d {
        let mut b0 = a0;
        while b0 < d {
            if a0 + 4 <= d && b0 + 4 <= d {
                tile::<S, 4, 4>(s, diff, w, nch, d, a0, b0, second);
            } else {
                for a in a0..(a0 + 4).min(d) {
                    for b in b0.max(a)..(b0 + 4).min(d) {
                        tile::<S, 1, 1>(s, diff, w, nch, d, a, b, second);
                    }
                }
            }
            b0 += 4;
        }
        a0 += 4;
    }
}

/// `second[a][b] += Σ_ch (w·diff_a)·diff_b` for `a in a0..a0+GA`, `b in
/// b0..b0+GB`, `b ≥ a` (the upper triangle; a diagonal tile's lower half is
/// computed and dropped).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<S: Simd, const GA: usize, const GB: usize>(
    s: S,
    diff: &[Lane],
    w: &[Lane],
    nch: usize,
    d: usize,
    a0: usize,
    b0: usize,
    second: &mut [f64],
) {
    let mut acc = [[s.splat(0.0); GB]; GA];
    for ch in 0..nch {
        let wv = s.load(&w[ch]);
        let wa: [S::V; GA] = std::array::from_fn(|i| s.mul(wv, s.load(&diff[(a0 + i) * nch + ch])));
        let db: [S::V; GB] = std::array::from_fn(|j| s.load(&diff[(b0 + j) * nch + ch]));
        for i in 0..GA {
            for j in 0..GB {
                acc[i][j] = s.madd(wa[i], db[j], acc[i][j]);
            }
        }
    }
    for i in 0..GA {
        for j in 0..GB {
            if b0 + j >= a0 + i {
                second[(a0 + i) * d + b0 + j] += s.hsum(acc[i][j]);
            }
        }
    }
}

/// Statistics of every component about `shifts`, with responsibilities `resp`:
/// second moments per component (`k × d × d`), or, with `pooled`, summed over
/// components into one `d × d` (the tied covariance's statistics).
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
    pooled: bool,
) {
    for (j, count) in counts.iter_mut().enumerate() {
        centre(s, xt, nch, &shifts[j * d..(j + 1) * d], diff);
        let at = if pooled { 0 } else { j * d * d };
        scatter_lanes(
            s,
            diff,
            &resp[j * nch..(j + 1) * nch],
            nch,
            d,
            count,
            &mut first[j * d..(j + 1) * d],
            &mut second[at..at + d * d],
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
