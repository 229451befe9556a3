//! The grid of fits: every number of components × every covariance type.

use std::ops::RangeInclusive;

use rayon::prelude::*;

use super::collapse::{min_relative_variance, DEGENERATE_RELATIVE_VARIANCE};
use super::Criterion;
use crate::data::{DataRef, Weighted};
use crate::dist::gaussian::{CovarianceType, DataCovariance};
use crate::error::{Error, Result};
use crate::memory::{bytes_of, product};
use crate::mixture::{GaussianMixtureBuilder, MixtureFit};

/// The most cells one grid may have: each is a whole fit (with its restarts),
/// and every cell's table row is kept.
pub const MAX_GRID_CELLS: usize = 10_000;

/// What to compare and how to choose.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectConfig {
    /// Numbers of components to try (each at least 1).
    pub n_components: RangeInclusive<usize>,
    /// Covariance types to try, in the order the grid lists them.
    pub covariance_types: Vec<CovarianceType>,
    /// The criterion that picks the best fit (lower is better).
    pub criterion: Criterion,
    /// Whether a degenerate fit may be chosen.
    pub allow_degenerate: bool,
}

impl Default for SelectConfig {
    /// k = 1..=6, all four covariance types, BIC, degenerate fits excluded.
    fn default() -> Self {
        SelectConfig {
            n_components: 1..=6,
            covariance_types: CovarianceType::ALL.to_vec(),
            criterion: Criterion::Bic,
            allow_degenerate: false,
        }
    }
}

/// A cell's status in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CellStatus {
    /// Fitted, not degenerate.
    Ok,
    /// Fitted, but some component collapsed (see [`DEGENERATE_RELATIVE_VARIANCE`]).
    Degenerate,
    /// The fit failed (every restart did, or the settings do not fit the data).
    Failed,
}

impl CellStatus {
    /// `ok`, `degenerate` or `failed`.
    pub fn name(self) -> &'static str {
        match self {
            CellStatus::Ok => "ok",
            CellStatus::Degenerate => "degenerate",
            CellStatus::Failed => "failed",
        }
    }
}

/// A successful fit of one cell, with its criteria.
#[derive(Clone, Debug)]
pub struct CellFit {
    /// The fit (best restart's model and the report of every restart).
    pub fit: MixtureFit,
    /// [`super::bic`] on the data.
    pub bic: f64,
    /// [`super::aic`] on the data.
    pub aic: f64,
    /// [`super::icl`] on the data.
    pub icl: f64,
    /// Entropy of the responsibilities, `−Σ r ln r`.
    pub entropy: f64,
    /// [`min_relative_variance`](super::min_relative_variance); `None` when the data's own
    /// covariance is singular (no yardstick, so never called degenerate).
    pub min_relative_variance: Option<f64>,
}

impl CellFit {
    /// Whether some component has collapsed: `min_relative_variance` below
    /// [`DEGENERATE_RELATIVE_VARIANCE`].
    pub fn degenerate(&self) -> bool {
        self.min_relative_variance
            .is_some_and(|v| v < DEGENERATE_RELATIVE_VARIANCE)
    }

    /// The value of `criterion`.
    pub fn criterion(&self, criterion: Criterion) -> f64 {
        match criterion {
            Criterion::Bic => self.bic,
            Criterion::Aic => self.aic,
            Criterion::Icl => self.icl,
        }
    }
}

/// One (k, covariance type) cell of the grid.
#[derive(Debug)]
pub struct GridCell {
    /// Number of components.
    pub n_components: usize,
    /// Covariance type.
    pub covariance_type: CovarianceType,
    /// The fit, or why it failed.
    pub outcome: std::result::Result<CellFit, Error>,
}

impl GridCell {
    /// `Ok`, `Degenerate` or `Failed`.
    pub fn status(&self) -> CellStatus {
        match &self.outcome {
            Ok(f) if f.degenerate() => CellStatus::Degenerate,
            Ok(_) => CellStatus::Ok,
            Err(_) => CellStatus::Failed,
        }
    }
}

/// The whole grid and its pick.
#[derive(Debug)]
pub struct Selection {
    /// The settings that made it.
    pub config: SelectConfig,
    /// Cells by number of components, then covariance type in the configured order.
    pub cells: Vec<GridCell>,
    /// Index into `cells` of the best fit: the lowest criterion among the
    /// fitted cells (degenerate ones only if allowed), the first on a tie.
    /// `None` when no cell qualifies.
    pub best: Option<usize>,
}

impl Selection {
    /// The best cell and its fit, if any cell qualified.
    pub fn best(&self) -> Option<(&GridCell, &CellFit)> {
        let cell = &self.cells[self.best?];
        cell.outcome.as_ref().ok().map(|f| (cell, f))
    }
}

/// Fits every cell of the grid with the settings of `fit` (its number of
/// components and covariance type are replaced per cell) and picks the best.
///
/// Cells run in parallel; each fit is deterministic, so the result does not
/// depend on the thread count. A cell whose fit fails is recorded as failed
/// and the others go on. Errors are returned only for a bad configuration or
/// data that no cell could use (empty, non-finite).
///
/// ```
/// use emkit::select::{select, SelectConfig};
/// use emkit::{DataRef, GaussianMixture};
///
/// // Two groups of six on a line.
/// let x = [0.0, 0.4, -0.3, 0.2, -0.5, 0.1, 3.0, 3.4, 2.7, 3.2, 2.5, 3.1];
/// let data = DataRef::new(&x, 12, 1)?;
/// let config = SelectConfig { n_components: 1..=3, ..SelectConfig::default() };
/// let selection = select(data, &config, &GaussianMixture::builder(1).n_init(3))?;
/// assert_eq!(selection.cells.len(), 12); // k = 1..3 × four covariance types
/// let (best, fit) = selection.best().expect("some fit qualifies");
/// assert_eq!(best.n_components, 2);
/// assert!(fit.icl >= fit.bic);
/// # Ok::<(), emkit::Error>(())
/// ```
pub fn select<'a>(
    data: impl Into<Weighted<'a>>,
    config: &SelectConfig,
    fit: &GaussianMixtureBuilder,
) -> Result<Selection> {
    select_with_progress(data, config, fit, |_| ())
}

/// [`select`], calling `on_cell` as each cell finishes (from worker threads, in
/// any order).
pub fn select_with_progress<'a, F>(
    data: impl Into<Weighted<'a>>,
    config: &SelectConfig,
    fit: &GaussianMixtureBuilder,
    on_cell: F,
) -> Result<Selection>
where
    F: Fn(&GridCell) + Sync,
{
    let weighted = data.into();
    let data = weighted.data();
    let (lo, hi) = (*config.n_components.start(), *config.n_components.end());
    if lo == 0 || lo > hi {
        return Err(Error::InvalidConfig {
            field: "n_components",
            reason: format!(
                "the range {lo}..{hi} is empty or starts at 0; give A..B with 1 <= A <= B"
            ),
        });
    }
    if config.covariance_types.is_empty() {
        return Err(Error::InvalidConfig {
            field: "covariance_types",
            reason: "give at least one covariance type".into(),
        });
    }
    let n_cells = (hi - lo) as u128 + 1;
    let n_cells = n_cells.saturating_mul(config.covariance_types.len() as u128);
    if n_cells > MAX_GRID_CELLS as u128 {
        return Err(Error::InvalidConfig {
            field: "n_components",
            reason: format!(
                "k = {lo}..{hi} with {} covariance type(s) is {n_cells} fits; at most \
                 {MAX_GRID_CELLS} fit in one grid: give a shorter range",
                config.covariance_types.len()
            ),
        });
    }
    // The template's own n_components is replaced in every cell.
    fit.for_cell(lo, config.covariance_types[0])
        .validate_settings()?;
    check_grid_memory(data, config, fit)?;
    // The one scan of the data (emptiness, finite values, magnitudes): the
    // cells below fit without checking it again.
    let yardstick = DataCovariance::weighted(weighted, fit.reg_covar_value())?;
    let grid: Vec<(usize, CovarianceType)> = config
        .n_components
        .clone()
        .flat_map(|k| config.covariance_types.iter().map(move |&c| (k, c)))
        .collect();
    let cells: Vec<GridCell> = grid
        .par_iter()
        .map(|&(k, covariance_type)| {
            let outcome = fit_cell(weighted, fit, &yardstick, k, covariance_type);
            let cell = GridCell {
                n_components: k,
                covariance_type,
                outcome,
            };
            on_cell(&cell);
            cell
        })
        .collect();
    let mut best: Option<(usize, f64)> = None;
    for (i, cell) in cells.iter().enumerate() {
        let Ok(f) = &cell.outcome else { continue };
        if f.degenerate() && !config.allow_degenerate {
            continue;
        }
        let value = f.criterion(config.criterion);
        // Strictly lower wins, so a tie keeps the earlier (simpler) cell; NaN never wins.
        if value.is_finite() && best.is_none_or(|(_, b)| value < b) {
            best = Some((i, value));
        }
    }
    Ok(Selection {
        config: config.clone(),
        cells,
        best: best.map(|(i, _)| i),
    })
}

/// Fails with [`Error::TooMuchMemory`] when the cells that run at once (one
/// per thread) and the data's own covariance would need more than the limit.
fn check_grid_memory(
    data: DataRef<'_>,
    config: &SelectConfig,
    fit: &GaussianMixtureBuilder,
) -> Result<()> {
    let (n, d) = (data.n_rows(), data.n_cols());
    // Cells with more components than rows fail at once and allocate nothing.
    let hi = (*config.n_components.end()).min(n);
    let lo = *config.n_components.start();
    let (at_once, largest) = if lo <= hi {
        let largest = config
            .covariance_types
            .iter()
            .map(|&c| fit.for_cell(hi, c).memory_needed(n, d))
            .max()
            .unwrap_or(0);
        let cells = (hi - lo + 1) * config.covariance_types.len();
        (rayon::current_num_threads().min(cells).max(1), largest)
    } else {
        (0, 0)
    };
    // The yardstick: the data's covariance, its factor and a Jacobi workspace.
    let yardstick = bytes_of(product(&[3, d, d]), 8);
    fit.memory_limit().check(
        largest
            .saturating_mul(at_once as u128)
            .saturating_add(yardstick),
        || {
            format!(
                "a grid of k = {lo}..{hi} on {n} rows x {d} features, {at_once} fit(s) at a time"
            )
        },
        "try a shorter range of k, diag or spherical covariances, or fewer features",
    )
}

fn fit_cell(
    data: Weighted<'_>,
    settings: &GaussianMixtureBuilder,
    yardstick: &DataCovariance,
    k: usize,
    covariance_type: CovarianceType,
) -> Result<CellFit> {
    let fit = settings
        .for_cell(k, covariance_type)
        .fit_prechecked(data, &mut crate::em::NoMonitor)?;
    let (bic, aic) = (fit.bic(), fit.aic());
    let entropy = fit.model.responsibility_entropy(data)?;
    let min_relative_variance = min_relative_variance(yardstick, &fit.model)?;
    Ok(CellFit {
        icl: super::icl(bic, entropy),
        fit,
        bic,
        aic,
        entropy,
        min_relative_variance,
    })
}
