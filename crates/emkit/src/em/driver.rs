use rayon::prelude::*;

use super::accel::{Accel, Squarem};
use super::strategy::Strategy;
use super::{EmData, EmModel, Monitor, SufficientStats};
use crate::error::{Error, Result};
use crate::memory::MemoryLimit;

/// The most restarts one fit may run: each is a whole fit, and each keeps its
/// report; a million-fold search is a job for a cluster, not one call.
pub const MAX_N_INIT: usize = 100_000;

/// The most iterations one restart may run (each adds a line to its trace).
pub const MAX_MAX_ITER: usize = 100_000_000;

/// The settings the driver owns (scikit-learn's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmConfig {
    /// Number of restarts, each initialised with its own seed; the best is kept. Default 1.
    pub n_init: usize,
    /// Most EM iterations per restart. Default 100.
    pub max_iter: usize,
    /// Convergence threshold on the absolute change of the mean per-sample
    /// log-likelihood between iterations. Default 1e-3.
    pub tol: f64,
    /// Master seed; restart `r` uses [`restart_seed`]`(seed, r)`. Default 0.
    pub seed: u64,
    /// The most memory a fit may need, checked before it allocates; `None`
    /// (the default) uses [`crate::memory::default_limit`].
    pub max_memory: Option<MemoryLimit>,
    /// How iterates are stepped: plain EM or an accelerated scheme; the
    /// convergence test compares accepted iterates either way.
    pub accel: Accel,
    /// How the `n_init` starts are spent: independent restarts, or a search.
    pub strategy: Strategy,
}

impl Default for EmConfig {
    fn default() -> Self {
        EmConfig {
            n_init: 1,
            max_iter: 100,
            tol: 1e-3,
            seed: 0,
            max_memory: None,
            accel: Accel::None,
            strategy: Strategy::Restarts,
        }
    }
}

impl EmConfig {
    /// The memory limit in force.
    pub fn memory_limit(&self) -> MemoryLimit {
        self.max_memory.unwrap_or_else(crate::memory::default_limit)
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_N_INIT).contains(&self.n_init) {
            return Err(Error::InvalidConfig {
                field: "n_init",
                reason: format!(
                    "must be between 1 and {MAX_N_INIT} (each restart is a whole fit), got {}",
                    self.n_init
                ),
            });
        }
        if !(1..=MAX_MAX_ITER).contains(&self.max_iter) {
            return Err(Error::InvalidConfig {
                field: "max_iter",
                reason: format!(
                    "must be between 1 and {MAX_MAX_ITER}, got {}",
                    self.max_iter
                ),
            });
        }
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return Err(Error::InvalidConfig {
                field: "tol",
                reason: format!("must be a finite number >= 0, got {}", self.tol),
            });
        }
        Ok(())
    }
}

/// The seed of restart `restart` under master seed `seed` (SplitMix64 of the pair),
/// so that restarts are independent and reproducible one by one.
pub fn restart_seed(seed: u64, restart: usize) -> u64 {
    let mut z = seed ^ (restart as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One line of the convergence trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceEntry {
    /// 1-based iteration.
    pub iteration: usize,
    /// Mean per-sample log-likelihood of the parameters this iteration started from.
    pub mean_log_likelihood: f64,
    /// Change from the previous iteration (`None` on the first).
    pub change: Option<f64>,
}

/// Why a restart stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The change fell below `tol` at this iteration.
    Converged {
        /// 1-based iteration.
        iteration: usize,
    },
    /// `max_iter` iterations ran without converging. This is not convergence.
    MaxIter {
        /// Iterations run (= `max_iter`).
        iterations: usize,
    },
    /// The restart failed; see [`RestartReport::error`].
    Failed,
}

/// What happened in one restart.
#[derive(Clone, Debug, PartialEq)]
pub struct RestartReport {
    /// 0-based restart number.
    pub restart: usize,
    /// The seed this restart was initialised with.
    pub seed: u64,
    /// One entry per iteration.
    pub trace: Vec<TraceEntry>,
    /// Why it stopped.
    pub stop: StopReason,
    /// Total log-likelihood of the returned parameters (the final E-step); NaN if failed.
    pub log_likelihood: f64,
    /// `log_likelihood / n_samples`.
    pub mean_log_likelihood: f64,
    /// `(iteration, component)` for every component re-seeded by an M-step.
    pub reseeded: Vec<(usize, usize)>,
    /// The error that ended a failed restart.
    pub error: Option<String>,
    /// E-steps (passes over the data) the iterations ran, the fair cost
    /// count: one per iteration for plain EM, plus one per extrapolation
    /// tried with SQUAREM (the final E-step that scores the result is not
    /// counted).
    pub em_steps: usize,
}

impl RestartReport {
    /// Whether this restart converged (reaching `max_iter` does not count).
    pub fn converged(&self) -> bool {
        matches!(self.stop, StopReason::Converged { .. })
    }

    /// Number of EM iterations run (the points whose log-likelihood the
    /// trace shows; see [`Self::em_steps`] for the cost).
    pub fn n_iter(&self) -> usize {
        self.trace.len()
    }
}

/// What happened in a whole fit.
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    /// One report per restart, in order.
    pub restarts: Vec<RestartReport>,
    /// Index of the restart whose model was returned.
    pub best_init: usize,
    /// Number of observations fitted.
    pub n_samples: usize,
    /// Their total weight (`n_samples` unless weighted): the sample size of
    /// the information criteria, and what the mean log-likelihood divides by.
    pub total_weight: f64,
}

impl FitReport {
    /// The report of the returned model's restart.
    pub fn best(&self) -> &RestartReport {
        &self.restarts[self.best_init]
    }
}

/// At least this many blocks are folded sequentially by one task.
const MIN_BLOCKS_PER_TASK: usize = 4;

/// At most this many tasks: each keeps its own statistics and scratch between
/// iterations, so their number bounds the memory beyond the data (64 tasks
/// also keep 2 to 32 threads busy).
const MAX_TASKS: usize = 64;

/// How many tasks (each with its own statistics and scratch) an E-step over
/// `n_blocks` blocks runs: what a memory estimate multiplies by.
pub(crate) fn n_tasks(n_blocks: usize) -> usize {
    n_blocks.div_ceil(blocks_per_task(n_blocks)).max(1)
}

/// Bytes of the restart reports of a fit: each restart's trace reserves up to
/// 4096 lines, and the one running grows to `max_iter`.
pub(crate) fn report_bytes(config: &EmConfig) -> u128 {
    let line = std::mem::size_of::<TraceEntry>() as u128;
    let report = std::mem::size_of::<RestartReport>() as u128;
    let reserved = line * config.max_iter.min(4096) as u128;
    (config.n_init as u128)
        .saturating_mul(report + reserved)
        .saturating_add(line * config.max_iter as u128)
}

/// Blocks per task for `n_blocks` blocks. It depends on the data size only,
/// never on the thread count, so the reduction tree (and every rounding) is
/// the same on any machine.
fn blocks_per_task(n_blocks: usize) -> usize {
    n_blocks.div_ceil(MAX_TASKS).max(MIN_BLOCKS_PER_TASK)
}

/// Below this many multiply-adds an E-step runs on the calling thread: about a
/// millisecond of work, where waking rayon's workers (tens of microseconds,
/// more on a busy machine) stops paying for itself. Measured on W4 of
/// `bench/` (10 000 × 2, k = 3): 0.16 ms per iteration on one thread, no faster
/// on two.
const PARALLEL_WORK: usize = 1 << 22;

/// One pass over the data: merged statistics and total log-likelihood.
///
/// `workspace` keeps one statistics value per task between calls, so that
/// iterations after the first allocate nothing.
pub(crate) fn e_step<'w, D, M>(
    model: &M,
    data: &D,
    workspace: &'w mut Vec<(M::Stats, f64)>,
) -> (&'w M::Stats, f64)
where
    D: EmData + ?Sized,
    M: EmModel<D>,
{
    let n_blocks = data.n_blocks();
    let per_task = blocks_per_task(n_blocks);
    let n_tasks = n_tasks(n_blocks);
    if workspace.len() != n_tasks {
        workspace.clear();
        workspace.extend((0..n_tasks).map(|_| (model.empty_stats(), 0.0)));
    }
    let run = |(task, (stats, ll)): (usize, &mut (M::Stats, f64))| {
        model.reset_stats(stats);
        *ll = 0.0;
        let end = ((task + 1) * per_task).min(n_blocks);
        for b in task * per_task..end {
            *ll += model.accumulate(data.block(b), stats);
        }
    };
    let work = data.n_samples().saturating_mul(model.work_per_sample());
    if n_tasks > 1 && work >= PARALLEL_WORK {
        workspace.par_iter_mut().enumerate().for_each(run);
    } else {
        workspace.iter_mut().enumerate().for_each(run);
    }
    let (first, rest) = workspace.split_first_mut().expect("at least one task");
    for (s, l) in rest.iter() {
        first.0.merge(s);
        first.1 += *l;
    }
    (&first.0, first.1)
}

/// Sums per-block totals in exactly the order [`e_step`] does, so that a score
/// computed outside a fit has the same bits as the fit's final E-step.
pub(crate) fn sum_like_e_step(block_totals: impl ExactSizeIterator<Item = f64>) -> f64 {
    let per_task = blocks_per_task(block_totals.len());
    let mut tasks = Vec::new();
    let mut task = 0.0;
    for (b, t) in block_totals.enumerate() {
        if b % per_task == 0 && b > 0 {
            tasks.push(task);
            task = 0.0;
        }
        task += t;
    }
    tasks.push(task);
    let mut total = tasks[0];
    for t in &tasks[1..] {
        total += t;
    }
    total
}

/// Fits by EM: `config.n_init` starts, each made by `init(restart, seed)`,
/// spent as `config.strategy` says (independent restarts by default), and
/// returns the model with the highest final log-likelihood.
///
/// A run that fails is recorded in the report and the others go on; the
/// fit fails only when every run fails (with the first one's error).
pub fn fit<D, M, I, Mon>(
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
    config.validate()?;
    if config.strategy == Strategy::SplitMerge {
        return super::strategy::split_merge(data, config, init, monitor);
    }
    let mut best: Option<(M, usize)> = None;
    let mut reports: Vec<RestartReport> = Vec::new();
    let mut first_error = None;
    for restart in 0..config.n_init {
        check_interrupt(monitor, restart)?;
        monitor.restart_started(restart, config.n_init);
        let seed = restart_seed(config.seed, restart);
        let mut report = new_report(restart, seed);
        let outcome = init(restart, seed)
            .and_then(|model| run_restart(data, config, model, &mut report, monitor));
        if let Some(model) = record_outcome(outcome, &mut report, &mut first_error)? {
            let better = match &best {
                None => true,
                Some((_, b)) => report.log_likelihood > reports[*b].log_likelihood,
            };
            if better {
                best = Some((model, restart));
            }
        }
        monitor.restart_finished(restart, &report);
        reports.push(report);
    }
    match best {
        Some((model, best_init)) => Ok((
            model,
            FitReport {
                restarts: reports,
                best_init,
                n_samples: data.n_samples(),
                total_weight: data.total_weight(),
            },
        )),
        None => Err(first_error.expect("n_init >= 1 and no restart succeeded")),
    }
}

/// Ends the fit before run `restart` starts when the monitor asks to stop.
pub(super) fn check_interrupt<Mon: Monitor + ?Sized>(
    monitor: &mut Mon,
    restart: usize,
) -> Result<()> {
    if monitor.stop_requested() {
        return Err(Error::Interrupted {
            restart,
            iteration: 0,
        });
    }
    Ok(())
}

/// The report of a run about to start.
pub(super) fn new_report(restart: usize, seed: u64) -> RestartReport {
    RestartReport {
        restart,
        seed,
        trace: Vec::new(),
        stop: StopReason::Failed,
        log_likelihood: f64::NAN,
        mean_log_likelihood: f64::NAN,
        reseeded: Vec::new(),
        error: None,
        em_steps: 0,
    }
}

/// A run's outcome: its model, or `None` with the failure recorded in its
/// report (the first error kept for when every run fails). An interruption,
/// or data that can no longer be read, ends the whole fit instead.
pub(super) fn record_outcome<M>(
    outcome: Result<M>,
    report: &mut RestartReport,
    first_error: &mut Option<Error>,
) -> Result<Option<M>> {
    match outcome {
        Ok(model) => Ok(Some(model)),
        Err(
            e @ (Error::Interrupted { .. }
            | Error::Io(_)
            | Error::Npy { .. }
            | Error::Parquet { .. }),
        ) => Err(e),
        Err(e) => {
            report.stop = StopReason::Failed;
            report.error = Some(e.to_string());
            first_error.get_or_insert(e);
            Ok(None)
        }
    }
}

pub(super) fn run_restart<D, M, Mon>(
    data: &D,
    config: &EmConfig,
    mut model: M,
    report: &mut RestartReport,
    monitor: &mut Mon,
) -> Result<M>
where
    D: EmData + ?Sized,
    M: EmModel<D>,
    Mon: Monitor + ?Sized,
{
    let n = data.total_weight();
    let mut workspace = Vec::new();
    // Reserved up front so that iterations do not allocate (bounded: a huge
    // max_iter must not reserve huge memory).
    report.trace.reserve(config.max_iter.min(4096));
    let mut previous: Option<f64> = None;
    report.stop = StopReason::MaxIter {
        iterations: config.max_iter,
    };
    let mut squarem = (config.accel == Accel::Squarem).then(Squarem::new);
    for iteration in 1..=config.max_iter {
        let (stats, ll) = e_step(&model, data, &mut workspace);
        data.pass_finished()?;
        report.em_steps += 1;
        let mean = ll / n;
        if !mean.is_finite() {
            return Err(Error::NonFiniteLikelihood { iteration });
        }
        let entry = TraceEntry {
            iteration,
            mean_log_likelihood: mean,
            change: previous.map(|p| mean - p),
        };
        report.trace.push(entry);
        monitor.iteration(report.restart, &entry);
        if monitor.stop_requested() {
            return Err(Error::Interrupted {
                restart: report.restart,
                iteration,
            });
        }
        // The cycle's point before the M-step moves the model on.
        if let Some(s) = &mut squarem {
            s.record(|out| model.write_flat(out));
        }
        // As in scikit-learn, every iteration ends with an M-step, so the
        // returned parameters are one update past the last tested likelihood;
        // the final E-step below reports their exact score.
        let outcome = model.maximize(stats)?;
        let reseeded = !outcome.reseeded.is_empty();
        report
            .reseeded
            .extend(outcome.reseeded.into_iter().map(|c| (iteration, c)));
        // A freshly re-seeded component has not been fitted yet: never stop there.
        if matches!(entry.change, Some(c) if c.abs() < config.tol) && !reseeded {
            report.stop = StopReason::Converged { iteration };
            break;
        }
        previous = Some(mean);
        if let Some(s) = &mut squarem {
            if reseeded {
                // A component moved by hand: no line to extrapolate along.
                s.restart_cycle();
            } else if s.ready() {
                extrapolate(data, &mut model, s, ll, &mut workspace, report)?;
            }
        }
    }
    let (_, ll) = e_step(&model, data, &mut workspace);
    data.pass_finished()?;
    if !ll.is_finite() {
        return Err(Error::NonFiniteLikelihood {
            iteration: report.trace.len() + 1,
        });
    }
    report.log_likelihood = ll;
    report.mean_log_likelihood = ll / n;
    Ok(model)
}

/// The end of a SQUAREM cycle (see [`super::accel`]): `model` is `θ₂`, the
/// two iterations before it were `θ₀` and `θ₁` (with log-likelihood `ll1`).
/// When the extrapolated point `θ'` is at least as likely as `θ₁`, `model`
/// becomes `F(θ')` (the stabilising EM step); otherwise it stays `θ₂`.
fn extrapolate<D, M>(
    data: &D,
    model: &mut M,
    s: &mut Squarem,
    ll1: f64,
    workspace: &mut Vec<(M::Stats, f64)>,
    report: &mut RestartReport,
) -> Result<()>
where
    D: EmData + ?Sized,
    M: EmModel<D>,
{
    s.x2.clear();
    model.write_flat(&mut s.x2);
    if s.extrapolate().is_none() {
        return Ok(());
    }
    let mut trial = model.clone();
    if !trial.read_flat(&s.trial, &s.x2) {
        s.rejected();
        return Ok(());
    }
    let (stats, ll) = e_step(&trial, data, workspace);
    data.pass_finished()?;
    report.em_steps += 1;
    if ll.is_nan() || ll < ll1 {
        s.rejected();
        return Ok(());
    }
    match trial.maximize(stats) {
        Ok(outcome) if outcome.reseeded.is_empty() => {
            *model = trial;
            s.accepted();
        }
        // The stabilising step failed or had to re-seed: θ₂ is the safe point.
        _ => s.rejected(),
    }
    Ok(())
}
