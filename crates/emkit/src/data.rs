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

    /// [`check_finite`](Self::check_finite), and fails on the first value above
    /// [`MAX_FIT_MAGNITUDE`] in magnitude ([`Error::ValueTooLarge`]).
    pub fn check_fittable(&self) -> Result<()> {
        self.check_finite()?;
        match self.values.iter().position(|v| v.abs() > MAX_FIT_MAGNITUDE) {
            None => Ok(()),
            Some(at) => Err(Error::ValueTooLarge {
                row: at / self.n_cols.max(1),
                column: at % self.n_cols.max(1),
                value: self.values[at],
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

/// The largest magnitude a fit accepts. Fits square differences of values and
/// sum them over rows and features: with |x| ≤ 1e100 a sum of 4·x² over even
/// 10^100 terms stays below f64::MAX (1.8e308), while values near 1e154 and
/// above overflow in the first square. No measured quantity in sensible units
/// comes near 1e100; data that does is refused, naming the cell, rather than
/// fitted in scaled units whose covariances (1e300² and beyond) could not be
/// reported in the original ones.
pub const MAX_FIT_MAGNITUDE: f64 = 1e100;

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
