//! How a fit spends its `n_init` starts.
//!
//! `restarts` runs `n_init` independent fits and keeps the best, as
//! scikit-learn and hmmlearn do. `split-merge` searches instead, in about
//! the same compute (measured by `bench/optimum.py`, see bench/README.md):
//!
//! 1. em-EM (Biernacki, Celeux & Govaert 2003): `n_init` short runs of
//!    [`SHORT_ITER`] iterations from the usual starts, then the
//!    [`N_LONG`] best that have not converged continue to `max_iter`.
//! 2. Split-and-merge moves (Ueda, Nakano, Ghahramani & Hinton 2000) from the
//!    best model: EM runs from each proposal in order
//!    ([`super::EmModel::proposals`]); the first that ends more than `tol`
//!    per observation above the best becomes the best and proposals are
//!    drawn again from it. The search stops when every proposal of a round
//!    failed, or when the passes over the data reach 1.5 × `n_init` × the
//!    mean length of the long runs (what `n_init` plain restarts of that
//!    length would cost, and half again). A move that has started runs to
//!    convergence (or `max_iter`), so the returned model is a converged one
//!    and the budget can be overrun by one move.
//!
//! Every EM run of the search has its own [`RestartReport`], in the order
//! they ran; a continued run's report holds its short run too.

use std::fmt;
use std::str::FromStr;

use super::driver::{check_interrupt, new_report, record_outcome, restart_seed, run_restart};
use super::{EmConfig, EmData, EmModel, FitReport, Monitor, RestartReport, StopReason};
use crate::error::Result;

/// How a fit spends its `n_init` starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// `n_init` independent restarts; the best is kept.
    #[default]
    Restarts,
    /// em-EM from `n_init` short runs, then split-and-merge moves from the
    /// best (the models that have none stop after em-EM).
    SplitMerge,
}

impl Strategy {
    /// Every choice, in the order the CLI lists them.
    pub const ALL: [Strategy; 2] = [Strategy::Restarts, Strategy::SplitMerge];

    /// The name the CLI, the Python layer and the JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Restarts => "restarts",
            Strategy::SplitMerge => "split-merge",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Strategy::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown strategy {s:?}; expected restarts or split-merge"))
    }
}

/// Iterations of each em-EM short run.
pub const SHORT_ITER: usize = 5;

/// Short runs continued to convergence.
pub const N_LONG: usize = 3;

/// The compute of the search relative to `n_init` runs as long as its long
/// runs: the bound.
const BUDGET: f64 = 1.5;

/// The split-merge search (see the module documentation).
pub(super) fn split_merge<D, M, I, Mon>(
    data: &D,
    config: &EmConfig,
    mut init: I,
    monitor: &mut Mon,
) -> Result<(M, FitReport)>
where
    D: EmData + ?Sized,
    M: EmModel<D>,
    I: FnMut(usize, u64) -> Result<M>,
    Mon: Monitor + ?Sized,
{
    let n_init = config.n_init;
    let n = data.total_weight();
    let short = EmConfig {
        max_iter: SHORT_ITER.min(config.max_iter),
        ..*config
    };
    let mut models: Vec<Option<M>> = Vec::new();
    let mut reports: Vec<RestartReport> = Vec::new();
    let mut first_error = None;
    // Passes over the data: each run's E-steps and its final scoring pass.
    let mut passes = 0usize;
    for restart in 0..n_init {
        check_interrupt(monitor, restart)?;
        monitor.restart_started(restart, n_init);
        let seed = restart_seed(config.seed, restart);
        let mut report = new_report(restart, seed);
        let outcome = init(restart, seed)
            .and_then(|model| run_restart(data, &short, model, &mut report, monitor));
        let model = record_outcome(outcome, &mut report, &mut first_error)?;
        passes += report.em_steps + usize::from(model.is_some());
        monitor.restart_finished(restart, &report);
        models.push(model);
        reports.push(report);
    }
    // The best short runs that are still moving, continued.
    let mut order: Vec<usize> = (0..n_init).filter(|&r| models[r].is_some()).collect();
    order.sort_by(|&a, &b| {
        reports[b]
            .log_likelihood
            .total_cmp(&reports[a].log_likelihood)
    });
    let rest = EmConfig {
        max_iter: config.max_iter - short.max_iter,
        ..*config
    };
    let mut long_lengths = Vec::new();
    for &r in order.iter().take(N_LONG) {
        if reports[r].converged() || rest.max_iter == 0 {
            long_lengths.push(reports[r].n_iter());
            continue;
        }
        check_interrupt(monitor, r)?;
        let model = models[r].clone().expect("a successful run");
        let mut more = new_report(r, reports[r].seed);
        let outcome = run_restart(data, &rest, model, &mut more, monitor);
        match record_outcome(outcome, &mut more, &mut first_error)? {
            Some(model) => {
                passes += more.em_steps + 1;
                append(&mut reports[r], more, config.max_iter);
                long_lengths.push(reports[r].n_iter());
                models[r] = Some(model);
            }
            // The continuation failed: the short run's model stands.
            None => passes += more.em_steps,
        }
    }
    let Some(mut best) = best_of(&reports, &models) else {
        return Err(first_error.expect("n_init >= 1 and no run succeeded"));
    };
    let mean_long = (long_lengths.iter().sum::<usize>() as f64 / long_lengths.len().max(1) as f64)
        .max(short.max_iter as f64);
    let budget = (BUDGET * n_init as f64 * mean_long).ceil() as usize;
    'search: while passes < budget {
        let from = models[best].as_ref().expect("the best run has a model");
        let proposals = from.proposals(data)?;
        passes += 1;
        let best_mean = reports[best].mean_log_likelihood;
        let mut improved = false;
        for proposal in proposals {
            // A move starts while budget is left and runs to convergence,
            // so the model returned is always a converged one.
            if passes >= budget {
                break 'search;
            }
            let run = reports.len();
            check_interrupt(monitor, run)?;
            monitor.restart_started(run, run + 1);
            let mut report = new_report(run, reports[best].seed);
            let outcome = run_restart(data, config, proposal, &mut report, monitor);
            let model = record_outcome(outcome, &mut report, &mut first_error)?;
            passes += report.em_steps + usize::from(model.is_some());
            monitor.restart_finished(run, &report);
            let better = model.is_some() && report.mean_log_likelihood > best_mean + config.tol;
            models.push(model);
            reports.push(report);
            if better {
                best = run;
                improved = true;
                break;
            }
        }
        if !improved {
            break;
        }
    }
    // The best by final log-likelihood, a move that ended within `tol` of
    // the best included.
    let best = best_of(&reports, &models).expect("a run succeeded");
    let model = models[best].take().expect("the best run has a model");
    Ok((
        model,
        FitReport {
            restarts: reports,
            best_init: best,
            n_samples: data.n_samples(),
            total_weight: n,
        },
    ))
}

/// The run with the highest final log-likelihood (the first of equals).
fn best_of<M>(reports: &[RestartReport], models: &[Option<M>]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (r, m) in models.iter().enumerate() {
        if m.is_some() && best.is_none_or(|b| reports[r].log_likelihood > reports[b].log_likelihood)
        {
            best = Some(r);
        }
    }
    best
}

/// Appends a continued run's report to its short run's: one trace, its
/// iterations numbered on, the final log-likelihood and stop of the end.
fn append(report: &mut RestartReport, more: RestartReport, max_iter: usize) {
    let offset = report.trace.len();
    let mut previous = report.trace.last().map(|e| e.mean_log_likelihood);
    for mut e in more.trace {
        e.iteration += offset;
        e.change = previous.map(|p| e.mean_log_likelihood - p);
        previous = Some(e.mean_log_likelihood);
        report.trace.push(e);
    }
    report
        .reseeded
        .extend(more.reseeded.into_iter().map(|(i, c)| (i + offset, c)));
    report.em_steps += more.em_steps;
    report.stop = match more.stop {
        StopReason::Converged { iteration } => StopReason::Converged {
            iteration: iteration + offset,
        },
        StopReason::MaxIter { .. } => StopReason::MaxIter {
            iterations: max_iter,
        },
        StopReason::Failed => StopReason::Failed,
    };
    report.log_likelihood = more.log_likelihood;
    report.mean_log_likelihood = more.mean_log_likelihood;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Strategy::ALL {
            assert_eq!(s.name().parse::<Strategy>().unwrap(), s);
        }
        assert!("smem"
            .parse::<Strategy>()
            .unwrap_err()
            .contains("split-merge"));
    }
}
