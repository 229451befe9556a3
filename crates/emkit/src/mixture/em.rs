//! The mixture's side of EM: sufficient statistics per block and the M-step.
//!
//! Statistics are *shifted*: for component `j` we sum `r`, `r·(x − c_j)` and
//! `r·(x − c_j)(x − c_j)ᵀ` (or its diagonal or trace), with `c_j` the
//! component's mean at the E-step. The shift is the same for every block of an
//! iteration, so blocks merge by plain addition, and the centred covariance
//! `S/N − (s/N)(s/N)ᵀ` only cancels by the (small) move of the mean, never by
//! the data's offset from the origin.

use crate::data::DataRef;
use crate::dist::gaussian::{
    accumulate_second_moments, blocks_of, covariances_from_stats, factor_block, CovarianceType,
    Covariances, Factored,
};
use crate::em::{EmData, EmModel, MaximizeOutcome, SufficientStats};
use crate::error::{Error, Result};
use crate::linalg::{log_sum_exp, positive_finite};

use super::{GaussianMixture, BLOCK_ROWS};

/// Below this share of all samples a component's mass counts as empty and it is
/// re-seeded: its mean would otherwise be `0/0`-like noise.
const EMPTY_COMPONENT_SHARE: f64 = 1e-10;

/// Rows in fixed blocks of [`BLOCK_ROWS`].
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
        self.data.n_rows().div_ceil(BLOCK_ROWS)
    }

    fn block(&self, i: usize) -> (usize, DataRef<'_>) {
        let start = i * BLOCK_ROWS;
        (
            start,
            self.data
                .rows(start, (start + BLOCK_ROWS).min(self.data.n_rows())),
        )
    }
}

/// The `cap` rows with the lowest log-density seen so far, lowest first (ties by
/// row index), kept so that an empty component can be re-seeded at the worst-fit point.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WorstRows {
    cap: usize,
    rows: Vec<(f64, usize, Vec<f64>)>,
}

impl WorstRows {
    fn new(cap: usize) -> Self {
        WorstRows {
            cap,
            rows: Vec::with_capacity(cap + 1),
        }
    }

    fn offer(&mut self, log_density: f64, index: usize, x: &[f64]) {
        let full = self.rows.len() == self.cap;
        if full && !self.before(log_density, index, self.rows.len() - 1) {
            return;
        }
        let at = self
            .rows
            .iter()
            .position(|(l, i, _)| (log_density, index) < (*l, *i))
            .unwrap_or(self.rows.len());
        self.rows.insert(at, (log_density, index, x.to_vec()));
        self.rows.truncate(self.cap);
    }

    fn before(&self, log_density: f64, index: usize, slot: usize) -> bool {
        let (l, i, _) = &self.rows[slot];
        (log_density, index) < (*l, *i)
    }
}

/// Shifted sufficient statistics of a Gaussian mixture.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MixtureStats {
    pub kind: CovarianceType,
    pub d: usize,
    /// `k × d`: the shift `c_j` of each component.
    pub shifts: Vec<f64>,
    /// `k`: Σ r.
    pub counts: Vec<f64>,
    /// `k × d`: Σ r·(x − c_j).
    pub first: Vec<f64>,
    /// Second moments about the shifts, layout per covariance type.
    pub second: Vec<f64>,
    pub worst: WorstRows,
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
            worst: WorstRows::new(k),
            shifts,
        }
    }

    fn k(&self) -> usize {
        self.counts.len()
    }

    /// Adds a block of rows with responsibilities `resp` (`rows × k`).
    pub fn add_block(&mut self, rows: DataRef<'_>, resp: &[f64]) {
        let (k, d) = (self.k(), self.d);
        for r in 0..rows.n_rows() {
            let x = rows.row(r);
            for j in 0..k {
                let w = resp[r * k + j];
                if w == 0.0 {
                    continue;
                }
                self.counts[j] += w;
                let c = &self.shifts[j * d..(j + 1) * d];
                let s = &mut self.first[j * d..(j + 1) * d];
                for i in 0..d {
                    s[i] += w * (x[i] - c[i]);
                }
            }
        }
        accumulate_second_moments(self.kind, rows, &self.shifts, resp, k, &mut self.second);
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
        for (l, i, x) in &other.worst.rows {
            self.worst.offer(*l, *i, x);
        }
    }
}

/// A mixture being fitted: the parameters plus the regularisation of its M-step.
#[derive(Clone, Debug)]
pub(crate) struct MixtureEm {
    pub model: GaussianMixture,
    pub reg_covar: f64,
}

impl<'a> EmModel<RowBlocks<'a>> for MixtureEm {
    type Stats = MixtureStats;

    fn empty_stats(&self) -> MixtureStats {
        let m = &self.model;
        MixtureStats::new(m.covariance_type(), m.means.clone(), m.n_features)
    }

    fn accumulate(&self, (start, rows): (usize, DataRef<'_>), stats: &mut MixtureStats) -> f64 {
        let k = self.model.n_components();
        let mut buf = vec![0.0; rows.n_rows() * k];
        self.model.weighted_log_prob(rows, &mut buf);
        let mut ll = 0.0;
        for (r, row) in buf.chunks_mut(k).enumerate() {
            let lse = log_sum_exp(row);
            ll += lse;
            stats.worst.offer(lse, start + r, rows.row(r));
            if lse.is_finite() {
                row.iter_mut().for_each(|v| *v = (*v - lse).exp());
            } else {
                // No component gives this row any density; the non-finite total
                // stops the fit with a clear error.
                row.fill(0.0);
            }
        }
        stats.add_block(rows, &buf);
        ll
    }

    fn maximize(&mut self, stats: &MixtureStats) -> Result<MaximizeOutcome> {
        let (model, reseeded) = parameters_from_stats(stats, self.reg_covar)?;
        self.model = model;
        Ok(MaximizeOutcome { reseeded })
    }
}

/// The M-step: new parameters from merged statistics, with empty or collapsed
/// components re-seeded.
///
/// Re-seeding policy: a component whose mass is below [`EMPTY_COMPONENT_SHARE`]
/// of the data, or whose covariance is not positive definite even with
/// `reg_covar`, gets as mean the worst-fit row of the E-step (the lowest
/// log-density; the next-worst for the next such component), as covariance the
/// count-weighted average of the healthy components' covariances, and the
/// weight of one sample. With a tied covariance only the mean is re-seeded; a
/// tied covariance that is not positive definite is an error.
pub(crate) fn parameters_from_stats(
    stats: &MixtureStats,
    reg_covar: f64,
) -> Result<(GaussianMixture, Vec<usize>)> {
    let (k, d, kind) = (stats.k(), stats.d, stats.kind);
    let total: f64 = stats.counts.iter().sum();
    // scikit-learn's guard against 0/0 for an empty component.
    let mut counts: Vec<f64> = stats
        .counts
        .iter()
        .map(|c| c + 10.0 * f64::EPSILON)
        .collect();
    let mut means = stats.shifts.clone();
    for j in 0..k {
        for i in 0..d {
            means[j * d + i] += stats.first[j * d + i] / counts[j];
        }
    }
    let mut cov = covariances_from_stats(kind, &counts, &stats.first, &stats.second, d, reg_covar);
    let n_blocks = blocks_of(kind, k);
    let per = cov.len() / n_blocks;
    let mut prec = vec![0.0; cov.len()];
    let mut log_det = vec![0.0; n_blocks];
    let mut bad: Vec<usize> = (0..k)
        .filter(|&j| stats.counts[j].is_nan() || stats.counts[j] <= EMPTY_COMPONENT_SHARE * total)
        .collect();
    for b in 0..n_blocks {
        let range = b * per..(b + 1) * per;
        match factor_block(kind, &cov[range.clone()], d, &mut prec[range]) {
            Some(ld) => log_det[b] = ld,
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
    if !bad.is_empty() {
        if kind != CovarianceType::Tied {
            let healthy: Vec<usize> = (0..k).filter(|j| !bad.contains(j)).collect();
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
            for &j in &bad {
                let range = j * per..(j + 1) * per;
                cov[range.clone()].copy_from_slice(&pooled);
                log_det[j] = factor_block(kind, &pooled, d, &mut prec[range]).ok_or(
                    Error::SingularCovariance {
                        component: j,
                        reg_covar,
                    },
                )?;
            }
        }
        for (i, &j) in bad.iter().enumerate() {
            if let Some((_, _, x)) = stats.worst.rows.get(i) {
                means[j * d..(j + 1) * d].copy_from_slice(x);
            }
            counts[j] = 1.0;
        }
    }
    let sum: f64 = counts.iter().sum();
    let weights: Vec<f64> = counts.iter().map(|c| c / sum).collect();
    let factored = Factored {
        covariances: Covariances::from_values(kind, cov),
        precisions_cholesky: prec,
        log_det,
    };
    Ok((
        GaussianMixture::from_parts(weights, means, d, factored),
        bad,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
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
            let em = MixtureEm {
                model,
                reg_covar: 1e-6,
            };
            let stats_of = |start: usize, end: usize| {
                let mut s = em.empty_stats();
                let ll = em.accumulate((start, all.rows(start, end)), &mut s);
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
        let mut em = MixtureEm {
            model: start,
            reg_covar: 1e-6,
        };
        let mut stats = em.empty_stats();
        em.accumulate((0, all), &mut stats);
        let worst_row = stats.worst.rows[0].2.clone();
        let outcome = em.maximize(&stats).unwrap();
        assert_eq!(outcome.reseeded, vec![2]);
        assert_eq!(&em.model.means()[4..6], &worst_row[..]);
        assert!(em.model.weights().iter().all(|w| w.is_finite() && *w > 0.0));
    }
}
