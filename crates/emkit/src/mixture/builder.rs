use rand::seq::index::sample as sample_indices;
use rand::Rng;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::em::MixtureEm;
use super::GaussianMixture;
use crate::data::{DataRef, RowBlocks, Weighted};
use crate::dist::gaussian::{
    accumulate_given, block_rows, factor_scratch, maximize_into, ComponentStats, CovarianceType,
    Covariances, Path, BLOCK_ROWS,
};
use crate::em::{self, EmConfig, Monitor, NoMonitor};
use crate::error::{Error, Result};
use crate::init::{kmeans, kmeans_plus_plus, nearest_centres, Init};
use crate::memory::{bytes_of, product, sum, MemoryLimit};

/// Most Lloyd iterations of the k-means initialisation (scikit-learn's default).
pub(super) const KMEANS_MAX_ITER: usize = 300;

/// Settings of a Gaussian-mixture fit, with scikit-learn's defaults.
#[derive(Clone, Debug)]
pub struct GaussianMixtureBuilder {
    pub(super) n_components: usize,
    pub(super) covariance: CovarianceType,
    pub(super) reg_covar: f64,
    pub(super) init: Init,
    pub(super) init_model: Option<GaussianMixture>,
    pub(super) parts: InitParts,
    pub(super) em: EmConfig,
}

/// Parameters given for every restart's start, replacing what the
/// initialisation computes (scikit-learn's `weights_init`, `means_init`,
/// `precisions_init`); the ones not given still come from [`Init`].
#[derive(Clone, Debug, Default)]
pub(super) struct InitParts {
    weights: Option<Vec<f64>>,
    means: Option<Vec<f64>>,
    covariances: Option<Covariances>,
}

impl InitParts {
    pub(super) fn is_empty(&self) -> bool {
        self.weights.is_none() && self.means.is_none() && self.covariances.is_none()
    }

    /// `model` with the given parts in place of its own, checked as
    /// [`GaussianMixture::new`] checks any parameters.
    pub(super) fn apply(&self, model: &GaussianMixture) -> Result<GaussianMixture> {
        GaussianMixture::new(
            self.weights
                .clone()
                .unwrap_or_else(|| model.weights().to_vec()),
            self.means.clone().unwrap_or_else(|| model.means().to_vec()),
            model.n_features(),
            self.covariances
                .clone()
                .unwrap_or_else(|| model.covariances().clone()),
        )
    }

    /// The whole starting model, when every part is given.
    pub(super) fn complete(&self, d: usize) -> Option<Result<GaussianMixture>> {
        match self {
            InitParts {
                weights: Some(w),
                means: Some(m),
                covariances: Some(c),
            } => Some(GaussianMixture::new(w.clone(), m.clone(), d, c.clone())),
            _ => None,
        }
    }
}

/// A fitted mixture and the story of its fit.
pub type MixtureFit = em::Fit<GaussianMixture>;

impl GaussianMixtureBuilder {
    pub(super) fn new(n_components: usize) -> Self {
        GaussianMixtureBuilder {
            n_components,
            covariance: CovarianceType::Full,
            reg_covar: 1e-6,
            init: Init::KMeans,
            init_model: None,
            parts: InitParts::default(),
            em: EmConfig::default(),
        }
    }

    /// Covariance structure (default full).
    pub fn covariance(mut self, covariance: CovarianceType) -> Self {
        self.covariance = covariance;
        self
    }

    /// Added to every covariance diagonal (default 1e-6).
    pub fn reg_covar(mut self, reg_covar: f64) -> Self {
        self.reg_covar = reg_covar;
        self
    }

    /// Initialisation of each restart (default [`Init::KMeans`]).
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Starts from these parameters instead (a warm start). Its covariance type
    /// overrides [`covariance`](Self::covariance); there is then one restart only,
    /// since every restart would start at the same point.
    pub fn init_model(mut self, model: GaussianMixture) -> Self {
        self.init_model = Some(model);
        self
    }

    /// Starting weights for every restart (`k`, summing to 1), in place of the
    /// initialisation's (scikit-learn's `weights_init`).
    pub fn weights_init(mut self, weights: Vec<f64>) -> Self {
        self.parts.weights = Some(weights);
        self
    }

    /// Starting means for every restart (`k × d`, row-major), in place of the
    /// initialisation's (scikit-learn's `means_init`). The initialisation's
    /// covariances are still computed about its own means, as scikit-learn's are.
    pub fn means_init(mut self, means: Vec<f64>) -> Self {
        self.parts.means = Some(means);
        self
    }

    /// Starting covariances for every restart, of the fit's covariance type,
    /// in place of the initialisation's (scikit-learn's `precisions_init`,
    /// inverted). With weights, means and covariances all given there is
    /// nothing left to initialise: the fit runs one restart from them.
    pub fn covariances_init(mut self, covariances: Covariances) -> Self {
        self.parts.covariances = Some(covariances);
        self
    }

    crate::em::em_settings!();

    /// Estimated peak bytes of a fit on `n_samples × n_features` data, beyond
    /// the data itself: the models alive at once (the running restart's, the
    /// best so far, the initial one), every task's statistics and scratch,
    /// the initialisation's per-row buffers, and the restart reports.
    pub fn memory_needed(&self, n_samples: usize, n_features: usize) -> u128 {
        self.memory_needed_for(n_samples, n_samples, n_features)
    }

    /// [`memory_needed`](Self::memory_needed) for a fit whose initialisation
    /// runs on `init_rows` of the `n_samples` rows (a streamed fit's sample).
    pub(super) fn memory_needed_for(
        &self,
        n_samples: usize,
        init_rows: usize,
        n_features: usize,
    ) -> u128 {
        let (k, d) = (self.n_components, n_features);
        let per_component = match self.covariance {
            CovarianceType::Full => product(&[k, d, d]),
            CovarianceType::Tied => product(&[d, d]),
            CovarianceType::Diagonal => product(&[k, d]),
            CovarianceType::Spherical => k as u128,
        };
        let means = product(&[k, d]);
        // Covariances and precision factors, means and weights.
        let model = sum(&[per_component.saturating_mul(2), means, 2 * k as u128]);
        let n_blocks = n_samples.div_ceil(block_rows(d)).max(1);
        let tasks = crate::em::n_tasks(n_blocks) as u128;
        // Counts, first and second moments and their shifts.
        let stats = sum(&[per_component, means.saturating_mul(2), k as u128]);
        // Lanes of the block kernel: the block transposed and centred, the
        // packed copy for large d, k responsibilities per row.
        let lanes = product(&[
            BLOCK_ROWS,
            d.saturating_mul(4).saturating_add(k).saturating_add(8),
        ]);
        // Factoring full and tied covariances needs a d × d scratch (in the
        // running model and the initialisation).
        let factoring = match self.covariance {
            CovarianceType::Full | CovarianceType::Tied => product(&[2, d, d]),
            CovarianceType::Diagonal | CovarianceType::Spherical => 0,
        };
        let scratch = lanes;
        // k-means labels and distances, or k-means++'s two distance arrays.
        let init = sum(&[product(&[3, init_rows]), means]);
        let values = sum(&[
            model.saturating_mul(3),
            tasks.saturating_mul(sum(&[stats, scratch])),
            init,
            factoring,
        ]);
        bytes_of(values, 8).saturating_add(crate::em::report_bytes(&self.em))
    }

    /// Fails with [`Error::TooMuchMemory`] when a fit on `n × d` data would
    /// need more than the limit.
    pub(crate) fn check_memory(&self, n: usize, d: usize) -> Result<()> {
        let k = self.n_components;
        let hint = if self.em.n_init > 1000 {
            "use fewer restarts (n_init)"
        } else if matches!(self.covariance, CovarianceType::Full | CovarianceType::Tied) && d > 1000
        {
            "use a diag or spherical covariance, or fewer features"
        } else {
            "use fewer components or features, or a diag or spherical covariance"
        };
        self.em.memory_limit().check(
            self.memory_needed(n, d),
            || {
                format!(
                    "a {k}-component {} fit of {n} rows x {d} features",
                    self.covariance
                )
            },
            hint,
        )
    }

    /// Fits on `data` (rows are samples): a [`DataRef`](crate::DataRef), or [`Weighted`]
    /// rows (scikit-learn's `sample_weight`: an integer weight counts as
    /// that many copies of the row, and every initialisation, the E-step and
    /// the M-step weigh the rows; the scores of the returned model do not).
    pub fn fit<'a>(&self, data: impl Into<Weighted<'a>>) -> Result<MixtureFit> {
        self.fit_with_monitor(data, &mut NoMonitor)
    }

    /// Fits on `data`, reporting each restart and iteration to `monitor`.
    pub fn fit_with_monitor<'a, M: Monitor + ?Sized>(
        &self,
        data: impl Into<Weighted<'a>>,
        monitor: &mut M,
    ) -> Result<MixtureFit> {
        let data = data.into();
        self.validate(data)?;
        self.run(data, monitor)
    }

    /// [`fit_with_monitor`](Self::fit_with_monitor) on data whose emptiness
    /// and values were checked already, with settings checked already
    /// ([`validate_settings`](Self::validate_settings)): what a grid of fits
    /// on one data set runs per cell, so that the data are scanned once.
    pub(crate) fn fit_prechecked<M: Monitor + ?Sized>(
        &self,
        data: Weighted<'_>,
        monitor: &mut M,
    ) -> Result<MixtureFit> {
        self.validate_against(data)?;
        self.run(data, monitor)
    }

    fn run<M: Monitor + ?Sized>(&self, data: Weighted<'_>, monitor: &mut M) -> Result<MixtureFit> {
        let mut config = self.em;
        let d = data.data().n_cols();
        if self.init_model.is_some() || self.parts.complete(d).is_some() {
            config.n_init = 1;
        }
        let blocks = RowBlocks::new(data, block_rows(d));
        let (fitted, report) = em::fit(
            &blocks,
            &config,
            |_, seed| self.initial_model(data, seed),
            monitor,
        )?;
        Ok(MixtureFit {
            model: fitted.model,
            report,
        })
    }

    /// The parameters restart 0 of a fit on `data` would start from, before any
    /// EM iteration (scikit-learn's `max_iter=0` returns these).
    pub fn start<'a>(&self, data: impl Into<Weighted<'a>>) -> Result<GaussianMixture> {
        self.start_of_restart(data, 0)
    }

    /// The parameters restart `restart` of a fit on `data` would start from
    /// (a fit over data spread across processes starts each restart from
    /// these, computed on a sample).
    pub fn start_of_restart<'a>(
        &self,
        data: impl Into<Weighted<'a>>,
        restart: usize,
    ) -> Result<GaussianMixture> {
        let data = data.into();
        self.validate(data)?;
        let seed = em::restart_seed(self.em.seed, restart);
        Ok(self.initial_model(data, seed)?.model)
    }

    /// The same settings for `n_components` components and `covariance`
    /// (model selection fits a grid of these); a warm start cannot serve
    /// every cell, so it is dropped.
    pub(crate) fn for_cell(&self, n_components: usize, covariance: CovarianceType) -> Self {
        let mut b = self.clone();
        b.n_components = n_components;
        b.covariance = covariance;
        b.init_model = None;
        b.parts = InitParts::default();
        b
    }

    /// The memory limit in force.
    pub(crate) fn memory_limit(&self) -> MemoryLimit {
        self.em.memory_limit()
    }

    /// The `reg_covar` in force.
    pub(crate) fn reg_covar_value(&self) -> f64 {
        self.reg_covar
    }

    /// Checks the settings that do not depend on the data.
    pub(crate) fn validate_settings(&self) -> Result<()> {
        self.em.validate()?;
        crate::dist::gaussian::check_reg_covar(self.reg_covar)?;
        if self.n_components == 0 {
            return Err(Error::InvalidConfig {
                field: "n_components",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    fn validate(&self, data: Weighted<'_>) -> Result<()> {
        self.validate_settings()?;
        data.data().check_not_empty()?;
        data.data().check_fittable()?;
        self.validate_against(data)
    }

    /// The checks of the settings against the shape of `data`: enough rows
    /// (of positive weight), memory, the starting parts and model.
    fn validate_against(&self, weighted: Weighted<'_>) -> Result<()> {
        let data = weighted.data();
        let rows = weighted
            .weights()
            .map_or(data.n_rows(), |w| w.iter().filter(|&&w| w > 0.0).count());
        if self.n_components > rows {
            return Err(Error::TooFewSamples {
                n_samples: rows,
                n_components: self.n_components,
            });
        }
        self.check_memory(data.n_rows(), data.n_cols())?;
        self.validate_start(data.n_cols())
    }

    /// Checks the starting parts and model against `d` features.
    pub(super) fn validate_start(&self, d: usize) -> Result<()> {
        if !self.parts.is_empty() {
            self.validate_parts(d)?;
        }
        if let Some(m) = &self.init_model {
            if m.n_features() != d {
                return Err(Error::ShapeMismatch {
                    what: "number of features of the initial model".into(),
                    expected: d,
                    got: m.n_features(),
                });
            }
            if m.n_components() != self.n_components {
                return Err(Error::ShapeMismatch {
                    what: "number of components of the initial model".into(),
                    expected: self.n_components,
                    got: m.n_components(),
                });
            }
        }
        Ok(())
    }

    /// Checks the given starting parts against `k`, `d` and the covariance
    /// type, with neutral values in place of the parts not given.
    fn validate_parts(&self, d: usize) -> Result<()> {
        let k = self.n_components;
        if let Some(c) = &self.parts.covariances {
            if c.covariance_type() != self.covariance {
                return Err(Error::InvalidConfig {
                    field: "covariances_init",
                    reason: format!(
                        "are {} but the fit is {}; give covariances of the fit's type",
                        c.covariance_type(),
                        self.covariance
                    ),
                });
            }
        }
        let identity = GaussianMixture::new(
            vec![1.0 / k as f64; k],
            vec![0.0; k * d],
            d,
            identity_covariances(self.covariance, k, d),
        )?;
        self.parts.apply(&identity).map(drop)
    }

    /// The first parameters of one restart.
    fn initial_model(&self, weighted: Weighted<'_>, seed: u64) -> Result<MixtureEm> {
        let (data, weights) = (weighted.data(), weighted.weights());
        if let Some(start) = self.given_start(data.n_cols()) {
            return start;
        }
        let k = self.n_components;
        let mut rng = Pcg64::seed_from_u64(seed);
        let stats = match self.init {
            Init::KMeans => {
                let r = kmeans(data, weights, k, KMEANS_MAX_ITER, &mut rng);
                self.stats_from_labels(weighted, &r.labels, r.centres)
            }
            Init::KMeansPlusPlus => {
                let centres = kmeans_plus_plus(data, weights, k, &mut rng);
                let (labels, _) = nearest_centres(data, &centres);
                self.stats_from_labels(weighted, &labels, centres)
            }
            Init::RandomFromData => {
                let picks = match weights {
                    None => sample_indices(&mut rng, data.n_rows(), k).into_vec(),
                    Some(w) => weighted_picks(w, k, &mut rng),
                };
                let centres: Vec<f64> = picks.iter().flat_map(|&i| data.row(i).to_vec()).collect();
                let (labels, _) = nearest_centres(data, &centres);
                self.stats_from_labels(weighted, &labels, centres)
            }
            Init::Random => self.stats_from_random(weighted, &mut rng),
        };
        self.start_from_stats(&stats, data.n_cols())
    }

    /// The start every restart shares when it is given: an initial model, or
    /// all of weights, means and covariances.
    pub(super) fn given_start(&self, d: usize) -> Option<Result<MixtureEm>> {
        if let Some(m) = &self.init_model {
            return Some(Ok(MixtureEm::new(m.clone(), self.reg_covar)));
        }
        let model = self.parts.complete(d)?;
        Some(model.map(|m| MixtureEm::new(m, self.reg_covar)))
    }

    /// The first parameters from an initialisation's statistics (one
    /// M-step), with the given starting parts in place of their own.
    pub(super) fn start_from_stats(&self, stats: &ComponentStats, d: usize) -> Result<MixtureEm> {
        let mut model = GaussianMixture::blank(self.covariance, self.n_components, d);
        let (weights, components) = model.parts_mut();
        maximize_into(
            stats,
            self.reg_covar,
            None,
            weights,
            components,
            &mut factor_scratch(self.covariance, d),
        )?;
        if !self.parts.is_empty() {
            model = self.parts.apply(&model)?;
        }
        Ok(MixtureEm::new(model, self.reg_covar))
    }

    /// Statistics of hard assignments, shifted by the assigned centres.
    pub(super) fn stats_from_labels(
        &self,
        weighted: Weighted<'_>,
        labels: &[usize],
        centres: Vec<f64>,
    ) -> ComponentStats {
        stats_of_labels(
            self.covariance,
            weighted.data(),
            weighted.weights(),
            labels,
            centres,
        )
    }

    /// Statistics of uniform random responsibilities, shifted by the first row.
    fn stats_from_random(&self, weighted: Weighted<'_>, rng: &mut Pcg64) -> ComponentStats {
        let path = Path::detect();
        let data = weighted.data();
        let k = self.n_components;
        let shifts: Vec<f64> = (0..k).flat_map(|_| data.row(0).to_vec()).collect();
        let mut stats = ComponentStats::new(self.covariance, shifts, data.n_cols());
        let mut resp = Vec::with_capacity(BLOCK_ROWS * k);
        for start in (0..data.n_rows()).step_by(BLOCK_ROWS) {
            let end = (start + BLOCK_ROWS).min(data.n_rows());
            resp.clear();
            for _ in start..end {
                let row_start = resp.len();
                resp.extend((0..k).map(|_| rng.random::<f64>()));
                let sum: f64 = resp[row_start..].iter().sum();
                resp[row_start..].iter_mut().for_each(|v| *v /= sum);
            }
            let weights = weighted.weights().map(|w| &w[start..end]);
            accumulate_given(path, &mut stats, data.rows(start, end), weights, |r, j| {
                resp[r * k + j]
            });
        }
        stats
    }
}

/// Statistics of hard assignments (row `i` counts fully, times its weight,
/// for component `labels[i]`), shifted by the `k × d` `centres`: what the
/// k-means initialisations turn into their first parameters by one M-step.
pub(super) fn stats_of_labels(
    kind: CovarianceType,
    data: DataRef<'_>,
    weights: Option<&[f64]>,
    labels: &[usize],
    centres: Vec<f64>,
) -> ComponentStats {
    let path = Path::detect();
    let mut stats = ComponentStats::new(kind, centres, data.n_cols());
    for start in (0..data.n_rows()).step_by(BLOCK_ROWS) {
        let end = (start + BLOCK_ROWS).min(data.n_rows());
        let block = &labels[start..end];
        let weights = weights.map(|w| &w[start..end]);
        accumulate_given(path, &mut stats, data.rows(start, end), weights, |r, j| {
            f64::from(u8::from(block[r] == j))
        });
    }
    stats
}

/// `k` distinct rows drawn one after another with probability proportional to
/// their weight among the rows not yet drawn (rows of weight 0 never are);
/// at least `k` weights are positive.
pub(super) fn weighted_picks(weights: &[f64], k: usize, rng: &mut Pcg64) -> Vec<usize> {
    let mut left: Vec<f64> = weights.to_vec();
    let mut picks = Vec::with_capacity(k);
    for _ in 0..k {
        let total: f64 = left.iter().sum();
        let target = rng.random::<f64>() * total;
        let mut acc = 0.0;
        let mut pick = None;
        for (i, &w) in left.iter().enumerate() {
            if w > 0.0 {
                pick = Some(i);
                acc += w;
                if acc > target {
                    break;
                }
            }
        }
        let i = pick.expect("k rows of positive weight");
        picks.push(i);
        left[i] = 0.0;
    }
    picks
}

/// Identity covariances of type `kind` for `k` components in `d` dimensions.
fn identity_covariances(kind: CovarianceType, k: usize, d: usize) -> Covariances {
    let eye: Vec<f64> = (0..d * d)
        .map(|i| f64::from(u8::from(i % (d + 1) == 0)))
        .collect();
    let values = match kind {
        CovarianceType::Full => eye.repeat(k),
        CovarianceType::Tied => eye,
        CovarianceType::Diagonal => vec![1.0; k * d],
        CovarianceType::Spherical => vec![1.0; k],
    };
    Covariances::from_values(kind, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataRef;

    fn cloud() -> Vec<f64> {
        // Three loose groups in two dimensions, deterministic.
        (0..90)
            .flat_map(|i| {
                let g = (i % 3) as f64 * 4.0;
                [
                    g + ((i * 37) % 11) as f64 * 0.1,
                    ((i * 53) % 13) as f64 * 0.1,
                ]
            })
            .collect()
    }

    #[test]
    fn given_parts_replace_only_themselves_in_the_start() {
        let x = cloud();
        let data = DataRef::new(&x, 90, 2).unwrap();
        for kind in CovarianceType::ALL {
            let plain = GaussianMixture::builder(3).covariance(kind);
            let base = plain.initial_model(data.into(), 11).unwrap().model;
            let means = vec![0.5, 0.5, 3.0, 1.0, 9.0, 0.0];
            let with = plain
                .clone()
                .means_init(means.clone())
                .initial_model(data.into(), 11)
                .unwrap()
                .model;
            assert_eq!(with.means(), &means[..], "{kind}");
            // Weights and covariances still come from the initialisation.
            assert_eq!(with.weights(), base.weights(), "{kind}");
            assert_eq!(with.covariances(), base.covariances(), "{kind}");
            let weights = vec![0.2, 0.3, 0.5];
            let with = plain
                .clone()
                .weights_init(weights.clone())
                .initial_model(data.into(), 11)
                .unwrap()
                .model;
            assert_eq!(with.weights(), &weights[..], "{kind}");
            assert_eq!(with.means(), base.means(), "{kind}");
        }
    }

    #[test]
    fn all_parts_given_is_a_warm_start_and_bad_parts_are_refused() {
        let x = cloud();
        let data = DataRef::new(&x, 90, 2).unwrap();
        let start = GaussianMixture::builder(3).fit(data).unwrap().model;
        let parts = GaussianMixture::builder(3)
            .n_init(4)
            .weights_init(start.weights().to_vec())
            .means_init(start.means().to_vec())
            .covariances_init(start.covariances().clone());
        let a = parts.fit(data).unwrap();
        let b = GaussianMixture::builder(3)
            .init_model(start.clone())
            .fit(data)
            .unwrap();
        assert_eq!(a.model, b.model);
        assert_eq!(a.report.restarts.len(), 1, "one start point, one restart");
        let wrong_sum = GaussianMixture::builder(3).weights_init(vec![0.5, 0.5, 0.5]);
        assert!(matches!(
            wrong_sum.fit(data),
            Err(Error::InvalidModel { .. })
        ));
        let wrong_type = GaussianMixture::builder(3)
            .covariance(CovarianceType::Diagonal)
            .covariances_init(start.covariances().clone());
        assert!(matches!(
            wrong_type.fit(data),
            Err(Error::InvalidConfig {
                field: "covariances_init",
                ..
            })
        ));
        let short = GaussianMixture::builder(3).means_init(vec![0.0; 4]);
        assert!(matches!(short.fit(data), Err(Error::InvalidModel { .. })));
    }
}
