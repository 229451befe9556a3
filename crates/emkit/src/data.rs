//! The data layout every model reads: a contiguous row-major `n × d` block of `f64`.

use crate::error::{Error, Result};

/// A borrowed row-major matrix: `n_rows × n_cols` values, row after row (numpy's C order).
#[derive(Clone, Copy, Debug)]
pub struct DataRef<'a> {
    values: &'a [f64],
    n_rows: usize,
    n_cols: usize,
}

impl<'a> DataRef<'a> {
    /// Wraps `values` as `n_rows × n_cols`; fails when the length does not match.
    pub fn new(values: &'a [f64], n_rows: usize, n_cols: usize) -> Result<Self> {
        let expected = n_rows
            .checked_mul(n_cols)
            .ok_or_else(|| Error::ShapeMismatch {
                what: "number of values (n_rows * n_cols overflows)".into(),
                expected: usize::MAX,
                got: values.len(),
            })?;
        if values.len() != expected {
            return Err(Error::ShapeMismatch {
                what: format!("number of values for a {n_rows} x {n_cols} matrix"),
                expected,
                got: values.len(),
            });
        }
        Ok(DataRef {
            values,
            n_rows,
            n_cols,
        })
    }

    /// Number of rows (samples).
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns (features).
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// All values, row-major.
    pub fn values(&self) -> &'a [f64] {
        self.values
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &'a [f64] {
        &self.values[i * self.n_cols..(i + 1) * self.n_cols]
    }

    /// Rows `start..end` as a matrix of their own.
    pub fn rows(&self, start: usize, end: usize) -> DataRef<'a> {
        DataRef {
            values: &self.values[start * self.n_cols..end * self.n_cols],
            n_rows: end - start,
            n_cols: self.n_cols,
        }
    }

    /// Fails on the first NaN or infinity, naming its row and column.
    pub fn check_finite(&self) -> Result<()> {
        match self.values.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(at) => Err(Error::NonFinite {
                row: at / self.n_cols.max(1),
                column: at % self.n_cols.max(1),
            }),
        }
    }

    /// [`check_finite`](Self::check_finite), and fails on the first value
    /// beyond [`max_fit_magnitude`] for this shape ([`Error::ValueTooLarge`]).
    pub fn check_fittable(&self) -> Result<()> {
        self.check_finite()?;
        let limit = max_fit_magnitude(self.n_rows, self.n_cols);
        match self.values.iter().position(|v| v.abs() > limit) {
            None => Ok(()),
            Some(at) => Err(Error::ValueTooLarge {
                row: at / self.n_cols.max(1),
                column: at % self.n_cols.max(1),
                value: self.values[at],
                limit,
            }),
        }
    }

    /// Fails when there are no rows or no columns.
    pub fn check_not_empty(&self) -> Result<()> {
        if self.n_rows == 0 || self.n_cols == 0 {
            return Err(Error::EmptyData {
                n_rows: self.n_rows,
                n_cols: self.n_cols,
            });
        }
        Ok(())
    }
}

/// Rows with a non-negative weight each (scikit-learn's `sample_weight`,
/// Spark's `weightCol`): what a fit reads. An integer weight counts as that
/// many copies of the row, a zero weight as the row left out, and scaling
/// every weight by one constant changes no fitted parameter. Without weights
/// every row weighs 1, and a fit is the unweighted one bit for bit. A
/// [`DataRef`] converts into unweighted `Weighted` data, so every fit takes
/// either.
#[derive(Clone, Copy, Debug)]
pub struct Weighted<'a> {
    data: DataRef<'a>,
    weights: Option<&'a [f64]>,
    total: f64,
}

impl<'a> From<DataRef<'a>> for Weighted<'a> {
    fn from(data: DataRef<'a>) -> Self {
        Weighted {
            data,
            weights: None,
            total: data.n_rows() as f64,
        }
    }
}

impl<'a> Weighted<'a> {
    /// `data` with one weight per row; fails on a wrong count, a negative,
    /// NaN or infinite weight, or weights that are all zero or whose sum
    /// overflows.
    pub fn new(data: DataRef<'a>, weights: &'a [f64]) -> Result<Self> {
        let total = check_weights(weights, data.n_rows(), "row")?;
        Ok(Weighted {
            data,
            weights: Some(weights),
            total,
        })
    }

    /// The rows.
    pub fn data(&self) -> DataRef<'a> {
        self.data
    }

    /// The weights, `None` when every row weighs 1.
    pub fn weights(&self) -> Option<&'a [f64]> {
        self.weights
    }

    /// The sum of the weights (the number of rows without weights): the
    /// sample size of the information criteria.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// The weight of row `i`.
    pub(crate) fn weight(&self, i: usize) -> f64 {
        self.weights.map_or(1.0, |w| w[i])
    }
}

/// Checks `weights` as the weights of `n` items called `item`s (rows or
/// sequences) and returns their sum: one each, finite and `>= 0`, not all
/// zero, with a finite sum.
///
/// # Errors
///
/// [`Error::InvalidWeights`] naming the first bad weight and the fix.
pub fn check_weights(weights: &[f64], n: usize, item: &str) -> Result<f64> {
    let invalid = |problem: String| Error::InvalidWeights { problem };
    if weights.len() != n {
        return Err(invalid(format!(
            "expected one weight per {item} ({n}), got {}",
            weights.len()
        )));
    }
    if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(invalid(format!(
            "weight {i} (0-based) is {}; weights must be finite and >= 0",
            weights[i]
        )));
    }
    let total: f64 = weights.iter().sum();
    if total == 0.0 {
        return Err(invalid(format!(
            "every weight is 0, so no {item} is left to fit; give some {item} a positive weight"
        )));
    }
    if !total.is_finite() {
        return Err(invalid(format!(
            "the weights sum to {total}; divide them by a common factor (that changes no fitted parameter)"
        )));
    }
    Ok(total)
}

/// Rows in fixed blocks of `rows` rows (the last may be shorter): the unit of
/// work of an E-step. The block length is fixed by the model's kernel and the
/// data's shape, never by the thread count, so that sums over blocks merge in
/// one order and fits are bit-identical on any number of threads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowBlocks<'a> {
    pub data: DataRef<'a>,
    /// Per-row weights; `None`: every row weighs 1.
    pub weights: Option<&'a [f64]>,
    /// The sum of the weights (`n` without them).
    pub total: f64,
    /// Rows per block, at least 1.
    pub rows: usize,
    /// Index of the first row in the whole data set (0 unless these rows are
    /// one part of data spread over many processes): what blocks report as
    /// their rows' indices.
    pub offset: usize,
}

/// One block of [`RowBlocks`]: its first row's index, its rows and their weights.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowBlock<'a> {
    pub start: usize,
    pub rows: DataRef<'a>,
    pub weights: Option<&'a [f64]>,
}

impl<'a> RowBlocks<'a> {
    pub fn new(data: impl Into<Weighted<'a>>, rows: usize) -> Self {
        debug_assert!(rows > 0);
        let w = data.into();
        RowBlocks {
            data: w.data,
            weights: w.weights,
            total: w.total,
            rows,
            offset: 0,
        }
    }

    pub fn n_blocks(&self) -> usize {
        self.data.n_rows().div_ceil(self.rows)
    }

    /// Block `i`.
    pub fn block(&self, i: usize) -> RowBlock<'a> {
        let start = i * self.rows;
        let end = (start + self.rows).min(self.data.n_rows());
        RowBlock {
            start: self.offset + start,
            rows: self.data.rows(start, end),
            weights: self.weights.map(|w| &w[start..end]),
        }
    }
}

/// `(start, end)` of each block of `rows` rows among `n` rows, in order.
pub(crate) fn row_blocks(n: usize, rows: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(rows)
        .map(move |start| (start, (start + rows).min(n)))
}

/// The largest magnitude a fit of `n_rows × n_cols` data accepts. A fit
/// squares differences of values (at most twice the largest magnitude) and
/// sums them over every row and feature; this keeps such a sum below a
/// sixteenth of `f64::MAX`: `16 · n·d · (2·max)² ≤ f64::MAX`, about 1e152 for
/// a few hundred values and 5e148 for a billion. Beyond it a square or a sum
/// overflows to infinity. Data that large is refused, naming the cell, rather
/// than fitted in scaled units: its covariances (1e300² and beyond) could not
/// be reported in the original ones.
pub fn max_fit_magnitude(n_rows: usize, n_cols: usize) -> f64 {
    let cells = (n_rows as f64 * n_cols as f64).max(1.0);
    (f64::MAX / (64.0 * cells)).sqrt()
}

/// An owned row-major matrix; see [`DataRef`].
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    values: Vec<f64>,
    n_rows: usize,
    n_cols: usize,
}

impl Matrix {
    /// Takes `values` as `n_rows × n_cols`; fails when the length does not match.
    pub fn new(values: Vec<f64>, n_rows: usize, n_cols: usize) -> Result<Self> {
        DataRef::new(&values, n_rows, n_cols)?;
        Ok(Matrix {
            values,
            n_rows,
            n_cols,
        })
    }

    /// A borrowed view.
    pub fn view(&self) -> DataRef<'_> {
        DataRef {
            values: &self.values,
            n_rows: self.n_rows,
            n_cols: self.n_cols,
        }
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.n_cols..(i + 1) * self.n_cols]
    }

    /// Gives the values back, row-major.
    pub fn into_values(self) -> Vec<f64> {
        self.values
    }
}
