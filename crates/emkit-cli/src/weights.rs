//! `--weights FILE` and `--weight-column NAME`: reading sample weights for
//! every command that fits.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use emkit::io::Table;

use crate::common::{display_name, input_error, read_data};

/// Sample weights, on every command that fits: `--weights FILE` (one column)
/// or `--weight-column NAME` (a column of the data file, then not a feature).
#[derive(Args, Debug, Clone, Default)]
pub struct WeightArgs {
    /// One weight per data row (for `hmm fit`, per sequence, in --lengths
    /// order): a file of one numeric column, CSV, .npy or .parquet. Finite and >= 0;
    /// an integer weight counts as that many copies of the row.
    #[arg(long, value_name = "FILE", conflicts_with = "weight_column")]
    pub weights: Option<PathBuf>,
    /// The data file's column holding each row's weight (it is then not a feature).
    #[arg(long, value_name = "NAME")]
    pub weight_column: Option<String>,
}

impl WeightArgs {
    /// The weights file, for the check that no output overwrites it.
    pub fn file(&self) -> Option<&Path> {
        self.weights.as_deref()
    }

    /// Reads the data with `columns` (plus the weight column), and the
    /// weights: `(table of the features, weights)`. `per` says what a
    /// `--weights` file weighs, given the table: `(how many, "row" or
    /// "sequence")`.
    pub fn read(
        &self,
        path: &Path,
        columns: Option<&[String]>,
        per: impl FnOnce(&Table) -> Result<(usize, &'static str)>,
    ) -> Result<(Table, Option<Vec<f64>>)> {
        let name = display_name(path);
        let Some(column) = &self.weight_column else {
            let table = read_data(path, columns)?;
            let Some(file) = &self.weights else {
                return Ok((table, None));
            };
            let (want, item) = per(&table)?;
            let weights = read_weights_file(file, want, item)?;
            return Ok((table, Some(weights)));
        };
        let with_weight: Option<Vec<String>> = columns.map(|c| {
            let mut all = c.to_vec();
            if !all.contains(column) {
                all.push(column.clone());
            }
            all
        });
        let table = read_data(path, with_weight.as_deref())?;
        let Some(at) = table.names.iter().position(|n| n == column) else {
            return Err(input_error(format!(
                "{name}: --weight-column {column:?} is not a column of the file (its columns: {}); \
                 give one of them",
                table.names.join(", ")
            )));
        };
        let (n, d) = (table.data.n_rows(), table.data.n_cols());
        if d == 1 {
            return Err(input_error(format!(
                "{name}: --weight-column {column:?} is the only column, which leaves no \
                 feature to fit; give the data with its features"
            )));
        }
        let values = table.data.values();
        let weights: Vec<f64> = (0..n).map(|i| values[i * d + at]).collect();
        let features: Vec<f64> = (0..n)
            .flat_map(|i| {
                values[i * d..(i + 1) * d]
                    .iter()
                    .enumerate()
                    .filter(|&(c, _)| c != at)
                    .map(|(_, v)| *v)
            })
            .collect();
        let mut names = table.names.clone();
        names.remove(at);
        let data =
            emkit::Matrix::new(features, n, d - 1).map_err(|e| input_error(e.to_string()))?;
        emkit::check_weights(&weights, n, "row")
            .map_err(|e| input_error(format!("{name}: --weight-column {column:?}: {e}")))?;
        Ok((Table { names, data }, Some(weights)))
    }

    /// [`read`](Self::read) for the commands whose weights are one per data
    /// row: the features and, if asked for, their weights.
    pub fn read_rows(
        &self,
        path: &Path,
        columns: Option<&[String]>,
    ) -> Result<(Table, Option<Vec<f64>>)> {
        self.read(path, columns, |t| Ok((t.data.n_rows(), "row")))
    }

    /// The weights of `n` rows read already (by a model's columns): from the
    /// `--weights` file, or the `--weight-column` of the data file `path`,
    /// read again for that column alone.
    pub fn read_for_rows(&self, path: &Path, n: usize) -> Result<Option<Vec<f64>>> {
        let name = display_name(path);
        match (&self.weights, &self.weight_column) {
            (Some(file), _) => read_weights_file(file, n, "row").map(Some),
            (None, Some(column)) => {
                if path == Path::new("-") {
                    return Err(input_error(format!(
                        "--weight-column with --model reads the data twice; give the data as a \
                         file, not {name}"
                    )));
                }
                let table = read_data(path, Some(std::slice::from_ref(column)))?;
                let weights = table.data.values().to_vec();
                emkit::check_weights(&weights, n, "row")
                    .map_err(|e| input_error(format!("{name}: --weight-column {column:?}: {e}")))?;
                Ok(Some(weights))
            }
            (None, None) => Ok(None),
        }
    }

    /// What the weights came from, for messages: `--weights FILE` or
    /// `--weight-column NAME`.
    pub fn source(&self) -> Option<String> {
        match (&self.weights, &self.weight_column) {
            (Some(f), _) => Some(format!("--weights {}", display_name(f))),
            (None, Some(c)) => Some(format!("--weight-column {c:?}")),
            (None, None) => None,
        }
    }
}

/// `data` with its weights, if any (checked when read).
pub fn weighted<'a>(
    data: emkit::DataRef<'a>,
    weights: Option<&'a [f64]>,
) -> Result<emkit::Weighted<'a>> {
    match weights {
        None => Ok(data.into()),
        Some(w) => emkit::Weighted::new(data, w).map_err(|e| input_error(e.to_string())),
    }
}

/// The weights in `path`: one numeric column of `want` rows (one per `item`),
/// each finite and >= 0.
pub fn read_weights_file(path: &Path, want: usize, item: &str) -> Result<Vec<f64>> {
    let name = display_name(path);
    let table = read_data(path, None)?;
    if table.data.n_cols() != 1 {
        return Err(input_error(format!(
            "{name}: a weights file holds one column, this one has {} ({}); give one \
             column of weights, or the data's own column with --weight-column",
            table.data.n_cols(),
            table.names.join(", ")
        )));
    }
    let weights = table.data.values().to_vec();
    emkit::check_weights(&weights, want, item)
        .map_err(|e| input_error(format!("{name} (--weights): {e}")))?;
    Ok(weights)
}
