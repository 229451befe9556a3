//! Information criteria from a fit's log-likelihood, parameter count and
//! sample size: the one place every model and command computes them.
//!
//! Every criterion uses scikit-learn's sign: **lower is better**. The sample
//! size is a real number: with sample weights it is their sum, the number of
//! rows the weighted fit stands for (integer weights equal duplicated rows).

/// Bayesian information criterion `−2 ln L + p ln n` for a total
/// log-likelihood `log_likelihood`, `n_parameters` free parameters and
/// `n_samples` observations (scikit-learn's `GaussianMixture.bic`).
pub fn bic(log_likelihood: f64, n_parameters: usize, n_samples: f64) -> f64 {
    -2.0 * log_likelihood + n_parameters as f64 * n_samples.ln()
}

/// Akaike information criterion `−2 ln L + 2p` (scikit-learn's `aic`).
pub fn aic(log_likelihood: f64, n_parameters: usize) -> f64 {
    -2.0 * log_likelihood + 2.0 * n_parameters as f64
}

/// Integrated completed likelihood in its entropy form, `BIC + 2·EN`, for a
/// BIC and the entropy of the responsibilities `EN = −Σᵢ Σⱼ rᵢⱼ ln rᵢⱼ ≥ 0`
/// (see [`crate::select`] for the definition and its sources).
pub fn icl(bic: f64, responsibility_entropy: f64) -> f64 {
    bic + 2.0 * responsibility_entropy
}
