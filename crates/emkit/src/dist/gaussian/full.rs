//! Full covariance: each component has its own `d × d` matrix.

use super::{lane_total, PriorTerms};
use crate::linalg::lanes::{Lane, LANES, ZERO};
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

/// `out[ch] = −½(d ln 2π + ‖diffᵀU − m‖²) + ln det U` for lanes `diff` (the
/// rows less a shift `z`), an upper-triangular precision factor `u` (zeros
/// below the diagonal) and `m = (μ − z)ᵀU` ([`project`]).
///
/// Columns of `U` go in groups of eight (then four, then one): each load of
/// `diff` feeds eight independent multiply-add chains, enough to cover the
/// latency of the FMA units.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn log_density_lanes<S: Simd>(
    s: S,
    diff: &[Lane],
    nch: usize,
    d: usize,
    u: &[f64],
    m: &[f64],
    log_det: f64,
    out: &mut [Lane],
) {
    let c0 = s.splat(-0.5 * d as f64 * LN_2PI + log_det);
    let half = s.splat(-0.5);
    // Three lanes (24 rows) at a time: each broadcast of U feeds all three.
    let mut ch = 0;
    while ch + 3 <= nch {
        let maha = mahalanobis::<S, 3>(s, diff, nch, ch, d, u, m);
        for l in 0..3 {
            s.store(&mut out[ch + l], s.madd(maha[l], half, c0));
        }
        ch += 3;
    }
    if ch + 2 == nch {
        let maha = mahalanobis::<S, 2>(s, diff, nch, ch, d, u, m);
        s.store(&mut out[ch], s.madd(maha[0], half, c0));
        s.store(&mut out[ch + 1], s.madd(maha[1], half, c0));
    } else if ch < nch {
        let maha = mahalanobis::<S, 1>(s, diff, nch, ch, d, u, m);
        s.store(&mut out[ch], s.madd(maha[0], half, c0));
    }
}

/// `‖diffᵀU − m‖²` for `L` lanes starting at `ch`, columns in groups of 8, 4, 1.
#[inline(always)]
fn mahalanobis<S: Simd, const L: usize>(
    s: S,
    diff: &[Lane],
    nch: usize,
    ch: usize,
    d: usize,
    u: &[f64],
    m: &[f64],
) -> [S::V; L] {
    let mut maha = [s.splat(0.0); L];
    let mut col = 0;
    while col + 8 <= d {
        maha = column_group::<S, 8, L>(s, diff, nch, ch, d, u, m, col, maha);
        col += 8;
    }
    while col + 4 <= d {
        maha = column_group::<S, 4, L>(s, diff, nch, ch, d, u, m, col, maha);
        col += 4;
    }
    while col < d {
        maha = column_group::<S, 1, L>(s, diff, nch, ch, d, u, m, col, maha);
        col += 1;
    }
    maha
}

/// Adds `Σ_{c in col..col+G} (Σ_f diff_f U_fc − m_c)²` to `maha` for `L` lanes
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
    m: &[f64],
    col: usize,
    maha: [S::V; L],
) -> [S::V; L] {
    let mut start = [s.splat(0.0); G];
    for g in 0..G {
        start[g] = s.splat(-m[col + g]);
    }
    let mut y = [start; L];
    let rows = diff.chunks_exact(nch).zip(u.chunks_exact(d)).take(col + G);
    for (lanes, u_row) in rows {
        let (lanes, r) = (&lanes[ch..ch + L], &u_row[col..col + G]);
        let x: [S::V; L] = std::array::from_fn(|l| s.load(&lanes[l]));
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

/// The mean of the `k` rows of `means` (`k × d`), into `z`: the shift every
/// component's Mahalanobis products share.
#[inline(always)]
pub(super) fn common_shift(means: &[f64], d: usize, z: &mut [f64]) {
    let k = means.len() / d;
    z.fill(0.0);
    for mean in means.chunks_exact(d) {
        for (zf, &v) in z.iter_mut().zip(mean) {
            *zf += v;
        }
    }
    for zf in z.iter_mut() {
        *zf /= k as f64;
    }
}

/// `m = (μ − z)ᵀU` for an upper-triangular `u`, into `m` (a loop over
/// independent entries, so every build gives the same bits).
#[inline(always)]
pub(super) fn project(mean: &[f64], z: &[f64], u: &[f64], d: usize, m: &mut [f64]) {
    m.fill(0.0);
    for f in 0..d {
        let v = mean[f] - z[f];
        let row = &u[f * d..(f + 1) * d];
        for c in f..d {
            m[c] += v * row[c];
        }
    }
}

/// Log-densities of every component: `lp[j·nch + ch]`.
///
/// The rows are shifted once by the mean of the means `z`, and each component
/// subtracts `(μ_j − z)ᵀU_j` from the product instead of centring the block on
/// its own mean: rounding then grows with `|μ_j − z|/σ` (scikit-learn, which
/// does not shift, with `|μ_j|/σ`). `work` holds at least `2d` values.
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
    work: &mut [f64],
) {
    let (z, m) = work[..2 * d].split_at_mut(d);
    common_shift(means, d, z);
    centre(s, xt, nch, z, diff);
    for (j, &ld) in log_det.iter().enumerate() {
        let u = &prec[j * d * d..(j + 1) * d * d];
        project(&means[j * d..(j + 1) * d], z, u, d, m);
        log_density_lanes(s, diff, nch, d, u, m, ld, &mut lp[j * nch..(j + 1) * nch]);
    }
}

/// Adds `Σ w·diff` and the upper triangle of `Σ w·diff·diffᵀ` into `first`
/// (`d`) and `second` (`d × d`).
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
    first: &mut [f64],
    second: &mut [f64],
) {
    let zero = s.splat(0.0);
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

/// From this many features on, the second moments of full and tied covariances
/// are accumulated by [`scatter_rows`]; below it, by [`scatter_lanes`].
pub(crate) const ROW_SCATTER_MIN_D: usize = 32;

/// Lanes per packed row in [`scatter_rows`].
pub(crate) fn packed_lanes(d: usize) -> usize {
    d.div_ceil(LANES)
}

/// A block of rows in both layouts, with the scratch that accumulating its
/// statistics uses.
pub(crate) struct Block<'a> {
    /// `d × nch` lanes: the block, transposed.
    pub xt: &'a [Lane],
    /// `n × d`, row-major: the same rows as given.
    pub rows: &'a [f64],
    pub n: usize,
    pub nch: usize,
    pub d: usize,
    /// `d × nch` lanes for [`scatter_lanes`].
    pub diff: &'a mut [Lane],
    /// For [`scatter_rows`] (empty below [`ROW_SCATTER_MIN_D`]): the rows
    /// packed, `n × packed_lanes(d)` lanes; a strip of `n` lanes; and
    /// `3 × packed_lanes(d)` lanes for per-component vectors.
    pub packed: &'a mut [Lane],
    pub strip: &'a mut [Lane],
    pub small: &'a mut [Lane],
}

/// Statistics of every component about `shifts`, with responsibilities `resp`:
/// second moments per component (`k × d × d`), or, with `pooled`, summed over
/// components into one `d × d` (the tied covariance's statistics).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn accumulate<S: Simd>(
    s: S,
    mut block: Block<'_>,
    shifts: &[f64],
    resp: &[Lane],
    counts: &mut [f64],
    first: &mut [f64],
    second: &mut [f64],
    pooled: bool,
) {
    let (n, nch, d) = (block.n, block.nch, block.d);
    let dl = packed_lanes(d);
    let by_rows = d >= ROW_SCATTER_MIN_D
        && block.packed.len() >= n * dl
        && block.strip.len() >= n
        && block.small.len() >= 3 * dl;
    if by_rows {
        pack_rows(s, &mut block, shifts);
    }
    for (j, count) in counts.iter_mut().enumerate() {
        let shift = &shifts[j * d..(j + 1) * d];
        let w = &resp[j * nch..(j + 1) * nch];
        let at = if pooled { 0 } else { j * d * d };
        let (first, second) = (&mut first[j * d..(j + 1) * d], &mut second[at..at + d * d]);
        *count += lane_total(s, w);
        if by_rows {
            scatter_rows(s, &mut block, shift, w, first, second);
        } else {
            centre(s, block.xt, nch, shift, block.diff);
            scatter_lanes(s, block.diff, w, nch, d, first, second);
        }
    }
}

/// Packs the block's rows, row-major and `packed_lanes(d)` lanes per row
/// (zeros after feature `d`), about one shift `z` common to all components
/// (the mean of their shifts), and leaves `z` in `block.small[0..dl]`.
#[inline(always)]
fn pack_rows<S: Simd>(s: S, block: &mut Block<'_>, shifts: &[f64]) {
    let (n, d) = (block.n, block.d);
    let dl = packed_lanes(d);
    let z = block.small[..dl].as_flattened_mut();
    z.fill(0.0);
    common_shift(shifts, d, &mut z[..d]);
    let full = d / LANES;
    for r in 0..n {
        let x = &block.rows[r * d..(r + 1) * d];
        let out = &mut block.packed[r * dl..(r + 1) * dl];
        for t in 0..full {
            let v = s.sub(s.load(lane_at(x, t * LANES)), s.load(&block.small[t]));
            s.store(&mut out[t], v);
        }
        if full < dl {
            let mut tail = ZERO;
            tail[..d - full * LANES].copy_from_slice(&x[full * LANES..]);
            s.store(
                &mut out[full],
                s.sub(s.load(&tail), s.load(&block.small[full])),
            );
        }
    }
}

/// The eight values of `x` from `at` on, as a lane.
#[inline(always)]
fn lane_at(x: &[f64], at: usize) -> &Lane {
    x[at..at + LANES].try_into().expect("eight values")
}

/// Adds `Σ w·(x − c)` and the upper triangle of `Σ w·(x − c)(x − c)ᵀ` over the
/// rows of a block packed by [`pack_rows`] into `first` (`d`) and `second`
/// (`d × d`), with vectors running along features instead of rows.
///
/// With `z` the packing's common shift, `Σ w(x−c)(x−c)ᵀ = Σ w(x−c)(x−z)ᵀ +
/// f (z−c)ᵀ`, `f = Σ w(x−c)`: the right factor is the packed rows, shared by
/// every component, and only the left one, `w·(x−c)`, is built per component,
/// eight features at a time (a strip of one lane per row, which stays in L1).
/// For those eight result rows `b` (the strip, broadcast value by value) and up
/// to three lanes of columns `a ≥ b` (loaded from the packed rows), 24 sums
/// stay in registers over every row of the block, so nothing is summed across
/// a vector. The correction `f (z−c)ᵀ` is small near convergence (`c` is the
/// previous mean), so rounding grows with `|μ − z|/σ`, not its square as it
/// would for moments about `z` alone. Every entry is a chain of multiply-adds
/// over the rows in order, whatever the vector width.
#[inline(always)]
pub(super) fn scatter_rows<S: Simd>(
    s: S,
    block: &mut Block<'_>,
    shift: &[f64],
    w: &[Lane],
    first: &mut [f64],
    second: &mut [f64],
) {
    let (n, d) = (block.n, block.d);
    let dl = packed_lanes(d);
    let full = d / LANES;
    let (z, rest) = block.small.split_at_mut(dl);
    let (offset, sums) = rest.split_at_mut(dl);
    // offset = c − z, lane by lane, zero-padded.
    for t in 0..dl {
        let mut c = ZERO;
        let m = (d - t * LANES).min(LANES);
        c[..m].copy_from_slice(&shift[t * LANES..t * LANES + m]);
        s.store(&mut offset[t], s.sub(s.load(&c), s.load(&z[t])));
    }
    let packed = &block.packed[..n * dl];
    let strip = &mut block.strip[..n];
    for tb in 0..dl {
        // strip[r] = w_r·(x_r − c) for features 8·tb .. 8·tb + 8, and its sum.
        let off = s.load(&offset[tb]);
        let zero = s.splat(0.0);
        let mut f = [zero; 4];
        // Four running sums (rows r mod 4), unrolled so they stay in registers.
        // (No closures here: they would not inherit the caller's target features.)
        let quads = n / 4;
        for (q, out) in strip[..quads * 4].chunks_exact_mut(4).enumerate() {
            for i in 0..4 {
                let r = q * 4 + i;
                let v = weighted_offset(s, &packed[r * dl + tb], off, w[r / LANES][r % LANES]);
                s.store(&mut out[i], v);
                f[i] = s.add(f[i], v);
            }
        }
        for r in quads * 4..n {
            let v = weighted_offset(s, &packed[r * dl + tb], off, w[r / LANES][r % LANES]);
            s.store(&mut strip[r], v);
            f[r - quads * 4] = s.add(f[r - quads * 4], v);
        }
        s.store(&mut sums[tb], s.add(s.add(f[0], f[1]), s.add(f[2], f[3])));
        let strip = &*strip;
        // Panels of three lanes, but 4 = 2 + 2 rather than 3 + 1: a one-lane
        // tile has too few independent sums to keep the FMA units busy.
        let mut ta = tb;
        while ta < dl {
            let step = match dl - ta {
                1 => 1,
                2 | 4 => 2,
                _ => 3,
            };
            match step {
                1 => row_tile::<S, 1>(s, packed, strip, n, d, tb, ta, second),
                2 => row_tile::<S, 2>(s, packed, strip, n, d, tb, ta, second),
                _ => row_tile::<S, 3>(s, packed, strip, n, d, tb, ta, second),
            }
            ta += step;
        }
    }
    // first += f; second[b][a] += f_b·(z_a − c_a) for a ≥ b.
    for b in 0..d {
        let fb = sums[b / LANES][b % LANES];
        first[b] += fb;
        let row = &mut second[b * d..(b + 1) * d];
        let neg = s.splat(-fb);
        for t in b / LANES..dl {
            let a0 = t * LANES;
            if a0 >= b && t < full {
                let o: &mut Lane = (&mut row[a0..a0 + LANES]).try_into().expect("eight values");
                s.store(o, s.madd(neg, s.load(&offset[t]), s.load(o)));
            } else {
                for a in a0.max(b)..d.min(a0 + LANES) {
                    row[a] -= fb * offset[t][a - a0];
                }
            }
        }
    }
}

/// `w·(x − off)`.
#[inline(always)]
fn weighted_offset<S: Simd>(s: S, x: &Lane, off: S::V, w: f64) -> S::V {
    s.mul(s.splat(w), s.sub(s.load(x), off))
}

/// One tile of [`scatter_rows`]: result rows `b = 8·tb .. 8·tb + 8` (the
/// strip) against columns `a` in packed lanes `ta .. ta + MA`, over every row;
/// entries with `a ≥ b` and `a < d` are added into `second[b·d + a]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_tile<S: Simd, const MA: usize>(
    s: S,
    packed: &[Lane],
    strip: &[Lane],
    n: usize,
    d: usize,
    tb: usize,
    ta: usize,
    second: &mut [f64],
) {
    let dl = packed_lanes(d);
    let mut acc = [[s.splat(0.0); MA]; LANES];
    for (row, pb) in packed[..n * dl].chunks_exact(dl).zip(&strip[..n]) {
        let row = &row[ta..ta + MA];
        let x: [S::V; MA] = std::array::from_fn(|m| s.load(&row[m]));
        for (out, &p) in acc.iter_mut().zip(pb) {
            let b = s.splat(p);
            for m in 0..MA {
                out[m] = s.madd(x[m], b, out[m]);
            }
        }
    }
    let mut lane = ZERO;
    for m in 0..MA {
        let a0 = (ta + m) * LANES;
        for (i, sums) in acc.iter().enumerate() {
            let b = tb * LANES + i;
            if b >= d {
                break;
            }
            let out = &mut second[b * d..(b + 1) * d];
            if a0 >= b && a0 + LANES <= d {
                let o: &mut Lane = (&mut out[a0..a0 + LANES]).try_into().expect("eight values");
                s.store(o, s.add(s.load(o), sums[m]));
            } else {
                s.store(&mut lane, sums[m]);
                for a in a0.max(b)..d.min(a0 + LANES) {
                    out[a] += lane[a - a0];
                }
            }
        }
    }
}

/// Covariances `(S − s sᵀ/N)/N + reg·I` from shifted sums (upper triangles),
/// into `out`; with a prior, `(S − s sᵀ/N + Ψ)/(N + ν) + reg·I` (the upper
/// triangle of its `scale` Ψ, one `dof` ν per component).
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
        let s = &first[j * d..(j + 1) * d];
        let upper = &second[j * d * d..(j + 1) * d * d];
        let c = &mut out[j * d * d..(j + 1) * d * d];
        for a in 0..d {
            for b in a..d {
                let scatter = upper[a * d + b] - s[a] * s[b] / n;
                let v = match prior {
                    None => scatter / n,
                    Some(p) => (scatter + p.scale[j * d * d + a * d + b]) / (n + p.dof[j]),
                };
                c[a * d + b] = v;
                c[b * d + a] = v;
            }
            c[a * d + a] += reg;
        }
    }
}
