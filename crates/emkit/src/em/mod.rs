//! The EM engine: one driver for every model.
//!
//! A model says how to *accumulate* expected sufficient statistics over one
//! block of data ([`EmModel::accumulate`]) and how to turn merged statistics into
//! new parameters ([`EmModel::maximize`]). The driver owns everything else:
//! restarts with their own seeds, the parallel pass over blocks, the
//! convergence test, the trace, the monitor, the final E-step and the best-of
//! choice. Nothing model-specific lives here.
//!
//! Determinism: blocks are grouped into tasks of a fixed size, each task folds
//! its blocks in order, and the task results are merged in order. None of this
//! depends on the number of threads, so a fit is bit-identical whatever the
//! size of the rayon pool.

mod accel;
pub mod criteria;
mod driver;
mod fit;
pub(crate) mod flat;
mod monitor;
mod strategy;

/// The engine's settings as builder methods (`n_init`, `max_iter`, `tol`,
/// `seed`, `max_memory`), written once for every model's builder: expand it
/// inside an `impl` of a builder whose [`EmConfig`] is its field `em`.
macro_rules! em_settings {
    () => {
        /// Number of restarts (default 1), each from its own start; the one
        /// with the best final log-likelihood is returned.
        pub fn n_init(mut self, n_init: usize) -> Self {
            self.em.n_init = n_init;
            self
        }

        /// Most EM iterations per restart (default 100).
        pub fn max_iter(mut self, max_iter: usize) -> Self {
            self.em.max_iter = max_iter;
            self
        }

        /// Convergence threshold on the change of the mean log-likelihood
        /// per observation between iterations (default 1e-3; scikit-learn's
        /// `tol`, where hmmlearn's is on the total).
        pub fn tol(mut self, tol: f64) -> Self {
            self.em.tol = tol;
            self
        }

        /// Master seed (default 0); restart `r` starts from
        /// [`restart_seed`](crate::em::restart_seed)`(seed, r)`.
        pub fn seed(mut self, seed: u64) -> Self {
            self.em.seed = seed;
            self
        }

        /// The most memory the fit may need (default:
        /// [`crate::memory::default_limit`], the memory available now unless
        /// set); a fit whose estimate (`memory_needed`) is above it fails
        /// with [`crate::Error::TooMuchMemory`] before allocating.
        pub fn max_memory(mut self, limit: crate::memory::MemoryLimit) -> Self {
            self.em.max_memory = Some(limit);
            self
        }

        /// How EM steps between iterates (default
        /// [`Accel::None`](crate::em::Accel)): with
        /// [`Accel::Squarem`](crate::em::Accel) every second iteration
        /// extrapolates along the last two EM steps and keeps the result only
        /// where it raises the log-likelihood, so the fit stays monotone and
        /// reaches the same optimum in fewer passes over the data;
        /// `max_iter` and `tol` apply to the iterations as in plain EM, and
        /// the report's `em_steps` counts the passes.
        pub fn accel(mut self, accel: crate::em::Accel) -> Self {
            self.em.accel = accel;
            self
        }

        /// How the `n_init` starts are spent (default
        /// [`Strategy::Restarts`](crate::em::Strategy)):
        /// [`Strategy::SplitMerge`](crate::em::Strategy) runs em-EM from
        /// `n_init` short runs, then split-and-merge moves from the best,
        /// within 1.5× the compute of `n_init` restarts; the report then
        /// holds one entry per EM run.
        pub fn strategy(mut self, strategy: crate::em::Strategy) -> Self {
            self.em.strategy = strategy;
            self
        }
    };
}
pub(crate) use em_settings;

pub use accel::Accel;
pub(crate) use driver::e_step as driver_e_step;
pub(crate) use driver::sum_like_e_step;
pub use driver::{
    fit, restart_seed, EmConfig, FitReport, RestartReport, StopReason, TraceEntry, MAX_MAX_ITER,
    MAX_N_INIT,
};
pub(crate) use driver::{n_tasks, report_bytes};
pub use fit::{Fit, Parameters};
pub use monitor::{Monitor, NoMonitor};
pub use strategy::{Strategy, N_LONG, SHORT_ITER};

use crate::data::{RowBlock, RowBlocks};
use crate::error::Result;

/// Expected sufficient statistics: values that merge associatively.
pub trait SufficientStats: Send {
    /// Adds `other` into `self`, as if `self` had also seen `other`'s data.
    fn merge(&mut self, other: &Self);
}

/// Data split into blocks that can be accumulated independently.
///
/// The block partition must depend only on the data, never on the thread count.
pub trait EmData: Sync {
    /// One unit of work: a range of rows, a sequence, ...
    type Block<'a>
    where
        Self: 'a;
    /// Number of observations.
    fn n_samples(&self) -> usize;
    /// The observations' total weight, which the mean log-likelihood divides
    /// by and the information criteria count as the sample size: the number
    /// of observations unless they are weighted.
    fn total_weight(&self) -> f64 {
        self.n_samples() as f64
    }
    /// Number of blocks.
    fn n_blocks(&self) -> usize;
    /// Block `i`, for `i < n_blocks()`.
    fn block(&self, i: usize) -> Self::Block<'_>;
    /// Called after every pass over the blocks: data read from a file
    /// reports here a read that failed during the pass (its blocks were
    /// empty), which ends the fit.
    fn pass_finished(&self) -> Result<()> {
        Ok(())
    }
}

impl EmData for RowBlocks<'_> {
    type Block<'b>
        = RowBlock<'b>
    where
        Self: 'b;

    fn n_samples(&self) -> usize {
        self.data.n_rows()
    }

    fn total_weight(&self) -> f64 {
        self.total
    }

    fn n_blocks(&self) -> usize {
        RowBlocks::n_blocks(self)
    }

    fn block(&self, i: usize) -> RowBlock<'_> {
        RowBlocks::block(self, i)
    }
}

/// What an M-step changed beyond the plain update.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MaximizeOutcome {
    /// Components (or states) that were empty or collapsed and were re-seeded.
    pub reseeded: Vec<usize>,
}

/// A model fitted by EM: its E-step accumulates, its M-step maximizes.
pub trait EmModel<D: EmData + ?Sized>: Clone + Send + Sync {
    /// The statistics of this model's E-step.
    type Stats: SufficientStats;
    /// Fresh, zeroed statistics for the current parameters.
    fn empty_stats(&self) -> Self::Stats;
    /// Zeroes `stats` for the current parameters, reusing its memory: the
    /// driver calls this every iteration instead of allocating.
    fn reset_stats(&self, stats: &mut Self::Stats);
    /// Rough work per sample of one E-step, in multiply-adds. The driver runs
    /// small problems on the calling thread, where waking worker threads would
    /// cost more than the pass itself; results are the same bits either way.
    fn work_per_sample(&self) -> usize {
        1
    }
    /// Adds the expected sufficient statistics of `block` under the current
    /// parameters into `stats`; returns the block's total log-likelihood.
    fn accumulate(&self, block: D::Block<'_>, stats: &mut Self::Stats) -> f64;
    /// Replaces the parameters with those that maximize the expected
    /// complete-data log-likelihood given `stats`.
    fn maximize(&mut self, stats: &Self::Stats) -> Result<MaximizeOutcome>;
    /// Appends the parameters to `out` as one flat vector in an unconstrained
    /// parameterisation (log-weights, log-probabilities, Cholesky factors
    /// with log-diagonals; `−∞` for a probability fixed at zero), which
    /// accelerated EM extrapolates in. Returns `false` when the model has
    /// none; accelerated fits of it then run plain EM.
    fn write_flat(&self, out: &mut Vec<f64>) -> bool {
        let _ = out;
        false
    }
    /// Sets the parameters from `x`, a point extrapolated from vectors that
    /// [`Self::write_flat`] wrote; `base` is what it writes for `self` now,
    /// and parts of `x` equal to it keep their exact values (parameters the
    /// fit does not learn). Returns `false`, leaving the model unusable,
    /// when `x` gives no valid model (an overflow, a singular covariance).
    fn read_flat(&mut self, x: &[f64], base: &[f64]) -> bool {
        let _ = (x, base);
        false
    }
    /// Split-and-merge proposals from these (fitted) parameters, most
    /// promising first: copies with two components merged and one split,
    /// for the split-merge strategy to run EM from. `data` is the fitted
    /// data; computing the proposals may pass over it once. Empty (the
    /// default) when the model has none; the strategy then stops after its
    /// em-EM phase.
    fn proposals(&self, data: &D) -> Result<Vec<Self>> {
        let _ = data;
        Ok(Vec::new())
    }
}
