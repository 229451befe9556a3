//! # emkit: latent-variable models fitted by Expectation–Maximization
//!
//! emkit fits Gaussian mixtures (full, tied, diagonal and spherical
//! covariances) by EM, with scikit-learn's parameterisation and defaults, and
//! hidden Markov models with Gaussian, categorical or Gaussian-mixture
//! emissions by Baum–Welch ([`hmm`], hmmlearn's concepts), on one engine.
//! [`select`] chooses the number of components and [`anomaly`] flags rows of
//! low density.
//!
//! ## Example
//!
//! ```
//! use emkit::{CovarianceType, DataRef, GaussianMixture};
//!
//! let x = [1.0, 2.0, 1.1, 2.1, 0.9, 1.9, 8.0, 9.0, 8.1, 9.2, 7.9, 8.8];
//! let data = DataRef::new(&x, 6, 2)?;
//! let fit = GaussianMixture::builder(2)
//!     .covariance(CovarianceType::Spherical)
//!     .n_init(2)
//!     .seed(0)
//!     .fit(data)?;
//! // The reported log-likelihood is the score of the returned model.
//! let score = fit.model.score(data)?;
//! assert!((fit.mean_log_likelihood() - score).abs() < 1e-12);
//! # Ok::<(), emkit::Error>(())
//! ```
//!
//! ## The engine
//!
//! Every model's E-step *accumulates* expected sufficient statistics over a
//! block of data; statistics merge associatively; the M-step reads only the
//! merged statistics ([`em::EmModel`]). The driver ([`em::fit`]) runs blocks in
//! parallel with rayon over a fixed partition, so fits are bit-identical for
//! any thread count, and owns restarts, convergence, the trace and the final
//! E-step. It never prints: pass an [`em::Monitor`] to watch a fit.
//!
//! ## Layers
//!
//! Each module uses only the ones below it: the `emkit` command (its own
//! crate) → [`io`] (model files, data readers) → [`select`], [`segment`] and
//! [`anomaly`] (applications) → the models, [`GaussianMixture`] and [`hmm`]
//! (whose GMM states are `GaussianMixture`s, used through their public API)
//! → [`em`] (the driver, [`em::Fit`], [`em::criteria`]), [`init`] (k-means)
//! and [`dist`] (the families: the Gaussian block kernel, its statistics and
//! M-step, shared by mixtures and HMM emissions; categorical rows) →
//! [`linalg`] → the data layout (`DataRef`, the fixed row blocks), errors and
//! memory limits. Nothing in `mixture` or `hmm` imports from `select`, and
//! `hmm` nothing of `mixture`'s internals.
//!
//! ## Numerics
//!
//! Precisions are stored as Cholesky factors (scikit-learn's
//! `precisions_cholesky_`), log-determinants come from their diagonals, all
//! probabilities stay in log space, and covariance statistics are accumulated
//! about the current means, so data far from the origin (an offset of 1e6)
//! fits as well as centred data. `reg_covar` is added to every variance;
//! empty or collapsed components are re-seeded (see [`GaussianMixtureBuilder`])
//! and reported in the [`em::FitReport`].

#![deny(missing_docs)]

pub mod anomaly;
mod data;
pub mod dist;
pub mod em;
mod error;
pub mod hmm;
pub mod init;
pub mod io;
pub mod linalg;
pub mod memory;
mod mixture;
pub mod segment;
pub mod select;

pub use data::{check_weights, max_fit_magnitude, DataRef, Matrix, Weighted};
pub use dist::gaussian::{CovarianceType, Covariances};
pub use em::{
    Accel, EmConfig, FitReport, Monitor, RestartReport, StopReason, Strategy, TraceEntry,
};
pub use error::{Error, Result};
pub use init::Init;
pub use memory::MemoryLimit;
pub use mixture::stream::{for_each_piece, SourceRows};
pub use mixture::{GaussianMixture, GaussianMixtureBuilder, MixtureFit, MixtureStats};

/// Entry points for the benchmarks in `benches/`; not a stable API.
#[doc(hidden)]
pub mod bench_support {
    use crate::data::RowBlocks;
    use crate::dist::gaussian::block_rows;
    use crate::em::driver_e_step;
    use crate::mixture::MixtureEm;
    use crate::{DataRef, GaussianMixture};

    /// One full E-step of `model` over `data` (log-densities, responsibilities
    /// and M-step statistics, in parallel over blocks): the total log-likelihood.
    pub fn e_step(model: &GaussianMixture, data: DataRef<'_>) -> f64 {
        let em = MixtureEm::new(model.clone(), 0.0);
        let mut workspace = Vec::new();
        let blocks = RowBlocks::new(data, block_rows(data.n_cols()));
        driver_e_step(&em, &blocks, &mut workspace).1
    }
}

/// The README's Rust examples, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
