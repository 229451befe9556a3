//! HMMs on observations read from a [`RowSource`]: fits that hold one
//! sequence per task instead of the data, and scores and decodings a batch
//! of whole sequences at a time.
//!
//! A streamed fit reads each sequence when its E-step task reaches it, in
//! the tasks and merge order of a fit in memory, so that from the same
//! start it is that fit bit for bit. The start: one pass checks every value
//! (and, for categorical emissions, every symbol, and counts them) and draws
//! a uniform sample of rows with the master seed, as a streamed mixture fit
//! does ([`crate::GaussianMixtureBuilder::fit_source`]); every restart draws
//! its emission from that sample with its own seed (k-means on it for
//! Gaussian means, its covariance, ...). When the sample holds every row,
//! the start is the in-memory one. Memory: per task, the sequence it
//! holds and its recursions (`T × K`), so the longest sequence sets it,
//! not the number of sequences.

use super::emission::Emission;
use super::families::Initialise;
use super::fit::{HmmBuilder, HmmEm, HmmFit, HmmStats};
use super::{AnyHmm, Hmm, Sequences, Split};
use crate::data::{DataRef, Weighted};
use crate::em::{self, sum_like_e_step, EmData, EmModel, MaximizeOutcome, Monitor};
use crate::error::{Error, Result};
use crate::io::source::ReadFailure;
use crate::io::RowSource;
use crate::memory::product;
use crate::mixture::stream::{buffer, give_back, offset_error, sample_rows, scan, SourceRows};

/// Values read at once by [`for_each_batch`]: 8 MiB of observations, or
/// one sequence when it is longer.
const BATCH_VALUES: usize = 1 << 20;

/// Observations in a [`RowSource`] split into sequences by their lengths,
/// with one weight per sequence for a fit (as [`Sequences`]).
pub struct SourceSequences<'s> {
    rows: &'s dyn RowSource,
    split: Split,
}

impl<'s> SourceSequences<'s> {
    /// Splits the rows of `rows` by `lengths`, checked as [`Sequences::new`]
    /// checks them.
    pub fn new(rows: &'s dyn RowSource, lengths: &[usize]) -> Result<Self> {
        Ok(SourceSequences {
            rows,
            split: Split::new(lengths, rows.n_rows())?,
        })
    }

    /// All rows of `rows` as one sequence.
    pub fn one(rows: &'s dyn RowSource) -> Self {
        SourceSequences {
            rows,
            split: Split::one(rows.n_rows()),
        }
    }

    /// These sequences with one weight each, as [`Sequences::with_weights`].
    pub fn with_weights(mut self, weights: &[f64]) -> Result<Self> {
        self.split.weigh(weights)?;
        Ok(self)
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.split.len()
    }

    /// Whether there is no sequence (never, for a value built by `new`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of observations.
    pub fn n_samples(&self) -> usize {
        self.rows.n_rows()
    }

    /// Length of the longest sequence.
    pub fn max_len(&self) -> usize {
        self.split.max_len()
    }
}

/// Each row's weight: its sequence's, as a one-column source for the
/// checking pass.
struct RowWeights<'a> {
    split: &'a Split,
}

impl RowSource for RowWeights<'_> {
    fn n_rows(&self) -> usize {
        self.split.rows(self.split.len() - 1).1
    }

    fn n_cols(&self) -> usize {
        1
    }

    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()> {
        out.clear();
        // The sequence holding row `start`.
        let mut i = self.split.sequence_of(start);
        for r in start..start + rows {
            while self.split.rows(i).1 <= r {
                i += 1;
            }
            out.push(self.split.weight(i));
        }
        Ok(())
    }
}

/// The sequences as the engine's blocks, each read when an E-step reaches
/// it; a failed read is kept for the end of the pass.
pub(crate) struct SequenceBlocks<'a, 's> {
    seqs: &'a SourceSequences<'s>,
    total: f64,
    failure: ReadFailure,
}

/// A sequence read from a source (empty after a failed read) and its
/// weight; its buffer goes back to the thread's pool.
pub(crate) struct OwnedSequence {
    values: Vec<f64>,
    n_cols: usize,
    weight: f64,
}

impl Drop for OwnedSequence {
    fn drop(&mut self) {
        give_back([std::mem::take(&mut self.values)]);
    }
}

impl EmData for SequenceBlocks<'_, '_> {
    type Block<'b>
        = OwnedSequence
    where
        Self: 'b;

    fn n_samples(&self) -> usize {
        self.seqs.n_samples()
    }

    fn total_weight(&self) -> f64 {
        self.total
    }

    fn n_blocks(&self) -> usize {
        self.seqs.len()
    }

    fn block(&self, i: usize) -> OwnedSequence {
        let seqs = self.seqs;
        let (a, b) = seqs.split.rows(i);
        let mut block = OwnedSequence {
            values: buffer(),
            n_cols: seqs.rows.n_cols(),
            weight: seqs.split.weight(i),
        };
        if self.failure.failed() {
            block.values.clear();
        } else if let Err(e) = seqs.rows.read_rows(a, b - a, &mut block.values) {
            self.failure.record(e);
            block.values.clear();
        }
        block
    }

    fn pass_finished(&self) -> Result<()> {
        self.failure.take()
    }
}

/// The in-memory model's statistics and steps, on sequences read from a
/// source.
impl<'a, 's, E: Emission> EmModel<SequenceBlocks<'a, 's>> for HmmEm<E> {
    type Stats = HmmStats<E>;

    fn empty_stats(&self) -> HmmStats<E> {
        <Self as EmModel<Sequences<'static>>>::empty_stats(self)
    }

    fn reset_stats(&self, stats: &mut HmmStats<E>) {
        <Self as EmModel<Sequences<'static>>>::reset_stats(self, stats)
    }

    fn work_per_sample(&self) -> usize {
        <Self as EmModel<Sequences<'static>>>::work_per_sample(self)
    }

    fn accumulate(&self, block: OwnedSequence, stats: &mut HmmStats<E>) -> f64 {
        if block.values.is_empty() {
            return 0.0;
        }
        let rows = block.values.len() / block.n_cols;
        let obs = DataRef::new(&block.values, rows, block.n_cols).expect("whole rows");
        <Self as EmModel<Sequences<'static>>>::accumulate(self, (obs, block.weight), stats)
    }

    fn maximize(&mut self, stats: &HmmStats<E>) -> Result<MaximizeOutcome> {
        <Self as EmModel<Sequences<'static>>>::maximize(self, stats)
    }

    fn write_flat(&self, out: &mut Vec<f64>) -> bool {
        <Self as EmModel<Sequences<'static>>>::write_flat(self, out)
    }

    fn read_flat(&mut self, x: &[f64], base: &[f64]) -> bool {
        <Self as EmModel<Sequences<'static>>>::read_flat(self, x, base)
    }
}

impl<E: Emission> HmmBuilder<E>
where
    Self: Initialise<E> + Clone,
{
    /// Fits on sequences read from a source on every pass, holding one
    /// sequence per task instead of the data: what `emkit hmm fit --stream`
    /// runs. From the same start (given parameters, or a sample of every
    /// row) the fit is [`fit`](Self::fit)'s on the same rows, bit for bit.
    ///
    /// The start: one pass checks every value (and symbol) and draws a
    /// uniform sample of up to `2^22 / d` rows (fewer under a tight memory
    /// limit, at least `20 k`) with the master seed; each restart draws its
    /// emission from the sample with its own seed. When the sample holds
    /// every row, the start is that of [`fit`](Self::fit).
    ///
    /// # Errors
    ///
    /// As [`fit`](Self::fit), and the source's errors when a read fails.
    pub fn fit_source<M: Monitor + ?Sized>(
        &self,
        seqs: &SourceSequences<'_>,
        monitor: &mut M,
    ) -> Result<HmmFit<E>> {
        self.em.validate()?;
        let d = seqs.rows.n_cols();
        let row_weights = seqs
            .split
            .weights
            .is_some()
            .then_some(RowWeights { split: &seqs.split });
        let rows = match &row_weights {
            None => SourceRows::new(seqs.rows),
            Some(w) => SourceRows::weighted(seqs.rows, w)?,
        };
        let mut seen = 0;
        let scan = scan(
            rows,
            sample_rows(d, self.em.memory_limit(), self.n_states),
            em::restart_seed(self.em.seed, usize::MAX),
            &mut |piece| self.check_piece(piece, &mut seen),
        )?;
        let builder = self.settled(seen);
        let sample = scan.sample.view();
        let (chain, prior) = builder.validate_on(
            sample,
            seqs.n_samples(),
            seqs.len(),
            seqs.max_len(),
            product(&[seqs.max_len(), d]),
        )?;
        let start_rows = match &scan.sample_weights {
            None => Weighted::from(sample),
            Some(w) => Weighted::new(sample, w)?,
        };
        let blocks = SequenceBlocks {
            seqs,
            total: seqs.split.total_weight(),
            failure: ReadFailure::default(),
        };
        builder.fit_from(&blocks, start_rows, chain, prior, monitor)
    }
}

/// Calls `f(first, batch)` on consecutive batches of whole sequences of
/// `source` split by `lengths` (checked as [`Sequences::new`] checks them),
/// in order; `first` is the index of the batch's first sequence. A batch
/// holds about 2^20 values, or one sequence when that is longer. Errors
/// about rows of a batch are renumbered as rows of the whole source.
pub fn for_each_batch(
    source: &dyn RowSource,
    lengths: &[usize],
    mut f: impl FnMut(usize, &Sequences<'_>) -> Result<()>,
) -> Result<()> {
    let (n, d) = (source.n_rows(), source.n_cols());
    if n == 0 || d == 0 {
        return Err(Error::EmptyData {
            n_rows: n,
            n_cols: d,
        });
    }
    let split = Split::new(lengths, n)?;
    let budget = (BATCH_VALUES / d).max(1);
    let mut values = Vec::new();
    let mut first = 0;
    while first < lengths.len() {
        let a = split.rows(first).0;
        let mut end = first + 1;
        while end < lengths.len() && split.rows(end).1 - a <= budget {
            end += 1;
        }
        let b = split.rows(end - 1).1;
        source.read_rows(a, b - a, &mut values)?;
        let batch = Sequences::new(DataRef::new(&values, b - a, d)?, &lengths[first..end])?;
        f(first, &batch).map_err(|e| offset_error(e, a))?;
        first = end;
    }
    Ok(())
}

impl<E: Emission> Hmm<E> {
    /// [`score`](Self::score) of sequences read from `source` a batch at a
    /// time ([`for_each_batch`]): the same bits.
    pub fn score_source(&self, source: &dyn RowSource, lengths: &[usize]) -> Result<f64> {
        let mut lls = Vec::with_capacity(lengths.len());
        for_each_batch(source, lengths, |_, seqs| {
            lls.extend(self.score_sequences(seqs)?);
            Ok(())
        })?;
        Ok(sum_like_e_step(lls.into_iter()))
    }
}

impl AnyHmm {
    /// See [`Hmm::score_source`].
    pub fn score_source(&self, source: &dyn RowSource, lengths: &[usize]) -> Result<f64> {
        match self {
            AnyHmm::Gaussian(h) => h.score_source(source, lengths),
            AnyHmm::Categorical(h) => h.score_source(source, lengths),
            AnyHmm::Gmm(h) => h.score_source(source, lengths),
        }
    }
}
