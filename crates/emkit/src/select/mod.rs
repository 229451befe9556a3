//! Information criteria (scikit-learn's sign: lower is better).

/// Bayesian information criterion `−2 ln L + p ln n` for a total
/// log-likelihood `log_likelihood`, `n_parameters` free parameters and
/// `n_samples` observations.
pub fn bic(log_likelihood: f64, n_parameters: usize, n_samples: usize) -> f64 {
    -2.0 * log_likelihood + n_parameters as f64 * (n_samples as f64).ln()
}

/// Akaike information criterion `−2 ln L + 2p`.
pub fn aic(log_likelihood: f64, n_parameters: usize) -> f64 {
    -2.0 * log_likelihood + 2.0 * n_parameters as f64
}
