//! What a state emits: the per-state observation models of an HMM.
//!
//! An emission gives the log-probability of each observation under each state
//! (a `T × K` matrix the recursions read), accumulates the statistics of its
//! M-step from the state posteriors, and turns merged statistics into new
//! parameters. The HMM itself owns the start and transition probabilities.

use std::cmp::Ordering;
use std::fmt;

use rand::Rng;
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

use super::distributed::codec;
use super::Learn;
use crate::data::row_blocks;
use crate::data::DataRef;
use crate::dist::categorical::map_row;
use crate::dist::gaussian::{
    accumulate_given, block_rows, component_log_densities, factor_scratch, maximize_into,
    posterior_block, repair_with_pooled, update_components, ComponentStats, CovarianceType,
    Covariances, GaussianComponents, GaussianPrior, MixturePrior, Path, Update, BLOCK_ROWS,
};
use crate::em::flat::{read_probabilities, write_logs, FlatReader};
use crate::error::{Error, Result};
use crate::linalg::cholesky_lower;
use crate::linalg::lanes::LANES;
use crate::GaussianMixture;

/// Below this share of all observations a state's expected occupancy counts as
/// zero: the state was not visited, and its emission keeps its parameters
/// (a mean of `0/0` would otherwise be noise).
pub(crate) const UNVISITED_SHARE: f64 = 1e-10;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::GaussianEmission {}
    impl Sealed for super::CategoricalEmission {}
    impl Sealed for super::GmmEmission {}
}

/// The observation model of every state. Implemented by [`GaussianEmission`],
/// [`CategoricalEmission`] and [`GmmEmission`]; sealed, so that emkit can
/// extend it freely.
pub trait Emission: sealed::Sealed + Clone + fmt::Debug + PartialEq + Send + Sync {
    /// M-step statistics, with the scratch buffers of the task that fills
    /// them (equality compares the statistics only).
    type Stats: Clone + fmt::Debug + PartialEq + Send;
    /// A MAP prior on the emission's parameters in the terms of its M-step,
    /// as [`crate::hmm::HmmBuilder`] checks and lowers the hmmlearn-style
    /// settings; the default is none (maximum likelihood).
    type Prior: Clone + fmt::Debug + Default + Send + Sync;
    /// The family's own fit settings ([`GaussianSettings`],
    /// [`CategoricalSettings`], [`GmmSettings`]): what a builder of this
    /// emission sets beyond the chain and the engine.
    type Settings: Clone + fmt::Debug + Default + Send + Sync;
    /// Number of hidden states.
    fn n_states(&self) -> usize;
    /// Columns of the observation data.
    fn n_features(&self) -> usize;
    /// Free parameters of the emission that `learn` lets the fit change.
    fn n_parameters(&self, learn: Learn) -> usize;
    /// Checks that `data` can be observations of this emission (column count,
    /// finiteness, symbol range) with a message that names the row and column.
    fn check_data(&self, data: DataRef<'_>) -> Result<()>;
    /// Fresh, zeroed statistics about the current parameters.
    fn new_stats(&self) -> Self::Stats;
    /// Zeroes `stats` for the current parameters, keeping its memory.
    fn reset_stats(&self, stats: &mut Self::Stats);
    /// Adds `other` into `stats`.
    fn merge_stats(stats: &mut Self::Stats, other: &Self::Stats);
    /// Whether `a` and `b` are statistics of emissions with the same shapes
    /// and (for Gaussians) the same means, so that they can be merged.
    fn stats_match(a: &Self::Stats, b: &Self::Stats) -> bool;
    /// Appends the values of `stats` (no scratch) to `out`, little-endian:
    /// the emission's part of
    /// [`SequenceStats::to_bytes`](super::SequenceStats::to_bytes).
    fn write_stats(stats: &Self::Stats, out: &mut Vec<u8>);
    /// Statistics written by [`write_stats`](Self::write_stats), read from
    /// the front of `bytes`, which then starts after them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidModel`] for bytes that are not such statistics.
    fn read_stats(bytes: &mut &[u8]) -> Result<Self::Stats>;
    /// `out[t·K + j] = ln p(x_t | state j)` for the rows of `obs`.
    fn log_probabilities(&self, obs: DataRef<'_>, stats: &mut Self::Stats, out: &mut [f64]);
    /// `out[t·K + j] = p(x_t | state j) / exp(log_scale[t])`, with any per-row
    /// scale that keeps the values representable (the default divides by the
    /// row's largest probability).
    fn scaled_probabilities(
        &self,
        obs: DataRef<'_>,
        stats: &mut Self::Stats,
        out: &mut [f64],
        log_scale: &mut [f64],
    ) {
        self.log_probabilities(obs, stats, out);
        let k = self.n_states();
        for (row, scale) in out.chunks_exact_mut(k).zip(log_scale.iter_mut()) {
            let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            // A row impossible under every state keeps its −∞ and the
            // recursion falls back to log space.
            let m = if m.is_finite() { m } else { 0.0 };
            for v in row.iter_mut() {
                *v = (*v - m).exp();
            }
            *scale = m;
        }
    }
    /// Adds the statistics of `obs` with state posteriors `posteriors`
    /// (`T × K`, row-major).
    fn accumulate(&self, obs: DataRef<'_>, posteriors: &[f64], stats: &mut Self::Stats);
    /// New parameters from merged statistics, for the parts `learn` allows,
    /// under the family's `settings`: maximum likelihood, or the MAP estimate
    /// under `prior`. Returns the states whose emission was left as it was or
    /// repaired.
    fn maximize(
        &mut self,
        stats: &Self::Stats,
        learn: Learn,
        settings: &Self::Settings,
        prior: &Self::Prior,
    ) -> Result<Vec<usize>>;
    /// Draws one observation of state `state` into `out` (`n_features` values).
    fn sample(&self, state: usize, rng: &mut Pcg64, out: &mut [f64]);
    /// Rough multiply-adds per observation and state of one E-step.
    fn work_per_sample(&self) -> usize;
    /// Appends the parameters in the unconstrained form accelerated EM
    /// extrapolates in (see [`crate::em::EmModel::write_flat`]).
    fn write_flat(&self, out: &mut Vec<f64>);
    /// Reads what [`Self::write_flat`] writes (`x`, with `base` what it
    /// writes now; see [`crate::em::EmModel::read_flat`]); `false` when the
    /// point is no valid emission.
    fn read_flat(&mut self, x: &[f64], base: &[f64]) -> bool;
}

/// What a fit of Gaussian emissions sets: the covariance structure of the
/// states and the regularisation added to every variance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianSettings {
    /// Covariance structure of the states (default full).
    pub covariance: CovarianceType,
    /// Added to every variance in each M-step (default 1e-6).
    pub reg_covar: f64,
}

impl Default for GaussianSettings {
    fn default() -> Self {
        GaussianSettings {
            covariance: CovarianceType::Full,
            reg_covar: 1e-6,
        }
    }
}

impl GaussianSettings {
    /// Checks `reg_covar` (the covariance type is valid by construction).
    pub(crate) fn validate(&self) -> Result<()> {
        crate::dist::gaussian::check_reg_covar(self.reg_covar)
    }
}

/// What a fit of mixture emissions sets: the Gaussian settings of every
/// component and the number of components per state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GmmSettings {
    /// The components' covariance structure and regularisation.
    pub gaussian: GaussianSettings,
    /// Components per state (default 1).
    pub n_mix: usize,
}

impl Default for GmmSettings {
    fn default() -> Self {
        GmmSettings {
            gaussian: GaussianSettings::default(),
            n_mix: 1,
        }
    }
}

/// What a fit of categorical emissions sets: the number of symbols.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CategoricalSettings {
    /// Number of symbols `M` (default: the largest symbol in the data plus one).
    pub n_symbols: Option<usize>,
}

/// Gaussian emissions: state `j` emits `N(μ_j, Σ_j)` with full, diagonal,
/// spherical or tied (one shared) covariance, evaluated by the same blocked
/// SIMD kernel as the mixtures.
#[derive(Clone, Debug)]
pub struct GaussianEmission {
    /// The states' Gaussians (log-weights 0: the transitions weigh them).
    components: GaussianComponents,
    path: Path,
    chol: Vec<f64>,
}

impl PartialEq for GaussianEmission {
    fn eq(&self, other: &Self) -> bool {
        self.components == other.components
    }
}

impl GaussianEmission {
    /// Gaussian emissions from per-state `means` (`K × d`, row-major) and
    /// covariances in scikit-learn's layout; checks shapes, symmetry and
    /// positive definiteness.
    pub fn new(means: Vec<f64>, n_features: usize, covariances: Covariances) -> Result<Self> {
        if n_features == 0 || means.is_empty() || !means.len().is_multiple_of(n_features) {
            return Err(Error::InvalidModel {
                field: "means".into(),
                problem: format!(
                    "expected n_states x {n_features} values, got {}",
                    means.len()
                ),
            });
        }
        let components = GaussianComponents::new(means, n_features, covariances)?;
        Ok(GaussianEmission {
            chol: factor_scratch(components.covariance_type(), n_features),
            components,
            path: Path::detect(),
        })
    }

    /// Per-state means, `K × d` row-major.
    pub fn means(&self) -> &[f64] {
        self.components.means()
    }

    /// Per-state covariances (scikit-learn's layout for the covariance type).
    pub fn covariances(&self) -> &Covariances {
        self.components.covariances()
    }

    /// The covariance structure.
    pub fn covariance_type(&self) -> CovarianceType {
        self.components.covariance_type()
    }
}

/// Statistics of Gaussian emissions: the shifted moments per state.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianStats(ComponentStats);

impl GaussianEmission {
    /// The states' log-densities of `obs` block by block (scaled per row
    /// when `log_scale` is given; see [`component_log_densities`]).
    fn densities(
        &self,
        obs: DataRef<'_>,
        stats: &mut GaussianStats,
        out: &mut [f64],
        mut log_scale: Option<&mut [f64]>,
    ) {
        let (n, k) = (obs.n_rows(), self.n_states());
        for (start, end) in row_blocks(n, block_rows(obs.n_cols())) {
            component_log_densities(
                self.path,
                &self.components,
                obs.rows(start, end),
                &mut stats.0.scratch,
                &mut out[start * k..end * k],
                log_scale.as_deref_mut().map(|s| &mut s[start..end]),
            );
        }
    }
}

impl Emission for GaussianEmission {
    type Stats = GaussianStats;
    type Settings = GaussianSettings;
    type Prior = Option<GaussianPrior>;

    fn n_states(&self) -> usize {
        self.components.n_components()
    }

    fn n_features(&self) -> usize {
        self.components.n_features()
    }

    fn n_parameters(&self, learn: Learn) -> usize {
        let (k, d) = (self.n_states(), self.n_features());
        let mut p = 0;
        if learn.means {
            p += k * d;
        }
        if learn.covariances {
            p += self.covariance_type().n_covariance_parameters(k, d);
        }
        p
    }

    fn check_data(&self, data: DataRef<'_>) -> Result<()> {
        if data.n_cols() != self.n_features() {
            return Err(Error::ShapeMismatch {
                what: "number of features (columns) of the observations".into(),
                expected: self.n_features(),
                got: data.n_cols(),
            });
        }
        data.check_finite()
    }

    fn new_stats(&self) -> GaussianStats {
        GaussianStats(ComponentStats::new(
            self.covariance_type(),
            self.means().to_vec(),
            self.n_features(),
        ))
    }

    fn reset_stats(&self, stats: &mut GaussianStats) {
        stats.0.reset(self.means());
    }

    fn merge_stats(stats: &mut GaussianStats, other: &GaussianStats) {
        stats.0.merge(&other.0);
    }

    fn stats_match(a: &GaussianStats, b: &GaussianStats) -> bool {
        codec::components_match(&a.0, &b.0)
    }

    fn write_stats(stats: &GaussianStats, out: &mut Vec<u8>) {
        out.push(b'G');
        codec::write_components(&stats.0, out);
    }

    fn read_stats(bytes: &mut &[u8]) -> Result<GaussianStats> {
        codec::expect_tag(bytes, b'G', "Gaussian")?;
        codec::read_components(bytes).map(GaussianStats)
    }

    fn log_probabilities(&self, obs: DataRef<'_>, stats: &mut GaussianStats, out: &mut [f64]) {
        self.densities(obs, stats, out, None);
    }

    fn scaled_probabilities(
        &self,
        obs: DataRef<'_>,
        stats: &mut GaussianStats,
        out: &mut [f64],
        log_scale: &mut [f64],
    ) {
        self.densities(obs, stats, out, Some(log_scale));
    }

    fn accumulate(&self, obs: DataRef<'_>, posteriors: &[f64], stats: &mut GaussianStats) {
        let (n, k) = (obs.n_rows(), self.n_states());
        for (start, end) in row_blocks(n, block_rows(obs.n_cols())) {
            let post = &posteriors[start * k..end * k];
            accumulate_given(
                self.path,
                &mut stats.0,
                obs.rows(start, end),
                None,
                |r, j| post[r * k + j],
            );
        }
    }

    /// Means and covariances of the visited states; with a prior, hmmlearn's
    /// `GaussianHMM` MAP estimates (see [`crate::hmm::HmmBuilder::covars_prior`]).
    fn maximize(
        &mut self,
        stats: &GaussianStats,
        learn: Learn,
        settings: &GaussianSettings,
        prior: &Option<GaussianPrior>,
    ) -> Result<Vec<usize>> {
        let stats = &stats.0;
        let reg_covar = settings.reg_covar;
        let total: f64 = stats.counts.iter().sum();
        // Not above the threshold, NaN included.
        let unvisited: Vec<bool> = stats
            .counts
            .iter()
            .map(|&c| c.partial_cmp(&(UNVISITED_SHARE * total)) != Some(Ordering::Greater))
            .collect();
        // An unvisited state's zero counts must not divide its covariance:
        // a nominal count (its parameters are kept anyway).
        let guarded: Vec<f64> = stats
            .counts
            .iter()
            .map(|&c| c + 10.0 * f64::EPSILON)
            .collect();
        let update = Update {
            mean_counts: &stats.counts,
            cov_counts: &guarded,
            keep: &unvisited,
            means: learn.means,
            covariances: learn.covariances,
            prior: prior.as_ref(),
            reg_covar,
        };
        let failed = update_components(stats, &update, &mut self.components, &mut self.chol)?;
        if !failed.is_empty() {
            // A collapsed state takes the occupancy-weighted average of the
            // healthy states' covariances.
            repair_with_pooled(
                &mut self.components,
                &guarded,
                &failed,
                &mut self.chol,
                reg_covar,
            )?;
        }
        let mut kept: Vec<usize> = (0..unvisited.len()).filter(|&j| unvisited[j]).collect();
        kept.extend(failed);
        kept.sort_unstable();
        kept.dedup();
        Ok(kept)
    }

    fn sample(&self, state: usize, rng: &mut Pcg64, out: &mut [f64]) {
        let d = self.n_features();
        let cov = self.covariances().component_matrix(state, d);
        let mut l = vec![0.0; d * d];
        // The covariances were factored when the emission was built.
        cholesky_lower(&cov, d, &mut l).expect("covariance checked positive definite");
        let z: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
        for a in 0..d {
            let lz: f64 = (0..=a).map(|b| l[a * d + b] * z[b]).sum();
            out[a] = self.means()[state * d + a] + lz;
        }
    }

    fn work_per_sample(&self) -> usize {
        let d = self.n_features();
        d * (d + 1) + 20
    }

    fn write_flat(&self, out: &mut Vec<f64>) {
        self.components.write_flat(out)
    }

    fn read_flat(&mut self, x: &[f64], base: &[f64]) -> bool {
        let mut flat = FlatReader::new(x, base);
        self.components.read_flat(&mut flat) && flat.finished()
    }
}

/// Categorical emissions: state `j` emits symbol `m ∈ 0..M` with probability
/// `B[j][m]`. Observations are one column of integer symbols.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoricalEmission {
    n_symbols: usize,
    /// `K × M`.
    probabilities: Vec<f64>,
    log_probabilities: Vec<f64>,
    /// `M × K`: the probabilities transposed, so that one observation's
    /// emission row is contiguous.
    by_symbol: Vec<f64>,
}

/// Statistics of categorical emissions: expected symbol counts per state.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoricalStats {
    /// `M × K`: `Σ_t P(state_t = j | x) · [x_t = m]`.
    counts: Vec<f64>,
}

impl CategoricalEmission {
    /// Categorical emissions from a `K × M` row-major matrix of probabilities
    /// whose rows sum to one.
    pub fn new(probabilities: Vec<f64>, n_symbols: usize) -> Result<Self> {
        if n_symbols == 0
            || probabilities.is_empty()
            || !probabilities.len().is_multiple_of(n_symbols)
        {
            return Err(Error::InvalidModel {
                field: "emission_probabilities".into(),
                problem: format!(
                    "expected n_states x {n_symbols} values, got {}",
                    probabilities.len()
                ),
            });
        }
        super::check_distributions("emission_probabilities", &probabilities, n_symbols)?;
        let mut e = CategoricalEmission {
            n_symbols,
            log_probabilities: vec![0.0; probabilities.len()],
            by_symbol: vec![0.0; probabilities.len()],
            probabilities,
        };
        e.refresh();
        Ok(e)
    }

    /// Recomputes the logarithms and the transposed copy.
    fn refresh(&mut self) {
        let (k, m) = (self.n_states(), self.n_symbols);
        for j in 0..k {
            for s in 0..m {
                let p = self.probabilities[j * m + s];
                self.log_probabilities[j * m + s] = p.ln();
                self.by_symbol[s * k + j] = p;
            }
        }
    }

    /// Number of symbols `M`.
    pub fn n_symbols(&self) -> usize {
        self.n_symbols
    }

    /// `K × M` row-major: the probability of each symbol in each state.
    pub fn probabilities(&self) -> &[f64] {
        &self.probabilities
    }

    fn symbol(x: f64) -> usize {
        // check_data proved every value is an integer in 0..M.
        x as usize
    }
}

impl Emission for CategoricalEmission {
    type Stats = CategoricalStats;
    type Settings = CategoricalSettings;
    /// `K × M` Dirichlet concentrations of the emission rows.
    type Prior = Option<Vec<f64>>;

    fn n_states(&self) -> usize {
        self.probabilities.len() / self.n_symbols
    }

    fn n_features(&self) -> usize {
        1
    }

    fn n_parameters(&self, learn: Learn) -> usize {
        if learn.means {
            self.n_states() * (self.n_symbols - 1)
        } else {
            0
        }
    }

    fn check_data(&self, data: DataRef<'_>) -> Result<()> {
        check_one_column(data)?;
        check_symbols(data, Some(self.n_symbols)).map(|_| ())
    }

    fn new_stats(&self) -> CategoricalStats {
        CategoricalStats {
            counts: vec![0.0; self.probabilities.len()],
        }
    }

    fn reset_stats(&self, stats: &mut CategoricalStats) {
        stats.counts.fill(0.0);
    }

    fn merge_stats(stats: &mut CategoricalStats, other: &CategoricalStats) {
        for (a, b) in stats.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    fn stats_match(a: &CategoricalStats, b: &CategoricalStats) -> bool {
        a.counts.len() == b.counts.len()
    }

    fn write_stats(stats: &CategoricalStats, out: &mut Vec<u8>) {
        out.push(b'C');
        codec::write_size(stats.counts.len(), out);
        codec::write_f64s(&stats.counts, out);
    }

    fn read_stats(bytes: &mut &[u8]) -> Result<CategoricalStats> {
        codec::expect_tag(bytes, b'C', "categorical")?;
        let n = codec::read_size(bytes)?;
        Ok(CategoricalStats {
            counts: codec::read_f64s(bytes, n)?,
        })
    }

    fn log_probabilities(&self, obs: DataRef<'_>, _: &mut CategoricalStats, out: &mut [f64]) {
        let (k, m) = (self.n_states(), self.n_symbols);
        for (t, &x) in obs.values().iter().enumerate() {
            let s = Self::symbol(x);
            for j in 0..k {
                out[t * k + j] = self.log_probabilities[j * m + s];
            }
        }
    }

    fn scaled_probabilities(
        &self,
        obs: DataRef<'_>,
        _: &mut CategoricalStats,
        out: &mut [f64],
        log_scale: &mut [f64],
    ) {
        // Probabilities are at most one and a symbol no state emits is the
        // recursion's business: no scaling needed.
        let k = self.n_states();
        for (row, &x) in out.chunks_exact_mut(k).zip(obs.values()) {
            let s = Self::symbol(x);
            row.copy_from_slice(&self.by_symbol[s * k..(s + 1) * k]);
        }
        log_scale[..obs.n_rows()].fill(0.0);
    }

    fn accumulate(&self, obs: DataRef<'_>, posteriors: &[f64], stats: &mut CategoricalStats) {
        let k = self.n_states();
        for (post, &x) in posteriors.chunks_exact(k).zip(obs.values()) {
            let s = Self::symbol(x);
            for (c, p) in stats.counts[s * k..(s + 1) * k].iter_mut().zip(post) {
                *c += p;
            }
        }
    }

    /// Each visited state's row: expected symbol counts normalised, or with a
    /// prior hmmlearn's `max(α − 1 + n, 0)` normalised (a row the prior
    /// clamps to all zeros keeps its values).
    fn maximize(
        &mut self,
        stats: &CategoricalStats,
        learn: Learn,
        _: &CategoricalSettings,
        prior: &Option<Vec<f64>>,
    ) -> Result<Vec<usize>> {
        let (k, m) = (self.n_states(), self.n_symbols);
        let total: f64 = stats.counts.iter().sum();
        let mut kept = Vec::new();
        if !learn.means {
            return Ok(kept);
        }
        for j in 0..k {
            let mass: f64 = (0..m).map(|s| stats.counts[s * k + j]).sum();
            // NaN masses count as unvisited too.
            if mass.is_nan() || mass <= UNVISITED_SHARE * total {
                kept.push(j);
                continue;
            }
            let alpha = prior.as_ref().map(|a| &a[j * m..(j + 1) * m]);
            let row = &mut self.probabilities[j * m..(j + 1) * m];
            if !map_row(row, |s| stats.counts[s * k + j], alpha, false) {
                kept.push(j);
            }
        }
        self.refresh();
        Ok(kept)
    }

    fn sample(&self, state: usize, rng: &mut Pcg64, out: &mut [f64]) {
        let m = self.n_symbols;
        out[0] = draw(&self.probabilities[state * m..(state + 1) * m], rng) as f64;
    }

    fn work_per_sample(&self) -> usize {
        4
    }

    fn write_flat(&self, out: &mut Vec<f64>) {
        write_logs(&self.probabilities, out)
    }

    fn read_flat(&mut self, x: &[f64], base: &[f64]) -> bool {
        let mut flat = FlatReader::new(x, base);
        let ok = read_probabilities(&mut flat, self.n_symbols, &mut self.probabilities).is_some();
        self.refresh();
        ok && flat.finished()
    }
}

/// Categorical observations are one column of symbols.
pub(crate) fn check_one_column(data: DataRef<'_>) -> Result<()> {
    if data.n_cols() != 1 {
        return Err(Error::ShapeMismatch {
            what: "number of columns of categorical observations (one column of symbols)".into(),
            expected: 1,
            got: data.n_cols(),
        });
    }
    Ok(())
}

/// Checks a column of symbols: integers in `0..n_symbols` (or any
/// non-negative integer below 2³² when `n_symbols` is `None`); returns the
/// largest symbol plus one.
pub(crate) fn check_symbols(data: DataRef<'_>, n_symbols: Option<usize>) -> Result<usize> {
    let limit = n_symbols.unwrap_or(1 << 32);
    let mut top = 0;
    for (row, &x) in data.values().iter().enumerate() {
        if !(x >= 0.0 && x.fract() == 0.0 && x < limit as f64) {
            let range = match n_symbols {
                Some(m) => format!("0..{}", m - 1),
                None => "0, 1, 2, ...".into(),
            };
            return Err(Error::InvalidObservation {
                row,
                problem: format!(
                    "the symbol {x} is not an integer in {range}; categorical observations \
                     are the symbols 0..M-1"
                ),
            });
        }
        top = top.max(x as usize + 1);
    }
    Ok(top)
}

/// An index drawn with the given probabilities (the last on rounding).
pub(crate) fn draw(probabilities: &[f64], rng: &mut Pcg64) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (i, p) in probabilities.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    probabilities.len() - 1
}

/// Gaussian-mixture emissions (GMM-HMM): state `j` emits from its own mixture
/// of `M` Gaussians (all with one covariance structure). Each state's mixture
/// is a [`GaussianMixture`], evaluated and updated by the mixtures' own kernel
/// and M-step, with every row weighted by the state's posterior.
#[derive(Clone, Debug)]
pub struct GmmEmission {
    states: Vec<GaussianMixture>,
    path: Path,
    chol: Vec<f64>,
}

impl PartialEq for GmmEmission {
    fn eq(&self, other: &Self) -> bool {
        self.states == other.states
    }
}

/// Statistics of mixture emissions: one mixture's statistics per state.
#[derive(Clone, Debug)]
pub struct GmmStats {
    per_state: Vec<ComponentStats>,
    /// `BLOCK_ROWS × M`: one block's component weights within a state.
    weights: Vec<f64>,
}

impl PartialEq for GmmStats {
    fn eq(&self, other: &Self) -> bool {
        // `weights` is scratch.
        self.per_state == other.per_state
    }
}

impl GmmEmission {
    /// Mixture emissions from one mixture per state; all must have the same
    /// number of components, features and covariance type.
    pub fn new(states: Vec<GaussianMixture>) -> Result<Self> {
        let first = states.first().ok_or_else(|| Error::InvalidModel {
            field: "states".into(),
            problem: "an HMM needs at least one state".into(),
        })?;
        let shape = |m: &GaussianMixture| (m.n_components(), m.n_features(), m.covariance_type());
        if let Some(j) = states.iter().position(|m| shape(m) != shape(first)) {
            return Err(Error::InvalidModel {
                field: format!("states[{j}]"),
                problem: "every state's mixture needs the same number of components, \
                          features and covariance type"
                    .into(),
            });
        }
        let d = first.n_features();
        Ok(GmmEmission {
            states,
            path: Path::detect(),
            chol: vec![0.0; d * d],
        })
    }

    /// The mixture of each state.
    pub fn mixtures(&self) -> &[GaussianMixture] {
        &self.states
    }

    /// Components per state `M`.
    pub fn n_mix(&self) -> usize {
        self.states[0].n_components()
    }

    /// The covariance structure of every component.
    pub fn covariance_type(&self) -> CovarianceType {
        self.states[0].covariance_type()
    }
}

impl Emission for GmmEmission {
    type Stats = GmmStats;
    type Settings = GmmSettings;
    /// One mixture prior per state.
    type Prior = Option<Vec<MixturePrior>>;

    fn n_states(&self) -> usize {
        self.states.len()
    }

    fn n_features(&self) -> usize {
        self.states[0].n_features()
    }

    fn n_parameters(&self, learn: Learn) -> usize {
        // Weights, means and covariances are learned together (see `maximize`).
        if learn.means && learn.covariances {
            self.states.iter().map(|m| m.n_parameters()).sum()
        } else {
            0
        }
    }

    fn check_data(&self, data: DataRef<'_>) -> Result<()> {
        self.states[0].check_data(data)
    }

    fn new_stats(&self) -> GmmStats {
        GmmStats {
            per_state: self
                .states
                .iter()
                .map(|m| {
                    ComponentStats::new(m.covariance_type(), m.means().to_vec(), m.n_features())
                })
                .collect(),
            weights: vec![0.0; BLOCK_ROWS * self.n_mix()],
        }
    }

    fn reset_stats(&self, stats: &mut GmmStats) {
        for (s, m) in stats.per_state.iter_mut().zip(&self.states) {
            s.reset(m.means());
        }
    }

    fn merge_stats(stats: &mut GmmStats, other: &GmmStats) {
        for (a, b) in stats.per_state.iter_mut().zip(&other.per_state) {
            a.merge(b);
        }
    }

    fn stats_match(a: &GmmStats, b: &GmmStats) -> bool {
        a.per_state.len() == b.per_state.len()
            && a.per_state
                .iter()
                .zip(&b.per_state)
                .all(|(x, y)| codec::components_match(x, y))
    }

    fn write_stats(stats: &GmmStats, out: &mut Vec<u8>) {
        out.push(b'M');
        codec::write_size(stats.per_state.len(), out);
        for s in &stats.per_state {
            codec::write_components(s, out);
        }
    }

    fn read_stats(bytes: &mut &[u8]) -> Result<GmmStats> {
        codec::expect_tag(bytes, b'M', "mixture")?;
        let k = codec::read_size(bytes)?;
        if k == 0 {
            return Err(codec::invalid("mixture statistics of no state"));
        }
        // Each state's statistics take at least their header's bytes.
        if k > bytes.len() / 8 {
            return Err(codec::invalid(
                "the shapes announced do not fit in the bytes given",
            ));
        }
        let per_state = (0..k)
            .map(|_| codec::read_components(bytes))
            .collect::<Result<Vec<_>>>()?;
        let first = &per_state[0];
        if per_state
            .iter()
            .any(|s| (s.kind, s.d, s.k()) != (first.kind, first.d, first.k()))
        {
            return Err(codec::invalid(
                "the states' mixture statistics have different shapes",
            ));
        }
        let n_mix = first.k();
        Ok(GmmStats {
            per_state,
            weights: vec![0.0; BLOCK_ROWS * n_mix],
        })
    }

    fn log_probabilities(&self, obs: DataRef<'_>, stats: &mut GmmStats, out: &mut [f64]) {
        let (n, k) = (obs.n_rows(), self.n_states());
        for (start, end) in row_blocks(n, block_rows(obs.n_cols())) {
            let rows = obs.rows(start, end);
            for (j, (m, s)) in self.states.iter().zip(&mut stats.per_state).enumerate() {
                posterior_block(self.path, m.components(), rows, &mut s.scratch);
                for r in 0..end - start {
                    out[(start + r) * k + j] = s.scratch.lse[r];
                }
            }
        }
    }

    fn accumulate(&self, obs: DataRef<'_>, posteriors: &[f64], stats: &mut GmmStats) {
        let (n, k, mix) = (obs.n_rows(), self.n_states(), self.n_mix());
        for (start, end) in row_blocks(n, block_rows(obs.n_cols())) {
            let rows = obs.rows(start, end);
            for (j, (m, s)) in self.states.iter().zip(&mut stats.per_state).enumerate() {
                // Within state j, row r belongs to component c with weight
                // P(state j | x) · P(component c | x, state j).
                let nch = posterior_block(self.path, m.components(), rows, &mut s.scratch);
                for r in 0..end - start {
                    let g = posteriors[(start + r) * k + j];
                    for c in 0..mix {
                        stats.weights[r * mix + c] =
                            g * s.scratch.resp[c * nch + r / LANES][r % LANES];
                    }
                }
                let w = &stats.weights;
                accumulate_given(self.path, s, rows, None, |r, c| w[r * mix + c]);
            }
        }
    }

    /// Weights, means and covariances of each visited state's mixture by the
    /// mixture M-step (its re-seeding policy included), with each state's
    /// prior when given (hmmlearn's `GMMHMM` formulas). They are learned
    /// together: `learn.means` and `learn.covariances` both on, or both off.
    fn maximize(
        &mut self,
        stats: &GmmStats,
        learn: Learn,
        settings: &GmmSettings,
        prior: &Option<Vec<MixturePrior>>,
    ) -> Result<Vec<usize>> {
        let reg_covar = settings.gaussian.reg_covar;
        if learn.means != learn.covariances {
            return Err(Error::InvalidConfig {
                field: "learn",
                reason: "mixture emissions learn means and covariances together: \
                         give both m and c, or neither"
                    .into(),
            });
        }
        let masses: Vec<f64> = stats
            .per_state
            .iter()
            .map(|s| s.counts.iter().sum())
            .collect();
        let total: f64 = masses.iter().sum();
        let mut kept = Vec::new();
        for (j, (m, s)) in self.states.iter_mut().zip(&stats.per_state).enumerate() {
            if masses[j].is_nan() || masses[j] <= UNVISITED_SHARE * total {
                kept.push(j);
                continue;
            }
            if learn.means {
                let state_prior = prior.as_ref().map(|p| &p[j]);
                let (weights, components) = m.parts_mut();
                let repaired = maximize_into(
                    s,
                    reg_covar,
                    state_prior,
                    weights,
                    components,
                    &mut self.chol,
                )?;
                if !repaired.is_empty() {
                    kept.push(j);
                }
            }
        }
        Ok(kept)
    }

    fn sample(&self, state: usize, rng: &mut Pcg64, out: &mut [f64]) {
        let (mut x, mut label) = (Vec::with_capacity(out.len()), Vec::with_capacity(1));
        self.states[state].sample_into(1, rng.random(), &mut x, &mut label);
        out.copy_from_slice(&x);
    }

    fn work_per_sample(&self) -> usize {
        let d = self.n_features();
        self.n_mix() * (d * (d + 1) + 40)
    }

    fn write_flat(&self, out: &mut Vec<f64>) {
        for m in &self.states {
            m.write_flat(out);
        }
    }

    fn read_flat(&mut self, x: &[f64], base: &[f64]) -> bool {
        let mut flat = FlatReader::new(x, base);
        self.states.iter_mut().all(|m| m.read_flat(&mut flat)) && flat.finished()
    }
}
