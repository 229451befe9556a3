//! Conjugate priors on Gaussian means and covariances (MAP M-steps), lowered
//! to the terms the M-step adds to its statistics.
//!
//! With prior means `μ₀` of weight (pseudo-count) `λ`, a scale `Ψ` and
//! pseudo-counts `ν`, a component with expected count `N`, data mean `m` and
//! scatter `S` about `m` gets
//!
//! ```text
//! μ = (λ μ₀ + N m) / (λ + N)
//! Σ = (Ψ + S + N (m − μ)(m − μ)ᵀ + λ (μ − μ₀)(μ − μ₀)ᵀ) / (N + ν)
//!   = (Ψ + S + λN/(λ+N) · (m − μ₀)(m − μ₀)ᵀ) / (N + ν)
//! ```
//!
//! the maximiser of the expected complete-data log-likelihood plus the log
//! prior `−ν/2 · ln|Σ| − ½ tr(Ψ Σ⁻¹) − λ/2 · (μ − μ₀)ᵀ Σ⁻¹ (μ − μ₀)` (diagonal
//! and spherical covariances: the same per variance). hmmlearn's priors of
//! `GaussianHMM` and `GMMHMM` are such priors, each with its own
//! parameterisation, lowered by [`crate::hmm`]. The second form of `Σ` is
//! what is computed: the scatter about the data mean is the one the
//! maximum-likelihood M-step already computes (centred, exact for data far
//! from the origin), and `λ = 0`, `Ψ = 0`, `ν = 0` add exact zeros to it, so a
//! neutral prior gives the maximum-likelihood bits.
//!
//! hmmlearn's `GMMHMM` centres its covariance statistics on the means of the
//! E-step instead of the new ones ([`CovarianceCentre::PreviousMeans`]):
//! `Σ = (Ψ + Σ r (x − μ_old)(x − μ_old)ᵀ + λ (μ − μ₀)(μ − μ₀)ᵀ) / (N + ν)`.
//! It is not the maximiser above (its fixed points are the same), so emkit
//! offers it only on request, for hmmlearn's numbers.

use super::{covariances_from_stats, CovarianceType, PriorTerms};

/// About which means a MAP (or maximum-likelihood) M-step centres the new
/// covariances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CovarianceCentre {
    /// The means of the same M-step: the exact M-step (the default, and
    /// emkit's behaviour without priors).
    #[default]
    NewMeans,
    /// The means the E-step used (hmmlearn 0.3's `GMMHMM`, which accumulates
    /// `Σ r (x − μ_old)(x − μ_old)ᵀ`). Its iterations differ from the exact
    /// M-step's, its fixed points do not; the log-likelihood is not
    /// guaranteed to be monotone.
    PreviousMeans,
}

/// A conjugate prior on `k` Gaussian components' means and covariances in
/// the terms of the M-step (see the module documentation); made and checked
/// by the builders that offer priors.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianPrior {
    pub(crate) kind: CovarianceType,
    pub(crate) d: usize,
    /// `k × d`: the prior means `μ₀`.
    pub(crate) means: Vec<f64>,
    /// `k × d`: their weights `λ` (full and tied: the same for every feature
    /// of a component).
    pub(crate) means_weight: Vec<f64>,
    /// `Ψ` in the layout of [`PriorTerms::scale`].
    pub(crate) scale: Vec<f64>,
    /// `ν` in the layout of [`PriorTerms::dof`].
    pub(crate) dof: Vec<f64>,
    pub(crate) centre: CovarianceCentre,
}

impl GaussianPrior {
    /// The new mean of component `j`'s feature `i` from statistics about
    /// `shift`: `first = Σ r (x − shift)`, `count = Σ r`.
    pub(crate) fn mean(&self, j: usize, i: usize, shift: f64, first: f64, count: f64) -> f64 {
        let l = self.means_weight[j * self.d + i];
        if l == 0.0 {
            // The maximum-likelihood expression, bit for bit.
            shift + first / count
        } else {
            shift + (first + l * (self.means[j * self.d + i] - shift)) / (count + l)
        }
    }

    /// `Ψ` plus the means' term for each component: `λN/(λ+N)·(m − μ₀)(…)ᵀ`
    /// when the covariances are about the new means (`about_new`), else
    /// `λ (μ − μ₀)(…)ᵀ` with `μ` the means after the M-step.
    fn scale_with_means(
        &self,
        counts: &[f64],
        shifts: &[f64],
        first: &[f64],
        means: &[f64],
        about_new: bool,
    ) -> Vec<f64> {
        let d = self.d;
        let mut scale = self.scale.clone();
        let mut delta = vec![0.0; d];
        let mut weight = vec![0.0; d];
        for (j, &n) in counts.iter().enumerate() {
            for i in 0..d {
                let (l, m0) = (self.means_weight[j * d + i], self.means[j * d + i]);
                if about_new {
                    weight[i] = l * n / (l + n);
                    delta[i] = (shifts[j * d + i] - m0) + first[j * d + i] / n;
                } else {
                    weight[i] = l;
                    delta[i] = means[j * d + i] - m0;
                }
            }
            match self.kind {
                CovarianceType::Full | CovarianceType::Tied => {
                    let at = if self.kind == CovarianceType::Full {
                        j * d * d
                    } else {
                        0
                    };
                    for a in 0..d {
                        for b in a..d {
                            scale[at + a * d + b] += weight[0] * delta[a] * delta[b];
                        }
                    }
                }
                CovarianceType::Diagonal => {
                    for i in 0..d {
                        scale[j * d + i] += weight[i] * delta[i] * delta[i];
                    }
                }
                CovarianceType::Spherical => {
                    let t: f64 = (0..d).map(|i| weight[i] * delta[i] * delta[i]).sum();
                    scale[j] += t;
                }
            }
        }
        scale
    }
}

/// New covariances of `kind` from statistics about `shifts` (`counts`,
/// `first`, `second` as [`covariances_from_stats`] reads them), with
/// `reg_covar` on every variance, into `out`. They are centred on the new
/// means when the means are learned (and `prior`, if any, asks for that),
/// else on the shifts (the means the E-step used); `means` are the means the
/// model has after this M-step (read only when a prior needs them).
#[allow(clippy::too_many_arguments)]
pub(crate) fn covariances_with_prior(
    kind: CovarianceType,
    d: usize,
    counts: &[f64],
    shifts: &[f64],
    first: &[f64],
    second: &[f64],
    means: &[f64],
    means_learned: bool,
    prior: Option<&GaussianPrior>,
    reg_covar: f64,
    out: &mut [f64],
) {
    let about_new = means_learned && prior.is_none_or(|p| p.centre == CovarianceCentre::NewMeans);
    let zeros;
    let centred_on = if about_new {
        first
    } else {
        // No first-moment correction: the scatter about the shifts.
        zeros = vec![0.0; first.len()];
        &zeros
    };
    match prior {
        None => covariances_from_stats(kind, counts, centred_on, second, d, reg_covar, None, out),
        Some(p) => {
            let scale = p.scale_with_means(counts, shifts, first, means, about_new);
            let terms = PriorTerms {
                scale: &scale,
                dof: &p.dof,
            };
            covariances_from_stats(
                kind,
                counts,
                centred_on,
                second,
                d,
                reg_covar,
                Some(terms),
                out,
            )
        }
    }
}
