//! HMMs on sequences read from a `RowSource`: a streamed fit is the fit in
//! memory bit for bit when its start's sample holds every row; scores and
//! decodings by batches of whole sequences are those of all the data; a
//! read that fails ends the fit with its error; bad symbols are named by
//! their row in the whole source.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use emkit::em::NoMonitor;
use emkit::hmm::{
    for_each_batch, CategoricalHmm, Emission, GaussianHmm, GmmHmm, HmmBuilder, Initialise,
    Sequences, SourceSequences,
};
use emkit::io::RowSource;
use emkit::{CovarianceType, DataRef};

use common::{categorical_truth, draw, gaussian_truth, test_seed};

const LENGTHS: [usize; 6] = [120, 1, 75, 300, 2, 90];

/// The in-memory fit and the streamed fit of `builder` on `data` split by
/// `lengths` (weighted by `weights`), which must be equal: parameters,
/// log-likelihood, iterations.
fn assert_stream_equals_memory<E: Emission + PartialEq + std::fmt::Debug>(
    builder: HmmBuilder<E>,
    data: DataRef<'_>,
    lengths: &[usize],
    weights: Option<&[f64]>,
    what: &str,
) where
    HmmBuilder<E>: Initialise<E> + Clone,
{
    let mut seqs = Sequences::new(data, lengths).unwrap();
    let mut source = SourceSequences::new(&data as &dyn RowSource, lengths).unwrap();
    if let Some(w) = weights {
        seqs = seqs.with_weights(w).unwrap();
        source = source.with_weights(w).unwrap();
    }
    let memory = builder.fit(&seqs).unwrap();
    let streamed = builder.fit_source(&source, &mut NoMonitor).unwrap();
    assert_eq!(memory.model, streamed.model, "{what}");
    assert_eq!(
        memory.report.best().log_likelihood.to_bits(),
        streamed.report.best().log_likelihood.to_bits(),
        "{what}"
    );
    assert_eq!(
        memory.report.best().trace,
        streamed.report.best().trace,
        "{what}"
    );
    assert_eq!(
        memory.report.total_weight, streamed.report.total_weight,
        "{what}"
    );
}

#[test]
fn streamed_fits_are_fits_in_memory_for_every_emission() {
    let seed = test_seed(5);
    let (x, lengths) = draw(&gaussian_truth(), &LENGTHS, seed);
    let data = x.view();
    let weights = [1.0, 0.0, 2.0, 0.5, 3.0, 1.0];
    for kind in [
        CovarianceType::Full,
        CovarianceType::Tied,
        CovarianceType::Diagonal,
        CovarianceType::Spherical,
    ] {
        for w in [None, Some(&weights[..])] {
            let b = GaussianHmm::builder(3)
                .covariance(kind)
                .n_init(2)
                .max_iter(20)
                .seed(seed);
            assert_stream_equals_memory(b, data, &lengths, w, &format!("gaussian {kind} {w:?}"));
        }
    }
    let b = GmmHmm::builder(2)
        .n_mix(2)
        .covariance(CovarianceType::Diagonal)
        .n_init(2)
        .max_iter(10)
        .seed(seed);
    assert_stream_equals_memory(b, data, &lengths, Some(&weights), "gmm");
    let (s, lengths) = draw(&categorical_truth(), &LENGTHS, seed);
    for w in [None, Some(&weights[..])] {
        let b = CategoricalHmm::builder(3).n_init(3).max_iter(30).seed(seed);
        assert_stream_equals_memory(b, s.view(), &lengths, w, "categorical");
    }
}

#[test]
fn batches_score_and_decode_as_all_the_data() {
    let seed = test_seed(7);
    let truth = gaussian_truth();
    // Long enough that a batch of 2^20 values cannot hold every sequence.
    let lengths: Vec<usize> = (0..120).map(|i| 5000 + 977 * (i % 7)).collect();
    let (x, lengths) = draw(&truth, &lengths, seed);
    let data = x.view();
    let seqs = Sequences::new(data, &lengths).unwrap();
    let source = &data as &dyn RowSource;
    assert_eq!(
        truth.score_source(source, &lengths).unwrap().to_bits(),
        truth.score(&seqs).unwrap().to_bits()
    );
    let mut path = Vec::new();
    let mut batches = 0;
    let mut next = 0;
    for_each_batch(source, &lengths, |first, batch| {
        assert_eq!(first, next, "batches come in order");
        next += batch.len();
        batches += 1;
        path.extend(truth.decode(batch)?.1);
        Ok(())
    })
    .unwrap();
    assert!(batches > 1, "one batch: the test would not split anything");
    assert_eq!(next, lengths.len());
    assert_eq!(path, truth.decode(&seqs).unwrap().1);
}

/// A source whose reads fail after `ok` of them.
struct Failing<'a> {
    inner: DataRef<'a>,
    ok: AtomicUsize,
}

impl RowSource for Failing<'_> {
    fn n_rows(&self) -> usize {
        self.inner.n_rows()
    }
    fn n_cols(&self) -> usize {
        self.inner.n_cols()
    }
    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> emkit::Result<()> {
        if self.ok.fetch_sub(1, Ordering::Relaxed) == 0 {
            self.ok.store(0, Ordering::Relaxed);
            return Err(emkit::Error::Io(std::io::Error::other("disk gone")));
        }
        RowSource::read_rows(&self.inner, start, rows, out)
    }
}

#[test]
fn a_read_that_fails_ends_the_fit_and_bad_symbols_are_named_by_row() {
    let (x, lengths) = draw(&gaussian_truth(), &LENGTHS, 1);
    // The checking pass, the first E-steps, a later one.
    for ok in [0, 1, 8, 40] {
        let src = Failing {
            inner: x.view(),
            ok: ok.into(),
        };
        let seqs = SourceSequences::new(&src as &dyn RowSource, &lengths).unwrap();
        let err = GaussianHmm::builder(3)
            .n_init(2)
            .fit_source(&seqs, &mut NoMonitor)
            .unwrap_err();
        assert!(err.to_string().contains("disk gone"), "{ok}: {err}");
    }
    // A symbol past 2^19 rows (the checking pass's second piece) that is
    // not an integer: named by its row in the whole source.
    let n = (1 << 19) + 1000;
    let mut symbols: Vec<f64> = (0..n).map(|i| (i % 3) as f64).collect();
    symbols[n - 10] = 1.5;
    let data = DataRef::new(&symbols, n, 1).unwrap();
    let seqs = SourceSequences::one(&data as &dyn RowSource);
    let err = CategoricalHmm::builder(2)
        .fit_source(&seqs, &mut NoMonitor)
        .unwrap_err();
    assert!(
        matches!(err, emkit::Error::InvalidObservation { row, .. } if row == n - 10),
        "{err:?}"
    );
    // With n_symbols given, a symbol beyond it is refused too.
    symbols[n - 10] = 5.0;
    let data = DataRef::new(&symbols, n, 1).unwrap();
    let seqs = SourceSequences::one(&data as &dyn RowSource);
    let err = CategoricalHmm::builder(2)
        .n_symbols(3)
        .fit_source(&seqs, &mut NoMonitor)
        .unwrap_err();
    assert!(err.to_string().contains("not an integer in 0..2"), "{err}");
}
