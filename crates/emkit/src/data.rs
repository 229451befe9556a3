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

/// Rows in fixed blocks of `rows` rows (the last may be shorter): the unit of
/// work of an E-step. The block length is fixed by the model's kernel and the
/// data's shape, never by the thread count, so that sums over blocks merge in
/// one order and fits are bit-identical on any number of threads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowBlocks<'a> {
    pub data: DataRef<'a>,
    /// Rows per block, at least 1.
    pub rows: usize,
}

impl<'a> RowBlocks<'a> {
    pub fn new(data: DataRef<'a>, rows: usize) -> Self {
        debug_assert!(rows > 0);
        RowBlocks { data, rows }
    }

    pub fn n_blocks(&self) -> usize {
        self.data.n_rows().div_ceil(self.rows)
    }

    /// Block `i`: its first row's index and its rows.
    pub fn block(&self, i: usize) -> (usize, DataRef<'a>) {
        let start = i * self.rows;
        let end = (start + self.rows).min(self.data.n_rows());
        (start, self.data.rows(start, end))
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
