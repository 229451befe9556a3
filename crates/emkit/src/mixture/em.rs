//! The mixture's side of EM: the Gaussian components' block kernel and
//! statistics (in [`crate::dist::gaussian`]) plus the mixing weights.

use super::moves::MoveStats;
use crate::data::{RowBlock, RowBlocks};
use crate::dist::gaussian::{e_step_block, factor_scratch, maximize_into, ComponentStats, Path};
use crate::em::flat::FlatReader;
use crate::em::{EmModel, MaximizeOutcome, SufficientStats};
use crate::error::Result;

use super::GaussianMixture;

impl SufficientStats for ComponentStats {
    fn merge(&mut self, other: &Self) {
        ComponentStats::merge(self, other)
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
    type Stats = ComponentStats;

    fn empty_stats(&self) -> ComponentStats {
        let m = &self.model;
        ComponentStats::new(m.covariance_type(), m.means().to_vec(), m.n_features())
    }

    fn work_per_sample(&self) -> usize {
        // Log-densities, exponentials and second moments of every component.
        let (k, d) = (self.model.n_components(), self.model.n_features());
        k * (d * (d + 1) + 40)
    }

    fn reset_stats(&self, stats: &mut ComponentStats) {
        stats.reset(self.model.means());
    }

    fn accumulate(&self, block: RowBlock<'_>, stats: &mut ComponentStats) -> f64 {
        let RowBlock {
            start,
            rows,
            weights,
        } = block;
        e_step_block(
            self.path,
            self.model.components(),
            start,
            rows,
            weights,
            stats,
        )
    }

    fn maximize(&mut self, stats: &ComponentStats) -> Result<MaximizeOutcome> {
        let (weights, components) = self.model.parts_mut();
        let reseeded = maximize_into(
            stats,
            self.reg_covar,
            None,
            weights,
            components,
            &mut self.chol,
        )?;
        Ok(MaximizeOutcome { reseeded })
    }

    fn write_flat(&self, out: &mut Vec<f64>) -> bool {
        self.model.write_flat(out);
        true
    }

    fn read_flat(&mut self, x: &[f64], base: &[f64]) -> bool {
        let mut flat = FlatReader::new(x, base);
        self.model.read_flat(&mut flat) && flat.finished()
    }

    fn proposals(&self, data: &RowBlocks<'a>) -> Result<Vec<Self>> {
        let mut stats = MoveStats::new(&self.model);
        for b in 0..data.n_blocks() {
            stats.add(&self.model, data.block(b))?;
        }
        Ok(stats.proposals(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataRef;
    use crate::dist::gaussian::{block_rows, CovarianceType, Covariances};
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
                let mut s = <MixtureEm as EmModel<RowBlocks<'_>>>::empty_stats(&em);
                let mut ll = 0.0;
                let rows = block_rows(all.n_cols());
                for b in (start..end).step_by(rows) {
                    let e = (b + rows).min(end);
                    let block = RowBlock {
                        start: b,
                        rows: all.rows(b, e),
                        weights: None,
                    };
                    ll += <MixtureEm as EmModel<RowBlocks<'_>>>::accumulate(&em, block, &mut s);
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

    /// Writing the flat parameters and reading them back (every block forced
    /// through the softmax and the Cholesky rebuild) gives the same mixture
    /// up to rounding, for every covariance type.
    #[test]
    fn flat_parameters_round_trip() {
        let (n, d) = (500, 3);
        let x = data(n, d);
        let all = DataRef::new(&x, n, d).unwrap();
        for kind in CovarianceType::ALL {
            let model = GaussianMixture::builder(3)
                .covariance(kind)
                .max_iter(5)
                .fit(all)
                .unwrap()
                .model;
            let em = MixtureEm::new(model.clone(), 1e-6);
            let mut flat = Vec::new();
            assert!(<MixtureEm as EmModel<RowBlocks<'_>>>::write_flat(
                &em, &mut flat
            ));
            // A base that matches nowhere: nothing is kept as it was.
            let base = vec![f64::NAN; flat.len()];
            let mut back = MixtureEm::new(GaussianMixture::blank(kind, 3, d), 1e-6);
            assert!(<MixtureEm as EmModel<RowBlocks<'_>>>::read_flat(
                &mut back, &flat, &base
            ));
            // exp∘ln and L·Lᵀ∘cholesky round to a few ulps of each value.
            let close = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .all(|(u, v)| (u - v).abs() <= 1e-12 * (1.0 + v.abs()))
            };
            let b = &back.model;
            assert!(close(b.weights(), model.weights()), "{kind}");
            assert!(close(b.means(), model.means()), "{kind}");
            assert!(
                close(b.covariances().values(), model.covariances().values()),
                "{kind}"
            );
            assert!(
                close(b.precisions_cholesky(), model.precisions_cholesky()),
                "{kind}"
            );
            // A vector one value short is refused, and so is an overflow.
            assert!(!<MixtureEm as EmModel<RowBlocks<'_>>>::read_flat(
                &mut back,
                &flat[..flat.len() - 1],
                &base[..flat.len() - 1]
            ));
            let mut huge = flat.clone();
            *huge.last_mut().unwrap() = 1e300;
            assert!(!<MixtureEm as EmModel<RowBlocks<'_>>>::read_flat(
                &mut back, &huge, &base
            ));
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
        let mut stats = <MixtureEm as EmModel<RowBlocks<'_>>>::empty_stats(&em);
        let block = RowBlock {
            start: 0,
            rows: all,
            weights: None,
        };
        <MixtureEm as EmModel<RowBlocks<'_>>>::accumulate(&em, block, &mut stats);
        let worst_row = stats.worst.row(0).unwrap().to_vec();
        let outcome = <MixtureEm as EmModel<RowBlocks<'_>>>::maximize(&mut em, &stats).unwrap();
        assert_eq!(outcome.reseeded, vec![2]);
        assert_eq!(&em.model.means()[4..6], &worst_row[..]);
        assert!(em.model.weights().iter().all(|w| w.is_finite() && *w > 0.0));
    }
}
