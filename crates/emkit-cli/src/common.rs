//! What every subcommand shares: reading data, writing files atomically,
//! turning errors into one line and an exit code.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use clap::Args;
use std::sync::OnceLock;

use emkit::io::{read_csv_with, read_table_with, CsvOptions, MixtureFile, Table};
use emkit::{CovarianceType, GaussianMixture, GaussianMixtureBuilder, Init};

pub use crate::output::{check_output_path, check_paths, print_line, write_atomic, write_output};

/// An error in what the user gave us (exit code 2). Library errors about data,
/// settings and model files count as such too.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// `anyhow` error marked as the user's input error.
pub fn input_error(message: impl Into<String>) -> anyhow::Error {
    anyhow!(InputError(message.into()))
}

/// 2 for usage and input errors, 1 for anything else.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<InputError>().is_some() {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<emkit::Error>() {
            return match e {
                emkit::Error::SingularCovariance { .. }
                | emkit::Error::NonFiniteLikelihood { .. } => 1,
                emkit::Error::Io(_) | emkit::Error::Interrupted { .. } => 1,
                _ => 2,
            };
        }
    }
    1
}

/// The whole error chain on one line: `context: cause: cause`.
pub fn one_line(err: &anyhow::Error) -> String {
    let parts: Vec<String> = err
        .chain()
        .map(|c| c.to_string().replace('\n', " "))
        .collect();
    parts.join(": ")
}

/// The name used for a path in messages (`<stdin>` for `-`).
pub fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// Reads a data file (`-` for standard input, `.npy` by extension, CSV
/// otherwise), optionally picking columns by name.
pub fn read_data(path: &Path, columns: Option<&[String]>) -> Result<Table> {
    let name = display_name(path);
    if path != Path::new("-") && !path.exists() {
        return Err(input_error(format!("{name}: no such file; check the path")));
    }
    read_table_with(path, columns, csv_options()).map_err(|e| read_error(&name, e))
}

/// The layout of CSV input (`--no-header`, `--delimiter`), set once at start.
static CSV_OPTIONS: OnceLock<CsvOptions> = OnceLock::new();

/// Sets the layout of every CSV input of this run (from the global flags).
pub fn set_csv_options(options: CsvOptions) {
    let _ = CSV_OPTIONS.set(options);
}

pub fn csv_options() -> &'static CsvOptions {
    CSV_OPTIONS.get_or_init(CsvOptions::default)
}

/// A reader's error as the user's input error, prefixed by the file name.
pub fn read_error(name: &str, e: emkit::Error) -> anyhow::Error {
    match e {
        emkit::Error::Io(io) => input_error(format!("{name}: cannot read: {io}")),
        other => input_error(format!("{name}: {other}")),
    }
}

/// Reads a data file for an existing model: picks the model's feature columns by
/// name when the file has them all, otherwise `--columns`, otherwise every column;
/// the count must match the model.
pub fn read_data_for_model(
    path: &Path,
    columns: Option<&[String]>,
    file: &MixtureFile,
) -> Result<Table> {
    read_data_for_features(
        path,
        columns,
        file.model.n_features(),
        file.feature_names.as_deref(),
    )
}

/// Reads a data file for a model with `d` features named `names`.
///
/// With `--columns`, those columns. Otherwise, when the model's features have
/// names and the file has a header: all of the names present → those columns
/// by name (in the model's order, whatever the file's); none present → the
/// file's columns by position (said on stderr); some but not all → an error
/// naming the missing ones. The count must be `d` in every case.
pub fn read_data_for_features(
    path: &Path,
    columns: Option<&[String]>,
    d: usize,
    names: Option<&[String]>,
) -> Result<Table> {
    let name = display_name(path);
    let choose = |header| model_columns(&name, header, columns, d, names);
    let (table, by_position) = if path == Path::new("-") {
        // Standard input can be read once only: keep it to look at its header.
        let mut bytes = Vec::new();
        io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| input_error(format!("{name}: cannot read: {e}")))?;
        let by_name = choose(csv_header(&bytes[..]))?;
        let table = read_csv_with(&bytes[..], by_name.as_deref().or(columns), csv_options())
            .map_err(|e| read_error(&name, e))?;
        (table, by_name.is_none())
    } else {
        let by_name = choose(file_header(path))?;
        let table = read_data(path, by_name.as_deref().or(columns))?;
        (table, by_name.is_none())
    };
    check_model_columns(&name, &table.names, by_position, columns, d, names)?;
    Ok(table)
}

/// The columns to read for a model with `d` features named `names`, given
/// the file's `header` and `--columns` (see [`read_data_for_features`]):
/// `Some(names)` to read the model's columns by name, `None` to read
/// `--columns` or every column by position.
pub fn model_columns(
    name: &str,
    header: Option<Vec<String>>,
    columns: Option<&[String]>,
    d: usize,
    names: Option<&[String]>,
) -> Result<Option<Vec<String>>> {
    let (Some(names), Some(header), None) = (names, header, columns) else {
        return Ok(None);
    };
    let missing: Vec<&String> = names.iter().filter(|n| !header.contains(n)).collect();
    if missing.is_empty() {
        return Ok(Some(names.to_vec()));
    }
    if missing.len() < names.len() {
        let shown: Vec<String> = missing.iter().take(10).map(|n| format!("{n:?}")).collect();
        let more = if missing.len() > 10 { ", ..." } else { "" };
        return Err(input_error(format!(
            "{name}: has some of the model's columns but not {}{more}; give a file with all \
             of them, or pick {d} columns with --columns",
            shown.join(", ")
        )));
    }
    Ok(None)
}

/// The column names of `path`: a CSV file's header or a Parquet file's
/// columns (none for `.npy` or standard input).
pub fn file_header(path: &Path) -> Option<Vec<String>> {
    if is_npy(path) || path == Path::new("-") {
        None
    } else if emkit::io::is_parquet(path) {
        parquet_columns(path)
    } else {
        fs::File::open(path).ok().and_then(csv_header)
    }
}

/// Checks that the columns read (`read`) are the model's `d`, and says on
/// stderr when they are taken by position in place of the model's names.
pub fn check_model_columns(
    name: &str,
    read: &[String],
    by_position: bool,
    columns: Option<&[String]>,
    d: usize,
    names: Option<&[String]>,
) -> Result<()> {
    if read.len() != d {
        let expected = match names {
            Some(names) => format!(" ({})", names.join(", ")),
            None => String::new(),
        };
        return Err(input_error(format!(
            "{name}: has {} columns but the model was fitted on {d} features{expected}; \
             pick the right columns with --columns",
            read.len()
        )));
    }
    if let (true, None, Some(names)) = (by_position, columns, names) {
        if read != names {
            eprintln!(
                "note: {name} has none of the model's column names; its {d} columns are used \
                 by position ({} as {})",
                read.join(", "),
                names.join(", ")
            );
        }
    }
    Ok(())
}

/// The names of a Parquet file's top-level columns, numeric or not, if it
/// can be read.
fn parquet_columns(path: &Path) -> Option<Vec<String>> {
    emkit::io::parquet::describe(path)
        .ok()
        .map(|(names, _)| names)
}

pub fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// The header row of a CSV source, if it has one and it can be read.
fn csv_header(source: impl Read) -> Option<Vec<String>> {
    let options = csv_options();
    if !options.has_header {
        return None;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(options.delimiter)
        .from_reader(source);
    let mut record = csv::StringRecord::new();
    reader.read_record(&mut record).ok()?;
    Some(
        record
            .iter()
            .map(|s| s.trim().trim_start_matches('\u{feff}').to_owned())
            .collect(),
    )
}

/// A number for a CSV cell: the shortest text that reads back to the same
/// double, in exponent form when plain decimals would be very long.
pub fn fmt_f64(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (1e-5..1e16).contains(&a) || !a.is_finite() {
        v.to_string()
    } else {
        format!("{v:e}")
    }
}

/// Reads and validates a model file.
pub fn read_model(path: &Path) -> Result<MixtureFile> {
    let name = display_name(path);
    let text = fs::read_to_string(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            input_error(format!("{name}: no such model file; check the path"))
        } else {
            input_error(format!("{name}: cannot read model file: {e}"))
        }
    })?;
    MixtureFile::from_json_str(&text).map_err(|e| input_error(format!("{name}: {e}")))
}

/// Writes a convergence trace as CSV (iteration, mean log-likelihood, change).
pub fn write_trace(path: &Path, trace: &[emkit::TraceEntry]) -> Result<()> {
    write_atomic(path, |out| {
        csv_line(
            out,
            &[
                "iteration".into(),
                "mean_log_likelihood".into(),
                "change".into(),
            ],
        )?;
        for e in trace {
            let change = e.change.map_or(String::new(), fmt_f64);
            csv_line(
                out,
                &[
                    e.iteration.to_string(),
                    fmt_f64(e.mean_log_likelihood),
                    change,
                ],
            )?;
        }
        Ok(())
    })
}

/// The command-line flag of a library setting, for messages.
pub fn flag_of(field: &str) -> String {
    match field {
        "n_components" => "-k".into(),
        "n_states" => "--states".into(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

/// A library error from fitting data file `name` whose columns are `columns`:
/// input errors named after the file (exit 2; settings after their flag, cells
/// after their column), anything else as a failed fit (exit 1).
pub fn fit_error(name: &str, columns: &[String], e: emkit::Error) -> anyhow::Error {
    match e {
        e @ emkit::Error::InvalidConfig { .. } => return setting_error(e),
        emkit::Error::ValueTooLarge {
            row,
            column,
            value,
            limit,
        } => {
            let col = columns
                .get(column)
                .map_or_else(|| format!("number {}", column + 1), |c| format!("{c:?}"));
            return input_error(format!(
                "{name}: data row {} (1-based), column {col} holds {value:e}, beyond the \
                 ±{limit:.1e} a fit of this data can square and sum; rescale that column \
                 (e.g. divide it by a power of ten) before fitting",
                row + 1,
            ));
        }
        _ => {}
    }
    let e = anyhow::Error::new(e);
    if exit_code(&e) == 2 {
        e.context(name.to_owned())
    } else {
        e.context(format!("{name}: fit failed"))
    }
}

/// Writes one CSV line of already formatted cells.
pub fn csv_line(out: &mut dyn Write, cells: &[String]) -> io::Result<()> {
    let mut line = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if c.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&c.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(c);
        }
    }
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// Parses a count that must be at least 1, for clap: digits, or a whole
/// number in exponent form (`1e6`).
pub fn parse_positive(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let value = match t.parse::<usize>() {
        Ok(v) => Ok(v),
        Err(e) if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) => {
            return Err(format!("{s:?} is too large"));
        }
        Err(_) => match t.parse::<f64>() {
            Ok(v) if v < 0.0 => return Err(format!("{s:?} is negative; give a count, at least 1")),
            Ok(v) if v > usize::MAX as f64 => return Err(format!("{s:?} is too large")),
            Ok(v) if v.fract() == 0.0 && t.contains(['e', 'E']) => Ok(v as usize),
            _ => Err(()),
        },
    };
    match value {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(()) => Err(format!("{s:?} is not a whole number")),
    }
}

/// Parses the name of a covariance type for clap.
pub fn parse_covariance(s: &str) -> Result<CovarianceType, String> {
    s.parse()
        .map_err(|_| format!("unknown covariance {s:?}; use full, tied, diag or spherical"))
}

/// Parses the name of an initialisation for clap.
pub fn parse_init(s: &str) -> Result<Init, String> {
    s.parse().map_err(|_| {
        format!("unknown init {s:?}; use kmeans, kmeans++, random or random-from-data")
    })
}

/// Parses a restart-strategy name for clap.
pub fn parse_strategy(s: &str) -> Result<emkit::Strategy, String> {
    s.parse()
}

/// Parses an acceleration name for clap.
pub fn parse_accel(s: &str) -> Result<emkit::Accel, String> {
    s.parse()
}

/// The restart and convergence options of every command that fits mixtures
/// (`fit`, `select`, `anomalies`).
#[derive(Args, Debug, Clone)]
pub struct EmOptions {
    /// Number of restarts; the best log-likelihood wins.
    #[arg(long, default_value_t = 1, value_parser = parse_positive, allow_negative_numbers = true)]
    pub n_init: usize,
    /// Most EM iterations per restart.
    #[arg(long, default_value_t = 100, value_parser = parse_positive, allow_negative_numbers = true)]
    pub max_iter: usize,
    /// Convergence threshold on the change of the mean log-likelihood per sample.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub tol: f64,
    /// Added to every covariance diagonal.
    #[arg(long, default_value_t = 1e-6, allow_negative_numbers = true)]
    pub reg_covar: f64,
    /// Initialisation: kmeans, kmeans++, random or random-from-data.
    #[arg(long, default_value = "kmeans", value_parser = parse_init)]
    pub init: Init,
    /// Master seed; each restart derives its own.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// EM acceleration: squarem (extrapolates along pairs of EM steps and
    /// keeps a step only when it raises the likelihood) or none (plain EM).
    #[arg(long, default_value_t = emkit::Accel::default(), value_parser = parse_accel)]
    pub accel: emkit::Accel,
    /// How the --n-init starts are spent: restarts (independent fits, the
    /// best kept) or split-merge (em-EM from short runs, then split-and-merge
    /// moves from the best, in at most about 1.5x the compute).
    #[arg(long, default_value_t = emkit::Strategy::default(), value_parser = parse_strategy)]
    pub strategy: emkit::Strategy,
}

/// `--tol` and `--reg-covar`, checked before any data is read by the
/// library's own checks of those settings, errors named after the flags.
pub fn check_tol_and_reg_covar(tol: f64, reg_covar: f64) -> Result<()> {
    let em = emkit::EmConfig {
        tol,
        ..emkit::EmConfig::default()
    };
    em.validate()
        .and_then(|()| emkit::dist::gaussian::check_reg_covar(reg_covar))
        .map_err(setting_error)
}

/// A library error about a setting, as the CLI says it: `--flag: reason`.
pub fn setting_error(e: emkit::Error) -> anyhow::Error {
    match e {
        emkit::Error::InvalidConfig { field, reason } => {
            input_error(format!("{}: {reason}", flag_of(field)))
        }
        other => input_error(other.to_string()),
    }
}

impl EmOptions {
    /// Checks the ranges clap cannot (before any data is read).
    pub fn validate(&self) -> Result<()> {
        check_tol_and_reg_covar(self.tol, self.reg_covar)
    }

    /// The library builder for `k` components with these settings.
    pub fn builder(&self, k: usize) -> GaussianMixtureBuilder {
        GaussianMixture::builder(k)
            .n_init(self.n_init)
            .max_iter(self.max_iter)
            .tol(self.tol)
            .reg_covar(self.reg_covar)
            .init(self.init.clone())
            .seed(self.seed)
            .accel(self.accel)
            .strategy(self.strategy)
    }
}

/// The options of a single fit: covariance, restarts and convergence, warm start.
#[derive(Args, Debug, Clone)]
pub struct FitOptions {
    /// Covariance structure: full (the default), tied, diag or spherical.
    #[arg(long, value_parser = parse_covariance)]
    pub covariance: Option<CovarianceType>,
    #[command(flatten)]
    pub em: EmOptions,
    /// Start from this saved model instead (a warm start: one restart, the
    /// model's covariance type).
    #[arg(long, value_name = "MODEL.json", conflicts_with_all = ["n_init", "init"])]
    pub init_model: Option<PathBuf>,
}

impl FitOptions {
    /// The library builder for `k` components.
    pub fn builder(&self, k: usize) -> Result<GaussianMixtureBuilder> {
        let mut b = self
            .em
            .builder(k)
            .covariance(self.covariance.unwrap_or(CovarianceType::Full));
        if let Some(path) = &self.init_model {
            let file = read_model(path)?;
            let kind = file.model.covariance_type();
            if let Some(given) = self.covariance.filter(|&c| c != kind) {
                return Err(input_error(format!(
                    "--covariance {given} contradicts --init-model {}, a {kind}-covariance \
                     model; drop --covariance (a warm start keeps the model's covariance)",
                    path.display()
                )));
            }
            if file.model.n_components() != k {
                return Err(input_error(format!(
                    "-k {k} contradicts --init-model {}, a {}-component model; give -k {}",
                    path.display(),
                    file.model.n_components(),
                    file.model.n_components()
                )));
            }
            b = b.covariance(kind).init_model(file.model);
        }
        Ok(b)
    }
}
