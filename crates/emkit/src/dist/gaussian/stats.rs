//! Statistics of a set of Gaussian components and the M-step that reads them.
//!
//! Statistics are *shifted*: for component `j` we sum `r`, `r·(x − c_j)` and
//! `r·(x − c_j)(x − c_j)ᵀ` (or its diagonal or trace), with `c_j` the
//! component's mean at the E-step. The shift is the same for every block of an
//! iteration, so blocks merge by plain addition, and the centred covariance
//! `S/N − (s/N)(s/N)ᵀ` only cancels by the (small) move of the mean, never by
//! the data's offset from the origin.

use super::block::Scratch;
use super::{
    blocks_of, covariances_with_prior, factor_block, per_block, CovarianceType, GaussianComponents,
    GaussianPrior,
};
use crate::dist::categorical::pseudo_count;
use crate::error::{Error, Result};
use crate::linalg::positive_finite;

/// Below this share of all samples a component's mass counts as empty and it is
/// re-seeded: its mean would otherwise be `0/0`-like noise.
const EMPTY_COMPONENT_SHARE: f64 = 1e-10;

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
    pub fn new(cap: usize, d: usize) -> Self {
        WorstRows {
            d,
            keys: vec![(f64::INFINITY, usize::MAX); cap],
            values: vec![0.0; cap * d],
            len: 0,
        }
    }

    pub fn clear(&mut self) {
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

    /// The keys and rows in use, worst first.
    pub(crate) fn used(&self) -> (&[(f64, usize)], &[f64]) {
        (&self.keys[..self.len], &self.values[..self.len * self.d])
    }

    /// The `i`-th worst row.
    pub(crate) fn row(&self, i: usize) -> Option<&[f64]> {
        (i < self.len).then(|| &self.values[i * self.d..(i + 1) * self.d])
    }

    pub fn merge(&mut self, other: &WorstRows) {
        for i in 0..other.len {
            let (l, idx) = other.keys[i];
            self.offer(l, idx, &other.values[i * other.d..(i + 1) * other.d]);
        }
    }
}

/// Shifted sufficient statistics of Gaussian components, with the scratch
/// buffers of the task that accumulates them.
#[derive(Clone, Debug)]
pub(crate) struct ComponentStats {
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
    /// Σ w over the rows seen (their number when unweighted), and how many
    /// of them had a positive weight: a re-seeded component gets the weight
    /// of an average row, `weight / rows`.
    pub weight: f64,
    pub rows: usize,
    pub worst: WorstRows,
    pub scratch: Scratch,
}

impl PartialEq for ComponentStats {
    fn eq(&self, other: &Self) -> bool {
        // The scratch is not part of the statistics.
        (
            self.kind,
            self.d,
            &self.shifts,
            &self.counts,
            &self.first,
            &self.second,
            self.weight,
            self.rows,
            &self.worst,
        ) == (
            other.kind,
            other.d,
            &other.shifts,
            &other.counts,
            &other.first,
            &other.second,
            other.weight,
            other.rows,
            &other.worst,
        )
    }
}

impl ComponentStats {
    pub fn new(kind: CovarianceType, shifts: Vec<f64>, d: usize) -> Self {
        let k = shifts.len() / d;
        ComponentStats {
            kind,
            d,
            counts: vec![0.0; k],
            first: vec![0.0; k * d],
            second: vec![0.0; kind.covariance_len(k, d)],
            weight: 0.0,
            rows: 0,
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
        self.weight = 0.0;
        self.rows = 0;
        self.worst.clear();
    }

    pub fn k(&self) -> usize {
        self.counts.len()
    }

    /// Adds `other` (statistics about the same shifts) into these.
    pub fn merge(&mut self, other: &Self) {
        debug_assert_eq!(
            self.shifts, other.shifts,
            "statistics of different iterations"
        );
        let add = |a: &mut [f64], b: &[f64]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut self.counts, &other.counts);
        add(&mut self.first, &other.first);
        add(&mut self.second, &other.second);
        self.weight += other.weight;
        self.rows += other.rows;
        self.worst.merge(&other.worst);
    }
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

/// What one M-step of Gaussian components does, beyond the statistics.
pub(crate) struct Update<'a> {
    /// Per component, the count that divides the first moments: a mixture
    /// adds scikit-learn's `10·eps` guard, an HMM (as hmmlearn) does not.
    pub mean_counts: &'a [f64],
    /// Per component, the (guarded) count that divides the second moments.
    pub cov_counts: &'a [f64],
    /// Components that keep their means and (unless tied) covariances: an
    /// HMM's unvisited states. Empty: none.
    pub keep: &'a [bool],
    /// Whether the means, and the covariances, are re-estimated.
    pub means: bool,
    pub covariances: bool,
    /// A conjugate prior on the means and covariances (MAP), or none (ML).
    pub prior: Option<&'a GaussianPrior>,
    pub reg_covar: f64,
}

/// The M-step of the means and covariances of `components` from merged
/// statistics, in place: `μ_j = c_j + s_j / n_j` (or the MAP mean), the
/// covariances about the new means (about the current ones when the means are
/// not learned), with `reg_covar`, and their factors. Returns the components
/// whose covariance did not factor (not yet repaired: see
/// [`repair_with_pooled`]); a tied covariance that does not factor is an
/// error. The one M-step of every Gaussian model: mixtures, the states of
/// Gaussian HMMs and each state's mixture of a GMM HMM. Allocates nothing
/// unless a component is kept.
pub(crate) fn update_components(
    stats: &ComponentStats,
    update: &Update<'_>,
    components: &mut GaussianComponents,
    chol: &mut [f64],
) -> Result<Vec<usize>> {
    let (k, d, kind) = (stats.k(), stats.d, stats.kind);
    let kept = |j: usize| update.keep.get(j).copied().unwrap_or(false);
    if update.means {
        for j in (0..k).filter(|&j| !kept(j)) {
            for i in 0..d {
                let (c, s, n) = (
                    stats.shifts[j * d + i],
                    stats.first[j * d + i],
                    update.mean_counts[j],
                );
                components.means[j * d + i] = match update.prior {
                    None => c + s / n,
                    Some(p) => p.mean(j, i, c, s, n),
                };
            }
        }
    }
    let mut failed = Vec::new();
    if !update.covariances {
        return Ok(failed);
    }
    let restore = kind != CovarianceType::Tied && update.keep.contains(&true);
    let f = &mut components.factored;
    let old = if restore {
        f.covariances.values().to_vec()
    } else {
        Vec::new()
    };
    let cov = f.covariances.values_mut();
    covariances_with_prior(
        kind,
        d,
        update.cov_counts,
        &stats.shifts,
        &stats.first,
        &stats.second,
        &components.means,
        update.means,
        update.prior,
        update.reg_covar,
        cov,
    );
    let per = per_block(kind, d);
    for b in 0..blocks_of(kind, k) {
        let range = b * per..(b + 1) * per;
        if restore && kept(b) {
            cov[range.clone()].copy_from_slice(&old[range.clone()]);
        }
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
                    reg_covar: update.reg_covar,
                })
            }
            None => failed.push(b),
        }
    }
    Ok(failed)
}

/// The M-step of a Gaussian mixture: writes new `weights` and `components`
/// (whose shapes match) from merged statistics, re-seeding empty or
/// collapsed components. Allocates nothing unless a component must be
/// re-seeded (or a prior is given).
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
/// weight of one sample (with sample weights, of one average row of positive
/// weight). With a tied covariance only the mean is re-seeded; a tied
/// covariance that is not positive definite is an error.
pub(crate) fn maximize_into(
    stats: &ComponentStats,
    reg_covar: f64,
    prior: Option<&MixturePrior>,
    weights: &mut [f64],
    components: &mut GaussianComponents,
    chol: &mut [f64],
) -> Result<Vec<usize>> {
    let (k, d, kind) = (stats.k(), stats.d, stats.kind);
    let total: f64 = stats.counts.iter().sum();
    // The weights hold the counts until they are normalised; scikit-learn's
    // 10·eps guards an empty component against 0/0.
    let counts = weights;
    for (c, s) in counts.iter_mut().zip(&stats.counts) {
        *c = s + 10.0 * f64::EPSILON;
    }
    let update = Update {
        mean_counts: counts,
        cov_counts: counts,
        keep: &[],
        means: true,
        covariances: true,
        prior: prior.map(|p| &p.components),
        reg_covar,
    };
    let failed = update_components(stats, &update, components, chol)?;
    let mut bad: Vec<usize> = (0..k)
        .filter(|&j| stats.counts[j].is_nan() || stats.counts[j] <= EMPTY_COMPONENT_SHARE * total)
        .collect();
    for b in failed {
        if !bad.contains(&b) {
            bad.push(b);
        }
    }
    bad.sort_unstable();
    if !bad.is_empty() && kind != CovarianceType::Tied {
        repair_with_pooled(components, counts, &bad, chol, reg_covar)?;
    }
    if let Some(p) = prior {
        // The weights' pseudo-counts; the means and covariances above used
        // the plain counts.
        for (c, (&n, &a)) in counts.iter_mut().zip(stats.counts.iter().zip(&p.weights)) {
            *c = pseudo_count(a, n) + 10.0 * f64::EPSILON;
        }
    }
    // The weight of one average row: 1 without weights (n / n, exactly), and
    // unchanged relative to the rest when every weight is scaled.
    let one_row = if stats.rows > 0 {
        stats.weight / stats.rows as f64
    } else {
        1.0
    };
    for (i, &j) in bad.iter().enumerate() {
        if let Some(x) = stats.worst.row(i) {
            components.means[j * d..(j + 1) * d].copy_from_slice(x);
        }
        counts[j] = one_row;
    }
    let sum: f64 = counts.iter().sum();
    for (w, lw) in counts.iter_mut().zip(components.log_weights.iter_mut()) {
        *w /= sum;
        *lw = w.ln();
    }
    Ok(bad)
}

/// Gives each component in `bad` the count-weighted average of the other
/// components' covariances and factors it (not for tied covariances); an
/// error when no healthy component is left or the average does not factor.
pub(crate) fn repair_with_pooled(
    components: &mut GaussianComponents,
    counts: &[f64],
    bad: &[usize],
    chol: &mut [f64],
    reg_covar: f64,
) -> Result<()> {
    let (kind, d) = (components.covariance_type(), components.n_features);
    let f = &mut components.factored;
    let cov = f.covariances.values_mut();
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
        f.log_det[j] = factor_block(kind, &pooled, d, &mut f.precisions_cholesky[range], chol)
            .ok_or(Error::SingularCovariance {
                component: j,
                reg_covar,
            })?;
    }
    Ok(())
}
