//! Gaussian mixture models.
//!
//! The density is `p(x) = Σ_j w_j N(x | μ_j, Σ_j)` with `k` components in `d`
//! dimensions. Parameters follow scikit-learn's `GaussianMixture`: `weights`
//! (`k`), `means` (`k × d`), covariances in one of four structures
//! ([`CovarianceType`]) and the precision Cholesky factors derived from them.

mod builder;
pub mod distributed;
pub(crate) mod em;
mod moves;
pub mod stream;

pub use builder::{GaussianMixtureBuilder, MixtureFit};
pub use distributed::MixtureStats;
pub(crate) use em::MixtureEm;

use rand::Rng;
use rand::SeedableRng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::data::{DataRef, Matrix, Weighted};
use crate::dist::gaussian::{
    block_rows, posterior_block, CovarianceType, Covariances, GaussianComponents, Path, Scratch,
};
use crate::em::flat::{read_probabilities, write_logs, FlatReader};
use crate::em::sum_like_e_step;
use crate::error::{Error, Result};
use crate::linalg::cholesky_lower;
use crate::linalg::lanes::LANES;
use crate::memory::{bytes_of, product, try_reserve};

/// A Gaussian mixture: weights, means and covariances (with their factorisation).
///
/// Build one by fitting ([`GaussianMixture::builder`]) or from parameters
/// ([`GaussianMixture::new`]).
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    weights: Vec<f64>,
    /// Means, covariances and `ln w`.
    components: GaussianComponents,
}

impl crate::em::Parameters for GaussianMixture {
    fn n_parameters(&self) -> usize {
        GaussianMixture::n_parameters(self)
    }
}

impl GaussianMixture {
    /// A builder that fits a `n_components`-component mixture by EM.
    ///
    /// ```
    /// use emkit::{CovarianceType, DataRef, GaussianMixture};
    /// // Two well separated groups on a line.
    /// let x = [0.0, 0.1, 0.2, 0.15, 10.0, 10.1, 10.2, 10.05];
    /// let data = DataRef::new(&x, 8, 1)?;
    /// let fit = GaussianMixture::builder(2)
    ///     .covariance(CovarianceType::Diagonal)
    ///     .n_init(3)
    ///     .seed(7)
    ///     .fit(data)?;
    /// let labels = fit.model.predict(data)?;
    /// assert_eq!(labels[0], labels[3]);
    /// assert_ne!(labels[0], labels[4]);
    /// assert!(fit.report.best().converged());
    /// # Ok::<(), emkit::Error>(())
    /// ```
    pub fn builder(n_components: usize) -> GaussianMixtureBuilder {
        GaussianMixtureBuilder::new(n_components)
    }

    /// A mixture from its parameters: `weights` (`k`, non-negative, summing to 1),
    /// `means` (`k × n_features`, row-major) and covariances in scikit-learn's
    /// layout. Checks shapes, finiteness, symmetry and positive definiteness.
    pub fn new(
        weights: Vec<f64>,
        means: Vec<f64>,
        n_features: usize,
        covariances: Covariances,
    ) -> Result<Self> {
        let k = weights.len();
        let d = n_features;
        let invalid = |field: &str, problem: String| Error::InvalidModel {
            field: field.into(),
            problem,
        };
        if k == 0 || d == 0 {
            return Err(invalid(
                "weights",
                format!("a mixture needs at least one component and one feature (got {k} and {d})"),
            ));
        }
        if let Some(j) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(invalid(
                &format!("weights[{j}]"),
                format!("must be a finite number >= 0, got {}", weights[j]),
            ));
        }
        let sum: f64 = weights.iter().sum();
        // Weights written with ~17 significant digits sum to 1 within a few ulps
        // per term; 1e-6 accepts any honest rounding and rejects real mistakes.
        if (sum - 1.0).abs() > 1e-6 {
            return Err(invalid(
                "weights",
                format!("must sum to 1, they sum to {sum}"),
            ));
        }
        if means.len() != k * d {
            return Err(invalid(
                "means",
                format!("expected {k} x {d} = {} values, got {}", k * d, means.len()),
            ));
        }
        let mut components = GaussianComponents::new(means, d, covariances)?;
        components.log_weights = weights.iter().map(|w| w.ln()).collect();
        Ok(GaussianMixture {
            weights,
            components,
        })
    }

    /// A mixture of the right shapes whose values an M-step will overwrite.
    pub(crate) fn blank(kind: CovarianceType, k: usize, d: usize) -> Self {
        let mut components = GaussianComponents::blank(kind, k, d);
        components.log_weights.fill((1.0 / k as f64).ln());
        GaussianMixture {
            weights: vec![1.0 / k as f64; k],
            components,
        }
    }

    /// The components, for the block kernel.
    pub(crate) fn components(&self) -> &GaussianComponents {
        &self.components
    }

    /// The weights and the components, for an M-step to overwrite.
    pub(crate) fn parts_mut(&mut self) -> (&mut [f64], &mut GaussianComponents) {
        (&mut self.weights, &mut self.components)
    }

    /// The parameters as accelerated EM extrapolates them: log-weights,
    /// then the components' flat form.
    pub(crate) fn write_flat(&self, out: &mut Vec<f64>) {
        write_logs(&self.weights, out);
        self.components.write_flat(out);
    }

    /// Reads what [`Self::write_flat`] writes (weights through a softmax);
    /// `false` when the point is no valid mixture.
    pub(crate) fn read_flat(&mut self, flat: &mut FlatReader<'_>) -> bool {
        match read_probabilities(flat, self.weights.len(), &mut self.weights) {
            None => return false,
            Some(true) => {
                for (lw, w) in self.components.log_weights.iter_mut().zip(&self.weights) {
                    *lw = w.ln();
                }
            }
            Some(false) => {}
        }
        self.components.read_flat(flat)
    }

    /// Number of components `k`.
    pub fn n_components(&self) -> usize {
        self.weights.len()
    }

    /// Number of features `d`.
    pub fn n_features(&self) -> usize {
        self.components.n_features
    }

    /// The covariance structure.
    pub fn covariance_type(&self) -> CovarianceType {
        self.components.factored.covariance_type()
    }

    /// Mixing weights, `k`.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Means, `k × d` row-major.
    pub fn means(&self) -> &[f64] {
        &self.components.means
    }

    /// Covariances in scikit-learn's layout (they include `reg_covar`).
    pub fn covariances(&self) -> &Covariances {
        &self.components.factored.covariances
    }

    /// Cholesky factors of the precisions in scikit-learn's layout
    /// (`precisions_cholesky_`): full/tied upper-triangular `U` with `Σ⁻¹ = U Uᵀ`,
    /// diag/spherical `1/σ`.
    pub fn precisions_cholesky(&self) -> &[f64] {
        &self.components.factored.precisions_cholesky
    }

    /// Free parameters: `(k − 1) + k·d` plus the covariance parameters.
    pub fn n_parameters(&self) -> usize {
        let (k, d) = (self.n_components(), self.components.n_features);
        k - 1 + k * d + self.covariance_type().n_covariance_parameters(k, d)
    }

    pub(crate) fn check_data(&self, data: DataRef<'_>) -> Result<()> {
        if data.n_cols() != self.components.n_features {
            return Err(Error::ShapeMismatch {
                what: "number of features (columns) for this model".into(),
                expected: self.components.n_features,
                got: data.n_cols(),
            });
        }
        data.check_finite()
    }

    /// Runs `f(responsibilities of a row, its log-density, its output slot)` for
    /// every row, with the fused kernel, in parallel over fixed blocks; `width`
    /// output values per row.
    fn map_rows<T, F>(&self, data: DataRef<'_>, width: usize, f: F) -> Result<Vec<T>>
    where
        T: Default + Clone + Send,
        F: Fn(&mut dyn Iterator<Item = f64>, f64, &mut [T]) + Sync,
    {
        self.check_data(data)?;
        let (k, d) = (self.n_components(), self.components.n_features);
        let n = data.n_rows();
        crate::memory::default_limit().check(
            bytes_of(product(&[n, width]), std::mem::size_of::<T>()),
            || format!("{width} output value(s) for each of {n} rows"),
            "score, predict or label the rows in smaller pieces",
        )?;
        let path = Path::detect();
        let mut out = vec![T::default(); n * width];
        let rows_per_block = block_rows(d);
        out.par_chunks_mut(rows_per_block * width)
            .enumerate()
            .for_each_init(
                || Scratch::new(k, d),
                |scratch, (b, chunk)| {
                    let start = b * rows_per_block;
                    let rows = data.rows(start, start + chunk.len() / width);
                    let nch = posterior_block(path, &self.components, rows, scratch);
                    for (r, slot) in chunk.chunks_mut(width).enumerate() {
                        let (ch, l) = (r / LANES, r % LANES);
                        let mut resp = (0..k).map(|j| scratch.resp[j * nch + ch][l]);
                        f(&mut resp, scratch.lse[r], slot);
                    }
                },
            );
        Ok(out)
    }

    /// Log-density `ln p(x)` of every row (scikit-learn's `score_samples`).
    pub fn score_samples(&self, data: DataRef<'_>) -> Result<Vec<f64>> {
        self.map_rows(data, 1, |_, lse, out| out[0] = lse)
    }

    /// Mean log-density over the rows (scikit-learn's `score`). Summed in the
    /// order of a fit's E-step, so a fit's reported mean log-likelihood is
    /// exactly the score of its model on the training data.
    pub fn score(&self, data: DataRef<'_>) -> Result<f64> {
        data.check_not_empty()?;
        let s = self.score_samples(data)?;
        let block_totals = s
            .chunks(block_rows(self.components.n_features))
            .map(|b| b.iter().fold(0.0, |a, v| a + v));
        Ok(sum_like_e_step(block_totals) / s.len() as f64)
    }

    /// The most probable component of every row.
    pub fn predict(&self, data: DataRef<'_>) -> Result<Vec<usize>> {
        self.map_rows(data, 1, |resp, _, out| {
            let (mut best, mut best_p) = (0, f64::NEG_INFINITY);
            for (j, p) in resp.enumerate() {
                if p > best_p {
                    (best, best_p) = (j, p);
                }
            }
            out[0] = best;
        })
    }

    /// Posterior probability of each component for every row (`n × k`).
    pub fn predict_proba(&self, data: DataRef<'_>) -> Result<Matrix> {
        let k = self.n_components();
        let p = self.map_rows(data, k, |resp, _, out| {
            for (o, v) in out.iter_mut().zip(resp) {
                *o = v;
            }
        })?;
        Matrix::new(p, data.n_rows(), k)
    }

    /// Entropy of the responsibilities on `data`, `−Σᵢ Σⱼ rᵢⱼ ln rᵢⱼ` (natural
    /// log; `0 ln 0 = 0`): 0 when every row belongs wholly to one component, up
    /// to `n ln k` when every row is split evenly. ICL adds twice this to BIC
    /// ([`crate::em::criteria::icl`]). With [`Weighted`] rows each row's
    /// entropy counts its weight times.
    pub fn responsibility_entropy<'a>(&self, data: impl Into<Weighted<'a>>) -> Result<f64> {
        let data = data.into();
        let per_row = self.map_rows(data.data(), 1, |resp, _, out| {
            out[0] = resp.filter(|&r| r > 0.0).map(|r| -r * r.ln()).sum();
        })?;
        Ok(match data.weights() {
            None => per_row.iter().sum(),
            Some(w) => per_row
                .iter()
                .zip(w)
                .filter(|(_, &w)| w > 0.0)
                .map(|(e, w)| e * w)
                .sum(),
        })
    }

    /// Bayesian information criterion on `data` (lower is better):
    /// `−2 ln L + p ln n`.
    pub fn bic(&self, data: DataRef<'_>) -> Result<f64> {
        let n = data.n_rows();
        Ok(crate::em::criteria::bic(
            self.score(data)? * n as f64,
            self.n_parameters(),
            n as f64,
        ))
    }

    /// Akaike information criterion on `data` (lower is better): `−2 ln L + 2p`.
    pub fn aic(&self, data: DataRef<'_>) -> Result<f64> {
        let n = data.n_rows() as f64;
        Ok(crate::em::criteria::aic(
            self.score(data)? * n,
            self.n_parameters(),
        ))
    }

    /// Draws `n` samples: for each, a component by weight, then `μ + L z` with
    /// `Σ = L Lᵀ` and `z` standard normal. Returns the samples and their components.
    /// The same seed gives the same samples on every platform.
    ///
    /// # Errors
    ///
    /// [`Error::TooMuchMemory`] when `n × (d + 1)` values would exceed
    /// [`crate::memory::default_limit`] or the allocator refuses them.
    pub fn sample(&self, n: usize, seed: u64) -> Result<(Matrix, Vec<usize>)> {
        let d = self.components.n_features;
        let what = || format!("sampling {n} rows of {d} features");
        let hint = "draw fewer samples at a time";
        crate::memory::default_limit().check(bytes_of(product(&[n, d + 1]), 8), what, hint)?;
        let mut values = Vec::new();
        try_reserve(&mut values, n.saturating_mul(d), what, hint)?;
        let mut labels = Vec::new();
        try_reserve(&mut labels, n, what, hint)?;
        self.sample_into(n, seed, &mut values, &mut labels);
        Ok((Matrix::new(values, n, d)?, labels))
    }

    /// [`sample`](Self::sample) without the memory check, appending to
    /// `values` (`n × d`) and `labels` (`n`).
    pub(crate) fn sample_into(
        &self,
        n: usize,
        seed: u64,
        values: &mut Vec<f64>,
        labels: &mut Vec<usize>,
    ) {
        let (k, d) = (self.n_components(), self.components.n_features);
        // Per component, L with Σ = L Lᵀ: the lower Cholesky factor (full,
        // tied), or for diagonal and spherical covariances only its diagonal,
        // the standard deviations (the factor of a diagonal matrix is its
        // square root to the last bit, so the draws are those of the factor,
        // without d × d memory per component).
        let covariances = &self.components.factored.covariances;
        let diagonal = matches!(
            covariances,
            Covariances::Diagonal(_) | Covariances::Spherical(_)
        );
        let factors: Vec<Vec<f64>> = (0..k)
            .map(|j| match covariances {
                Covariances::Diagonal(v) => {
                    v[j * d..(j + 1) * d].iter().map(|c| c.sqrt()).collect()
                }
                Covariances::Spherical(v) => vec![v[j].sqrt(); d],
                _ => {
                    let cov = covariances.component_matrix(j, d);
                    let mut l = vec![0.0; d * d];
                    // The covariances were factored when the model was built.
                    cholesky_lower(&cov, d, &mut l).expect("covariance checked positive definite");
                    l
                }
            })
            .collect();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let mut z = vec![0.0; d];
        for _ in 0..n {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let mut j = k - 1;
            for (c, w) in self.weights.iter().enumerate() {
                acc += w;
                if u < acc {
                    j = c;
                    break;
                }
            }
            for v in z.iter_mut() {
                *v = rng.sample(StandardNormal);
            }
            let l = &factors[j];
            for a in 0..d {
                let lz: f64 = if diagonal {
                    l[a] * z[a]
                } else {
                    (0..=a).map(|b| l[a * d + b] * z[b]).sum()
                };
                values.push(self.components.means[j * d + a] + lz);
            }
            labels.push(j);
        }
    }
}
