//! Fits and scores on rows read from a [`RowSource`] on every pass, so that
//! memory does not grow with the number of rows.
//!
//! The E-step reads each block of rows when it reaches it, in the same
//! blocks, tasks and merge order as a fit in memory: a streamed fit from the
//! same start is the in-memory fit, bit for bit.
//!
//! Initialisation reads the data once to check every value (as a fit in
//! memory does) and draw one uniform sample of rows with the master seed
//! (Vitter's reservoir, algorithm R); every restart runs its k-means (or
//! k-means++, or random picks) on that sample, with its own seed, and then
//! takes the first statistics from one pass over all rows, each row given to
//! its nearest centre. Restarts therefore differ by their seeds on one sample;
//! a sample of every row makes the start that of a fit in memory.

use std::cell::RefCell;

use rand::seq::index::sample as sample_indices;
use rand::Rng;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::builder::{weighted_picks, GaussianMixtureBuilder, KMEANS_MAX_ITER};
use super::em::MixtureEm;
use super::{GaussianMixture, MixtureFit};
use crate::data::{max_fit_magnitude, DataRef, Matrix, RowBlock, Weighted};
use crate::dist::gaussian::{accumulate_given, block_rows, ComponentStats, Path, BLOCK_ROWS};
use crate::em::{self, sum_like_e_step, EmData, EmModel, Monitor};
use crate::error::{Error, Result};
use crate::init::{kmeans, kmeans_plus_plus, nearest_centres, Init};
use crate::io::source::ReadFailure;
use crate::io::RowSource;
use crate::memory::bytes_of;

/// Values in the initialisation's sample, at most: 32 MiB of rows.
const SAMPLE_VALUES: usize = 1 << 22;

/// Rows of a source with one weight each (or none: every row weighs 1).
#[derive(Clone, Copy)]
pub struct SourceRows<'s> {
    rows: &'s dyn RowSource,
    weights: Option<&'s dyn RowSource>,
}

impl<'s> SourceRows<'s> {
    /// Every row weighs 1.
    pub fn new(rows: &'s dyn RowSource) -> Self {
        SourceRows {
            rows,
            weights: None,
        }
    }

    /// Row `i` weighs value `i` of `weights` (one column, one value per row;
    /// checked as [`Weighted::new`] checks weights, when the data is read).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidWeights`] when `weights` has more than one column or
    /// not one value per row.
    pub fn weighted(rows: &'s dyn RowSource, weights: &'s dyn RowSource) -> Result<Self> {
        if weights.n_cols() != 1 || weights.n_rows() != rows.n_rows() {
            return Err(Error::InvalidWeights {
                problem: format!(
                    "expected one weight per row ({}), got {} x {} values",
                    rows.n_rows(),
                    weights.n_rows(),
                    weights.n_cols()
                ),
            });
        }
        Ok(SourceRows {
            rows,
            weights: Some(weights),
        })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.rows.n_rows()
    }

    /// Number of features.
    pub fn n_cols(&self) -> usize {
        self.rows.n_cols()
    }

    /// Reads rows `start..start + n` and their weights.
    fn read(
        &self,
        start: usize,
        n: usize,
        values: &mut Vec<f64>,
        weights: &mut Vec<f64>,
    ) -> Result<()> {
        self.rows.read_rows(start, n, values)?;
        match self.weights {
            Some(w) => w.read_rows(start, n, weights),
            None => {
                weights.clear();
                Ok(())
            }
        }
    }
}

impl<'s> From<&'s dyn RowSource> for SourceRows<'s> {
    fn from(rows: &'s dyn RowSource) -> Self {
        SourceRows::new(rows)
    }
}

/// What the checking pass learnt: the sample, the rows' total weight.
pub(crate) struct Scan {
    pub sample: Matrix,
    /// The sample's weights, when the rows are weighted.
    pub sample_weights: Option<Vec<f64>>,
    /// Whether the sample is every row, in order.
    pub every_row: bool,
    pub total: f64,
    pub positive: usize,
}

/// Reads every row once: checks values as [`DataRef::check_fittable`] and
/// weights as [`crate::check_weights`] do, and draws a uniform sample of at
/// most `max_sample` rows (of positive weight, unless every row fits in it).
/// `check(piece)` sees every piece too, for a model's own checks (its
/// errors are renumbered as rows of the whole source).
pub(crate) fn scan(
    data: SourceRows<'_>,
    max_sample: usize,
    seed: u64,
    check: &mut dyn FnMut(DataRef<'_>) -> Result<()>,
) -> Result<Scan> {
    let (n, d) = (data.n_rows(), data.n_cols());
    if n == 0 || d == 0 {
        return Err(Error::EmptyData {
            n_rows: n,
            n_cols: d,
        });
    }
    let limit = max_fit_magnitude(n, d);
    let every_row = n <= max_sample;
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut sample: Vec<f64> = Vec::new();
    let mut sample_weights = Vec::new();
    let (mut seen, mut total, mut positive) = (0usize, 0.0f64, 0usize);
    let chunk = chunk_rows(d);
    let (mut values, mut weights) = (Vec::new(), Vec::new());
    for start in (0..n).step_by(chunk) {
        let rows = chunk.min(n - start);
        data.read(start, rows, &mut values, &mut weights)?;
        if let Some(at) = values
            .iter()
            .position(|v| !v.is_finite() || v.abs() > limit)
        {
            let (row, column) = (start + at / d, at % d);
            let value = values[at];
            return Err(if value.is_finite() {
                Error::ValueTooLarge {
                    row,
                    column,
                    value,
                    limit,
                }
            } else {
                Error::NonFinite { row, column }
            });
        }
        check(DataRef::new(&values, rows, d)?).map_err(|e| offset_error(e, start))?;
        if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::InvalidWeights {
                problem: format!(
                    "weight {} (0-based) is {}; weights must be finite and >= 0",
                    start + i,
                    weights[i]
                ),
            });
        }
        for (r, row) in values.chunks_exact(d).enumerate() {
            let w = weights.get(r).copied().unwrap_or(1.0);
            total += w;
            if w > 0.0 {
                positive += 1;
            } else if !every_row {
                continue;
            }
            // Algorithm R over the rows taken so far.
            let slot = if seen < max_sample {
                sample.extend_from_slice(row);
                sample_weights.push(w);
                None
            } else {
                Some(rng.random_range(0..=seen)).filter(|&j| j < max_sample)
            };
            if let Some(j) = slot {
                sample[j * d..(j + 1) * d].copy_from_slice(row);
                sample_weights[j] = w;
            }
            seen += 1;
        }
    }
    if total == 0.0 {
        return Err(Error::InvalidWeights {
            problem: "every weight is 0, so no row is left to fit; give some row a positive weight"
                .into(),
        });
    }
    if !total.is_finite() {
        return Err(Error::InvalidWeights {
            problem: format!(
                "the weights sum to {total}; divide them by a common factor (that changes no \
                 fitted parameter)"
            ),
        });
    }
    let rows = sample_weights.len();
    Ok(Scan {
        sample: Matrix::new(sample, rows, d)?,
        sample_weights: data.weights.map(|_| sample_weights),
        every_row,
        total,
        positive,
    })
}

/// Rows in the initialisation's sample for `d` features: `2^22 / d`, or
/// fewer so that the sample and its k-means take at most a quarter of
/// `limit`, but at least `20 k` for `k` components.
pub(crate) fn sample_rows(d: usize, limit: crate::memory::MemoryLimit, k: usize) -> usize {
    let mut rows = SAMPLE_VALUES / d.max(1);
    if let Some(limit) = limit.bytes() {
        // The sample's values and weight, and k-means' three per-row buffers.
        let per_row = (d as u64 + 4) * 8;
        rows = rows.min(usize::try_from(limit / 4 / per_row).unwrap_or(usize::MAX));
    }
    rows.max(k.saturating_mul(20))
}

/// Rows read at once by the passes that are not E-steps: whole kernel
/// blocks, about 4 MiB.
pub(crate) fn chunk_rows(d: usize) -> usize {
    ((1 << 19) / d.max(1) / BLOCK_ROWS).max(1) * BLOCK_ROWS
}

/// The rows of a source in the blocks of a fit in memory, each read when the
/// E-step reaches it. A failed read is kept, the pass goes on over empty
/// blocks, and [`EmData::pass_finished`] returns the error.
pub(crate) struct SourceBlocks<'s> {
    data: SourceRows<'s>,
    total: f64,
    rows: usize,
    failure: ReadFailure,
}

/// A block read from a source; its buffers go back to the thread's pool.
pub(crate) struct OwnedBlock {
    start: usize,
    values: Vec<f64>,
    weights: Vec<f64>,
    weighted: bool,
    n_cols: usize,
}

thread_local! {
    static BUFFERS: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer from this thread's pool (blocks read by E-steps reuse their
/// memory from one pass to the next).
pub(crate) fn buffer() -> Vec<f64> {
    BUFFERS.with_borrow_mut(|b| b.pop()).unwrap_or_default()
}

/// Gives `buffers` back to this thread's pool.
pub(crate) fn give_back(buffers: impl IntoIterator<Item = Vec<f64>>) {
    BUFFERS.with_borrow_mut(|b| b.extend(buffers));
}

impl Drop for OwnedBlock {
    fn drop(&mut self) {
        give_back([
            std::mem::take(&mut self.values),
            std::mem::take(&mut self.weights),
        ]);
    }
}

impl OwnedBlock {
    fn as_block(&self) -> RowBlock<'_> {
        let n = self.values.len() / self.n_cols;
        RowBlock {
            start: self.start,
            rows: DataRef::new(&self.values, n, self.n_cols).expect("whole rows"),
            weights: self.weighted.then(|| &self.weights[..n]),
        }
    }
}

impl EmData for SourceBlocks<'_> {
    type Block<'a>
        = OwnedBlock
    where
        Self: 'a;

    fn n_samples(&self) -> usize {
        self.data.n_rows()
    }

    fn total_weight(&self) -> f64 {
        self.total
    }

    fn n_blocks(&self) -> usize {
        self.data.n_rows().div_ceil(self.rows)
    }

    fn block(&self, i: usize) -> OwnedBlock {
        let start = i * self.rows;
        let n = self.rows.min(self.data.n_rows() - start);
        let mut block = OwnedBlock {
            start,
            values: buffer(),
            weights: buffer(),
            weighted: self.data.weights.is_some(),
            n_cols: self.data.n_cols(),
        };
        if self.failure.failed() {
            block.values.clear();
            block.weights.clear();
            return block;
        }
        if let Err(e) = self
            .data
            .read(start, n, &mut block.values, &mut block.weights)
        {
            self.failure.record(e);
            block.values.clear();
            block.weights.clear();
        }
        block
    }

    fn pass_finished(&self) -> Result<()> {
        self.failure.take()
    }
}

impl<'s> EmModel<SourceBlocks<'s>> for MixtureEm {
    type Stats = ComponentStats;

    fn empty_stats(&self) -> ComponentStats {
        <Self as EmModel<crate::data::RowBlocks<'s>>>::empty_stats(self)
    }

    fn work_per_sample(&self) -> usize {
        <Self as EmModel<crate::data::RowBlocks<'s>>>::work_per_sample(self)
    }

    fn reset_stats(&self, stats: &mut ComponentStats) {
        <Self as EmModel<crate::data::RowBlocks<'s>>>::reset_stats(self, stats)
    }

    fn accumulate(&self, block: OwnedBlock, stats: &mut ComponentStats) -> f64 {
        if block.values.is_empty() {
            return 0.0;
        }
        <Self as EmModel<crate::data::RowBlocks<'s>>>::accumulate(self, block.as_block(), stats)
    }

    fn maximize(&mut self, stats: &ComponentStats) -> Result<em::MaximizeOutcome> {
        <Self as EmModel<crate::data::RowBlocks<'s>>>::maximize(self, stats)
    }

    fn write_flat(&self, out: &mut Vec<f64>) -> bool {
        <Self as EmModel<crate::data::RowBlocks<'s>>>::write_flat(self, out)
    }

    fn read_flat(&mut self, x: &[f64], base: &[f64]) -> bool {
        <Self as EmModel<crate::data::RowBlocks<'s>>>::read_flat(self, x, base)
    }

    fn proposals(&self, data: &SourceBlocks<'s>) -> Result<Vec<Self>> {
        let mut stats = super::moves::MoveStats::new(&self.model);
        for b in 0..data.n_blocks() {
            let block = data.block(b);
            if !block.values.is_empty() {
                stats.add(&self.model, block.as_block())?;
            }
        }
        data.pass_finished()?;
        Ok(stats.proposals(self))
    }
}

impl GaussianMixtureBuilder {
    /// Fits on rows read from `data` on every pass ([`SourceRows`]: a
    /// [`RowSource`], optionally with a weight source), holding a few blocks
    /// of rows per thread instead of the data: what `emkit fit --stream`
    /// runs. From the same start (an initial model, or a sample of every
    /// row) the fit is [`fit`](Self::fit)'s on the same rows, bit for bit.
    ///
    /// The start: one pass checks every value and draws a uniform sample of
    /// up to `2^22 / d` rows (fewer under a tight memory limit, never fewer
    /// than `20 k`) with the master seed (a reservoir);
    /// each restart runs its initialisation on the sample with its own seed,
    /// then one pass gives every row to its nearest centre for the first
    /// statistics. When the sample holds every row, the start is that of
    /// [`fit`](Self::fit).
    ///
    /// # Errors
    ///
    /// As [`fit`](Self::fit), and [`Error::Io`] or [`Error::Npy`] when a read
    /// fails.
    pub fn fit_source<'s, M: Monitor + ?Sized>(
        &self,
        data: impl Into<SourceRows<'s>>,
        monitor: &mut M,
    ) -> Result<MixtureFit> {
        let data = data.into();
        self.fit_source_with_sample(data, self.sample_rows(data.n_cols()), monitor)
    }

    fn sample_rows(&self, d: usize) -> usize {
        sample_rows(d, self.memory_limit(), self.n_components)
    }

    pub(crate) fn fit_source_with_sample<M: Monitor + ?Sized>(
        &self,
        data: SourceRows<'_>,
        max_sample: usize,
        monitor: &mut M,
    ) -> Result<MixtureFit> {
        self.validate_settings()?;
        let (n, d) = (data.n_rows(), data.n_cols());
        let sample_rows = max_sample.min(n);
        let limit = self.memory_limit();
        let needed = self
            .memory_needed_for(n, sample_rows, d)
            .saturating_add(bytes_of((sample_rows as u128) * (d as u128 + 1), 8));
        let k = self.n_components;
        limit.check(
            needed,
            || {
                format!(
                    "a streamed {k}-component {} fit of {d} features",
                    self.covariance
                )
            },
            "use fewer components or features, or a diag or spherical covariance",
        )?;
        let scan = scan(
            data,
            max_sample,
            em::restart_seed(self.em.seed, usize::MAX),
            &mut |_| Ok(()),
        )?;
        if k > scan.positive {
            return Err(Error::TooFewSamples {
                n_samples: scan.positive,
                n_components: k,
            });
        }
        self.validate_start(d)?;
        let mut config = self.em;
        if self.init_model.is_some() || self.parts.complete(d).is_some() {
            config.n_init = 1;
        }
        let blocks = SourceBlocks {
            data,
            total: scan.total,
            rows: block_rows(d),
            failure: ReadFailure::default(),
        };
        let (fitted, report) = em::fit(
            &blocks,
            &config,
            |_, seed| self.initial_model_streamed(data, &scan, seed),
            monitor,
        )?;
        Ok(MixtureFit {
            model: fitted.model,
            report,
        })
    }

    /// The first parameters of one restart of a streamed fit.
    fn initial_model_streamed(
        &self,
        data: SourceRows<'_>,
        scan: &Scan,
        seed: u64,
    ) -> Result<MixtureEm> {
        let d = data.n_cols();
        if let Some(start) = self.given_start(d) {
            return start;
        }
        let k = self.n_components;
        let mut rng = Pcg64::seed_from_u64(seed);
        let sample = scan.sample.view();
        let sw = scan.sample_weights.as_deref();
        let stats = match self.init {
            Init::KMeans => {
                let r = kmeans(sample, sw, k, KMEANS_MAX_ITER, &mut rng);
                if scan.every_row {
                    let weighted = match sw {
                        Some(w) => Weighted::new(sample, w)?,
                        None => sample.into(),
                    };
                    self.stats_from_labels(weighted, &r.labels, r.centres)
                } else {
                    nearest_stats(self, data, r.centres)?
                }
            }
            Init::KMeansPlusPlus => {
                let centres = kmeans_plus_plus(sample, sw, k, &mut rng);
                nearest_stats(self, data, centres)?
            }
            Init::RandomFromData => {
                let picks = match sw {
                    None => sample_indices(&mut rng, sample.n_rows(), k).into_vec(),
                    Some(w) => weighted_picks(w, k, &mut rng),
                };
                let centres: Vec<f64> =
                    picks.iter().flat_map(|&i| sample.row(i).to_vec()).collect();
                nearest_stats(self, data, centres)?
            }
            Init::Random => random_stats(self, data, &mut rng)?,
        };
        self.start_from_stats(&stats, d)
    }
}

/// Statistics of every row given wholly to its nearest centre, shifted by
/// the centres, in the blocks and order of [`GaussianMixtureBuilder`]'s
/// initialisation in memory.
fn nearest_stats(
    builder: &GaussianMixtureBuilder,
    data: SourceRows<'_>,
    centres: Vec<f64>,
) -> Result<ComponentStats> {
    let path = Path::detect();
    let (n, d) = (data.n_rows(), data.n_cols());
    let mut stats = ComponentStats::new(builder.covariance, centres, d);
    let (mut values, mut weights) = (Vec::new(), Vec::new());
    for start in (0..n).step_by(BLOCK_ROWS) {
        let rows = BLOCK_ROWS.min(n - start);
        data.read(start, rows, &mut values, &mut weights)?;
        let block = DataRef::new(&values, rows, d)?;
        let (labels, _) = nearest_centres(block, &stats.shifts);
        let w = data.weights.map(|_| &weights[..]);
        accumulate_given(path, &mut stats, block, w, |r, j| {
            f64::from(u8::from(labels[r] == j))
        });
    }
    Ok(stats)
}

/// Statistics of uniform random responsibilities, shifted by the first row,
/// drawn in the order of the initialisation in memory.
fn random_stats(
    builder: &GaussianMixtureBuilder,
    data: SourceRows<'_>,
    rng: &mut Pcg64,
) -> Result<ComponentStats> {
    let path = Path::detect();
    let (n, d, k) = (data.n_rows(), data.n_cols(), builder.n_components);
    let (mut values, mut weights) = (Vec::new(), Vec::new());
    data.read(0, 1, &mut values, &mut weights)?;
    let shifts: Vec<f64> = (0..k).flat_map(|_| values.clone()).collect();
    let mut stats = ComponentStats::new(builder.covariance, shifts, d);
    let mut resp = Vec::with_capacity(BLOCK_ROWS * k);
    for start in (0..n).step_by(BLOCK_ROWS) {
        let rows = BLOCK_ROWS.min(n - start);
        data.read(start, rows, &mut values, &mut weights)?;
        resp.clear();
        for _ in 0..rows {
            let row_start = resp.len();
            resp.extend((0..k).map(|_| rng.random::<f64>()));
            let sum: f64 = resp[row_start..].iter().sum();
            resp[row_start..].iter_mut().for_each(|v| *v /= sum);
        }
        let w = data.weights.map(|_| &weights[..]);
        accumulate_given(
            path,
            &mut stats,
            DataRef::new(&values, rows, d)?,
            w,
            |r, j| resp[r * k + j],
        );
    }
    Ok(stats)
}

/// Runs `f(first row, rows)` on consecutive pieces of `source` in order,
/// each a whole number of kernel blocks (about 4 MiB): what scoring,
/// predicting and labelling a streamed input do, one piece in memory at a
/// time. Each piece's results are those of the same rows in memory.
///
/// # Errors
///
/// The first error of a read or of `f`; a data error of `f` about a row of
/// its piece names the row of the whole source.
pub fn for_each_piece(
    source: &dyn RowSource,
    mut f: impl FnMut(usize, DataRef<'_>) -> Result<()>,
) -> Result<()> {
    let (n, d) = (source.n_rows(), source.n_cols());
    let chunk = chunk_rows(d);
    let mut values = Vec::new();
    for start in (0..n).step_by(chunk) {
        let rows = chunk.min(n - start);
        source.read_rows(start, rows, &mut values)?;
        f(start, DataRef::new(&values, rows, d)?).map_err(|e| offset_error(e, start))?;
    }
    Ok(())
}

impl GaussianMixture {
    /// [`score`](Self::score) of the rows of `source`, read a piece at a
    /// time: the same bits as on the rows in memory.
    ///
    /// # Errors
    ///
    /// As [`score`](Self::score), and the errors of reading.
    pub fn score_source(&self, source: &dyn RowSource) -> Result<f64> {
        let n = source.n_rows();
        if n == 0 || source.n_cols() == 0 {
            return Err(Error::EmptyData {
                n_rows: n,
                n_cols: source.n_cols(),
            });
        }
        let rows = block_rows(self.n_features());
        let mut block_totals = Vec::with_capacity(n.div_ceil(rows));
        for_each_piece(source, |_, piece| {
            let s = self.score_samples(piece)?;
            block_totals.extend(s.chunks(rows).map(|b| b.iter().fold(0.0, |a, v| a + v)));
            Ok(())
        })?;
        Ok(sum_like_e_step(block_totals.into_iter()) / n as f64)
    }
}

/// An error about a row of a piece, renumbered as a row of the whole source.
pub(crate) fn offset_error(e: Error, start: usize) -> Error {
    match e {
        Error::NonFinite { row, column } => Error::NonFinite {
            row: row + start,
            column,
        },
        Error::ValueTooLarge {
            row,
            column,
            value,
            limit,
        } => Error::ValueTooLarge {
            row: row + start,
            column,
            value,
            limit,
        },
        Error::InvalidObservation { row, problem } => Error::InvalidObservation {
            row: row + start,
            problem,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::gaussian::CovarianceType;
    use crate::em::NoMonitor;
    use std::sync::atomic::Ordering;

    /// Three overlapping groups in three dimensions, deterministic.
    fn cloud(n: usize) -> Vec<f64> {
        (0..n)
            .flat_map(|i| {
                let g = (i % 3) as f64 * 2.5;
                [
                    g + ((i * 37) % 101) as f64 * 0.02,
                    ((i * 53) % 97) as f64 * 0.03 - g,
                    ((i * 71) % 89) as f64 * 0.01,
                ]
            })
            .collect()
    }

    fn weights(n: usize) -> Vec<f64> {
        (0..n).map(|i| ((i * 13) % 5) as f64 * 0.5).collect()
    }

    #[test]
    fn a_sample_of_every_row_gives_the_fit_in_memory_bit_for_bit() {
        let n = 2500;
        let x = cloud(n);
        let w = weights(n);
        let data = DataRef::new(&x, n, 3).unwrap();
        let w_src = DataRef::new(&w, n, 1).unwrap();
        for kind in CovarianceType::ALL {
            for init in [
                Init::KMeans,
                Init::KMeansPlusPlus,
                Init::RandomFromData,
                Init::Random,
            ] {
                let b = GaussianMixture::builder(3)
                    .covariance(kind)
                    .init(init.clone())
                    .n_init(2)
                    .seed(5);
                for weighted in [false, true] {
                    let (memory, streamed) = if weighted {
                        let rows = SourceRows::weighted(&data, &w_src).unwrap();
                        let mem = b.fit(Weighted::new(data, &w).unwrap()).unwrap();
                        (
                            mem,
                            b.fit_source_with_sample(rows, n, &mut NoMonitor).unwrap(),
                        )
                    } else {
                        let rows = SourceRows::new(&data);
                        (
                            b.fit(data).unwrap(),
                            b.fit_source_with_sample(rows, n, &mut NoMonitor).unwrap(),
                        )
                    };
                    assert_eq!(memory.model, streamed.model, "{kind} {init:?} {weighted}");
                    assert_eq!(memory.report, streamed.report, "{kind} {init:?} {weighted}");
                }
            }
        }
    }

    #[test]
    fn from_one_start_a_small_sample_changes_nothing_and_seeds_still_fit() {
        let n = 3000;
        let x = cloud(n);
        let data = DataRef::new(&x, n, 3).unwrap();
        for kind in CovarianceType::ALL {
            let start = GaussianMixture::builder(3)
                .covariance(kind)
                .max_iter(1)
                .fit(data)
                .unwrap()
                .model;
            let b = GaussianMixture::builder(3).init_model(start).tol(1e-8);
            let memory = b.fit(data).unwrap();
            let streamed = b
                .fit_source_with_sample(SourceRows::new(&data), 50, &mut NoMonitor)
                .unwrap();
            assert_eq!(memory.model, streamed.model, "{kind}");
            assert_eq!(memory.report, streamed.report, "{kind}");
            assert_eq!(
                memory.model.score(data).unwrap(),
                streamed.model.score_source(&data).unwrap()
            );
            // From a sample of 200 rows, restarts still reach a fit as good as
            // one in memory: the groups overlap little, so both find them;
            // 1e-3 per row is ten times the default tol.
            let b = GaussianMixture::builder(3)
                .covariance(kind)
                .n_init(3)
                .tol(1e-6);
            let memory = b.fit(data).unwrap();
            let sampled = b
                .fit_source_with_sample(SourceRows::new(&data), 200, &mut NoMonitor)
                .unwrap();
            assert!(
                sampled.mean_log_likelihood() > memory.mean_log_likelihood() - 1e-3,
                "{kind}: {} vs {}",
                sampled.mean_log_likelihood(),
                memory.mean_log_likelihood()
            );
        }
    }

    /// A source whose reads fail after `ok` of them.
    struct Failing<'a> {
        inner: DataRef<'a>,
        ok: std::sync::atomic::AtomicUsize,
    }

    impl RowSource for Failing<'_> {
        fn n_rows(&self) -> usize {
            self.inner.n_rows()
        }
        fn n_cols(&self) -> usize {
            self.inner.n_cols()
        }
        fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()> {
            if self.ok.fetch_sub(1, Ordering::Relaxed) == 0 {
                self.ok.store(0, Ordering::Relaxed);
                return Err(Error::Io(std::io::Error::other("disk gone")));
            }
            RowSource::read_rows(&self.inner, start, rows, out)
        }
    }

    #[test]
    fn a_read_that_fails_mid_fit_ends_the_whole_fit_with_its_error() {
        let n = 5000;
        let x = cloud(n);
        let data = DataRef::new(&x, n, 3).unwrap();
        // Enough reads for the scan, the start and some iterations.
        for ok in [0, 1, 30, 100] {
            let src = Failing {
                inner: data,
                ok: ok.into(),
            };
            let err = GaussianMixture::builder(3)
                .n_init(3)
                .fit_source(&src as &dyn RowSource, &mut NoMonitor)
                .unwrap_err();
            assert!(err.to_string().contains("disk gone"), "{ok}: {err}");
        }
    }

    #[test]
    fn bad_values_and_weights_are_named_by_their_row() {
        let n = 3000;
        let mut x = cloud(n);
        x[2345 * 3 + 1] = f64::NAN;
        let data = DataRef::new(&x, n, 3).unwrap();
        let b = GaussianMixture::builder(2);
        let err = b
            .fit_source(&data as &dyn RowSource, &mut NoMonitor)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::NonFinite {
                    row: 2345,
                    column: 1
                }
            ),
            "{err:?}"
        );
        let x = cloud(n);
        let data = DataRef::new(&x, n, 3).unwrap();
        let mut w = weights(n);
        w[2999] = -1.0;
        let ws = DataRef::new(&w, n, 1).unwrap();
        let err = b
            .fit_source(SourceRows::weighted(&data, &ws).unwrap(), &mut NoMonitor)
            .unwrap_err();
        assert!(err.to_string().contains("weight 2999"), "{err}");
        let zero = vec![0.0; n];
        let zs = DataRef::new(&zero, n, 1).unwrap();
        assert!(matches!(
            b.fit_source(SourceRows::weighted(&data, &zs).unwrap(), &mut NoMonitor),
            Err(Error::InvalidWeights { .. })
        ));
    }
}
