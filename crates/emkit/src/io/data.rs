//! Reading a data file (CSV, `.npy` or Parquet) into a named numeric table.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::data::Matrix;
use crate::error::{Error, Result};

pub use super::npy::read_npy;
pub use super::table::{read_csv, read_csv_with, CsvOptions};

/// A numeric table read from a file: column names plus a row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// One name per column, in the order of the matrix columns: the header names for CSV,
    /// `x0`, `x1`, ... for `.npy`.
    pub names: Vec<String>,
    /// The values, one row per sample, row-major; never empty, all finite.
    pub data: Matrix,
}

/// Reads the data file at `path`.
///
/// `-` reads CSV from standard input; a path ending in `.npy` (any case) is read as a numpy
/// array (see [`read_npy`]), one ending in `.parquet` or `.parq` as Parquet (see
/// [`read_parquet`](super::parquet::read_parquet), with the `parquet` feature); anything else
/// is read as CSV (see [`read_csv`]).
///
/// `columns` picks columns by name, in the order given. For a `.npy` array the names are
/// `x0`, `x1`, ... (0-based column numbers).
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be opened or read, [`Error::Table`] for CSV problems and
/// [`Error::Npy`] for `.npy` problems, including unknown or repeated names in `columns`.
pub fn read_table(path: &Path, columns: Option<&[String]>) -> Result<Table> {
    read_table_with(path, columns, &CsvOptions::default())
}

/// Reads the data file at `path` as [`read_table`] does, with CSV laid out as `options` says
/// (a `.npy` array has no header or delimiter, so `options` does not apply to it).
///
/// # Errors
///
/// As [`read_table`]; [`Error::InvalidConfig`] for a delimiter that cannot separate fields.
pub fn read_table_with(
    path: &Path,
    columns: Option<&[String]>,
    options: &CsvOptions,
) -> Result<Table> {
    if path.as_os_str() == "-" {
        return read_csv_with(std::io::stdin().lock(), columns, options);
    }
    if is_parquet(path) {
        return read_parquet_table(path, columns);
    }
    let is_npy = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let file = File::open(path)?;
    if is_npy {
        let table = read_npy(BufReader::with_capacity(64 * 1024, file))?;
        match columns {
            None => Ok(table),
            Some(names) => select_npy_columns(table, names),
        }
    } else {
        read_csv_with(file, columns, options)
    }
}

/// Whether `path` names a Parquet file (`.parquet` or `.parq`, any case).
pub fn is_parquet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("parq"))
}

#[cfg(feature = "parquet")]
fn read_parquet_table(path: &Path, columns: Option<&[String]>) -> Result<Table> {
    super::parquet::read_parquet(path, columns)
}

#[cfg(not(feature = "parquet"))]
fn read_parquet_table(_: &Path, _: Option<&[String]>) -> Result<Table> {
    Err(Error::Parquet {
        problem: "this build of emkit reads no Parquet (its `parquet` feature is off); build \
                  it with --features parquet, or convert the file to .npy or CSV"
            .into(),
    })
}

/// The 0-based columns named `x<j>` by `names` among `n_cols` columns of a
/// `.npy` array, in the order given.
///
/// # Errors
///
/// [`Error::Npy`] for no name, a name that is not `x<j>` with `j < n_cols`,
/// or a name given twice.
pub fn npy_columns(names: &[String], n_cols: usize) -> Result<Vec<usize>> {
    if names.is_empty() {
        return Err(Error::Npy {
            problem: "no columns were selected; name at least one column (x0, x1, ...)".into(),
        });
    }
    let mut picked = Vec::with_capacity(names.len());
    for (k, name) in names.iter().enumerate() {
        let j = name
            .strip_prefix('x')
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|&j| j < n_cols && *name == format!("x{j}"))
            .ok_or_else(|| Error::Npy {
                problem: format!(
                    "no column named {name:?}; the columns of this array are named x0 to x{}",
                    n_cols - 1
                ),
            })?;
        if names[..k].contains(name) {
            return Err(Error::Npy {
                problem: format!("column {name:?} is selected twice; list each column once"),
            });
        }
        picked.push(j);
    }
    Ok(picked)
}

/// Keeps the columns named `x<j>` in `names`, in that order.
fn select_npy_columns(table: Table, names: &[String]) -> Result<Table> {
    let n_cols = table.data.n_cols();
    let picked = npy_columns(names, n_cols)?;
    if picked.iter().copied().eq(0..n_cols) {
        return Ok(table);
    }
    let n_rows = table.data.n_rows();
    let mut values = Vec::with_capacity(n_rows * picked.len());
    for i in 0..n_rows {
        let row = table.data.row(i);
        values.extend(picked.iter().map(|&j| row[j]));
    }
    Ok(Table {
        names: picked.iter().map(|j| format!("x{j}")).collect(),
        data: Matrix::new(values, n_rows, picked.len())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(values: Vec<f64>, n_rows: usize, n_cols: usize) -> Table {
        Table {
            names: (0..n_cols).map(|j| format!("x{j}")).collect(),
            data: Matrix::new(values, n_rows, n_cols).unwrap(),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn npy_selection_reorders() {
        let t = table(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
        let s = select_npy_columns(t, &names(&["x2", "x0"])).unwrap();
        assert_eq!(s.names, ["x2", "x0"]);
        assert_eq!(s.data.values(), &[3.0, 1.0, 6.0, 4.0]);
    }

    #[test]
    fn npy_selection_errors() {
        for bad in [&["x3"][..], &["a"], &["x01"], &["x"], &["x0", "x0"], &[]] {
            let t = table(vec![1.0, 2.0, 3.0], 1, 3);
            let err = select_npy_columns(t, &names(bad)).unwrap_err();
            assert!(matches!(err, Error::Npy { .. }), "{bad:?}: {err:?}");
        }
        let t = table(vec![1.0, 2.0, 3.0], 1, 3);
        let err = select_npy_columns(t, &names(&["b"])).unwrap_err();
        assert!(err.to_string().contains("x0 to x2"), "{err}");
    }

    #[test]
    fn read_table_dispatches_on_extension() {
        let dir = std::env::temp_dir().join(format!("emkit-io-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let csv = dir.join("data.txt");
        std::fs::write(&csv, "a,b\n1,2\n").unwrap();
        let t = read_table(&csv, Some(&names(&["b"]))).unwrap();
        assert_eq!(t.data.values(), &[2.0]);

        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n";
        npy.extend((header.len() as u16).to_le_bytes());
        npy.extend(header.as_bytes());
        npy.extend(1.5f64.to_le_bytes());
        npy.extend(2.5f64.to_le_bytes());
        let path = dir.join("data.NPY");
        std::fs::write(&path, &npy).unwrap();
        let t = read_table(&path, None).unwrap();
        assert_eq!(t.names, ["x0"]);
        assert_eq!(t.data.values(), &[1.5, 2.5]);
        let t = read_table(&path, Some(&names(&["x0"]))).unwrap();
        assert_eq!(t.data.values(), &[1.5, 2.5]);

        let tsv = dir.join("data.tsv");
        std::fs::write(&tsv, "1\t2\n3\t4\n").unwrap();
        let opts = CsvOptions {
            has_header: false,
            delimiter: b'\t',
        };
        let t = read_table_with(&tsv, Some(&names(&["x1"])), &opts).unwrap();
        assert_eq!(t.data.values(), &[2.0, 4.0]);
        // Options do not apply to .npy.
        let t = read_table_with(&path, None, &opts).unwrap();
        assert_eq!(t.data.values(), &[1.5, 2.5]);
        // A .npy array under another name is named as such.
        let hidden = dir.join("data.csv");
        std::fs::write(&hidden, &npy).unwrap();
        let err = read_table(&hidden, None).unwrap_err();
        assert!(err.to_string().contains("name ends in .npy"), "{err}");

        let err = read_table(&dir.join("missing.csv"), None).unwrap_err();
        assert!(matches!(err, Error::Io(_)), "{err:?}");

        std::fs::remove_dir_all(&dir).unwrap();
    }
}
