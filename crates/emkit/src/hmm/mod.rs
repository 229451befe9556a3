//! Hidden Markov models: Baum–Welch on the shared EM engine, decoding,
//! filtering, scoring and sampling.
//!
//! An [`Hmm`] has start probabilities `π` (`K`), a transition matrix `A`
//! (`K × K`, row-major, rows summing to one) and an [`Emission`] per state:
//! Gaussian ([`GaussianHmm`], full/diag/spherical/tied covariance),
//! categorical ([`CategoricalHmm`], integer symbols `0..M`) or a Gaussian
//! mixture per state ([`GmmHmm`]). Observations are
//! rows of a data matrix split into sequences by their lengths ([`Sequences`]).
//!
//! The recursions work on a sequence's `T × K` emission matrix, so every
//! emission plugs into the same code. Fits use scaled forward–backward (a
//! few multiply-adds per step) and fall back, sequence by sequence, to the
//! log-space recursions whenever scaling cannot represent a step; the two are
//! tested equal, and log space defines the result. Sequences are the engine's
//! blocks: they run in parallel and their statistics merge in a fixed order,
//! so fits are bit-identical for any thread count.
//!
//! Policies (where hmmlearn is silent or does something else):
//! - A state whose expected occupancy is below 1e-10 of the observations is
//!   *unvisited*: its emission parameters and its transition row stay as they
//!   were (a mean of `0/0` would otherwise be NaN). A state whose covariance
//!   is not positive definite even with `reg_covar` takes the occupancy-weighted
//!   average covariance of the others. Both are reported per iteration in the
//!   fit report (`reseeded`).
//! - Zeros in the start or transition probabilities stay zero through training:
//!   expected counts of an impossible transition are exactly zero.
//!
//! # MAP priors
//!
//! [`HmmBuilder`] takes hmmlearn 0.3's priors under its names —
//! `startprob_prior`, `transmat_prior` for every HMM; `means_prior`,
//! `means_weight`, `covars_prior`, `covars_weight` for Gaussian and
//! GMM emissions (each with hmmlearn's own formulas, which differ between
//! the two), `weights_prior` for GMM and `emissionprob_prior` for
//! categorical emissions — as [`PriorArray`]s broadcast by numpy's rules, so
//! that hmmlearn's arguments pass through unchanged. Each is checked once
//! when a fit starts (`Error::InvalidConfig` with the hmmlearn name as
//! `field`). Unset priors are neutral: the M-step is then maximum likelihood,
//! bit for bit as without priors. Set, the M-step is hmmlearn's MAP update
//! (tested against hmmlearn 0.3.3 to 1e-10), never a NaN or a negative
//! probability: Dirichlet pseudo-counts are clamped at zero (as hmmlearn
//! does for the chain; for mixture weights, where it does not, too), a row
//! the prior clamps to all zeros keeps its values, and a covariance the
//! prior leaves without a positive denominator is repaired like a collapsed
//! one.
//!
//! What a MAP fit reports: the M-step maximises the expected log-likelihood
//! plus the log prior, so the log *posterior* is what rises monotonically
//! (tested); the log-likelihood may fall a little from one iteration to the
//! next. emkit still traces the log-likelihood, tests convergence on its
//! change (`tol`) and picks the best restart by it, as hmmlearn's `monitor_`
//! does: hmmlearn's priors are improper for some values (its GMM defaults
//! among them), so a log posterior is not always defined, and the fitted
//! model's reported `log_likelihood` stays its `score`. Near a MAP fixed
//! point the parameters, and so the log-likelihood, stop moving, so the
//! test stops there. One difference remains: hmmlearn stops at the first
//! iteration whose gain is below `tol`, a *fall* included, where emkit's
//! test is on the size of the change and goes on through a fall larger than
//! `tol` (without priors the two agree, the likelihood never falls).

/// Builder methods that set hmmlearn-style priors: each `name` becomes
/// `fn name(self, prior: impl Into<PriorArray>) -> Self`, storing the value
/// in `self.priors.name` (checked and lowered at fit time).
macro_rules! prior_setters {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, prior: impl Into<PriorArray>) -> Self {
                self.priors.$name = Some(prior.into());
                self
            }
        )*
    };
}

mod distributed;
mod emission;
mod families;
mod fit;
mod forward_backward;
mod priors;
mod scaled;
mod stream;
mod viterbi;

pub use crate::dist::gaussian::CovarianceCentre;
pub use distributed::SequenceStats;
pub use emission::{
    CategoricalEmission, CategoricalSettings, CategoricalStats, Emission, GaussianEmission,
    GaussianSettings, GaussianStats, GmmEmission, GmmSettings, GmmStats,
};
pub use families::Initialise;
pub use fit::{HmmBuilder, HmmFit};
pub use forward_backward::{forward, forward_backward, Posteriors};
pub use priors::PriorArray;
pub use stream::{for_each_batch, SourceSequences};
pub use viterbi::viterbi;

use rand::SeedableRng;
use rand_pcg::Pcg64;
use rayon::prelude::*;

use crate::data::{DataRef, Matrix};
use crate::em::sum_like_e_step;
use crate::error::{Error, Result};
use crate::linalg::log_sum_exp;
use emission::draw;
use scaled::ScaledWork;

/// An HMM with Gaussian emissions.
pub type GaussianHmm = Hmm<GaussianEmission>;
/// An HMM with categorical (discrete symbol) emissions.
pub type CategoricalHmm = Hmm<CategoricalEmission>;
/// An HMM whose states emit from Gaussian mixtures (GMM-HMM).
pub type GmmHmm = Hmm<GmmEmission>;

/// Which parameters Baum–Welch changes (hmmlearn's `params` letters `s`, `t`,
/// `m`, `c`). For categorical emissions `means` governs the emission
/// probabilities (each state's mean of the one-hot symbol vector, hmmlearn's
/// `e`) and `covariances` has no effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Learn {
    /// Start probabilities.
    pub start: bool,
    /// Transition probabilities.
    pub transitions: bool,
    /// Emission means (categorical: emission probabilities).
    pub means: bool,
    /// Emission covariances.
    pub covariances: bool,
}

impl Learn {
    /// Everything is learned (the default).
    pub const ALL: Learn = Learn {
        start: true,
        transitions: true,
        means: true,
        covariances: true,
    };

    /// hmmlearn-style letters: `s` start, `t` transitions, `m` means, `c`
    /// covariances, `e` emission probabilities (the same switch as `m`).
    pub fn letters(self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.start, 's'),
            (self.transitions, 't'),
            (self.means, 'm'),
            (self.covariances, 'c'),
        ] {
            if on {
                s.push(c);
            }
        }
        s
    }
}

impl Default for Learn {
    fn default() -> Self {
        Learn::ALL
    }
}

impl std::str::FromStr for Learn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut l = Learn {
            start: false,
            transitions: false,
            means: false,
            covariances: false,
        };
        for c in s.chars() {
            match c {
                's' => l.start = true,
                't' => l.transitions = true,
                'm' | 'e' => l.means = true,
                'c' => l.covariances = true,
                _ => {
                    return Err(Error::InvalidConfig {
                        field: "learn",
                        reason: format!(
                            "unknown letter {c:?} in {s:?}; use s (start), t (transitions), \
                             m (means), c (covariances), e (emission probabilities)"
                        ),
                    })
                }
            }
        }
        Ok(l)
    }
}

/// Observations split into sequences: rows of `data` in order, the first
/// `lengths[0]` rows forming the first sequence, and so on.
#[derive(Clone, Debug)]
pub struct Sequences<'a> {
    data: DataRef<'a>,
    split: Split,
}

impl<'a> Sequences<'a> {
    /// Splits `data` by `lengths`, which must be positive and sum to the
    /// number of rows.
    pub fn new(data: DataRef<'a>, lengths: &[usize]) -> Result<Self> {
        Ok(Sequences {
            data,
            split: Split::new(lengths, data.n_rows())?,
        })
    }

    /// These sequences with one weight each, for a fit: a sequence of weight
    /// 2 counts as that sequence given twice, one of weight 0 as left out,
    /// and scaling every weight by one constant changes no fitted parameter.
    /// Scores and decodings do not use the weights. Fails on a wrong count,
    /// a negative, NaN or infinite weight, or weights that are all zero.
    pub fn with_weights(mut self, weights: &[f64]) -> Result<Self> {
        self.split.weigh(weights)?;
        Ok(self)
    }

    /// The weight of each sequence, if given.
    pub fn weights(&self) -> Option<&[f64]> {
        self.split.weights.as_deref()
    }

    /// The weight of sequence `i` (1 without weights).
    pub fn weight(&self, i: usize) -> f64 {
        self.split.weight(i)
    }

    /// Σ over sequences of weight × length: the observations a weighted fit
    /// stands for (`n_samples` without weights).
    pub fn total_weight(&self) -> f64 {
        self.split.total_weight()
    }

    /// All of `data` as one sequence.
    pub fn one(data: DataRef<'a>) -> Self {
        Sequences {
            data,
            split: Split::one(data.n_rows()),
        }
    }

    /// The observations, all sequences together.
    pub fn data(&self) -> DataRef<'a> {
        self.data
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.split.len()
    }

    /// Whether there is no sequence (never, for a value built by `new`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of observations.
    pub fn n_samples(&self) -> usize {
        self.data.n_rows()
    }

    /// Length of the longest sequence.
    pub fn max_len(&self) -> usize {
        self.split.max_len()
    }

    /// Sequence `i`: its first row and its rows.
    pub fn sequence(&self, i: usize) -> (usize, DataRef<'a>) {
        let (a, b) = self.split.rows(i);
        (a, self.data.rows(a, b))
    }
}

/// Where sequences begin and end among the rows, and their weights: what
/// [`Sequences`] and [`SourceSequences`] share.
#[derive(Clone, Debug)]
pub(crate) struct Split {
    /// `n_sequences + 1` row offsets.
    offsets: Vec<usize>,
    /// One weight per sequence for a fit (`None`: every sequence weighs 1).
    pub(crate) weights: Option<Vec<f64>>,
}

impl Split {
    /// Sequences of `lengths` (each positive) in `n_rows` rows, which they
    /// must add up to.
    fn new(lengths: &[usize], n_rows: usize) -> Result<Self> {
        if lengths.is_empty() {
            return Err(Error::InvalidLengths {
                problem: "no lengths given; give one length per sequence".into(),
            });
        }
        let mut offsets = Vec::with_capacity(lengths.len() + 1);
        offsets.push(0usize);
        for (i, &l) in lengths.iter().enumerate() {
            if l == 0 {
                return Err(Error::InvalidLengths {
                    problem: format!(
                        "length {} (line {}) is zero; every sequence needs at least one row",
                        i,
                        i + 1
                    ),
                });
            }
            offsets.push(offsets[i].saturating_add(l));
        }
        let total = offsets[lengths.len()];
        if total != n_rows {
            return Err(Error::InvalidLengths {
                problem: format!(
                    "the {} lengths sum to {total} but the data has {n_rows} rows; they must be \
                     equal",
                    lengths.len()
                ),
            });
        }
        Ok(Split {
            offsets,
            weights: None,
        })
    }

    /// All `n_rows` rows as one sequence.
    fn one(n_rows: usize) -> Self {
        Split {
            offsets: vec![0, n_rows],
            weights: None,
        }
    }

    /// Sets one weight per sequence, checked.
    fn weigh(&mut self, weights: &[f64]) -> Result<()> {
        crate::data::check_weights(weights, self.len(), "sequence")?;
        self.weights = Some(weights.to_vec());
        Ok(())
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn weight(&self, i: usize) -> f64 {
        self.weights.as_ref().map_or(1.0, |w| w[i])
    }

    /// The rows `a..b` of sequence `i`, as `(a, b)`.
    fn rows(&self, i: usize) -> (usize, usize) {
        (self.offsets[i], self.offsets[i + 1])
    }

    /// The sequence that holds row `row`.
    fn sequence_of(&self, row: usize) -> usize {
        self.offsets.partition_point(|&o| o <= row) - 1
    }

    fn max_len(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0)
    }

    fn total_weight(&self) -> f64 {
        match &self.weights {
            None => self.offsets[self.len()] as f64,
            Some(w) => (0..self.len())
                .map(|i| w[i] * (self.offsets[i + 1] - self.offsets[i]) as f64)
                .sum(),
        }
    }
}

/// Checks rows of probability distributions (`width` values each): finite,
/// non-negative, each row summing to one.
pub(crate) fn check_distributions(field: &str, values: &[f64], width: usize) -> Result<()> {
    for (r, row) in values.chunks(width).enumerate() {
        if let Some(c) = row.iter().position(|p| !(p.is_finite() && *p >= 0.0)) {
            return Err(Error::InvalidModel {
                field: format!("{field}[{r}][{c}]"),
                problem: format!("must be a probability (finite, >= 0), got {}", row[c]),
            });
        }
        let sum: f64 = row.iter().sum();
        // Probabilities written with ~17 significant digits sum to one within a
        // few ulps per term; 1e-6 accepts honest rounding and rejects mistakes.
        if (sum - 1.0).abs() > 1e-6 {
            return Err(Error::InvalidModel {
                field: format!("{field}[{r}]"),
                problem: format!("must sum to 1, it sums to {sum}"),
            });
        }
    }
    Ok(())
}

/// A hidden Markov model with emission `E`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hmm<E: Emission> {
    start: Vec<f64>,
    log_start: Vec<f64>,
    transitions: Vec<f64>,
    log_transitions: Vec<f64>,
    emission: E,
    learned: Learn,
}

/// Per-sequence buffers of inference outside a fit.
struct Work<E: Emission> {
    scaled: ScaledWork,
    stats: E::Stats,
}

impl<E: Emission> crate::em::Parameters for Hmm<E> {
    fn n_parameters(&self) -> usize {
        Hmm::n_parameters(self)
    }
}

impl<E: Emission> Hmm<E> {
    /// An HMM from start probabilities (`K`), a transition matrix (`K × K`,
    /// row-major) and the states' emission; checks that every row is a
    /// probability distribution.
    pub fn new(start: Vec<f64>, transitions: Vec<f64>, emission: E) -> Result<Self> {
        let k = emission.n_states();
        if start.len() != k {
            return Err(Error::InvalidModel {
                field: "start".into(),
                problem: format!("expected {k} values (one per state), got {}", start.len()),
            });
        }
        if transitions.len() != k * k {
            return Err(Error::InvalidModel {
                field: "transitions".into(),
                problem: format!("expected {k} x {k} values, got {}", transitions.len()),
            });
        }
        check_distributions("start", &start, k)?;
        check_distributions("transitions", &transitions, k)?;
        Ok(Self::from_parts(start, transitions, emission))
    }

    pub(crate) fn from_parts(start: Vec<f64>, transitions: Vec<f64>, emission: E) -> Self {
        let mut h = Hmm {
            log_start: vec![0.0; start.len()],
            log_transitions: vec![0.0; transitions.len()],
            start,
            transitions,
            emission,
            learned: Learn::ALL,
        };
        h.refresh_logs();
        h
    }

    fn refresh_logs(&mut self) {
        for (l, p) in self.log_start.iter_mut().zip(&self.start) {
            *l = p.ln();
        }
        for (l, p) in self.log_transitions.iter_mut().zip(&self.transitions) {
            *l = p.ln();
        }
    }

    /// Number of hidden states `K`.
    pub fn n_states(&self) -> usize {
        self.start.len()
    }

    /// Columns of the observations.
    pub fn n_features(&self) -> usize {
        self.emission.n_features()
    }

    /// Start probabilities (`K`).
    pub fn start(&self) -> &[f64] {
        &self.start
    }

    /// Transition probabilities (`K × K`, row-major: `[i·K + j] = P(j | i)`).
    pub fn transitions(&self) -> &[f64] {
        &self.transitions
    }

    /// The states' emission.
    pub fn emission(&self) -> &E {
        &self.emission
    }

    /// The parameters a fit was allowed to change (all, for a model built
    /// from parameters); [`Hmm::n_parameters`] counts only these.
    pub fn learned(&self) -> Learn {
        self.learned
    }

    /// Sets which parameters count as learned (for BIC and AIC).
    pub fn set_learned(&mut self, learned: Learn) {
        self.learned = learned;
    }

    /// Free parameters that were learned, as hmmlearn counts them: `K − 1`
    /// start probabilities, `K(K − 1)` transitions and the emission's.
    pub fn n_parameters(&self) -> usize {
        let k = self.n_states();
        let l = self.learned;
        let mut p = self.emission.n_parameters(l);
        if l.start {
            p += k - 1;
        }
        if l.transitions {
            p += k * (k - 1);
        }
        p
    }

    /// Checks the data, and that scoring or decoding it fits in memory: per
    /// thread, the recursions' `T × K` matrices for the longest sequence,
    /// and `n × K` outputs (posteriors, back-pointers).
    fn check(&self, seqs: &Sequences<'_>) -> Result<()> {
        seqs.data().check_not_empty()?;
        self.emission.check_data(seqs.data())?;
        let k = self.n_states();
        let threads = rayon::current_num_threads();
        let per_thread = crate::memory::product(&[6, seqs.max_len(), k]);
        let values = per_thread
            .saturating_mul(threads as u128)
            .saturating_add(crate::memory::product(&[seqs.n_samples(), k]));
        crate::memory::default_limit().check(
            crate::memory::bytes_of(values, 8),
            || {
                format!(
                    "decoding {} observations (longest sequence {}) with {k} states",
                    seqs.n_samples(),
                    seqs.max_len()
                )
            },
            "split the data into shorter sequences (--lengths) or smaller files",
        )
    }

    fn work(&self) -> Work<E> {
        Work {
            scaled: ScaledWork::default(),
            stats: self.emission.new_stats(),
        }
    }

    /// Runs `f` on every sequence in parallel (one buffer set per rayon
    /// task), results in sequence order.
    fn per_sequence<T: Send>(
        &self,
        seqs: &Sequences<'_>,
        f: impl Fn(&mut Work<E>, usize, DataRef<'_>) -> T + Sync + Send,
    ) -> Vec<T> {
        (0..seqs.len())
            .into_par_iter()
            .map_init(
                || self.work(),
                |w, i| {
                    let (offset, obs) = seqs.sequence(i);
                    f(w, offset, obs)
                },
            )
            .collect()
    }

    /// Log-likelihood of one sequence, by the scaled forward pass or, where
    /// it cannot scale, in log space. Leaves the filtered probabilities
    /// `P(state_t | x_1..x_t)` in `w.scaled.gamma`.
    fn sequence_log_likelihood(&self, w: &mut Work<E>, obs: DataRef<'_>) -> f64 {
        let (t, k) = (obs.n_rows(), self.n_states());
        let s = &mut w.scaled;
        s.prepare(t, k);
        self.emission
            .scaled_probabilities(obs, &mut w.stats, &mut s.b, &mut s.log_scale);
        if let Some(ll) = s.forward(&self.start, &self.transitions, t) {
            return ll;
        }
        self.emission.log_probabilities(obs, &mut w.stats, &mut s.b);
        let mut log_alpha = vec![0.0; t * k];
        let ll = forward(&self.log_start, &self.log_transitions, &s.b, &mut log_alpha);
        for (g, la) in s.gamma.chunks_exact_mut(k).zip(log_alpha.chunks_exact(k)) {
            let norm = log_sum_exp(la);
            for (g, &a) in g.iter_mut().zip(la) {
                *g = if norm.is_finite() {
                    (a - norm).exp()
                } else {
                    0.0
                };
            }
        }
        ll
    }

    /// Total log-likelihood `ln p(x)` of the observations, summed over
    /// sequences (hmmlearn's `score`). The sum runs in the order of a fit's
    /// final E-step, so scoring the training data gives the fit's value.
    pub fn score(&self, seqs: &Sequences<'_>) -> Result<f64> {
        self.check(seqs)?;
        let lls = self.per_sequence(seqs, |w, _, obs| self.sequence_log_likelihood(w, obs));
        Ok(sum_like_e_step(lls.into_iter()))
    }

    /// Log-likelihood of each sequence.
    pub fn score_sequences(&self, seqs: &Sequences<'_>) -> Result<Vec<f64>> {
        self.check(seqs)?;
        Ok(self.per_sequence(seqs, |w, _, obs| self.sequence_log_likelihood(w, obs)))
    }

    /// BIC `−2 ln L + p ln n`, with `n` the number of observations (lower is better).
    pub fn bic(&self, seqs: &Sequences<'_>) -> Result<f64> {
        let ll = self.score(seqs)?;
        Ok(crate::em::criteria::bic(
            ll,
            self.n_parameters(),
            seqs.n_samples() as f64,
        ))
    }

    /// AIC `−2 ln L + 2p` (lower is better).
    pub fn aic(&self, seqs: &Sequences<'_>) -> Result<f64> {
        let ll = self.score(seqs)?;
        Ok(crate::em::criteria::aic(ll, self.n_parameters()))
    }

    /// The most probable state path of every sequence (Viterbi), concatenated,
    /// and its total log-probability `Σ ln p(x, path)`.
    pub fn decode(&self, seqs: &Sequences<'_>) -> Result<(f64, Vec<usize>)> {
        self.check(seqs)?;
        let k = self.n_states();
        let parts = self.per_sequence(seqs, |w, _, obs| {
            let mut log_e = vec![0.0; obs.n_rows() * k];
            self.emission
                .log_probabilities(obs, &mut w.stats, &mut log_e);
            viterbi(&self.log_start, &self.log_transitions, &log_e)
        });
        let mut path = Vec::with_capacity(seqs.n_samples());
        let mut total = 0.0;
        for (lp, p) in parts {
            total += lp;
            path.extend(p);
        }
        Ok((total, path))
    }

    /// State posteriors `P(state_t = j | the whole sequence)` (`n × K`).
    pub fn predict_proba(&self, seqs: &Sequences<'_>) -> Result<Matrix> {
        self.check(seqs)?;
        let k = self.n_states();
        let parts = self.per_sequence(seqs, |w, _, obs| self.posteriors(w, obs));
        Matrix::new(parts.concat(), seqs.n_samples(), k)
    }

    /// The posterior (per-step MAP) path: the most probable state at each step
    /// given the whole sequence. Ties go to the lowest state.
    pub fn predict(&self, seqs: &Sequences<'_>) -> Result<Vec<usize>> {
        let p = self.predict_proba(seqs)?;
        Ok((0..p.n_rows()).map(|t| argmax(p.row(t))).collect())
    }

    /// Causal filtering: `P(state_t = j | x_1..x_t)` (`n × K`), forward only,
    /// so a step's probabilities never depend on later observations (online
    /// regime detection).
    pub fn filter(&self, seqs: &Sequences<'_>) -> Result<Matrix> {
        self.check(seqs)?;
        let k = self.n_states();
        let parts = self.per_sequence(seqs, |w, _, obs| {
            self.sequence_log_likelihood(w, obs);
            w.scaled.gamma[..obs.n_rows() * k].to_vec()
        });
        Matrix::new(parts.concat(), seqs.n_samples(), k)
    }

    /// Posteriors of one sequence (`T × K`), scaled with the log-space fallback.
    fn posteriors(&self, w: &mut Work<E>, obs: DataRef<'_>) -> Vec<f64> {
        let (t, k) = (obs.n_rows(), self.n_states());
        let mut trans = vec![0.0; k * k];
        let s = &mut w.scaled;
        s.prepare(t, k);
        self.emission
            .scaled_probabilities(obs, &mut w.stats, &mut s.b, &mut s.log_scale);
        if s.forward_backward(&self.start, &self.transitions, t, &mut trans)
            .is_some()
        {
            return s.gamma[..t * k].to_vec();
        }
        self.emission.log_probabilities(obs, &mut w.stats, &mut s.b);
        forward_backward(&self.log_start, &self.log_transitions, &s.b[..t * k]).state
    }

    /// Draws one sequence of `n` observations and its states.
    ///
    /// # Errors
    ///
    /// [`Error::TooMuchMemory`] when `n × (d + 1)` values would exceed
    /// [`crate::memory::default_limit`] or the allocator refuses them.
    pub fn sample(&self, n: usize, seed: u64) -> Result<(Matrix, Vec<usize>)> {
        let (k, d) = (self.n_states(), self.n_features());
        let what = || format!("sampling a sequence of {n} observations of {d} features");
        let hint = "draw a shorter sequence";
        let bytes = crate::memory::bytes_of(crate::memory::product(&[n, d + 1]), 8);
        crate::memory::default_limit().check(bytes, what, hint)?;
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut values = Vec::new();
        crate::memory::try_reserve(&mut values, n.saturating_mul(d), what, hint)?;
        values.resize(n * d, 0.0);
        let mut states = Vec::new();
        crate::memory::try_reserve(&mut states, n, what, hint)?;
        let mut state = 0;
        for t in 0..n {
            state = if t == 0 {
                draw(&self.start, &mut rng)
            } else {
                draw(&self.transitions[state * k..(state + 1) * k], &mut rng)
            };
            self.emission
                .sample(state, &mut rng, &mut values[t * d..(t + 1) * d]);
            states.push(state);
        }
        Ok((Matrix::new(values, n, d)?, states))
    }
}

/// An HMM with either emission, for code (a command line, a model file) that
/// learns which one only at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyHmm {
    /// Gaussian emissions.
    Gaussian(GaussianHmm),
    /// Categorical emissions.
    Categorical(CategoricalHmm),
    /// Gaussian-mixture emissions.
    Gmm(GmmHmm),
}

/// Calls the same method on whichever model `self` holds.
macro_rules! dispatch {
    ($self:ident, $h:ident => $e:expr) => {
        match $self {
            AnyHmm::Gaussian($h) => $e,
            AnyHmm::Categorical($h) => $e,
            AnyHmm::Gmm($h) => $e,
        }
    };
}

impl AnyHmm {
    /// `"gaussian"` or `"categorical"`.
    pub fn emission_name(&self) -> &'static str {
        match self {
            AnyHmm::Gaussian(_) => "gaussian",
            AnyHmm::Categorical(_) => "categorical",
            AnyHmm::Gmm(_) => "gmm",
        }
    }

    /// See [`Hmm::n_states`].
    pub fn n_states(&self) -> usize {
        dispatch!(self, h => h.n_states())
    }

    /// See [`Hmm::n_features`].
    pub fn n_features(&self) -> usize {
        dispatch!(self, h => h.n_features())
    }

    /// See [`Hmm::n_parameters`].
    pub fn n_parameters(&self) -> usize {
        dispatch!(self, h => h.n_parameters())
    }

    /// See [`Hmm::start`].
    pub fn start(&self) -> &[f64] {
        dispatch!(self, h => h.start())
    }

    /// See [`Hmm::transitions`].
    pub fn transitions(&self) -> &[f64] {
        dispatch!(self, h => h.transitions())
    }

    /// See [`Hmm::score`].
    pub fn score(&self, seqs: &Sequences<'_>) -> Result<f64> {
        dispatch!(self, h => h.score(seqs))
    }

    /// See [`Hmm::decode`].
    pub fn decode(&self, seqs: &Sequences<'_>) -> Result<(f64, Vec<usize>)> {
        dispatch!(self, h => h.decode(seqs))
    }

    /// See [`Hmm::predict_proba`].
    pub fn predict_proba(&self, seqs: &Sequences<'_>) -> Result<Matrix> {
        dispatch!(self, h => h.predict_proba(seqs))
    }

    /// See [`Hmm::filter`].
    pub fn filter(&self, seqs: &Sequences<'_>) -> Result<Matrix> {
        dispatch!(self, h => h.filter(seqs))
    }

    /// See [`Hmm::sample`].
    pub fn sample(&self, n: usize, seed: u64) -> Result<(Matrix, Vec<usize>)> {
        dispatch!(self, h => h.sample(n, seed))
    }
}

fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// Checks the shapes shared by every recursion; panics on a caller's bug
/// (these are internal building blocks, not user-data entry points).
fn check_shapes(log_start: &[f64], log_trans: &[f64], log_emission: &[f64]) -> (usize, usize) {
    let k = log_start.len();
    assert!(k > 0, "an HMM needs at least one state");
    assert_eq!(log_trans.len(), k * k, "log_trans must be K × K");
    assert_eq!(log_emission.len() % k, 0, "log_emission must be T × K");
    (log_emission.len() / k, k)
}

#[cfg(test)]
mod tests;
