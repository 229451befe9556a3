//! The mixture's side of EM: sufficient statistics per block and the M-step.
//!
//! Statistics are *shifted*: for component `j` we sum `r`, `r·(x − c_j)` and
//! `r·(x − c_j)(x − c_j)ᵀ` (or its diagonal or trace), with `c_j` the
//! component's mean at the E-step. The shift is the same for every block of an
//! iteration, so blocks merge by plain addition, and the centred covariance
//! `S/N − (s/N)(s/N)ᵀ` only cancels by the (small) move of the mean, never by
//! the data's offset from the origin.

use crate::data::DataRef;
use crate::dist::categorical::pseudo_count;
use crate::dist::gaussian::{
    blocks_of, covariances_with_prior, factor_block, per_block, CovarianceType, GaussianPrior,
};
use crate::em::{EmData, EmModel, MaximizeOutcome, SufficientStats};
use crate::error::{Error, Result};
use crate::linalg::positive_finite;

use super::kernel::{e_step_block, Path, Scratch};
use super::{block_rows, GaussianMixture};

/// Below this share of all samples a component's mass counts as empty and it is
/// re-seeded: its mean would otherwise be `0/0`-like noise.
const EMPTY_COMPONENT_SHARE: f64 = 1e-10;

/// Rows in fixed blocks of [`block_rows`] rows.
pub(crate) struct RowBlocks<'a> {
    pub data: DataRef<'a>,
}

impl EmData for RowBlocks<'_> {
    type Block<'b>
        = (usize, DataRef<'b>)
    where
        Self: 'b;

    fn n_samples(&self) -> usize {
        self.data.n_rows()
    }

    fn n_blocks(&self) -> usize {
        self.data.n_rows().div_ceil(block_rows(self.data.n_cols()))
    }

    fn block(&self, i: usize) -> (usize, DataRef<'_>) {
        let rows = block_rows(self.data.n_cols());
        let start = i * rows;
        (
            start,
            self.data
                .rows(start, (start + rows).min(self.data.n_rows())),
        )
    }
}

/// The `cap` rows with the lowest log-density seen so far, lowest first (ties by
/// row index), kept so that an empty component can be re-seeded at the worst-fit
/// point. Fixed storage: offering a row never allocates.
#[derive(Clone, Debug)]
pub(crate) struct WorstRows {
    d: usize,
    /// `(log-density, row index)`, sorted; `len` of them are in use.
    keys: Vec<(f64, usize)>,
    /// `cap × d`: the rows, in the order of `keys`.
    values: Vec<f64>,
    len: usize,
}

impl PartialEq for WorstRows {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self.keys[..self.len] == other.keys[..other.len]
            && self.values[..self.len * self.d] == other.values[..other.len * other.d]
    }
}

impl WorstRows {
    fn new(cap: usize, d: usize) -> Self {
        WorstRows {
            d,
            keys: vec![(f64::INFINITY, usize::MAX); cap],
            values: vec![0.0; cap * d],
            len: 0,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// Rows with a higher log-density cannot enter (+∞ while not full).
    #[inline(always)]
    pub(crate) fn threshold(&self) -> f64 {
        if self.len == self.keys.len() {
            self.keys.last().map_or(f64::NEG_INFINITY, |k| k.0)
        } else {
            f64::INFINITY
        }
    }

    pub(crate) fn offer(&mut self, log_density: f64, index: usize, x: &[f64]) {
        let cap = self.keys.len();
        let key = (log_density, index);
        // NaN densities never enter; the fit stops on them anyway.
        if cap == 0 || log_density.is_nan() || (self.len == cap && key >= self.keys[cap - 1]) {
            return;
        }
        let at = self.keys[..self.len]
            .iter()
            .position(|k| key < *k)
            .unwrap_or(self.len);
        let last = self.len.min(cap - 1);
        // Shift [at, last) one slot down, dropping the old last when full.
        self.keys.copy_within(at..last, at + 1);
        let d = self.d;
        self.values.copy_within(at * d..last * d, (at + 1) * d);
        self.keys[at] = key;
        self.values[at * d..(at + 1) * d].copy_from_slice(x);
        self.len = (self.len + 1).min(cap);
    }

    /// The `i`-th worst row.
    pub(crate) fn row(&self, i: usize) -> Option<&[f64]> {
        (i < self.len).then(|| &self.values[i * self.d..(i + 1) * self.d])
    }

    fn merge(&mut self, other: &WorstRows) {
        for i in 0..other.len {
            let (l, idx) = other.keys[i];
            self.offer(l, idx, &other.values[i * other.d..(i + 1) * other.d]);
        }
    }
}

/// Shifted sufficient statistics of a Gaussian mixture, with the scratch
/// buffers of the task that accumulates them.
#[derive(Clone, Debug)]
pub(crate) struct MixtureStats {
    pub kind: CovarianceType,
    pub d: usize,
    /// `k × d`: the shift `c_j` of each component.
    pub shifts: Vec<f64>,
    /// `k`: Σ r.
    pub counts: Vec<f64>,
    /// `k × d`: Σ r·(x − c_j).
    pub first: Vec<f64>,
    /// Second moments about the shifts, laid out as the covariances.
    pub second: Vec<f64>,
    pub worst: WorstRows,
    pub scratch: Scratch,
}

impl PartialEq for MixtureStats {
    fn eq(&self, other: &Self) -> bool {
        // The scratch is not part of the statistics.
        (
            self.kind,
            self.d,
            &self.shifts,
            &self.counts,
            &self.first,
            &self.second,
            &self.worst,
        ) == (
            other.kind,
            other.d,
            &other.shifts,
            &other.counts,
            &other.first,
            &other.second,
            &other.worst,
        )
    }
}

impl MixtureStats {
    pub fn new(kind: CovarianceType, shifts: Vec<f64>, d: usize) -> Self {
        let k = shifts.len() / d;
        MixtureStats {
            kind,
            d,
            counts: vec![0.0; k],
            first: vec![0.0; k * d],
            second: vec![0.0; kind.covariance_len(k, d)],
            worst: WorstRows::new(k, d),
            scratch: Scratch::for_statistics(kind, k, d),
            shifts,
        }
    }

    /// Zeroes the sums and takes new shifts, keeping every buffer.
    pub fn reset(&mut self, shifts: &[f64]) {
        self.shifts.copy_from_slice(shifts);
        self.counts.fill(0.0);
        self.first.fill(0.0);
        self.second.fill(0.0);
        self.worst.clear();
    }

    pub fn k(&self) -> usize {
        self.counts.len()
    }
}

impl SufficientStats for MixtureStats {
    fn merge(&mut self, other: &Self) {
        debug_assert_eq!(
            self.shifts, other.shifts,
            "statistics of different iterations"
        );
        let add = |a: &mut [f64], b: &[f64]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut self.counts, &other.counts);
        add(&mut self.first, &other.first);
        add(&mut self.second, &other.second);
        self.worst.merge(&other.worst);
    }
}

/// A mixture being fitted: the parameters, the regularisation of its M-step,
/// the kernel build to run, and scratch for the factorisations.
#[derive(Clone, Debug)]
pub(crate) struct MixtureEm {
    pub model: GaussianMixture,
    pub reg_covar: f64,
    pub path: Path,
    chol: Vec<f64>,
}

/// The scratch [`maximize_into`] needs to factor covariances: `d × d` for
/// full and tied, none for diagonal and spherical (so that wide data with a
/// diagonal covariance never holds a `d × d` matrix).
pub(crate) fn factor_scratch(kind: CovarianceType, d: usize) -> Vec<f64> {
    match kind {
        CovarianceType::Full | CovarianceType::Tied => vec![0.0; d * d],
        CovarianceType::Diagonal | CovarianceType::Spherical => Vec::new(),
    }
}

impl MixtureEm {
    pub fn new(model: GaussianMixture, reg_covar: f64) -> Self {
        MixtureEm {
            chol: factor_scratch(model.covariance_type(), model.n_features()),
            model,
            reg_covar,
            path: Path::detect(),
        }
    }
}

impl<'a> EmModel<RowBlocks<'a>> for MixtureEm {
    type Stats = MixtureStats;

    fn empty_stats(&self) -> MixtureStats {
        let m = &self.model;
        MixtureStats::new(m.covariance_type(), m.means.clone(), m.n_features)
    }

    fn work_per_sample(&self) -> usize {
        // Log-densities, exponentials and second moments of every component.
        let (k, d) = (self.model.n_components(), self.model.n_features());
        k * (d * (d + 1) + 40)
    }

    fn reset_stats(&self, stats: &mut MixtureStats) {
        stats.reset(&self.model.means);
    }

    fn accumulate(&self, (start, rows): (usize, DataRef<'_>), stats: &mut MixtureStats) -> f64 {
        e_step_block(self.path, &self.model, start, rows, stats)
    }

    fn maximize(&mut self, stats: &MixtureStats) -> Result<MaximizeOutcome> {
        let reseeded = maximize_into(stats, self.reg_covar, None, &mut self.model, &mut self.chol)?;
        Ok(MaximizeOutcome { reseeded })
    }
}

/// A MAP prior on a mixture's parameters: Dirichlet concentrations on the
/// weights and a conjugate prior on the components (hmmlearn's `GMMHMM`
/// priors of one state, lowered by [`crate::hmm`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MixturePrior {
    /// `k`: the weights' Dirichlet concentrations `α` (1: none).
    pub(crate) weights: Vec<f64>,
    /// The components' means and covariances.
    pub(crate) components: GaussianPrior,
}

/// The M-step: writes new parameters from merged statistics into `model`
/// (whose shapes match), re-seeding empty or collapsed components. Allocates
/// nothing unless a component must be re-seeded (or a prior is given).
///
/// With a `prior` the step is the MAP one: weights `∝ max(α − 1 + N, 0)`
/// (plus scikit-learn's `10·eps`), means and covariances as
/// [`GaussianPrior`] says; `None` is maximum likelihood, and so is a prior at
/// its neutral values, bit for bit.
///
/// Re-seeding policy: a component whose mass is below [`EMPTY_COMPONENT_SHARE`]
/// of the data, or whose covariance is not positive definite even with
/// `reg_covar`, gets as mean the worst-fit row of the E-step (the lowest
/// log-density; the next-worst for the next such component), as covariance the
/// count-weighted average of the healthy components' covariances, and the
/// weight of one sample. With a tied covariance only the mean is re-seeded; a
/// tied covariance that is not positive definite is an error.
pub(crate) fn maximize_into(
    stats: &MixtureStats,
    reg_covar: f64,
    prior: Option<&MixturePrior>,
    model: &mut GaussianMixture,
    chol: &mut [f64],
) -> Result<Vec<usize>> {
    let (k, d, kind) = (stats.k(), stats.d, stats.kind);
    let total: f64 = stats.counts.iter().sum();
    // The weights hold the counts until they are normalised; scikit-learn's
    // 10·eps guards an empty component against 0/0.
    let counts = &mut model.weights;
    for (c, s) in counts.iter_mut().zip(&stats.counts) {
        *c = s + 10.0 * f64::EPSILON;
    }
    let components = prior.map(|p| &p.components);
    for j in 0..k {
        for i in 0..d {
            let (c, s) = (stats.shifts[j * d + i], stats.first[j * d + i]);
            model.means[j * d + i] = match components {
                None => c + s / counts[j],
                Some(p) => p.mean(j, i, c, s, counts[j]),
            };
        }
    }
    let f = &mut model.factored;
    let cov = f.covariances.values_mut();
    covariances_with_prior(
        kind,
        d,
        counts,
        &stats.shifts,
        &stats.first,
        &stats.second,
        &model.means,
        true,
        components,
        reg_covar,
        cov,
    );
    let per = per_block(kind, d);
    let mut bad: Vec<usize> = Vec::new();
    for j in 0..k {
        if stats.counts[j].is_nan() || stats.counts[j] <= EMPTY_COMPONENT_SHARE * total {
            bad.push(j);
        }
    }
    for b in 0..blocks_of(kind, k) {
        let range = b * per..(b + 1) * per;
        match factor_block(
            kind,
            &cov[range.clone()],
            d,
            &mut f.precisions_cholesky[range],
            chol,
        ) {
            Some(ld) => f.log_det[b] = ld,
            None if kind == CovarianceType::Tied => {
                return Err(Error::SingularCovariance {
                    component: 0,
                    reg_covar,
                })
            }
            None => {
                if !bad.contains(&b) {
                    bad.push(b);
                }
            }
        }
    }
    bad.sort_unstable();
    if !bad.is_empty() && kind != CovarianceType::Tied {
        repair_with_pooled(
            kind,
            d,
            cov,
            counts,
            &bad,
            &mut f.precisions_cholesky,
            &mut f.log_det,
            chol,
            reg_covar,
        )?;
    }
    if let Some(p) = prior {
        // The weights' pseudo-counts; the means and covariances above used
        // the plain counts.
        for (c, (&n, &a)) in counts.iter_mut().zip(stats.counts.iter().zip(&p.weights)) {
            *c = pseudo_count(a, n) + 10.0 * f64::EPSILON;
        }
    }
    for (i, &j) in bad.iter().enumerate() {
        if let Some(x) = stats.worst.row(i) {
            model.means[j * d..(j + 1) * d].copy_from_slice(x);
        }
        counts[j] = 1.0;
    }
    let sum: f64 = counts.iter().sum();
    for (w, lw) in model.weights.iter_mut().zip(model.log_weights.iter_mut()) {
        *w /= sum;
        *lw = w.ln();
    }
    Ok(bad)
}

/// Gives each component in `bad` the count-weighted average of the other
/// components' covariances and factors it into `factors` and `log_det`
/// (layouts as the covariances, not tied); an error when no healthy
/// component is left or the average does not factor.
#[allow(clippy::too_many_arguments)]
pub(crate) fn repair_with_pooled(
    kind: CovarianceType,
    d: usize,
    cov: &mut [f64],
    counts: &[f64],
    bad: &[usize],
    factors: &mut [f64],
    log_det: &mut [f64],
    chol: &mut [f64],
    reg_covar: f64,
) -> Result<()> {
    let per = per_block(kind, d);
    let healthy: Vec<usize> = (0..counts.len()).filter(|j| !bad.contains(j)).collect();
    let mass: f64 = healthy.iter().map(|&j| counts[j]).sum();
    if healthy.is_empty() || !positive_finite(mass) {
        return Err(Error::SingularCovariance {
            component: bad[0],
            reg_covar,
        });
    }
    let mut pooled = vec![0.0; per];
    for &j in &healthy {
        for (p, c) in pooled.iter_mut().zip(&cov[j * per..(j + 1) * per]) {
            *p += counts[j] * c / mass;
        }
    }
    for &j in bad {
        let range = j * per..(j + 1) * per;
        cov[range.clone()].copy_from_slice(&pooled);
        log_det[j] = factor_block(kind, &pooled, d, &mut factors[range], chol).ok_or(
            Error::SingularCovariance {
                component: j,
                reg_covar,
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::gaussian::Covariances;
    use crate::em::EmModel;

    fn data(n: usize, d: usize) -> Vec<f64> {
        // A deterministic, irregular cloud.
        (0..n * d)
            .map(|i| ((i * 7919) % 1013) as f64 / 101.3 - 5.0)
            .collect()
    }

    #[test]
    fn merged_statistics_equal_statistics_of_the_union() {
        let (n, d) = (1000, 3);
        let x = data(n, d);
        let all = DataRef::new(&x, n, d).unwrap();
        for kind in CovarianceType::ALL {
            let model = GaussianMixture::builder(3)
                .covariance(kind)
                .max_iter(2)
                .fit(all)
                .unwrap()
                .model;
            let em = MixtureEm::new(model, 1e-6);
            let stats_of = |start: usize, end: usize| {
                let mut s = em.empty_stats();
                let mut ll = 0.0;
                let rows = block_rows(all.n_cols());
                for b in (start..end).step_by(rows) {
                    let e = (b + rows).min(end);
                    ll += em.accumulate((b, all.rows(b, e)), &mut s);
                }
                (s, ll)
            };
            let (whole, ll_whole) = stats_of(0, n);
            let (mut a, ll_a) = stats_of(0, 377);
            let (b, ll_b) = stats_of(377, n);
            a.merge(&b);
            // The sums run in a different order: rounding of a few ulps per term,
            // relative to the magnitude of the largest sum.
            let close = |p: &[f64], q: &[f64]| {
                let scale = q.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                p.iter().zip(q).all(|(u, v)| (u - v).abs() <= 1e-12 * scale)
            };
            assert!(close(&a.counts, &whole.counts), "{kind}");
            assert!(close(&a.first, &whole.first), "{kind}");
            assert!(close(&a.second, &whole.second), "{kind}");
            assert_eq!(a.worst, whole.worst, "{kind}");
            assert!((ll_a + ll_b - ll_whole).abs() <= 1e-12 * ll_whole.abs());
        }
    }

    #[test]
    fn an_empty_component_is_reseeded_at_the_worst_fit_row() {
        let (n, d) = (200, 2);
        let x = data(n, d);
        let all = DataRef::new(&x, n, d).unwrap();
        let good = GaussianMixture::builder(2).fit(all).unwrap().model;
        // Put a third component far away so it gets no responsibility at all.
        let mut means = good.means().to_vec();
        means.extend_from_slice(&[1e6, 1e6]);
        let mut cov = good.covariances().values().to_vec();
        cov.extend_from_slice(&[1e-3, 0.0, 0.0, 1e-3]);
        let w = good.weights();
        let start = GaussianMixture::new(
            vec![w[0] * 0.99, w[1] * 0.99, 0.01],
            means,
            d,
            Covariances::Full(cov),
        )
        .unwrap();
        let mut em = MixtureEm::new(start, 1e-6);
        let mut stats = em.empty_stats();
        em.accumulate((0, all), &mut stats);
        let worst_row = stats.worst.row(0).unwrap().to_vec();
        let outcome = em.maximize(&stats).unwrap();
        assert_eq!(outcome.reseeded, vec![2]);
        assert_eq!(&em.model.means()[4..6], &worst_row[..]);
        assert!(em.model.weights().iter().all(|w| w.is_finite() && *w > 0.0));
    }
}
