//! Baum–Welch on the shared EM engine: sequences are the engine's blocks.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::emission::{CategoricalEmission, Emission, GaussianEmission, GmmEmission};
use super::families::Initialise;
use super::forward_backward::forward_backward;
use super::priors::{ChainPrior, PriorArray, PriorSettings};
use super::scaled::ScaledWork;
use super::{check_distributions, CategoricalHmm, GaussianHmm, GmmHmm, Hmm, Learn, Sequences};
use crate::data::{DataRef, Weighted};
use crate::dist::categorical::map_row;
use crate::em::flat::{read_probabilities, write_logs, FlatReader};
use crate::em::{self, EmConfig, EmData, EmModel, MaximizeOutcome, Monitor};
use crate::em::{NoMonitor, SufficientStats};
use crate::error::{Error, Result};
use crate::memory::{bytes_of, product, sum};

impl EmData for Sequences<'_> {
    /// A sequence and its weight.
    type Block<'b>
        = (DataRef<'b>, f64)
    where
        Self: 'b;

    fn n_samples(&self) -> usize {
        self.data().n_rows()
    }

    fn total_weight(&self) -> f64 {
        Sequences::total_weight(self)
    }

    fn n_blocks(&self) -> usize {
        self.len()
    }

    fn block(&self, i: usize) -> (DataRef<'_>, f64) {
        (self.sequence(i).1, self.weight(i))
    }
}

/// Expected counts of one task's sequences, with its buffers.
#[derive(Clone, Debug)]
pub(crate) struct HmmStats<E: Emission> {
    /// `K`: Σ over sequences of `P(state_0 = j | x)`.
    pub(super) start: Vec<f64>,
    /// `K × K`: expected transition counts.
    pub(super) transitions: Vec<f64>,
    pub(super) emission: E::Stats,
    work: ScaledWork,
    /// `K × K`: one weighted sequence's transition counts, before weighing.
    xi: Vec<f64>,
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
    pub(super) learn: Learn,
    pub(super) settings: E::Settings,
    pub(super) chain: ChainPrior,
    pub(super) prior: E::Prior,
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
            xi: Vec::new(),
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

    /// A sequence of weight `weight` adds its expected counts times that
    /// weight (weight 1: exactly the unweighted sums; weight 0: nothing).
    fn accumulate(&self, (obs, weight): (DataRef<'_>, f64), stats: &mut HmmStats<E>) -> f64 {
        if weight == 0.0 {
            return 0.0;
        }
        let hmm = &self.hmm;
        let (t, k) = (obs.n_rows(), hmm.n_states());
        let w = &mut stats.work;
        w.prepare(t, k);
        hmm.emission
            .scaled_probabilities(obs, &mut stats.emission, &mut w.b, &mut w.log_scale);
        // Unweighted, the transition counts go straight into the sums;
        // weighted, into `xi` first, to be weighed.
        let weighted = weight != 1.0;
        if weighted {
            stats.xi.clear();
            stats.xi.resize(k * k, 0.0);
        }
        let xi = if weighted {
            &mut stats.xi
        } else {
            &mut stats.transitions
        };
        let ll = match w.forward_backward(&hmm.start, &hmm.transitions, t, xi) {
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
                for (a, b) in xi.iter_mut().zip(&p.transitions) {
                    *a += b;
                }
                // Where only the backward pass failed, `score` (forward only)
                // gets the scaled value: report that one.
                w.last_forward.unwrap_or(p.log_likelihood)
            }
        };
        if weighted {
            for (a, b) in stats.transitions.iter_mut().zip(&stats.xi) {
                *a += weight * b;
            }
            w.gamma.iter_mut().for_each(|g| *g *= weight);
        }
        for (s, g) in stats.start.iter_mut().zip(&w.gamma[..k]) {
            *s += g;
        }
        hmm.emission.accumulate(obs, &w.gamma, &mut stats.emission);
        weight * ll
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
                .maximize(&stats.emission, self.learn, &self.settings, &self.prior)?;
        h.refresh_logs();
        Ok(MaximizeOutcome { reseeded })
    }

    fn write_flat(&self, out: &mut Vec<f64>) -> bool {
        let h = &self.hmm;
        write_logs(&h.start, out);
        write_logs(&h.transitions, out);
        h.emission.write_flat(out);
        true
    }

    fn read_flat(&mut self, x: &[f64], base: &[f64]) -> bool {
        let k = self.hmm.start.len();
        let h = &mut self.hmm;
        let mut flat = FlatReader::new(x, base);
        let chain = read_probabilities(&mut flat, k, &mut h.start).is_some()
            && read_probabilities(&mut flat, k, &mut h.transitions).is_some();
        h.refresh_logs();
        let (x, base) = flat.rest();
        chain && h.emission.read_flat(x, base)
    }
}

/// Settings of a Baum–Welch fit (hmmlearn's concepts, scikit-learn's names),
/// including hmmlearn 0.3's MAP priors (`startprob_prior`, `transmat_prior`
/// and each emission's own; all neutral unless set, so a fit is plain
/// maximum likelihood by default).
#[derive(Clone, Debug)]
pub struct HmmBuilder<E: Emission> {
    pub(super) n_states: usize,
    /// The emission family's own settings (covariance type, `reg_covar`,
    /// components per state, symbols).
    pub(super) family: E::Settings,
    pub(super) learn: Learn,
    pub(super) start: Option<Vec<f64>>,
    pub(super) transitions: Option<Vec<f64>>,
    pub(super) emission: Option<E>,
    pub(super) priors: PriorSettings,
    pub(super) em: EmConfig,
}

/// A fitted HMM and the story of its fit.
pub type HmmFit<E> = crate::em::Fit<Hmm<E>>;

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
            family: E::Settings::default(),
            learn: Learn::ALL,
            start: None,
            transitions: None,
            emission: None,
            priors: PriorSettings::default(),
            em: EmConfig::default(),
        }
    }

    prior_setters! {
        /// hmmlearn's `startprob_prior`: Dirichlet concentrations of the start
        /// probabilities, broadcast to `(n_states,)` (default 1 everywhere:
        /// maximum likelihood, which is also hmmlearn's default). The M-step
        /// takes `max(α − 1 + n, 0)` normalised, `n` the expected count of each
        /// state at the first step of the sequences; a zero start probability
        /// stays zero. Values must be finite and `>= 0`. See the [module
        /// documentation](super#map-priors) for what a MAP fit reports.
        startprob_prior;

        /// hmmlearn's `transmat_prior`: Dirichlet concentrations of each
        /// transition row, broadcast to `(n_states, n_states)` (default 1:
        /// maximum likelihood). Row `i` becomes `max(α_i − 1 + n_i, 0)`
        /// normalised; zeros of the transition matrix stay zero (a left-right
        /// topology is kept, as in hmmlearn). Values must be finite and `>= 0`.
        transmat_prior;
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

    crate::em::em_settings!();

    /// Estimated peak bytes of a fit on `seqs` beyond the data: the models
    /// alive at once, and per task (sequences run in parallel) its
    /// forward–backward matrices for the longest sequence (`T × K` each) and
    /// its statistics (`K × K` transitions and the emission's), plus the
    /// restart reports, and the priors (as many values again as the
    /// parameters they act on, twice: lowered, and the scratch of an M-step).
    pub fn memory_needed(&self, seqs: &Sequences<'_>) -> u128 {
        self.memory_for(seqs.data(), seqs.len(), seqs.max_len(), 0)
    }

    /// [`memory_needed`](Self::memory_needed) for `n_sequences` sequences,
    /// the longest `max_len`, of the features of `data`, with `per_task`
    /// more values per task (a streamed fit's sequence buffer).
    pub(super) fn memory_for(
        &self,
        data: DataRef<'_>,
        n_sequences: usize,
        max_len: usize,
        per_task: u128,
    ) -> u128 {
        let k = self.n_states;
        let emission = self.emission_values(data);
        let chain = sum(&[product(&[k, k]), product(&[2, k])]);
        let tasks = crate::em::n_tasks(n_sequences) as u128;
        // Emission (log-)probabilities, forward, backward and posteriors,
        // and their scaled twins.
        let recursions = product(&[6, max_len, k]);
        let per_task = sum(&[recursions, chain, emission, per_task]);
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
        let row_weights = row_weights(seqs);
        let rows = match &row_weights {
            None => Weighted::from(seqs.data()),
            Some(w) => Weighted::new(seqs.data(), w)?,
        };
        self.fit_from(seqs, rows, chain, prior, monitor)
    }

    /// Baum–Welch on `data`, each restart starting from `rows` (every row,
    /// or a sample of them) as [`fit`](Self::fit) does.
    pub(super) fn fit_from<D, M>(
        &self,
        data: &D,
        rows: Weighted<'_>,
        chain: ChainPrior,
        prior: E::Prior,
        monitor: &mut M,
    ) -> Result<HmmFit<E>>
    where
        D: EmData + ?Sized,
        HmmEm<E>: EmModel<D>,
        M: Monitor + ?Sized,
    {
        let mut config = self.em;
        if self.start.is_some() && self.transitions.is_some() && self.emission.is_some() {
            // Every restart would start at the same point.
            config.n_init = 1;
        }
        let (fitted, report) = em::fit(
            data,
            &config,
            |_, seed| {
                Ok(HmmEm {
                    hmm: self.initial_hmm(rows, seed)?,
                    learn: self.learn,
                    settings: self.family.clone(),
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

    /// The starting model of the restart seeded `seed`: the given parts, the
    /// others drawn (start and transitions) or initialised from `rows`.
    pub(super) fn initial_hmm(&self, rows: Weighted<'_>, seed: u64) -> Result<Hmm<E>> {
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
            None => self.initial_emission(rows, &mut rng)?,
        };
        let mut hmm = Hmm::from_parts(start, transitions, emission);
        hmm.learned = self.learn;
        Ok(hmm)
    }

    /// Checks every setting once, and returns the priors lowered for the
    /// M-step.
    pub(super) fn validate(&self, seqs: &Sequences<'_>) -> Result<(ChainPrior, E::Prior)> {
        self.em.validate()?;
        let data = seqs.data();
        data.check_not_empty()?;
        data.check_fittable()?;
        self.validate_on(data, seqs.n_samples(), seqs.len(), seqs.max_len(), 0)
    }

    /// [`validate`](Self::validate)'s checks after those of the values, on
    /// `data` (every row, or a streamed fit's sample) of `n_samples`
    /// observations in `n_sequences` sequences, the longest `max_len`, with
    /// `per_task` more values per task in the memory estimate.
    pub(super) fn validate_on(
        &self,
        data: DataRef<'_>,
        n_samples: usize,
        n_sequences: usize,
        max_len: usize,
        per_task: u128,
    ) -> Result<(ChainPrior, E::Prior)> {
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
            self.memory_for(data, n_sequences, max_len, per_task),
            || {
                format!(
                    "a {k}-state HMM fit on {n_samples} observations (longest sequence {max_len})"
                )
            },
            "use fewer states, features or symbols, or shorter sequences (--lengths)",
        )?;
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

/// A sequence's weight on each of its rows, for the initialisation.
pub(super) fn row_weights(seqs: &Sequences<'_>) -> Option<Vec<f64>> {
    seqs.weights().map(|w| {
        (0..seqs.len())
            .flat_map(|i| std::iter::repeat_n(w[i], seqs.sequence(i).1.n_rows()))
            .collect()
    })
}

/// A draw from the flat Dirichlet distribution on `k` probabilities
/// (normalised standard exponentials).
fn flat_dirichlet(k: usize, rng: &mut Pcg64) -> Vec<f64> {
    let e: Vec<f64> = (0..k).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}
