//! Baum–Welch on the shared EM engine: sequences are the engine's blocks.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::emission::{
    check_one_column, check_symbols, CategoricalEmission, Emission, GaussianEmission, GmmEmission,
};
use super::forward_backward::forward_backward;
use super::priors::{ChainPrior, PriorArray, PriorSettings};
use super::scaled::ScaledWork;
use super::{check_distributions, CategoricalHmm, GaussianHmm, GmmHmm, Hmm, Learn, Sequences};
use crate::data::DataRef;
use crate::dist::categorical::map_row;
use crate::dist::gaussian::{CovarianceCentre, CovarianceType, Covariances};
use crate::em::{self, EmConfig, EmData, EmModel, FitReport, MaximizeOutcome, Monitor};
use crate::em::{NoMonitor, SufficientStats};
use crate::error::{Error, Result};
use crate::init::kmeans;
use crate::memory::{bytes_of, product, sum, MemoryLimit};
use crate::select::DataCovariance;

/// Most Lloyd iterations of the k-means initialisation (scikit-learn's default).
const KMEANS_MAX_ITER: usize = 300;

impl EmData for Sequences<'_> {
    type Block<'b>
        = DataRef<'b>
    where
        Self: 'b;

    fn n_samples(&self) -> usize {
        self.data().n_rows()
    }

    fn n_blocks(&self) -> usize {
        self.len()
    }

    fn block(&self, i: usize) -> DataRef<'_> {
        self.sequence(i).1
    }
}

/// Expected counts of one task's sequences, with its buffers.
#[derive(Clone, Debug)]
pub(crate) struct HmmStats<E: Emission> {
    /// `K`: Σ over sequences of `P(state_0 = j | x)`.
    start: Vec<f64>,
    /// `K × K`: expected transition counts.
    transitions: Vec<f64>,
    emission: E::Stats,
    work: ScaledWork,
}

impl<E: Emission> SufficientStats for HmmStats<E> {
    fn merge(&mut self, other: &Self) {
        for (a, b) in self.start.iter_mut().zip(&other.start) {
            *a += b;
        }
        for (a, b) in self.transitions.iter_mut().zip(&other.transitions) {
            *a += b;
        }
        E::merge_stats(&mut self.emission, &other.emission);
    }
}

/// An HMM being fitted: the parameters, what its M-step may change, and the
/// priors of a MAP M-step (none: maximum likelihood).
#[derive(Clone, Debug)]
pub(crate) struct HmmEm<E: Emission> {
    pub hmm: Hmm<E>,
    learn: Learn,
    reg_covar: f64,
    chain: ChainPrior,
    prior: E::Prior,
}

impl<'s, E: Emission> EmModel<Sequences<'s>> for HmmEm<E> {
    type Stats = HmmStats<E>;

    fn empty_stats(&self) -> HmmStats<E> {
        let k = self.hmm.n_states();
        HmmStats {
            start: vec![0.0; k],
            transitions: vec![0.0; k * k],
            emission: self.hmm.emission.new_stats(),
            work: ScaledWork::default(),
        }
    }

    fn reset_stats(&self, stats: &mut HmmStats<E>) {
        stats.start.fill(0.0);
        stats.transitions.fill(0.0);
        self.hmm.emission.reset_stats(&mut stats.emission);
    }

    fn work_per_sample(&self) -> usize {
        let k = self.hmm.n_states();
        k * (3 * k + self.hmm.emission.work_per_sample())
    }

    fn accumulate(&self, obs: DataRef<'_>, stats: &mut HmmStats<E>) -> f64 {
        let hmm = &self.hmm;
        let (t, k) = (obs.n_rows(), hmm.n_states());
        let w = &mut stats.work;
        w.prepare(t, k);
        hmm.emission
            .scaled_probabilities(obs, &mut stats.emission, &mut w.b, &mut w.log_scale);
        let ll = match w.forward_backward(&hmm.start, &hmm.transitions, t, &mut stats.transitions) {
            Some(ll) => ll,
            None => {
                // Scaling could not represent this sequence: log space.
                hmm.emission
                    .log_probabilities(obs, &mut stats.emission, &mut w.b);
                let p = forward_backward(&hmm.log_start, &hmm.log_transitions, &w.b);
                if !p.log_likelihood.is_finite() {
                    // Impossible under the model; the driver stops on it.
                    return p.log_likelihood;
                }
                w.gamma.copy_from_slice(&p.state);
                for (a, b) in stats.transitions.iter_mut().zip(&p.transitions) {
                    *a += b;
                }
                // Where only the backward pass failed, `score` (forward only)
                // gets the scaled value: report that one.
                w.last_forward.unwrap_or(p.log_likelihood)
            }
        };
        for (s, g) in stats.start.iter_mut().zip(&w.gamma[..k]) {
            *s += g;
        }
        hmm.emission.accumulate(obs, &w.gamma, &mut stats.emission);
        ll
    }

    /// Expected counts normalised (hmmlearn's `max(α − 1 + n, 0)` with a
    /// Dirichlet prior), zeros kept zero; a row with no count left (a state
    /// never left, or one whose prior clamps every entry) keeps its values.
    fn maximize(&mut self, stats: &HmmStats<E>) -> Result<MaximizeOutcome> {
        let k = self.hmm.n_states();
        let h = &mut self.hmm;
        if self.learn.start {
            let alpha = self.chain.start.as_deref();
            map_row(&mut h.start, |i| stats.start[i], alpha, true);
        }
        if self.learn.transitions {
            for i in 0..k {
                let counts = &stats.transitions[i * k..(i + 1) * k];
                let alpha = self
                    .chain
                    .transitions
                    .as_ref()
                    .map(|a| &a[i * k..(i + 1) * k]);
                let row = &mut h.transitions[i * k..(i + 1) * k];
                map_row(row, |j| counts[j], alpha, true);
            }
        }
        let reseeded =
            h.emission
                .maximize(&stats.emission, self.learn, self.reg_covar, &self.prior)?;
        h.refresh_logs();
        Ok(MaximizeOutcome { reseeded })
    }
}

/// Settings of a Baum–Welch fit (hmmlearn's concepts, scikit-learn's names),
/// including hmmlearn 0.3's MAP priors (`startprob_prior`, `transmat_prior`
/// and each emission's own; all neutral unless set, so a fit is plain
/// maximum likelihood by default).
#[derive(Clone, Debug)]
pub struct HmmBuilder<E: Emission> {
    n_states: usize,
    covariance: CovarianceType,
    n_symbols: Option<usize>,
    n_mix: usize,
    reg_covar: f64,
    learn: Learn,
    start: Option<Vec<f64>>,
    transitions: Option<Vec<f64>>,
    emission: Option<E>,
    priors: PriorSettings,
    em: EmConfig,
}

/// A fitted HMM and the story of its fit.
#[derive(Clone, Debug)]
pub struct HmmFit<E: Emission> {
    /// The best restart's model, after its last M-step.
    pub model: Hmm<E>,
    /// Per-restart traces, stop reasons and states left unvisited.
    pub report: FitReport,
}

impl<E: Emission> HmmFit<E> {
    /// Total log-likelihood of the training data under the model.
    pub fn log_likelihood(&self) -> f64 {
        self.report.best().log_likelihood
    }

    /// Mean log-likelihood per observation.
    pub fn mean_log_likelihood(&self) -> f64 {
        self.report.best().mean_log_likelihood
    }

    /// BIC on the training data (lower is better).
    pub fn bic(&self) -> f64 {
        crate::select::bic(
            self.log_likelihood(),
            self.model.n_parameters(),
            self.report.n_samples,
        )
    }

    /// AIC on the training data (lower is better).
    pub fn aic(&self) -> f64 {
        crate::select::aic(self.log_likelihood(), self.model.n_parameters())
    }
}

impl GaussianHmm {
    /// A builder that fits an HMM with `n_states` Gaussian states.
    ///
    /// ```
    /// use emkit::hmm::{GaussianHmm, Sequences};
    /// use emkit::{CovarianceType, DataRef};
    /// // Two regimes that alternate in runs.
    /// let x: Vec<f64> = (0..200).map(|t| if (t / 20) % 2 == 0 { 0.0 } else { 5.0 } + (t % 7) as f64 * 0.1).collect();
    /// let data = DataRef::new(&x, 200, 1)?;
    /// let fit = GaussianHmm::builder(2)
    ///     .covariance(CovarianceType::Diagonal)
    ///     .n_init(3)
    ///     .fit(&Sequences::one(data))?;
    /// let (_, path) = fit.model.decode(&Sequences::one(data))?;
    /// assert_eq!(path[0], path[19]);
    /// assert_ne!(path[0], path[20]);
    /// # Ok::<(), emkit::Error>(())
    /// ```
    pub fn builder(n_states: usize) -> HmmBuilder<GaussianEmission> {
        HmmBuilder::new(n_states)
    }
}

impl GmmHmm {
    /// A builder that fits an HMM whose `n_states` states each emit from a
    /// mixture of Gaussians (GMM-HMM; [`HmmBuilder::n_mix`] components each).
    pub fn builder(n_states: usize) -> HmmBuilder<GmmEmission> {
        HmmBuilder::new(n_states)
    }
}

impl CategoricalHmm {
    /// A builder that fits an HMM with `n_states` states emitting symbols.
    pub fn builder(n_states: usize) -> HmmBuilder<CategoricalEmission> {
        HmmBuilder::new(n_states)
    }
}

impl<E: Emission> HmmBuilder<E>
where
    Self: Initialise<E>,
{
    fn new(n_states: usize) -> Self {
        HmmBuilder {
            n_states,
            covariance: CovarianceType::Full,
            n_symbols: None,
            n_mix: 1,
            reg_covar: 1e-6,
            learn: Learn::ALL,
            start: None,
            transitions: None,
            emission: None,
            priors: PriorSettings::default(),
            em: EmConfig::default(),
        }
    }

    /// hmmlearn's `startprob_prior`: Dirichlet concentrations of the start
    /// probabilities, broadcast to `(n_states,)` (default 1 everywhere:
    /// maximum likelihood, which is also hmmlearn's default). The M-step
    /// takes `max(α − 1 + n, 0)` normalised, `n` the expected count of each
    /// state at the first step of the sequences; a zero start probability
    /// stays zero. Values must be finite and `>= 0`. See the [module
    /// documentation](super#map-priors) for what a MAP fit reports.
    pub fn startprob_prior(mut self, prior: impl Into<PriorArray>) -> Self {
        self.priors.startprob_prior = Some(prior.into());
        self
    }

    /// hmmlearn's `transmat_prior`: Dirichlet concentrations of each
    /// transition row, broadcast to `(n_states, n_states)` (default 1:
    /// maximum likelihood). Row `i` becomes `max(α_i − 1 + n_i, 0)`
    /// normalised; zeros of the transition matrix stay zero (a left-right
    /// topology is kept, as in hmmlearn). Values must be finite and `>= 0`.
    pub fn transmat_prior(mut self, prior: impl Into<PriorArray>) -> Self {
        self.priors.transmat_prior = Some(prior.into());
        self
    }

    /// Which parameters Baum–Welch changes (default all).
    pub fn learn(mut self, learn: Learn) -> Self {
        self.learn = learn;
        self
    }

    /// Initial start probabilities (default: random, flat Dirichlet, per restart).
    pub fn start(mut self, start: Vec<f64>) -> Self {
        self.start = Some(start);
        self
    }

    /// Initial transition matrix (`K × K`, row-major; default: random rows,
    /// flat Dirichlet, per restart). Zeros stay zero through training, so this
    /// sets a topology (left-right, say).
    pub fn transitions(mut self, transitions: Vec<f64>) -> Self {
        self.transitions = Some(transitions);
        self
    }

    /// Initial emission parameters (default: from the data, per restart).
    pub fn emission(mut self, emission: E) -> Self {
        self.emission = Some(emission);
        self
    }

    /// Starts every restart from all of `model`'s parameters.
    pub fn init_model(self, model: Hmm<E>) -> Self {
        self.start(model.start)
            .transitions(model.transitions)
            .emission(model.emission)
    }

    /// Number of restarts (default 1); the best final log-likelihood wins.
    pub fn n_init(mut self, n_init: usize) -> Self {
        self.em.n_init = n_init;
        self
    }

    /// Most Baum–Welch iterations per restart (default 100).
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.em.max_iter = max_iter;
        self
    }

    /// Convergence threshold on the change of the mean log-likelihood per
    /// observation (default 1e-3; hmmlearn's `tol` is on the total).
    pub fn tol(mut self, tol: f64) -> Self {
        self.em.tol = tol;
        self
    }

    /// Master seed (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.em.seed = seed;
        self
    }

    /// The most memory the fit may need (default:
    /// [`crate::memory::default_limit`]); a fit whose estimate
    /// ([`memory_needed`](Self::memory_needed)) is above it fails with
    /// [`Error::TooMuchMemory`] before allocating.
    pub fn max_memory(mut self, limit: MemoryLimit) -> Self {
        self.em.max_memory = Some(limit);
        self
    }

    /// Estimated peak bytes of a fit on `seqs` beyond the data: the models
    /// alive at once, and per task (sequences run in parallel) its
    /// forward–backward matrices for the longest sequence (`T × K` each) and
    /// its statistics (`K × K` transitions and the emission's), plus the
    /// restart reports, and the priors (as many values again as the
    /// parameters they act on, twice: lowered, and the scratch of an M-step).
    pub fn memory_needed(&self, seqs: &Sequences<'_>) -> u128 {
        let k = self.n_states;
        let emission = self.emission_values(seqs.data());
        let chain = sum(&[product(&[k, k]), product(&[2, k])]);
        let tasks = crate::em::n_tasks(seqs.len()) as u128;
        // Emission (log-)probabilities, forward, backward and posteriors,
        // and their scaled twins.
        let recursions = product(&[6, seqs.max_len(), k]);
        let per_task = sum(&[recursions, chain, emission]);
        let priors = if self.priors.any() {
            sum(&[emission, chain]).saturating_mul(2)
        } else {
            0
        };
        let values = sum(&[
            sum(&[emission, chain]).saturating_mul(3),
            tasks.saturating_mul(per_task),
            priors,
        ]);
        bytes_of(values, 8).saturating_add(crate::em::report_bytes(&self.em))
    }

    /// Fits on `seqs`.
    pub fn fit(&self, seqs: &Sequences<'_>) -> Result<HmmFit<E>> {
        self.fit_with_monitor(seqs, &mut NoMonitor)
    }

    /// Fits on `seqs`, reporting each restart and iteration to `monitor`.
    pub fn fit_with_monitor<M: Monitor + ?Sized>(
        &self,
        seqs: &Sequences<'_>,
        monitor: &mut M,
    ) -> Result<HmmFit<E>> {
        let (chain, prior) = self.validate(seqs)?;
        let mut config = self.em;
        if self.start.is_some() && self.transitions.is_some() && self.emission.is_some() {
            // Every restart would start at the same point.
            config.n_init = 1;
        }
        let (fitted, report) = em::fit(
            seqs,
            &config,
            |_, seed| {
                let mut rng = Pcg64::seed_from_u64(seed);
                let k = self.n_states;
                let start = match &self.start {
                    Some(s) => s.clone(),
                    None => flat_dirichlet(k, &mut rng),
                };
                let transitions = match &self.transitions {
                    Some(t) => t.clone(),
                    None => (0..k).flat_map(|_| flat_dirichlet(k, &mut rng)).collect(),
                };
                let emission = match &self.emission {
                    Some(e) => e.clone(),
                    None => self.initial_emission(seqs.data(), &mut rng)?,
                };
                let mut hmm = Hmm::from_parts(start, transitions, emission);
                hmm.learned = self.learn;
                Ok(HmmEm {
                    hmm,
                    learn: self.learn,
                    reg_covar: self.reg_covar,
                    chain: chain.clone(),
                    prior: prior.clone(),
                })
            },
            monitor,
        )?;
        Ok(HmmFit {
            model: fitted.hmm,
            report,
        })
    }

    /// Checks every setting once, and returns the priors lowered for the
    /// M-step.
    fn validate(&self, seqs: &Sequences<'_>) -> Result<(ChainPrior, E::Prior)> {
        self.em.validate()?;
        let data = seqs.data();
        data.check_not_empty()?;
        data.check_fittable()?;
        let k = self.n_states;
        if k == 0 {
            return Err(Error::InvalidConfig {
                field: "n_states",
                reason: "must be at least 1".into(),
            });
        }
        let l = self.learn;
        if !(l.start || l.transitions || l.means || l.covariances) {
            return Err(Error::InvalidConfig {
                field: "learn",
                reason: "learns nothing; give at least one of s (start), t (transitions), \
                         m (means), c (covariances), e (emission probabilities)"
                    .into(),
            });
        }
        self.check_for_init(data)?;
        self.em.memory_limit().check(
            self.memory_needed(seqs),
            || {
                format!(
                    "a {k}-state HMM fit on {} observations (longest sequence {})",
                    seqs.n_samples(),
                    seqs.max_len()
                )
            },
            "use fewer states, features or symbols, or shorter sequences (--lengths)",
        )?;
        if !(self.reg_covar >= 0.0 && self.reg_covar.is_finite()) {
            return Err(Error::InvalidConfig {
                field: "reg_covar",
                reason: format!("must be a finite number >= 0, got {}", self.reg_covar),
            });
        }
        if let Some(s) = &self.start {
            if s.len() != k {
                return Err(Error::ShapeMismatch {
                    what: "number of start probabilities".into(),
                    expected: k,
                    got: s.len(),
                });
            }
            check_distributions("start", s, k)?;
        }
        if let Some(t) = &self.transitions {
            if k.checked_mul(k) != Some(t.len()) {
                return Err(Error::ShapeMismatch {
                    what: "number of transition probabilities (K x K)".into(),
                    expected: k.saturating_mul(k),
                    got: t.len(),
                });
            }
            check_distributions("transitions", t, k)?;
        }
        if let Some(e) = &self.emission {
            if e.n_states() != k {
                return Err(Error::ShapeMismatch {
                    what: "number of states of the initial emission".into(),
                    expected: k,
                    got: e.n_states(),
                });
            }
            e.check_data(data)?;
        }
        Ok((self.priors.chain(k)?, self.emission_prior(data)?))
    }
}

/// How each emission gets its first parameters; implemented for the builders
/// of the emissions emkit has.
pub trait Initialise<E: Emission> {
    /// Emission-specific checks of the data before a fit.
    fn check_for_init(&self, data: DataRef<'_>) -> Result<()>;
    /// The number of values of the emission's parameters (or statistics) for
    /// `data`, for memory estimates; call after `check_for_init`.
    fn emission_values(&self, data: DataRef<'_>) -> u128;
    /// The first emission parameters of one restart.
    fn initial_emission(&self, data: DataRef<'_>, rng: &mut Pcg64) -> Result<E>;
    /// The emission's prior settings checked against the fit's shapes and
    /// lowered for the M-step; call after `check_for_init`.
    fn emission_prior(&self, data: DataRef<'_>) -> Result<E::Prior>;
}

/// hmmlearn 0.3's `GaussianHMM` priors. With `N` the state's expected
/// count, `m` the posterior-weighted mean of its observations and `S` their
/// scatter about `m` (`S/N` is the maximum-likelihood covariance), the MAP
/// M-step is
///
/// ```text
/// μ = (λ μ₀ + N m) / (λ + N)                                means_weight λ, means_prior μ₀
/// diag:      σ²_i = (ψ_i + S_ii + w_i) / (max(c − 1, 0) + N)    covars_prior ψ, covars_weight c
/// spherical: σ²   = mean over features of the diag values
/// full:      Σ    = (Ψ + S + W) / (max(c − d, 0) + N)
/// tied:      Σ    = (Ψ + Σ_j (S_j + W_j)) / (max(c − d, 0) + Σ_j N_j)
/// ```
///
/// with `W = λ (μ − μ₀)(μ − μ₀)ᵀ + N (m − μ)(m − μ)ᵀ` (diag: its diagonal
/// `w`), which is hmmlearn's `c_n` rearranged about the data mean: the
/// numbers are hmmlearn's up to rounding (tested to 1e-10), but computed
/// without its cancellation (`Σ x² − 2 μ Σ x + μ² N`) on data far from the
/// origin. `reg_covar` is then added to every variance (hmmlearn adds
/// nothing in its M-step; set `reg_covar(0.0)` for its numbers).
///
/// Unset priors are neutral (`means_weight 0`, `covars_prior 0`,
/// `covars_weight 1`): plain maximum likelihood, the bits of a fit without
/// priors. hmmlearn's defaults are the same except `covars_prior=1e-2`.
///
/// Where emkit differs: hmmlearn floors the diag/spherical denominator at
/// 1e-5, emkit leaves states with a tiny occupancy to its unvisited-state
/// policy (below 1e-10 of the observations a state keeps its emission); and
/// hmmlearn, learning covariances but not means (`params` without `m`),
/// drops the occupancy from its formula, where emkit uses the current means
/// and the true occupancy.
impl HmmBuilder<GaussianEmission> {
    /// Covariance structure of the states (default full).
    pub fn covariance(mut self, covariance: CovarianceType) -> Self {
        self.covariance = covariance;
        self
    }

    /// Added to every covariance diagonal (default 1e-6).
    pub fn reg_covar(mut self, reg_covar: f64) -> Self {
        self.reg_covar = reg_covar;
        self
    }

    /// hmmlearn's `means_prior` `μ₀`, broadcast to `(n_states, n_features)`
    /// (default 0; it acts only with a `means_weight`). Finite.
    pub fn means_prior(mut self, prior: impl Into<PriorArray>) -> Self {
        self.priors.means_prior = Some(prior.into());
        self
    }

    /// hmmlearn's `means_weight` `λ`, the prior means' weight in
    /// observations: broadcast to `(n_states, n_features)` for diag and
    /// spherical covariances, a single number for full and tied (hmmlearn
    /// multiplies the outer product of the mean offsets by it; a per-feature
    /// weight would make it asymmetric). Default 0 (no prior on the means);
    /// finite and `>= 0`.
    pub fn means_weight(mut self, weight: impl Into<PriorArray>) -> Self {
        self.priors.means_weight = Some(weight.into());
        self
    }

    /// hmmlearn's `covars_prior`: the scale `ψ`/`Ψ` added to the scatter,
    /// broadcast to `(n_states, n_features)` for diag and spherical (finite,
    /// `>= 0`), `(n_states, n_features, n_features)` for full and
    /// `(n_features, n_features)` for tied (symmetric, positive
    /// semi-definite). As in numpy, a single number fills every entry — for
    /// full and tied the whole matrix, not its diagonal (hmmlearn's default
    /// `1e-2` is `0.01·11ᵀ`). Default 0.
    pub fn covars_prior(mut self, prior: impl Into<PriorArray>) -> Self {
        self.priors.covars_prior = Some(prior.into());
        self
    }

    /// hmmlearn's `covars_weight` `c`: one number; the denominators gain
    /// `max(c − 1, 0)` (diag, spherical) or `max(c − d, 0)` (full, tied).
    /// Default 1 (hmmlearn's too), which adds nothing. Finite.
    pub fn covars_weight(mut self, weight: impl Into<PriorArray>) -> Self {
        self.priors.covars_weight = Some(weight.into());
        self
    }
}

impl Initialise<GaussianEmission> for HmmBuilder<GaussianEmission> {
    fn check_for_init(&self, data: DataRef<'_>) -> Result<()> {
        if self.emission.is_none() && self.n_states > data.n_rows() {
            return Err(Error::TooFewSamples {
                n_samples: data.n_rows(),
                n_components: self.n_states,
            });
        }
        Ok(())
    }

    fn emission_values(&self, data: DataRef<'_>) -> u128 {
        let d = data.n_cols();
        // The initialisation's whole-data covariance is d × d whatever the type.
        sum(&[
            gaussian_values(self.covariance, self.n_states, d),
            product(&[3, d, d]),
        ])
    }

    /// k-means centres as the means (k-means++ seeded by the restart's seed),
    /// and the whole data's covariance plus `reg_covar` for every state
    /// (hmmlearn's initialisation).
    fn initial_emission(&self, data: DataRef<'_>, rng: &mut Pcg64) -> Result<GaussianEmission> {
        let (d, k) = (data.n_cols(), self.n_states);
        let centres = kmeans(data, k, KMEANS_MAX_ITER, rng).centres;
        let cov = DataCovariance::new(data, self.reg_covar)?.matrix().to_vec();
        let diag: Vec<f64> = (0..d).map(|a| cov[a * d + a]).collect();
        let covariances = match self.covariance {
            CovarianceType::Full => Covariances::Full(cov.repeat(k)),
            CovarianceType::Tied => Covariances::Tied(cov),
            CovarianceType::Diagonal => Covariances::Diagonal(diag.repeat(k)),
            CovarianceType::Spherical => {
                Covariances::Spherical(vec![diag.iter().sum::<f64>() / d as f64; k])
            }
        };
        GaussianEmission::new(centres, d, covariances).map_err(|_| Error::SingularCovariance {
            component: 0,
            reg_covar: self.reg_covar,
        })
    }

    fn emission_prior(
        &self,
        data: DataRef<'_>,
    ) -> Result<Option<crate::dist::gaussian::GaussianPrior>> {
        let kind = self
            .emission
            .as_ref()
            .map_or(self.covariance, |e| e.covariance_type());
        self.priors.gaussian(kind, self.n_states, data.n_cols())
    }
}

impl HmmBuilder<GmmEmission> {
    /// Covariance structure of every mixture component (default full).
    pub fn covariance(mut self, covariance: CovarianceType) -> Self {
        self.covariance = covariance;
        self
    }

    /// Added to every covariance diagonal (default 1e-6).
    pub fn reg_covar(mut self, reg_covar: f64) -> Self {
        self.reg_covar = reg_covar;
        self
    }

    /// Mixture components per state (default 1).
    pub fn n_mix(mut self, n_mix: usize) -> Self {
        self.n_mix = n_mix;
        self
    }

    /// hmmlearn's `weights_prior`: Dirichlet concentrations of each state's
    /// mixture weights, broadcast to `(n_states, n_mix)` (default 1: maximum
    /// likelihood, hmmlearn's default too). The weights become
    /// `max(α − 1 + N_c, 0)` normalised (hmmlearn does not clamp, and can
    /// return negative weights for `α < 1`); a component left with no weight
    /// is re-seeded like any empty mixture component. Finite, `>= 0`.
    pub fn weights_prior(mut self, prior: impl Into<PriorArray>) -> Self {
        self.priors.weights_prior = Some(prior.into());
        self
    }

    /// hmmlearn's `means_prior` `μ₀` of every component, broadcast to
    /// `(n_states, n_mix, n_features)` (default 0). Finite.
    pub fn means_prior(mut self, prior: impl Into<PriorArray>) -> Self {
        self.priors.means_prior = Some(prior.into());
        self
    }

    /// hmmlearn's `means_weight` `λ`, broadcast to `(n_states, n_mix)`
    /// (default 0); `μ = (λ μ₀ + Σ r x) / (λ + N)`. Finite, `>= 0`.
    pub fn means_weight(mut self, weight: impl Into<PriorArray>) -> Self {
        self.priors.means_weight = Some(weight.into());
        self
    }

    /// hmmlearn's `GMMHMM` `covars_prior`, whose meaning depends on the
    /// covariance type (its formulas, with `C` the scatter of the
    /// responsibilities about the component's mean, `δ = μ − μ₀`):
    ///
    /// ```text
    /// full:      Σ  = (Ψ + λ δδᵀ + C) / (N + 1 + ν + d + 1)       Ψ (n_states, n_mix, d, d), ν = covars_weight (n_states, n_mix)
    /// tied:      Σ  = (Ψ + Σ_c λ_c δ_cδ_cᵀ + Σ_c C_c) / (N + M + ν + d + 1)   Ψ (n_states, d, d), ν (n_states,)
    /// diag:      σ² = (2β + λ δ² + C) / (N + 1 + 2(α + 1))          α = covars_prior, β = covars_weight, both (n_states, n_mix, d)
    /// spherical: σ² = (2β + λ|δ|² + C) / (d(N + 1) + 2(α + 1))      α, β (n_states, n_mix)
    /// ```
    ///
    /// Unset, each is neutral (maximum likelihood): full `Ψ = 0, ν = −(d + 2)`;
    /// tied `Ψ = 0, ν = −(M + d + 1)`; diag `α = −1.5, β = 0`; spherical
    /// `α = −(d + 2)/2, β = 0`. These are hmmlearn's `None` defaults except
    /// spherical, where hmmlearn uses `α = −(M + 2)/2` (neutral only when
    /// `M = d`); pass that value for hmmlearn's numbers. `Ψ` must be
    /// symmetric positive semi-definite, `β >= 0`, `α` and `ν` finite; a
    /// component whose denominator is not positive (possible for small `α`
    /// or `ν` and a nearly empty component) gets no valid covariance and is
    /// repaired like a collapsed one. hmmlearn centres `C` on the means of
    /// the E-step: see [`covariance_centre`](Self::covariance_centre).
    pub fn covars_prior(mut self, prior: impl Into<PriorArray>) -> Self {
        self.priors.covars_prior = Some(prior.into());
        self
    }

    /// hmmlearn's `GMMHMM` `covars_weight`: `ν` for full and tied, `β` for
    /// diag and spherical (see [`covars_prior`](Self::covars_prior)).
    pub fn covars_weight(mut self, weight: impl Into<PriorArray>) -> Self {
        self.priors.covars_weight = Some(weight.into());
        self
    }

    /// About which means the new covariances are computed (default
    /// [`CovarianceCentre::NewMeans`], the exact M-step). hmmlearn 0.3's
    /// `GMMHMM` accumulates the scatter about the means of the E-step
    /// ([`CovarianceCentre::PreviousMeans`]), with or without priors; choose
    /// that for its numbers.
    pub fn covariance_centre(mut self, centre: CovarianceCentre) -> Self {
        self.priors.covariance_centre = centre;
        self
    }
}

impl Initialise<GmmEmission> for HmmBuilder<GmmEmission> {
    fn check_for_init(&self, data: DataRef<'_>) -> Result<()> {
        if self.n_mix == 0 {
            return Err(Error::InvalidConfig {
                field: "n_mix",
                reason: "must be at least 1".into(),
            });
        }
        if self.learn.means != self.learn.covariances {
            return Err(Error::InvalidConfig {
                field: "learn",
                reason: "mixture emissions learn means and covariances together: \
                         give both m and c, or neither"
                    .into(),
            });
        }
        let components = self.n_states.saturating_mul(self.n_mix);
        if self.emission.is_none() && components > data.n_rows() {
            return Err(Error::TooFewSamples {
                n_samples: data.n_rows(),
                n_components: components,
            });
        }
        Ok(())
    }

    fn emission_values(&self, data: DataRef<'_>) -> u128 {
        let (components, d) = (self.n_states.saturating_mul(self.n_mix), data.n_cols());
        // The emission keeps a d × d factoring scratch whatever the type.
        sum(&[
            gaussian_values(self.covariance, components, d),
            product(&[d, d]),
        ])
    }

    /// k-means splits the observations into one cluster per state; each
    /// state's mixture is then a short mixture fit (10 EM iterations, k-means
    /// started) on its cluster, or on all observations when the cluster has
    /// fewer rows than components (hmmlearn's GMMHMM also nests k-means).
    fn initial_emission(&self, data: DataRef<'_>, rng: &mut Pcg64) -> Result<GmmEmission> {
        let (d, k) = (data.n_cols(), self.n_states);
        let labels = kmeans(data, k, KMEANS_MAX_ITER, rng).labels;
        let mut states = Vec::with_capacity(k);
        for j in 0..k {
            let rows: Vec<f64> = (0..data.n_rows())
                .filter(|&i| labels[i] == j)
                .flat_map(|i| data.row(i).to_vec())
                .collect();
            let cluster = DataRef::new(&rows, rows.len() / d, d);
            let fit_on = match cluster {
                Ok(c) if c.n_rows() >= self.n_mix => c,
                _ => data,
            };
            let mixture = crate::GaussianMixture::builder(self.n_mix)
                .covariance(self.covariance)
                .reg_covar(self.reg_covar)
                .max_iter(10)
                .seed(rng.random())
                .fit(fit_on)?
                .model;
            states.push(mixture);
        }
        GmmEmission::new(states)
    }

    fn emission_prior(
        &self,
        data: DataRef<'_>,
    ) -> Result<Option<Vec<crate::mixture::em::MixturePrior>>> {
        let (kind, m) = match &self.emission {
            Some(e) => (e.covariance_type(), e.n_mix()),
            None => (self.covariance, self.n_mix),
        };
        self.priors.gmm(kind, self.n_states, m, data.n_cols())
    }
}

impl HmmBuilder<CategoricalEmission> {
    /// Number of symbols `M` (default: the largest symbol in the data plus one).
    pub fn n_symbols(mut self, n_symbols: usize) -> Self {
        self.n_symbols = Some(n_symbols);
        self
    }

    /// hmmlearn's `emissionprob_prior`: Dirichlet concentrations of each
    /// state's emission row, broadcast to `(n_states, n_symbols)` (default 1:
    /// maximum likelihood, hmmlearn's default too). Row `j` becomes
    /// `max(α_j − 1 + n_j, 0)` normalised, `n_j` the expected symbol counts;
    /// a row the prior clamps to all zeros keeps its values (hmmlearn would
    /// leave a row of zeros), and an unvisited state keeps its row. Finite,
    /// `>= 0`.
    pub fn emissionprob_prior(mut self, prior: impl Into<PriorArray>) -> Self {
        self.priors.emissionprob_prior = Some(prior.into());
        self
    }
}

impl Initialise<CategoricalEmission> for HmmBuilder<CategoricalEmission> {
    fn check_for_init(&self, data: DataRef<'_>) -> Result<()> {
        check_one_column(data)?;
        let l = self.learn;
        if !(l.start || l.transitions || l.means) {
            return Err(Error::InvalidConfig {
                field: "learn",
                reason: "learns nothing: categorical emissions have no covariances; give at \
                         least one of s (start), t (transitions), e (emission probabilities)"
                    .into(),
            });
        }
        if self.n_symbols == Some(0) {
            return Err(Error::InvalidConfig {
                field: "n_symbols",
                reason: "must be at least 1".into(),
            });
        }
        check_symbols(data, self.n_symbols).map(|_| ())
    }

    fn emission_values(&self, data: DataRef<'_>) -> u128 {
        let m = match self.n_symbols {
            Some(m) => m,
            None => check_symbols(data, None).unwrap_or(1),
        };
        // Probabilities, their logs and the statistics, state by symbol.
        product(&[3, self.n_states, m])
    }

    /// Uniform random emission probabilities, normalised (hmmlearn's).
    fn initial_emission(&self, data: DataRef<'_>, rng: &mut Pcg64) -> Result<CategoricalEmission> {
        let m = match self.n_symbols {
            Some(m) => m,
            None => check_symbols(data, None)?,
        };
        let mut p = Vec::with_capacity(self.n_states * m);
        for _ in 0..self.n_states {
            let row: Vec<f64> = (0..m).map(|_| rng.random::<f64>()).collect();
            let s: f64 = row.iter().sum();
            p.extend(row.iter().map(|v| v / s));
        }
        CategoricalEmission::new(p, m)
    }

    fn emission_prior(&self, data: DataRef<'_>) -> Result<Option<Vec<f64>>> {
        let m = match (&self.emission, self.n_symbols) {
            (Some(e), _) => e.n_symbols(),
            (None, Some(m)) => m,
            (None, None) => check_symbols(data, None)?,
        };
        self.priors.categorical(self.n_states, m)
    }
}

/// Values of `k` Gaussian components on `d` features: means, covariances,
/// precision factors and second moments.
fn gaussian_values(covariance: CovarianceType, k: usize, d: usize) -> u128 {
    let per = match covariance {
        CovarianceType::Full => product(&[k, d, d]),
        CovarianceType::Tied => product(&[d, d]),
        CovarianceType::Diagonal => product(&[k, d]),
        CovarianceType::Spherical => k as u128,
    };
    sum(&[per.saturating_mul(3), product(&[2, k, d])])
}

/// A draw from the flat Dirichlet distribution on `k` probabilities
/// (normalised standard exponentials).
fn flat_dirichlet(k: usize, rng: &mut Pcg64) -> Vec<f64> {
    let e: Vec<f64> = (0..k).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}
