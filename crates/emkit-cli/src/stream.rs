//! `--stream`: data read from disk on every pass instead of held in memory.
//!
//! A `.npy` file is read in place, a Parquet file page by page on every pass
//! (decoding costs less than the pass; see bench/README.md); CSV (and
//! standard input) is parsed once
//! into a temporary binary file next to the output, which every pass then
//! reads (re-parsing text on every pass costs several times the pass; see
//! bench/README.md). A command streams when asked (`--stream`) or when the
//! data as numbers would take more than half of the memory budget
//! (`--max-memory`, by default the memory available).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use emkit::io::{
    is_parquet, npy_columns, read_csv_spilled, Columns, CsvOptions, NpySource, ParquetSource,
    RowSource,
};
use emkit::SourceRows;

use crate::common::{
    check_model_columns, csv_line, csv_options, display_name, file_header, input_error, is_npy,
    model_columns, read_error, write_output,
};
use crate::weights::WeightArgs;

/// The flag of every command that can stream its data.
#[derive(Args, Debug, Clone, Default)]
pub struct StreamArgs {
    /// Read the data from disk on every pass instead of holding it in memory
    /// (automatic when the data would take more than half of --max-memory):
    /// .npy and Parquet are read in place, CSV is first parsed into a
    /// temporary binary file next to the output.
    #[arg(long)]
    pub stream: bool,
}

/// A data file opened for streaming: its rows, their weights and the names
/// of the feature columns.
pub struct Streamed {
    pub rows: Arc<dyn RowSource>,
    pub weights: Option<Arc<dyn RowSource>>,
    pub names: Vec<String>,
}

impl Streamed {
    pub fn source_rows(&self) -> Result<SourceRows<'_>> {
        match &self.weights {
            None => Ok(SourceRows::new(&*self.rows)),
            Some(w) => {
                SourceRows::weighted(&*self.rows, &**w).map_err(|e| input_error(e.to_string()))
            }
        }
    }
}

impl StreamArgs {
    /// Whether to stream `path`: asked for, or too large for half of the
    /// memory budget (said on stderr unless `quiet`).
    pub fn wanted(&self, path: &Path, quiet: bool) -> bool {
        if self.stream {
            return true;
        }
        let Some(limit) = emkit::memory::default_limit().bytes() else {
            return false;
        };
        let Some(bytes) = estimated_bytes(path) else {
            return false;
        };
        let wanted = bytes > u128::from(limit / 2);
        if wanted && !quiet {
            eprintln!(
                "note: {} would take about {} as numbers, more than half of the memory budget \
                 ({}); it is streamed from disk (as with --stream)",
                display_name(path),
                emkit::memory::format_bytes(u64::try_from(bytes).unwrap_or(u64::MAX)),
                emkit::memory::format_bytes(limit)
            );
        }
        wanted
    }
}

/// Bytes of `path`'s values as `f64`: exact for `.npy`, estimated for CSV
/// from the length of its first lines; `None` for standard input.
fn estimated_bytes(path: &Path) -> Option<u128> {
    if path == Path::new("-") {
        return None;
    }
    if is_npy(path) {
        let src = NpySource::open(path).ok()?;
        return Some(src.n_rows() as u128 * src.n_cols() as u128 * 8);
    }
    if is_parquet(path) {
        let (names, n_rows) = emkit::io::parquet::describe(path).ok()?;
        return Some(n_rows as u128 * names.len() as u128 * 8);
    }
    let size = std::fs::metadata(path).ok()?.len();
    let mut head = vec![0u8; 64 * 1024];
    let mut file = File::open(path).ok()?;
    let got = file.read(&mut head).ok()?;
    let head = &head[..got];
    let delimiter = csv_options().delimiter;
    let lines: Vec<&[u8]> = head.split(|&b| b == b'\n').skip(1).collect();
    // The last piece may be a partial line.
    let whole = &lines[..lines.len().saturating_sub(1)];
    if whole.is_empty() {
        return Some(u128::from(size));
    }
    let bytes: usize = whole.iter().map(|l| l.len() + 1).sum();
    let fields: usize = whole
        .iter()
        .map(|l| l.iter().filter(|&&b| b == delimiter).count() + 1)
        .sum();
    Some(u128::from(size) * fields as u128 * 8 / bytes.max(1) as u128)
}

/// Opens `path` for streaming with `columns` and the weights of `weights`;
/// a CSV is spilled into `spill_dir`.
pub fn open(
    path: &Path,
    columns: Option<&[String]>,
    weights: &WeightArgs,
    spill_dir: &Path,
) -> Result<Streamed> {
    let name = display_name(path);
    if let Some(column) = &weights.weight_column {
        let with_weight: Option<Vec<String>> = columns.map(|c| {
            let mut all = c.to_vec();
            if !all.contains(column) {
                all.push(column.clone());
            }
            all
        });
        let (all, names) = open_table(path, with_weight.as_deref(), spill_dir)?;
        let Some(at) = names.iter().position(|n| n == column) else {
            return Err(input_error(format!(
                "{name}: --weight-column {column:?} is not a column of the file (its columns: {}); \
                 give one of them",
                names.join(", ")
            )));
        };
        if names.len() == 1 {
            return Err(input_error(format!(
                "{name}: --weight-column {column:?} is the only column, which leaves no \
                 feature to fit; give the data with its features"
            )));
        }
        let features: Vec<usize> = match columns {
            Some(c) => c
                .iter()
                .map(|n| names.iter().position(|m| m == n).expect("selected"))
                .collect(),
            None => (0..names.len()).filter(|&j| j != at).collect(),
        };
        let feature_names = features.iter().map(|&j| names[j].clone()).collect();
        let rows = Columns::new(all.clone(), features).map_err(|e| read_error(&name, e))?;
        let w = Columns::new(all, vec![at]).map_err(|e| read_error(&name, e))?;
        return Ok(Streamed {
            rows: Arc::new(rows),
            weights: Some(Arc::new(w)),
            names: feature_names,
        });
    }
    let (rows, names) = open_table(path, columns, spill_dir)?;
    let weights = match &weights.weights {
        None => None,
        Some(file) => Some(open_weights_file(file, rows.n_rows(), spill_dir)?),
    };
    Ok(Streamed {
        rows,
        weights,
        names,
    })
}

/// A `--weights` file opened as a source of one weight per row of `n_rows`.
fn open_weights_file(file: &Path, n_rows: usize, spill_dir: &Path) -> Result<Arc<dyn RowSource>> {
    let (w, names) = open_table(file, None, spill_dir)?;
    if w.n_cols() != 1 {
        return Err(input_error(format!(
            "{}: a weights file holds one column, this one has {} ({}); give one column \
             of weights, or the data's own column with --weight-column",
            display_name(file),
            w.n_cols(),
            names.join(", ")
        )));
    }
    if w.n_rows() != n_rows {
        return Err(input_error(format!(
            "{} (--weights): expected one weight per row ({n_rows}), got {}",
            display_name(file),
            w.n_rows()
        )));
    }
    Ok(w)
}

/// The weights of the `n_rows` rows of `data` opened already (by a model's
/// columns): the `--weights` file, or the `--weight-column` of `data` opened
/// again for that column alone; checked as they are read.
pub fn open_weights_for(
    args: &WeightArgs,
    data: &Path,
    n_rows: usize,
    spill_dir: &Path,
) -> Result<Option<Arc<dyn RowSource>>> {
    match (&args.weights, &args.weight_column) {
        (Some(file), _) => open_weights_file(file, n_rows, spill_dir).map(Some),
        (None, Some(column)) => {
            if data == Path::new("-") {
                return Err(input_error(format!(
                    "--weight-column with --model reads the data twice; give the data as a \
                     file, not {}",
                    display_name(data)
                )));
            }
            let (w, _) = open_table(data, Some(std::slice::from_ref(column)), spill_dir)?;
            Ok(Some(w))
        }
        (None, None) => Ok(None),
    }
}

/// Writes a CSV file (to standard output without `output`) atomically from
/// `body`, which calls `emit(cells)` for every line after `header` while it
/// reads its data; an error of the data is named after `name`.
pub fn write_csv(
    name: &str,
    output: Option<&Path>,
    header: &[String],
    body: impl FnOnce(&mut dyn FnMut(&[String]) -> emkit::Result<()>) -> emkit::Result<()>,
) -> Result<()> {
    let mut failure: Option<emkit::Error> = None;
    let written = write_output(output, |out| {
        csv_line(out, header)?;
        let mut io_error = None;
        let result = body(&mut |cells| {
            csv_line(out, cells).map_err(|e| {
                io_error = Some(e);
                emkit::Error::Interrupted {
                    restart: 0,
                    iteration: 0,
                }
            })
        });
        if let Some(e) = io_error {
            return Err(e);
        }
        result.map_err(|e| {
            failure = Some(e);
            std::io::Error::other("stopped")
        })
    });
    match failure {
        Some(e) => Err(read_error(name, e)),
        None => written,
    }
}

/// Writes one CSV line per row of `source`, a piece at a time
/// ([`write_csv`]): `line(computed, start, row, cells)` fills the cells of
/// row `start + row` from what `compute(piece)` returned for the piece that
/// starts at row `start`.
pub fn write_rows<T>(
    source: &dyn RowSource,
    name: &str,
    output: Option<&Path>,
    header: &[String],
    compute: impl Fn(emkit::DataRef<'_>) -> emkit::Result<T>,
    mut line: impl FnMut(&T, usize, usize, &mut Vec<String>),
) -> Result<()> {
    write_csv(name, output, header, |emit| {
        let mut cells = Vec::new();
        emkit::for_each_piece(source, |start, piece| {
            let values = compute(piece)?;
            for r in 0..piece.n_rows() {
                cells.clear();
                line(&values, start, r, &mut cells);
                emit(&cells)?;
            }
            Ok(())
        })
    })
}

/// Opens a data file as a source: `.npy` and Parquet in place, CSV spilled.
fn open_table(
    path: &Path,
    columns: Option<&[String]>,
    spill_dir: &Path,
) -> Result<(Arc<dyn RowSource>, Vec<String>)> {
    let name = display_name(path);
    let fail = |e| read_error(&name, e);
    if path != Path::new("-") && !path.exists() {
        return Err(input_error(format!("{name}: no such file; check the path")));
    }
    if is_npy(path) {
        let src = NpySource::open(path).map_err(fail)?;
        let d = src.n_cols();
        return Ok(match columns {
            None => (Arc::new(src), (0..d).map(|j| format!("x{j}")).collect()),
            Some(c) => {
                let picks = npy_columns(c, d).map_err(fail)?;
                let names = picks.iter().map(|j| format!("x{j}")).collect();
                (Arc::new(Columns::new(src, picks).map_err(fail)?), names)
            }
        });
    }
    if is_parquet(path) {
        let src = ParquetSource::open(path, columns).map_err(fail)?;
        let names = src.names().to_vec();
        return Ok((Arc::new(src), names));
    }
    let options: &CsvOptions = csv_options();
    let (names, spill) = if path == Path::new("-") {
        read_csv_spilled(std::io::stdin().lock(), columns, options, spill_dir)
    } else {
        let file =
            File::open(path).map_err(|e| input_error(format!("{name}: cannot read: {e}")))?;
        read_csv_spilled(file, columns, options, spill_dir)
    }
    .map_err(fail)?;
    Ok((Arc::new(spill), names))
}

/// Where a command's temporary files go: next to its output, else the
/// system's temporary folder.
pub fn spill_dir(output: Option<&Path>) -> PathBuf {
    match output {
        Some(p) if p != Path::new("-") => crate::output::parent_dir(p),
        _ => std::env::temp_dir(),
    }
}

/// Opens `path` for streaming into a model of `d` features named `names`,
/// choosing its columns as [`crate::common::read_data_for_features`] does.
pub fn open_for_model(
    path: &Path,
    columns: Option<&[String]>,
    d: usize,
    names: Option<&[String]>,
    spill_dir: &Path,
) -> Result<Streamed> {
    let name = display_name(path);
    let (rows, read, by_position) = if path == Path::new("-") {
        // Standard input is read once: spill every column, then pick.
        let (all, header) = open_table(path, None, spill_dir)?;
        let by_name = model_columns(&name, Some(header.clone()), columns, d, names)?;
        match by_name.as_deref().or(columns) {
            None => (all, header, by_name.is_none()),
            Some(pick) => {
                let at = pick
                    .iter()
                    .map(|n| {
                        header.iter().position(|h| h == n).ok_or_else(|| {
                            input_error(format!(
                                "{name}: no column named {n:?} (its columns: {})",
                                header.join(", ")
                            ))
                        })
                    })
                    .collect::<Result<Vec<usize>>>()?;
                let rows: Arc<dyn RowSource> =
                    Arc::new(Columns::new(all, at).map_err(|e| read_error(&name, e))?);
                (rows, pick.to_vec(), by_name.is_none())
            }
        }
    } else {
        let by_name = model_columns(&name, file_header(path), columns, d, names)?;
        let (rows, read) = open_table(path, by_name.as_deref().or(columns), spill_dir)?;
        (rows, read, by_name.is_none())
    };
    check_model_columns(&name, &read, by_position, columns, d, names)?;
    Ok(Streamed {
        rows,
        weights: None,
        names: read,
    })
}
