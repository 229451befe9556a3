//! The fused block kernel: for a block of rows, the log-densities of all
//! components, the log-sum-exp, the responsibilities and (during a fit) the
//! M-step statistics, in one pass over the block while it sits in cache.
//!
//! The block is transposed into row lanes ([`Lane`]) so every loop runs across
//! rows and vectorises. On x86-64 with AVX2 and FMA the whole kernel is compiled
//! a second time for those instructions and chosen at run time; both builds run
//! the same operations in the same order (no fused multiply-add contraction),
//! so they give the same bits, which a test checks.

use crate::data::DataRef;
use crate::dist::gaussian::accumulate_block;
use crate::linalg::lanes::{exp_lane, ln_lane, Lane, LANES, ZERO};

use super::em::MixtureStats;
use super::{GaussianMixture, BLOCK_ROWS};

/// Per-task buffers for one block, allocated once and reused.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Scratch {
    /// `d × nch` lanes: the block, transposed.
    xt: Vec<Lane>,
    /// `d × nch` lanes: the block centred on one component.
    diff: Vec<Lane>,
    /// `nch` lanes each: running maximum, sum, and a spare.
    max: Vec<Lane>,
    sum: Vec<Lane>,
    tmp: Vec<Lane>,
    /// `k × nch` lanes: log-densities, then responsibilities.
    pub resp: Vec<Lane>,
    /// Per row: `ln p(x)`.
    pub lse: Vec<f64>,
}

impl Scratch {
    pub fn new(k: usize, d: usize) -> Self {
        let nch = BLOCK_ROWS / LANES;
        Scratch {
            xt: vec![ZERO; d * nch],
            diff: vec![ZERO; d * nch],
            max: vec![ZERO; nch],
            sum: vec![ZERO; nch],
            tmp: vec![ZERO; nch],
            resp: vec![ZERO; k * nch],
            lse: vec![0.0; BLOCK_ROWS],
        }
    }
}

/// Which build of the kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Whatever the compiler targets by default (SSE2 on x86-64).
    Portable,
    /// AVX2 + FMA instructions, when the processor has them.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Path {
    /// The fastest build this processor runs.
    pub fn detect() -> Path {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Path::Avx2;
            }
        }
        Path::Portable
    }
}

/// Responsibilities (`scratch.resp`, `k × nch` lanes, zero on padding rows) and
/// row log-densities (`scratch.lse`) of a block of at most [`BLOCK_ROWS`] rows.
/// Returns `nch`, the number of lanes per component.
pub(crate) fn posterior_block(path: Path, model: &GaussianMixture, rows: DataRef<'_>, s: &mut Scratch) -> usize {
    match path {
        Path::Portable => posterior_impl(model, rows, s),
        // SAFETY: `Path::Avx2` is only produced by `detect` after the processor
        // reported AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { posterior_avx2(model, rows, s) },
    }
}

/// One E-step block: adds its statistics into `stats` and returns its total
/// log-likelihood (rows summed in order).
pub(crate) fn e_step_block(path: Path, model: &GaussianMixture, start: usize, rows: DataRef<'_>, stats: &mut MixtureStats) -> f64 {
    match path {
        Path::Portable => e_step_impl(model, start, rows, stats),
        // SAFETY: as in `posterior_block`.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { e_step_avx2(model, start, rows, stats) },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn posterior_avx2(model: &GaussianMixture, rows: DataRef<'_>, s: &mut Scratch) -> usize {
    posterior_impl(model, rows, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn e_step_avx2(model: &GaussianMixture, start: usize, rows: DataRef<'_>, stats: &mut MixtureStats) -> f64 {
    e_step_impl(model, start, rows, stats)
}

/// Copies rows into lanes, feature by feature, padding the last lane with zeros.
#[inline(always)]
pub(crate) fn transpose(rows: DataRef<'_>, xt: &mut [Lane]) -> usize {
    let (n, d) = (rows.n_rows(), rows.n_cols());
    let nch = n.div_ceil(LANES);
    let values = rows.values();
    for ch in 0..nch {
        for l in 0..LANES {
            let r = ch * LANES + l;
            for f in 0..d {
                xt[f * nch + ch][l] = if r < n { values[r * d + f] } else { 0.0 };
            }
        }
    }
    nch
}

#[inline(always)]
fn posterior_impl(model: &GaussianMixture, rows: DataRef<'_>, s: &mut Scratch) -> usize {
    let (n, d, k) = (rows.n_rows(), model.n_features(), model.n_components());
    debug_assert!(n <= BLOCK_ROWS, "a block holds at most BLOCK_ROWS rows");
    let nch = transpose(rows, &mut s.xt);
    let resp = &mut s.resp[..k * nch];
    model
        .factored
        .log_densities(&s.xt[..d * nch], nch, d, k, model.means(), &mut s.diff[..d * nch], resp);
    let (max, sum) = (&mut s.max[..nch], &mut s.sum[..nch]);
    max.fill([f64::NEG_INFINITY; LANES]);
    for (j, lw) in model.log_weights.iter().enumerate() {
        for (v, m) in resp[j * nch..(j + 1) * nch].iter_mut().zip(max.iter_mut()) {
            for l in 0..LANES {
                v[l] += lw;
                m[l] = if v[l] > m[l] { v[l] } else { m[l] };
            }
        }
    }
    // A row no component gives any density: keep exp() away from −∞ − (−∞).
    for m in max.iter_mut() {
        for l in 0..LANES {
            m[l] = if m[l] == f64::NEG_INFINITY { 0.0 } else { m[l] };
        }
    }
    sum.fill(ZERO);
    for j in 0..k {
        for ((v, m), t) in resp[j * nch..(j + 1) * nch].iter_mut().zip(max.iter()).zip(sum.iter_mut()) {
            let mut z = ZERO;
            for l in 0..LANES {
                z[l] = v[l] - m[l];
            }
            *v = exp_lane(&z);
            for l in 0..LANES {
                t[l] += v[l];
            }
        }
    }
    let inv = &mut s.tmp[..nch];
    for ch in 0..nch {
        let logs = ln_lane(&sum[ch]);
        for l in 0..LANES {
            let total = sum[ch][l];
            let r = ch * LANES + l;
            // Padding rows carry no weight; a row with no density has none either.
            inv[ch][l] = if total > 0.0 && r < n { 1.0 / total } else { 0.0 };
            if r < n {
                s.lse[r] = max[ch][l] + logs[l];
            }
        }
    }
    for j in 0..k {
        for (v, i) in resp[j * nch..(j + 1) * nch].iter_mut().zip(inv.iter()) {
            for l in 0..LANES {
                v[l] *= i[l];
            }
        }
    }
    nch
}

#[inline(always)]
fn e_step_impl(model: &GaussianMixture, start: usize, rows: DataRef<'_>, stats: &mut MixtureStats) -> f64 {
    let (k, d) = (model.n_components(), model.n_features());
    let nch = posterior_impl(model, rows, &mut stats.scratch);
    let mut ll = 0.0;
    for r in 0..rows.n_rows() {
        let lse = stats.scratch.lse[r];
        ll += lse;
        if lse <= stats.worst.threshold() {
            stats.worst.offer(lse, start + r, rows.row(r));
        }
    }
    let s = &mut stats.scratch;
    accumulate_block(
        stats.kind,
        &s.xt[..d * nch],
        nch,
        d,
        &stats.shifts,
        &s.resp[..k * nch],
        &mut stats.counts,
        &mut stats.first,
        &mut stats.second,
        &mut s.diff[..d * nch],
        &mut s.tmp[..nch],
    );
    ll
}

/// Adds a block with given responsibilities (`resp(row, component)`) into
/// `stats`, about `stats.shifts` (used by initialisations; portable build).
pub(crate) fn accumulate_given(stats: &mut MixtureStats, rows: DataRef<'_>, mut resp: impl FnMut(usize, usize) -> f64) {
    let (k, d) = (stats.counts.len(), stats.d);
    let s = &mut stats.scratch;
    let nch = transpose(rows, &mut s.xt);
    for j in 0..k {
        for ch in 0..nch {
            for l in 0..LANES {
                let r = ch * LANES + l;
                s.resp[j * nch + ch][l] = if r < rows.n_rows() { resp(r, j) } else { 0.0 };
            }
        }
    }
    accumulate_block(
        stats.kind,
        &s.xt[..d * nch],
        nch,
        d,
        &stats.shifts,
        &s.resp[..k * nch],
        &mut stats.counts,
        &mut stats.first,
        &mut stats.second,
        &mut s.diff[..d * nch],
        &mut s.tmp[..nch],
    );
}
