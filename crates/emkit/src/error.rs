//! The library's one error type.

use std::fmt;

/// Everything that can go wrong in emkit, as structured values.
///
/// Messages are one sentence that says what to do. The command-line program
/// adds the file name in front of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of its valid range.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The setting, named as in the builder (`n_components`, `tol`, ...).
        field: &'static str,
        /// Why it is invalid and what is allowed.
        reason: String,
    },
    /// Two things that must agree in size do not.
    #[error("{what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was measured ("number of features", "length of weights", ...).
        what: String,
        /// The size that was needed.
        expected: usize,
        /// The size that was given.
        got: usize,
    },
    /// The data holds NaN or an infinity.
    #[error(
        "row {row}, column {column} (0-based) is not a finite number; \
         remove or impute missing values before fitting"
    )]
    NonFinite {
        /// 0-based data row.
        row: usize,
        /// 0-based column.
        column: usize,
    },
    /// A value too large in magnitude to fit: its square, summed over the
    /// data, would overflow a double ([`crate::max_fit_magnitude`]).
    #[error(
        "row {row}, column {column} (0-based) is {value:e}, beyond the ±{limit:.1e} a fit of \
         this data can square and sum; rescale that column (e.g. divide it by a power of ten) \
         before fitting"
    )]
    ValueTooLarge {
        /// 0-based data row.
        row: usize,
        /// 0-based column.
        column: usize,
        /// The value.
        value: f64,
        /// The largest magnitude this data may hold.
        limit: f64,
    },
    /// A request would need more memory than the limit allows.
    #[error(
        "{what} needs about {} of memory, more than the {} it may use; {hint}",
        crate::memory::format_bytes(*needed),
        crate::memory::format_bytes(*limit)
    )]
    TooMuchMemory {
        /// The request, in words ("sampling 10^12 rows of 4 features").
        what: String,
        /// Bytes the request needs (estimated).
        needed: u64,
        /// Bytes it may use ([`crate::memory::MemoryLimit`]).
        limit: u64,
        /// What to change.
        hint: String,
    },
    /// The data has no rows (or no columns).
    #[error(
        "the data is empty ({n_rows} rows, {n_cols} columns); give at least one row and one column"
    )]
    EmptyData {
        /// Rows found.
        n_rows: usize,
        /// Columns found.
        n_cols: usize,
    },
    /// More components than samples.
    #[error(
        "n_components = {n_components} is more than the number of samples ({n_samples}); \
         use fewer components or more data"
    )]
    TooFewSamples {
        /// Rows in the data.
        n_samples: usize,
        /// Components asked for.
        n_components: usize,
    },
    /// A covariance matrix is not positive definite and could not be repaired.
    #[error(
        "component {component}: covariance is not positive definite with reg_covar = {reg_covar}; \
         increase reg_covar, reduce n_components, or remove constant/duplicated columns"
    )]
    SingularCovariance {
        /// 0-based component (for tied covariance, 0).
        component: usize,
        /// The regularisation in force.
        reg_covar: f64,
    },
    /// The log-likelihood became NaN or infinite during a fit.
    #[error(
        "the log-likelihood is not finite at iteration {iteration}; the model collapsed onto \
         single points: set reg_covar > 0 or reduce n_components"
    )]
    NonFiniteLikelihood {
        /// 1-based iteration.
        iteration: usize,
    },
    /// A text table (CSV) could not be read.
    #[error("{}", DisplayTable { line: *line, column, problem })]
    Table {
        /// 1-based line in the file (the header is line 1), 0 when unknown.
        line: u64,
        /// Column name (or 1-based number when there is no name), when the problem is in one cell.
        column: Option<String>,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A binary array file (`.npy`) could not be read.
    #[error("not a usable .npy array: {problem}")]
    Npy {
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A Parquet file could not be read.
    #[error("not a usable Parquet file: {problem}")]
    Parquet {
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// Model parameters (given by a caller or read from a model file) are not a valid model.
    #[error("`{field}`: {problem}")]
    InvalidModel {
        /// The parameter or JSON field at fault (`weights`, `covariances[2]`, ...).
        field: String,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// One observation cannot be data for the model (a symbol out of range, say).
    #[error("row {row} (0-based): {problem}")]
    InvalidObservation {
        /// 0-based data row.
        row: usize,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// Sample weights that cannot weigh the data: the wrong number, a
    /// negative, NaN or infinite weight, or all zero.
    #[error("sample weights: {problem}")]
    InvalidWeights {
        /// What is wrong (naming the 0-based index of a bad weight) and how to fix it.
        problem: String,
    },
    /// Sequence lengths that do not split the data into sequences.
    #[error("sequence lengths: {problem}")]
    InvalidLengths {
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The caller's [`crate::Monitor`] asked the fit to stop
    /// ([`crate::Monitor::stop_requested`], e.g. on Ctrl-C); no model is returned.
    #[error("the fit was interrupted after iteration {iteration} of restart {restart}")]
    Interrupted {
        /// 0-based restart that was running.
        restart: usize,
        /// 1-based iteration after which it stopped (0: before the first).
        iteration: usize,
    },
    /// An operating-system I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

struct DisplayTable<'a> {
    line: u64,
    column: &'a Option<String>,
    problem: &'a str,
}

impl fmt::Display for DisplayTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}", self.line)?;
            if let Some(c) = self.column {
                write!(f, ", column {c:?}")?;
            }
            write!(f, ": ")?;
        } else if let Some(c) = self.column {
            write!(f, "column {c:?}: ")?;
        }
        f.write_str(self.problem)
    }
}

/// `Result` with emkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
