//! Model selection: the collapse test and the grid of fits over numbers of
//! components and covariance types, ranked by an information criterion
//! ([`crate::em::criteria`], re-exported here).
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
//! ([`min_relative_variance`]). [`select`] reports such fits and
//! does not choose them unless asked to.
//!
//! [`GaussianMixture::responsibility_entropy`]: crate::GaussianMixture::responsibility_entropy

mod collapse;
mod grid;

use std::fmt;
use std::str::FromStr;

pub use crate::dist::gaussian::DataCovariance;
pub use crate::em::criteria::{aic, bic, icl};
pub use collapse::{min_relative_variance, DEGENERATE_RELATIVE_VARIANCE};
pub use grid::{
    select, select_with_progress, CellFit, CellStatus, GridCell, SelectConfig, Selection,
    MAX_GRID_CELLS,
};

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
