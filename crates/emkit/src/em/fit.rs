//! What every fit returns: the model and the story of its fit.

use super::criteria;
use super::FitReport;

/// A model whose free parameters can be counted, for the information criteria.
pub trait Parameters {
    /// Free parameters of the model (what BIC and AIC charge for).
    fn n_parameters(&self) -> usize;
}

/// A fitted model and the story of its fit: the one report type of every
/// model ([`crate::MixtureFit`], [`crate::hmm::HmmFit`]).
#[derive(Clone, Debug)]
pub struct Fit<M> {
    /// The best restart's model, after its last M-step.
    pub model: M,
    /// Per-restart traces, stop reasons and re-seeded components (or
    /// unvisited states).
    pub report: FitReport,
}

impl<M: Parameters> Fit<M> {
    /// Total log-likelihood of the training data under [`Fit::model`] (its
    /// score on the training data times the number of observations; with
    /// weights, the weighted sum of the observations' log-likelihoods).
    pub fn log_likelihood(&self) -> f64 {
        self.report.best().log_likelihood
    }

    /// Mean log-likelihood per observation of the training data (per unit
    /// of weight when weighted).
    pub fn mean_log_likelihood(&self) -> f64 {
        self.report.best().mean_log_likelihood
    }

    /// BIC on the training data: `−2 ln L + p ln n` (lower is better), `n`
    /// the total weight of the observations (their number unless weighted).
    pub fn bic(&self) -> f64 {
        criteria::bic(
            self.log_likelihood(),
            self.model.n_parameters(),
            self.report.total_weight,
        )
    }

    /// AIC on the training data: `−2 ln L + 2p` (lower is better).
    pub fn aic(&self) -> f64 {
        criteria::aic(self.log_likelihood(), self.model.n_parameters())
    }
}
