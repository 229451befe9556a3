//! Model selection: information criteria, the collapse test, and the grid of
//! fits over numbers of components and covariance types.
//!
//! Every criterion uses scikit-learn's sign: **lower is better**.
//!
//! - [`bic`] `= −2 ln L + p ln n`, [`aic`] `= −2 ln L + 2p` (scikit-learn's
//!   `GaussianMixture.bic`/`aic`).
//! - [`icl`] `= BIC + 2·EN`, where `EN = −Σᵢ Σⱼ rᵢⱼ ln rᵢⱼ` is the entropy of
//!   the responsibilities ([`GaussianMixture::responsibility_entropy`]). This
//!   is the entropy form of the integrated completed likelihood (McLachlan &
//!   Peel, *Finite Mixture Models*, 2000, §6.10, "ICL-BIC"): it penalises
//!   overlapping components, so it prefers well separated clusters. (mclust's
//!   `icl()` uses the hard MAP classification, `−2 Σᵢ ln maxⱼ rᵢⱼ`, in place
//!   of `2·EN`; the two agree when the assignments are crisp.)
//!
//! A fit is *degenerate* when some component has (nearly) collapsed: its
//! smallest variance along any direction is below [`DEGENERATE_RELATIVE_VARIANCE`]
//! (1e-3) of the whole data's variance along that direction
//! ([`DataCovariance::min_relative_variance`]). [`select`] reports such fits and
//! does not choose them unless asked to.
//!
//! [`GaussianMixture::responsibility_entropy`]: crate::GaussianMixture::responsibility_entropy

mod collapse;
mod grid;

use std::fmt;
use std::str::FromStr;

pub use collapse::{DataCovariance, DEGENERATE_RELATIVE_VARIANCE};
pub use grid::{
    select, select_with_progress, CellFit, CellStatus, GridCell, SelectConfig, Selection,
    MAX_GRID_CELLS,
};

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

/// Integrated completed likelihood in its entropy form, `BIC + 2·EN`, for a
/// BIC and the entropy of the responsibilities `EN = −Σᵢ Σⱼ rᵢⱼ ln rᵢⱼ ≥ 0`
/// (see the [module documentation](self) for the definition and its sources).
pub fn icl(bic: f64, responsibility_entropy: f64) -> f64 {
    bic + 2.0 * responsibility_entropy
}

/// Which criterion picks the best fit (all: lower is better).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Criterion {
    /// Bayesian information criterion ([`bic`]).
    #[default]
    Bic,
    /// Akaike information criterion ([`aic`]).
    Aic,
    /// Integrated completed likelihood, entropy form ([`icl`]).
    Icl,
}

impl Criterion {
    /// `bic`, `aic` or `icl`.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Bic => "bic",
            Criterion::Aic => "aic",
            Criterion::Icl => "icl",
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Criterion {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "bic" => Ok(Criterion::Bic),
            "aic" => Ok(Criterion::Aic),
            "icl" => Ok(Criterion::Icl),
            _ => Err(crate::Error::InvalidConfig {
                field: "criterion",
                reason: format!("unknown {s:?}; use bic, aic or icl"),
            }),
        }
    }
}
