//! Each emission family's side of a fit: what its builder sets (covariance
//! type, `reg_covar` and hmmlearn's priors; components per state; symbols),
//! how it checks the data and how each restart's first emission is drawn.

use rand::Rng;
use rand_pcg::Pcg64;

use super::emission::{
    check_one_column, check_symbols, CategoricalEmission, Emission, GaussianEmission, GmmEmission,
};
use super::priors::PriorArray;
use super::HmmBuilder;
use crate::data::{DataRef, Weighted};
use crate::dist::gaussian::{CovarianceCentre, CovarianceType, Covariances, DataCovariance};
use crate::error::{Error, Result};
use crate::init::kmeans;
use crate::memory::{product, sum};

/// Most Lloyd iterations of the k-means initialisation (scikit-learn's default).
const KMEANS_MAX_ITER: usize = 300;

/// How each emission gets its first parameters; implemented for the builders
/// of the emissions emkit has.
pub trait Initialise<E: Emission> {
    /// Emission-specific checks of the data before a fit.
    fn check_for_init(&self, data: DataRef<'_>) -> Result<()>;
    /// The number of values of the emission's parameters (or statistics) for
    /// `data`, for memory estimates; call after `check_for_init`.
    fn emission_values(&self, data: DataRef<'_>) -> u128;
    /// The first emission parameters of one restart.
    /// With `weights` (one per row: its sequence's weight), a row of weight
    /// `w` counts as `w` copies of it.
    fn initial_emission(&self, data: Weighted<'_>, rng: &mut Pcg64) -> Result<E>;
    /// The emission's prior settings checked against the fit's shapes and
    /// lowered for the M-step; call after `check_for_init`.
    fn emission_prior(&self, data: DataRef<'_>) -> Result<E::Prior>;
    /// A streamed fit's checks of one piece of the data, where
    /// `check_for_init` will see only a sample: what must hold on every row
    /// (categorical: the symbols), folding into `seen` what the start needs
    /// from every row (categorical: the largest symbol plus one).
    fn check_piece(&self, piece: DataRef<'_>, seen: &mut usize) -> Result<()> {
        let _ = (piece, seen);
        Ok(())
    }
    /// This builder with what [`check_piece`](Self::check_piece) saw in
    /// every piece (categorical: the number of symbols, unless set).
    fn settled(&self, seen: usize) -> Self
    where
        Self: Clone,
    {
        let _ = seen;
        self.clone()
    }
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
        self.family.covariance = covariance;
        self
    }

    /// Added to every covariance diagonal (default 1e-6).
    pub fn reg_covar(mut self, reg_covar: f64) -> Self {
        self.family.reg_covar = reg_covar;
        self
    }

    prior_setters! {
        /// hmmlearn's `means_prior` `μ₀`, broadcast to `(n_states, n_features)`
        /// (default 0; it acts only with a `means_weight`). Finite.
        means_prior;

        /// hmmlearn's `means_weight` `λ`, the prior means' weight in
        /// observations: broadcast to `(n_states, n_features)` for diag and
        /// spherical covariances, a single number for full and tied (hmmlearn
        /// multiplies the outer product of the mean offsets by it; a per-feature
        /// weight would make it asymmetric). Default 0 (no prior on the means);
        /// finite and `>= 0`.
        means_weight;

        /// hmmlearn's `covars_prior`: the scale `ψ`/`Ψ` added to the scatter,
        /// broadcast to `(n_states, n_features)` for diag and spherical (finite,
        /// `>= 0`), `(n_states, n_features, n_features)` for full and
        /// `(n_features, n_features)` for tied (symmetric, positive
        /// semi-definite). As in numpy, a single number fills every entry — for
        /// full and tied the whole matrix, not its diagonal (hmmlearn's default
        /// `1e-2` is `0.01·11ᵀ`). Default 0.
        covars_prior;

        /// hmmlearn's `covars_weight` `c`: one number; the denominators gain
        /// `max(c − 1, 0)` (diag, spherical) or `max(c − d, 0)` (full, tied).
        /// Default 1 (hmmlearn's too), which adds nothing. Finite.
        covars_weight;
    }
}

impl Initialise<GaussianEmission> for HmmBuilder<GaussianEmission> {
    fn check_for_init(&self, data: DataRef<'_>) -> Result<()> {
        self.family.validate()?;
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
            gaussian_values(self.family.covariance, self.n_states, d),
            product(&[3, d, d]),
        ])
    }

    /// k-means centres as the means (k-means++ seeded by the restart's seed),
    /// and the whole data's covariance plus `reg_covar` for every state
    /// (hmmlearn's initialisation).
    fn initial_emission(
        &self,
        weighted: Weighted<'_>,
        rng: &mut Pcg64,
    ) -> Result<GaussianEmission> {
        let data = weighted.data();
        let (d, k) = (data.n_cols(), self.n_states);
        let centres = kmeans(data, weighted.weights(), k, KMEANS_MAX_ITER, rng).centres;
        let cov = DataCovariance::weighted(weighted, self.family.reg_covar)?
            .matrix()
            .to_vec();
        let diag: Vec<f64> = (0..d).map(|a| cov[a * d + a]).collect();
        let covariances = match self.family.covariance {
            CovarianceType::Full => Covariances::Full(cov.repeat(k)),
            CovarianceType::Tied => Covariances::Tied(cov),
            CovarianceType::Diagonal => Covariances::Diagonal(diag.repeat(k)),
            CovarianceType::Spherical => {
                Covariances::Spherical(vec![diag.iter().sum::<f64>() / d as f64; k])
            }
        };
        GaussianEmission::new(centres, d, covariances).map_err(|_| Error::SingularCovariance {
            component: 0,
            reg_covar: self.family.reg_covar,
        })
    }

    fn emission_prior(
        &self,
        data: DataRef<'_>,
    ) -> Result<Option<crate::dist::gaussian::GaussianPrior>> {
        let kind = self
            .emission
            .as_ref()
            .map_or(self.family.covariance, |e| e.covariance_type());
        self.priors.gaussian(kind, self.n_states, data.n_cols())
    }
}

impl HmmBuilder<GmmEmission> {
    /// Covariance structure of every mixture component (default full).
    pub fn covariance(mut self, covariance: CovarianceType) -> Self {
        self.family.gaussian.covariance = covariance;
        self
    }

    /// Added to every covariance diagonal (default 1e-6).
    pub fn reg_covar(mut self, reg_covar: f64) -> Self {
        self.family.gaussian.reg_covar = reg_covar;
        self
    }

    /// Mixture components per state (default 1).
    pub fn n_mix(mut self, n_mix: usize) -> Self {
        self.family.n_mix = n_mix;
        self
    }

    prior_setters! {
        /// hmmlearn's `weights_prior`: Dirichlet concentrations of each state's
        /// mixture weights, broadcast to `(n_states, n_mix)` (default 1: maximum
        /// likelihood, hmmlearn's default too). The weights become
        /// `max(α − 1 + N_c, 0)` normalised (hmmlearn does not clamp, and can
        /// return negative weights for `α < 1`); a component left with no weight
        /// is re-seeded like any empty mixture component. Finite, `>= 0`.
        weights_prior;

        /// hmmlearn's `means_prior` `μ₀` of every component, broadcast to
        /// `(n_states, n_mix, n_features)` (default 0). Finite.
        means_prior;

        /// hmmlearn's `means_weight` `λ`, broadcast to `(n_states, n_mix)`
        /// (default 0); `μ = (λ μ₀ + Σ r x) / (λ + N)`. Finite, `>= 0`.
        means_weight;

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
        covars_prior;

        /// hmmlearn's `GMMHMM` `covars_weight`: `ν` for full and tied, `β` for
        /// diag and spherical (see [`covars_prior`](Self::covars_prior)).
        covars_weight;
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
        self.family.gaussian.validate()?;
        if self.family.n_mix == 0 {
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
        let components = self.n_states.saturating_mul(self.family.n_mix);
        if self.emission.is_none() && components > data.n_rows() {
            return Err(Error::TooFewSamples {
                n_samples: data.n_rows(),
                n_components: components,
            });
        }
        Ok(())
    }

    fn emission_values(&self, data: DataRef<'_>) -> u128 {
        let (components, d) = (
            self.n_states.saturating_mul(self.family.n_mix),
            data.n_cols(),
        );
        // The emission keeps a d × d factoring scratch whatever the type.
        sum(&[
            gaussian_values(self.family.gaussian.covariance, components, d),
            product(&[d, d]),
        ])
    }

    /// k-means splits the observations into one cluster per state; each
    /// state's mixture is then a short mixture fit (10 EM iterations, k-means
    /// started) on its cluster, or on all observations when the cluster has
    /// fewer rows than components (hmmlearn's GMMHMM also nests k-means).
    fn initial_emission(&self, weighted: Weighted<'_>, rng: &mut Pcg64) -> Result<GmmEmission> {
        let data = weighted.data();
        let (d, k) = (data.n_cols(), self.n_states);
        let labels = kmeans(data, weighted.weights(), k, KMEANS_MAX_ITER, rng).labels;
        let mut states = Vec::with_capacity(k);
        for j in 0..k {
            // The cluster's rows of positive weight.
            let members: Vec<usize> = (0..data.n_rows())
                .filter(|&i| labels[i] == j && weighted.weight(i) > 0.0)
                .collect();
            let rows: Vec<f64> = members.iter().flat_map(|&i| data.row(i).to_vec()).collect();
            let row_weights: Vec<f64> = members.iter().map(|&i| weighted.weight(i)).collect();
            let builder = crate::GaussianMixture::builder(self.family.n_mix)
                .covariance(self.family.gaussian.covariance)
                .reg_covar(self.family.gaussian.reg_covar)
                .max_iter(10)
                .seed(rng.random());
            let mixture = match DataRef::new(&rows, members.len(), d) {
                Ok(c) if c.n_rows() >= self.family.n_mix => match weighted.weights() {
                    None => builder.fit(c)?,
                    Some(_) => builder.fit(Weighted::new(c, &row_weights)?)?,
                },
                _ => builder.fit(weighted)?,
            }
            .model;
            states.push(mixture);
        }
        GmmEmission::new(states)
    }

    fn emission_prior(
        &self,
        data: DataRef<'_>,
    ) -> Result<Option<Vec<crate::dist::gaussian::MixturePrior>>> {
        let (kind, m) = match &self.emission {
            Some(e) => (e.covariance_type(), e.n_mix()),
            None => (self.family.gaussian.covariance, self.family.n_mix),
        };
        self.priors.gmm(kind, self.n_states, m, data.n_cols())
    }
}

impl HmmBuilder<CategoricalEmission> {
    /// Number of symbols `M` (default: the largest symbol in the data plus one).
    pub fn n_symbols(mut self, n_symbols: usize) -> Self {
        self.family.n_symbols = Some(n_symbols);
        self
    }

    prior_setters! {
        /// hmmlearn's `emissionprob_prior`: Dirichlet concentrations of each
        /// state's emission row, broadcast to `(n_states, n_symbols)` (default 1:
        /// maximum likelihood, hmmlearn's default too). Row `j` becomes
        /// `max(α_j − 1 + n_j, 0)` normalised, `n_j` the expected symbol counts;
        /// a row the prior clamps to all zeros keeps its values (hmmlearn would
        /// leave a row of zeros), and an unvisited state keeps its row. Finite,
        /// `>= 0`.
        emissionprob_prior;
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
        if self.family.n_symbols == Some(0) {
            return Err(Error::InvalidConfig {
                field: "n_symbols",
                reason: "must be at least 1".into(),
            });
        }
        check_symbols(data, self.family.n_symbols).map(|_| ())
    }

    fn emission_values(&self, data: DataRef<'_>) -> u128 {
        let m = match self.family.n_symbols {
            Some(m) => m,
            None => check_symbols(data, None).unwrap_or(1),
        };
        // Probabilities, their logs and the statistics, state by symbol.
        product(&[3, self.n_states, m])
    }

    /// Uniform random emission probabilities, normalised (hmmlearn's).
    fn initial_emission(
        &self,
        weighted: Weighted<'_>,
        rng: &mut Pcg64,
    ) -> Result<CategoricalEmission> {
        let data = weighted.data();
        let m = match self.family.n_symbols {
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

    fn check_piece(&self, piece: DataRef<'_>, seen: &mut usize) -> Result<()> {
        check_one_column(piece)?;
        let limit = match &self.emission {
            Some(e) => Some(e.n_symbols()),
            None => self.family.n_symbols,
        };
        *seen = (*seen).max(check_symbols(piece, limit)?);
        Ok(())
    }

    fn settled(&self, seen: usize) -> Self {
        let mut settled = self.clone();
        settled.family.n_symbols = settled.family.n_symbols.or(Some(seen));
        settled
    }

    fn emission_prior(&self, data: DataRef<'_>) -> Result<Option<Vec<f64>>> {
        let m = match (&self.emission, self.family.n_symbols) {
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
