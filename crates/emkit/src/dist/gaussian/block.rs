//! The fused Gaussian block kernel: for a block of rows, the log-densities of all
//! components, the log-sum-exp, the responsibilities and (during a fit) the
//! M-step statistics, in one pass over the block while it sits in cache.
//!
//! The block is transposed into row lanes ([`Lane`]) so every loop runs across
//! rows and vectorises. On x86-64 the whole kernel is compiled twice more, for
//! AVX2 + FMA and for AVX-512, and the widest build the processor runs is
//! chosen at run time. Those two use fused multiply-adds and run the same
//! operations per lane, so they give the same bits; the portable build rounds
//! products separately and agrees with them to rounding, which a test checks.

use super::stats::ComponentStats;
use super::ROW_SCATTER_MIN_D;
use super::{accumulate_block, packed_lanes, Block, CovarianceType, GaussianComponents};
use crate::data::DataRef;
use crate::linalg::lanes::{Lane, LaneBuf, LANES, ZERO};
#[cfg(target_arch = "x86_64")]
use crate::linalg::simd::{Avx2, Avx512};
use crate::linalg::simd::{Portable, Simd};

/// The most rows evaluated together: the capacity of a block's scratch.
pub(crate) const BLOCK_ROWS: usize = 512;

/// Rows per block for `d` features: small enough that a block's `rows × k`
/// scratch stays in cache, and fixed by the data's shape so that results never
/// depend on the thread count. From [`ROW_SCATTER_MIN_D`] features on, the
/// blocks are twice as long: each block visits every component's precision
/// factor and second moments (`2·k·d²` values, more than L2 holds at d = 64,
/// k = 32), and longer blocks halve those trips (W3 of `bench/`: 10% less time
/// per E-step; at d = 16 and d = 2 the longer blocks were 6% and 11% slower).
pub(crate) fn block_rows(d: usize) -> usize {
    if d >= ROW_SCATTER_MIN_D {
        BLOCK_ROWS
    } else {
        BLOCK_ROWS / 2
    }
}

/// Lanes per feature in a full block of the shorter kind (`block_rows`), which
/// small dimensions use: the loops over them get a constant trip count.
const FULL_LANES: usize = BLOCK_ROWS / 2 / LANES;

/// Per-task buffers for one block, allocated once and reused.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Scratch {
    /// `d × nch` lanes: the block, transposed.
    xt: LaneBuf,
    /// `d × nch` lanes: the block centred on one component.
    diff: LaneBuf,
    /// `nch` lanes each: per-row maximum, sum of exponentials, and its inverse.
    max: LaneBuf,
    sum: LaneBuf,
    inv: LaneBuf,
    /// `k × nch` lanes: log-densities, then responsibilities.
    pub resp: LaneBuf,
    /// `nch` lanes: the rows' weights (a weighted E-step).
    weights: LaneBuf,
    /// Per row: `ln p(x)`.
    pub lse: Vec<f64>,
    /// `2d` values for the log-densities.
    work: Vec<f64>,
    /// Row-major packed rows for the second moments of full and tied
    /// covariances from [`ROW_SCATTER_MIN_D`] features on (empty otherwise,
    /// and in scratch that only scores).
    packed: LaneBuf,
    strip: LaneBuf,
    small: LaneBuf,
}

impl Scratch {
    pub fn new(k: usize, d: usize) -> Self {
        let nch = BLOCK_ROWS / LANES;
        Scratch {
            xt: LaneBuf::zeros(d * nch),
            diff: LaneBuf::zeros(d * nch),
            max: LaneBuf::zeros(nch),
            sum: LaneBuf::zeros(nch),
            inv: LaneBuf::zeros(nch),
            resp: LaneBuf::zeros(k * nch),
            weights: LaneBuf::zeros(nch),
            lse: vec![0.0; BLOCK_ROWS],
            work: vec![0.0; 2 * d],
            packed: LaneBuf::default(),
            strip: LaneBuf::default(),
            small: LaneBuf::default(),
        }
    }

    /// Scratch that also accumulates statistics: with the packed-row buffers
    /// where the covariance type and dimension use them.
    pub fn for_statistics(kind: CovarianceType, k: usize, d: usize) -> Self {
        let mut s = Scratch::new(k, d);
        if matches!(kind, CovarianceType::Full | CovarianceType::Tied) && d >= ROW_SCATTER_MIN_D {
            s.packed = LaneBuf::zeros(BLOCK_ROWS * packed_lanes(d));
            s.strip = LaneBuf::zeros(BLOCK_ROWS);
            s.small = LaneBuf::zeros(3 * packed_lanes(d));
        }
        s
    }
}

/// Which build of the kernel runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Path {
    /// Plain arrays, no FMA: any processor.
    Portable,
    /// AVX2 + FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    /// AVX-512 (F) + FMA: one instruction per lane.
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
}

impl Path {
    /// The fastest build this processor runs.
    pub fn detect() -> Path {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(t) = Avx512::detect() {
                return Path::Avx512(t);
            }
            if let Some(t) = Avx2::detect() {
                return Path::Avx2(t);
            }
        }
        Path::Portable
    }

    /// Every build this processor can run (for tests that compare them).
    #[cfg(test)]
    pub fn available() -> Vec<Path> {
        #[allow(unused_mut)]
        let mut paths = vec![Path::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            paths.extend(Avx2::detect().map(Path::Avx2));
            paths.extend(Avx512::detect().map(Path::Avx512));
        }
        paths
    }
}

/// Defines `fn $name(path: Path, args…)`, which runs `$imp(simd, args…)` in
/// the build of the kernel that `path` names: the portable one, or the AVX2 +
/// FMA or AVX-512 one through a `#[target_feature]` trampoline, into which
/// `$imp` (`#[inline(always)]`) is compiled with those instructions.
macro_rules! dispatch {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $imp:ident) => {
        $(#[$doc])*
        $vis fn $name(path: Path, $($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(t: Avx2, $($arg: $ty),*) $(-> $ret)? {
                $imp(t, $($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,fma")]
            unsafe fn avx512(t: Avx512, $($arg: $ty),*) $(-> $ret)? {
                $imp(t, $($arg),*)
            }
            match path {
                Path::Portable => $imp(Portable, $($arg),*),
                // SAFETY: the tokens exist only where their instructions were detected.
                #[cfg(target_arch = "x86_64")]
                Path::Avx2(t) => unsafe { avx2(t, $($arg),*) },
                #[cfg(target_arch = "x86_64")]
                Path::Avx512(t) => unsafe { avx512(t, $($arg),*) },
            }
        }
    };
}

dispatch! {
    /// Responsibilities (`scratch.resp`, `k × nch` lanes, zero on padding rows) and
    /// row log-densities (`scratch.lse`) of a block of at most [`BLOCK_ROWS`] rows.
    /// Returns `nch`, the number of lanes per component.
    pub(crate) fn posterior_block(
        model: &GaussianComponents,
        rows: DataRef<'_>,
        s: &mut Scratch,
    ) -> usize => posterior_impl
}

dispatch! {
    /// One E-step block: adds its statistics into `stats` and returns its total
    /// log-likelihood (rows summed in order). With `weights`, each row's
    /// responsibilities and log-likelihood count `weights[r]` times, and a
    /// row of weight 0 counts not at all.
    pub(crate) fn e_step_block(
        model: &GaussianComponents,
        start: usize,
        rows: DataRef<'_>,
        weights: Option<&[f64]>,
        stats: &mut ComponentStats,
    ) -> f64 => e_step_impl
}

/// Copies rows (`d` columns) into lanes, feature by feature, padding the last
/// lane with zeros.
#[inline(always)]
pub(crate) fn transpose(rows: DataRef<'_>, d: usize, xt: &mut [Lane]) -> usize {
    let n = rows.n_rows();
    let nch = n.div_ceil(LANES);
    let values = &rows.values()[..n * d];
    for ch in 0..n / LANES {
        let block = &values[ch * LANES * d..(ch + 1) * LANES * d];
        for f in 0..d {
            let lane = &mut xt[f * nch + ch];
            for l in 0..LANES {
                lane[l] = block[l * d + f];
            }
        }
    }
    if !n.is_multiple_of(LANES) {
        let ch = n / LANES;
        for f in 0..d {
            for l in 0..LANES {
                let r = ch * LANES + l;
                xt[f * nch + ch][l] = if r < n { values[r * d + f] } else { 0.0 };
            }
        }
    }
    nch
}

/// Calls `$f::<S, D>` with `D` the number of features when it is small, so
/// that every loop over features has a constant trip count and unrolls; `D = 0`
/// stands for "read it at run time".
macro_rules! by_dimension {
    ($d:expr, $f:ident, $v:expr, $($arg:expr),*) => {
        match $d {
            1 => $f::<_, 1>($v, $($arg),*),
            2 => $f::<_, 2>($v, $($arg),*),
            3 => $f::<_, 3>($v, $($arg),*),
            4 => $f::<_, 4>($v, $($arg),*),
            5 => $f::<_, 5>($v, $($arg),*),
            6 => $f::<_, 6>($v, $($arg),*),
            8 => $f::<_, 8>($v, $($arg),*),
            16 => $f::<_, 16>($v, $($arg),*),
            _ => $f::<_, 0>($v, $($arg),*),
        }
    };
}

dispatch! {
    /// Per-component log-densities `ln N(x_r | μ_j, Σ_j)` (weights left out) of a
    /// block of at most [`BLOCK_ROWS`] rows, written row-major (`n × k`) into
    /// `out`: the emission probabilities of a Gaussian HMM. With `log_scale`,
    /// `out` gets `exp(ln N − m_r)` instead, with `m_r` the row's largest
    /// log-density (0 when it is not finite) written to `log_scale[r]`.
    pub(crate) fn component_log_densities(
        model: &GaussianComponents,
        rows: DataRef<'_>,
        s: &mut Scratch,
        out: &mut [f64],
        log_scale: Option<&mut [f64]>,
    ) => densities_impl
}

#[inline(always)]
fn densities_impl<S: Simd>(
    v: S,
    model: &GaussianComponents,
    rows: DataRef<'_>,
    s: &mut Scratch,
    out: &mut [f64],
    log_scale: Option<&mut [f64]>,
) {
    by_dimension!(
        model.n_features(),
        densities_d,
        v,
        model,
        rows,
        s,
        out,
        log_scale
    )
}

#[inline(always)]
fn densities_d<S: Simd, const D: usize>(
    v: S,
    model: &GaussianComponents,
    rows: DataRef<'_>,
    s: &mut Scratch,
    out: &mut [f64],
    log_scale: Option<&mut [f64]>,
) {
    let d = if D == 0 { model.n_features() } else { D };
    let (n, k) = (rows.n_rows(), model.n_components());
    debug_assert!(n <= BLOCK_ROWS && out.len() >= n * k);
    let nch = transpose(rows, d, &mut s.xt);
    let lp = &mut s.resp[..k * nch];
    model.factored.log_densities(
        v,
        &s.xt[..d * nch],
        nch,
        d,
        k,
        model.means(),
        &mut s.diff[..d * nch],
        lp,
        &mut s.work,
    );
    if let Some(log_scale) = log_scale {
        let max = &mut s.max[..nch];
        max.fill([f64::NEG_INFINITY; LANES]);
        for j in 0..k {
            for (x, m) in lp[j * nch..(j + 1) * nch].iter().zip(max.iter_mut()) {
                v.store(m, v.max(v.load(x), v.load(m)));
            }
        }
        // A row no state gives any density keeps its −∞ (scale 0); the
        // recursion then falls back to log space.
        let (lowest, zero) = (v.splat(f64::MIN), v.splat(0.0));
        for m in max.iter_mut() {
            let x = v.load(m);
            v.store(m, v.select_lt(x, lowest, zero, x));
        }
        for j in 0..k {
            for (x, m) in lp[j * nch..(j + 1) * nch].iter_mut().zip(max.iter()) {
                v.store(x, v.exp(v.sub(v.load(x), v.load(m))));
            }
        }
        for r in 0..n {
            log_scale[r] = max[r / LANES][r % LANES];
        }
    }
    for j in 0..k {
        for r in 0..n {
            out[r * k + j] = lp[j * nch + r / LANES][r % LANES];
        }
    }
}

#[inline(always)]
fn posterior_impl<S: Simd>(
    v: S,
    model: &GaussianComponents,
    rows: DataRef<'_>,
    s: &mut Scratch,
) -> usize {
    by_dimension!(model.n_features(), posterior_d, v, model, rows, s)
}

#[inline(always)]
fn e_step_impl<S: Simd>(
    v: S,
    model: &GaussianComponents,
    start: usize,
    rows: DataRef<'_>,
    weights: Option<&[f64]>,
    stats: &mut ComponentStats,
) -> f64 {
    by_dimension!(
        model.n_features(),
        e_step_d,
        v,
        model,
        start,
        rows,
        weights,
        stats
    )
}

#[inline(always)]
fn posterior_d<S: Simd, const D: usize>(
    v: S,
    model: &GaussianComponents,
    rows: DataRef<'_>,
    s: &mut Scratch,
) -> usize {
    let d = if D == 0 { model.n_features() } else { D };
    let n = rows.n_rows();
    debug_assert!(n <= BLOCK_ROWS, "a block holds at most BLOCK_ROWS rows");
    let nch = transpose(rows, d, &mut s.xt);
    // Full blocks (all but the last) get a constant lane count, so that the
    // strides between features are constant offsets.
    if nch == FULL_LANES {
        posterior_body::<S, FULL_LANES>(v, model, n, d, nch, s)
    } else {
        posterior_body::<S, 0>(v, model, n, d, nch, s)
    }
}

/// The rest of [`posterior_d`], after the transpose; `NCH = 0` reads `nch` at run time.
#[inline(always)]
fn posterior_body<S: Simd, const NCH: usize>(
    v: S,
    model: &GaussianComponents,
    n: usize,
    d: usize,
    nch: usize,
    s: &mut Scratch,
) -> usize {
    let nch = if NCH == 0 { nch } else { NCH };
    let k = model.n_components();
    let resp = &mut s.resp[..k * nch];
    model.factored.log_densities(
        v,
        &s.xt[..d * nch],
        nch,
        d,
        k,
        model.means(),
        &mut s.diff[..d * nch],
        resp,
        &mut s.work,
    );
    let (max, sum) = (&mut s.max[..nch], &mut s.sum[..nch]);
    max.fill([f64::NEG_INFINITY; LANES]);
    for (j, &lw) in model.log_weights.iter().enumerate() {
        let lw = v.splat(lw);
        for (r, m) in resp[j * nch..(j + 1) * nch].iter_mut().zip(max.iter_mut()) {
            let x = v.add(v.load(r), lw);
            v.store(r, x);
            v.store(m, v.max(x, v.load(m)));
        }
    }
    // A row no component gives any density: keep exp() away from −∞ − (−∞).
    let (lowest, zero) = (v.splat(f64::MIN), v.splat(0.0));
    for m in max.iter_mut() {
        let x = v.load(m);
        v.store(m, v.select_lt(x, lowest, zero, x));
    }
    sum.fill(ZERO);
    for j in 0..k {
        for ((r, m), t) in resp[j * nch..(j + 1) * nch]
            .iter_mut()
            .zip(max.iter())
            .zip(sum.iter_mut())
        {
            let e = v.exp(v.sub(v.load(r), v.load(m)));
            v.store(r, e);
            v.store(t, v.add(v.load(t), e));
        }
    }
    let inv = &mut s.inv[..nch];
    for ch in 0..nch {
        let mut logs = ZERO;
        v.store(&mut logs, v.ln(v.load(&sum[ch])));
        for l in 0..LANES {
            let total = sum[ch][l];
            let r = ch * LANES + l;
            // Padding rows carry no weight; a row with no density has none either.
            inv[ch][l] = if total > 0.0 && r < n {
                1.0 / total
            } else {
                0.0
            };
            if r < n {
                s.lse[r] = max[ch][l] + logs[l];
            }
        }
    }
    for j in 0..k {
        for (r, i) in resp[j * nch..(j + 1) * nch].iter_mut().zip(inv.iter()) {
            v.store(r, v.mul(v.load(r), v.load(i)));
        }
    }
    nch
}

#[inline(always)]
fn e_step_d<S: Simd, const D: usize>(
    v: S,
    model: &GaussianComponents,
    start: usize,
    rows: DataRef<'_>,
    weights: Option<&[f64]>,
    stats: &mut ComponentStats,
) -> f64 {
    let d = if D == 0 { model.n_features() } else { D };
    let nch = posterior_d::<S, D>(v, model, rows, &mut stats.scratch);
    let n = rows.n_rows();
    let mut ll = 0.0;
    match weights {
        None => {
            for r in 0..n {
                let lse = stats.scratch.lse[r];
                ll += lse;
                if lse <= stats.worst.threshold() {
                    stats.worst.offer(lse, start + r, rows.row(r));
                }
            }
            stats.weight += n as f64;
            stats.rows += n;
        }
        Some(w) => {
            // A row of weight 0 is left out: it adds nothing (not even
            // 0 · −∞) and is never a re-seeding point.
            for r in (0..n).filter(|&r| w[r] > 0.0) {
                let lse = stats.scratch.lse[r];
                ll += w[r] * lse;
                if lse <= stats.worst.threshold() {
                    stats.worst.offer(lse, start + r, rows.row(r));
                }
                stats.weight += w[r];
                stats.rows += 1;
            }
            weigh_responsibilities(v, &mut stats.scratch, w, nch, model.n_components());
        }
    }
    accumulate_impl(v, stats, rows, nch, d);
    ll
}

/// Multiplies each row's responsibilities (`k × nch` lanes) by its weight.
#[inline(always)]
fn weigh_responsibilities<S: Simd>(v: S, s: &mut Scratch, w: &[f64], nch: usize, k: usize) {
    let lanes = &mut s.weights[..nch];
    for (ch, lane) in lanes.iter_mut().enumerate() {
        for (l, x) in lane.iter_mut().enumerate() {
            *x = w.get(ch * LANES + l).copied().unwrap_or(0.0);
        }
    }
    for j in 0..k {
        for (r, wl) in s.resp[j * nch..(j + 1) * nch].iter_mut().zip(lanes.iter()) {
            v.store(r, v.mul(v.load(r), v.load(wl)));
        }
    }
}

/// Adds a block with given responsibilities (`resp(row, component)`, times
/// the row's weight when `weights` are given) into `stats`, about
/// `stats.shifts` (used by initialisations and HMM emissions).
pub(crate) fn accumulate_given(
    path: Path,
    stats: &mut ComponentStats,
    rows: DataRef<'_>,
    weights: Option<&[f64]>,
    resp: impl FnMut(usize, usize) -> f64,
) {
    let (k, d, n) = (stats.counts.len(), stats.d, rows.n_rows());
    let s = &mut stats.scratch;
    let nch = transpose(rows, d, &mut s.xt);
    let mut resp = resp;
    let weight = |r: usize| weights.map_or(1.0, |w| w[r]);
    for j in 0..k {
        for ch in 0..nch {
            for l in 0..LANES {
                let r = ch * LANES + l;
                s.resp[j * nch + ch][l] = if r < n {
                    match weights {
                        None => resp(r, j),
                        Some(w) => resp(r, j) * w[r],
                    }
                } else {
                    0.0
                };
            }
        }
    }
    stats.weight += (0..n).map(weight).sum::<f64>();
    stats.rows += (0..n).filter(|&r| weight(r) > 0.0).count();
    accumulate_transposed(path, stats, rows, nch);
}

dispatch! {
    /// [`accumulate_impl`] in the build `path` names.
    fn accumulate_transposed(stats: &mut ComponentStats, rows: DataRef<'_>, nch: usize) => accumulate_lanes
}

#[inline(always)]
fn accumulate_lanes<S: Simd>(v: S, stats: &mut ComponentStats, rows: DataRef<'_>, nch: usize) {
    let d = stats.d;
    accumulate_impl(v, stats, rows, nch, d)
}

/// The statistics of the block `rows`, already transposed into
/// `stats.scratch.xt`, with the responsibilities in `stats.scratch.resp`.
#[inline(always)]
fn accumulate_impl<S: Simd>(
    v: S,
    stats: &mut ComponentStats,
    rows: DataRef<'_>,
    nch: usize,
    d: usize,
) {
    if nch == FULL_LANES {
        accumulate_body::<S, FULL_LANES>(v, stats, rows, nch, d)
    } else {
        accumulate_body::<S, 0>(v, stats, rows, nch, d)
    }
}

#[inline(always)]
fn accumulate_body<S: Simd, const NCH: usize>(
    v: S,
    stats: &mut ComponentStats,
    rows: DataRef<'_>,
    nch: usize,
    d: usize,
) {
    let nch = if NCH == 0 { nch } else { NCH };
    let (n, k) = (rows.n_rows(), stats.counts.len());
    let s = &mut stats.scratch;
    let block = Block {
        xt: &s.xt[..d * nch],
        rows: &rows.values()[..n * d],
        n,
        nch,
        d,
        diff: &mut s.diff[..d * nch],
        packed: &mut s.packed,
        strip: &mut s.strip,
        small: &mut s.small,
    };
    accumulate_block(
        v,
        stats.kind,
        block,
        &stats.shifts,
        &s.resp[..k * nch],
        &mut stats.counts,
        &mut stats.first,
        &mut stats.second,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, d: usize) -> Vec<f64> {
        // A deterministic, irregular cloud with a few far rows.
        (0..n * d)
            .map(|i| {
                ((i * 7919) % 1013) as f64 / 101.3 - 5.0 + if i % 97 == 0 { 40.0 } else { 0.0 }
            })
            .collect()
    }

    /// Every build of the kernel computes the same statistics: the two FMA builds
    /// bit for bit, the portable one to rounding.
    #[test]
    fn every_kernel_build_agrees() {
        let paths = Path::available();
        println!("kernel builds on this machine: {paths:?}");
        // 33 and 40 take the row-oriented second moments (`ROW_SCATTER_MIN_D`).
        for d in [1, 2, 3, 7, 16, 17, 33, 40] {
            let n = 203; // a partial last lane
            let x = data(n, d);
            let rows = DataRef::new(&x, n, d).unwrap();
            for kind in CovarianceType::ALL {
                let fitted = crate::GaussianMixture::builder(4)
                    .covariance(kind)
                    .max_iter(3)
                    .fit(rows)
                    .unwrap()
                    .model;
                let model = fitted.components();
                let run = |path: Path| {
                    let mut stats = ComponentStats::new(kind, model.means().to_vec(), d);
                    let ll = e_step_block(path, model, 0, rows, None, &mut stats);
                    let mut s = Scratch::new(4, d);
                    posterior_block(path, model, rows, &mut s);
                    (ll, stats, s.lse[..n].to_vec())
                };
                let (ll0, s0, lse0) = run(Path::Portable);
                for (i, &path) in paths.iter().enumerate().skip(1) {
                    let (ll, s, lse) = run(path);
                    if i > 1 {
                        let (ll1, s1, lse1) = run(paths[1]);
                        assert_eq!(
                            (ll.to_bits(), &s, &lse),
                            (ll1.to_bits(), &s1, &lse1),
                            "{path:?} {kind} d={d}"
                        );
                    }
                    // Fused and separate rounding differ by a few ulps per operation,
                    // accumulated over at most a few hundred terms.
                    let close = |a: &[f64], b: &[f64]| {
                        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                        a.iter().zip(b).all(|(p, q)| (p - q).abs() <= 1e-12 * scale)
                    };
                    assert!(
                        (ll - ll0).abs() <= 1e-12 * ll0.abs(),
                        "{path:?} {kind} d={d}"
                    );
                    assert!(
                        close(&s.counts, &s0.counts) && close(&s.first, &s0.first),
                        "{path:?} {kind} d={d}"
                    );
                    assert!(close(&s.second, &s0.second), "{path:?} {kind} d={d}");
                    assert!(close(&lse, &lse0), "{path:?} {kind} d={d}");
                }
            }
        }
    }

    /// The statistics of every build equal the textbook sums `Σ r`, `Σ r(x − c)`
    /// and `Σ r(x − c)(x − c)ᵀ` about each component's shift, on both sides of
    /// `ROW_SCATTER_MIN_D`, for dimensions that are and are not whole lanes, a
    /// partial last block and data far from the origin.
    #[test]
    fn statistics_equal_the_textbook_sums() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        for d in [5, 31, 32, 33, 40, 64] {
            for offset in [0.0, 1e4] {
                let (n, k) = (2 * BLOCK_ROWS + 37, 3);
                let x: Vec<f64> = (0..n * d)
                    .map(|i| offset + (i % d) as f64 + rng.random_range(-1.0..1.0))
                    .collect();
                let resp: Vec<f64> = (0..n * k).map(|_| rng.random::<f64>()).collect();
                // Shifts near, not at, the data: as after an M-step.
                let shifts: Vec<f64> = (0..k * d)
                    .map(|i| offset + (i % d) as f64 + rng.random_range(-0.5..0.5))
                    .collect();
                let data = DataRef::new(&x, n, d).unwrap();
                for kind in [CovarianceType::Full, CovarianceType::Tied] {
                    let mut count = vec![0.0; k];
                    let mut first = vec![0.0; k * d];
                    let mut second = vec![0.0; kind.covariance_len(k, d)];
                    for r in 0..n {
                        for j in 0..k {
                            let w = resp[r * k + j];
                            let c = &shifts[j * d..(j + 1) * d];
                            let at = if kind == CovarianceType::Tied {
                                0
                            } else {
                                j * d * d
                            };
                            count[j] += w;
                            for a in 0..d {
                                let za = x[r * d + a] - c[a];
                                first[j * d + a] += w * za;
                                for b in a..d {
                                    second[at + a * d + b] += w * za * (x[r * d + b] - c[b]);
                                }
                            }
                        }
                    }
                    for path in Path::available() {
                        let mut stats = ComponentStats::new(kind, shifts.clone(), d);
                        for start in (0..n).step_by(BLOCK_ROWS) {
                            let end = (start + BLOCK_ROWS).min(n);
                            accumulate_given(
                                path,
                                &mut stats,
                                data.rows(start, end),
                                None,
                                |r, j| resp[(start + r) * k + j],
                            );
                        }
                        // Sums of n ≈ 1 060 products of values of size |x − c| ≤ 1.5 (z is
                        // the mean of the shifts, so |x − z| stays that small too): the
                        // orders of summation differ, each costing a few ulps of the
                        // largest partial sum.
                        let scale = n as f64 * 4.0;
                        let close = |a: f64, b: f64| (a - b).abs() <= 1e-13 * scale;
                        for j in 0..k {
                            assert!(close(stats.counts[j], count[j]), "{path:?} {kind} d={d}");
                        }
                        for (i, (a, b)) in stats.first.iter().zip(&first).enumerate() {
                            assert!(close(*a, *b), "{path:?} {kind} d={d} first {i}: {a} vs {b}");
                        }
                        for blk in 0..second.len() / (d * d) {
                            for a in 0..d {
                                for b in a..d {
                                    let i = blk * d * d + a * d + b;
                                    let (p, q) = (stats.second[i], second[i]);
                                    assert!(
                                        close(p, q),
                                        "{path:?} {kind} d={d} offset={offset} second[{a}][{b}]: {p} vs {q}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
