//! `emkit anomalies`: flag rows whose log-density is below a threshold.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{ArgGroup, Args};
use emkit::anomaly::{below, source_contamination_threshold, weighted_contamination_threshold};
use emkit::io::{MixtureFile, RowSource, SpillWriter};
use emkit::{GaussianMixtureBuilder, MixtureFit};
use serde_json::{json, Value};

use crate::common::{
    check_paths, csv_line, display_name, fit_error, fmt_f64, input_error, parse_positive,
    print_line, read_data_for_model, read_error, read_model, write_atomic, write_output,
    FitOptions,
};
use crate::fit::stop_name;
use crate::progress::{FitProgress, Verbosity};
use crate::stream::{self, StreamArgs};
use crate::weights::{weighted, WeightArgs};

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["k", "model"])))]
#[command(group(ArgGroup::new("rule").args(["contamination", "threshold"])))]
pub struct AnomaliesArgs {
    /// Data: CSV with a header row (`-` for standard input), `.npy` or `.parquet`.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// Fit a mixture with this many components to DATA first.
    #[arg(short = 'k', long = "components", value_parser = parse_positive, allow_negative_numbers = true)]
    pub k: Option<usize>,
    /// Or score DATA under this saved model (its stored threshold applies
    /// unless --contamination or --threshold is given).
    #[arg(
        long,
        value_name = "MODEL.json",
        conflicts_with_all = ["covariance", "n_init", "max_iter", "tol", "reg_covar", "init", "init_model", "seed", "accel", "strategy"]
    )]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub options: FitOptions,
    /// Flag about this fraction of rows: the threshold is the F-quantile of
    /// DATA's scores (linear interpolation, as numpy); 0 < F < 0.5.
    #[arg(long, value_name = "F", value_parser = parse_contamination)]
    pub contamination: Option<f64>,
    /// Flag rows whose log-density is below T.
    #[arg(long, value_name = "T", allow_negative_numbers = true, value_parser = parse_finite)]
    pub threshold: Option<f64>,
    /// Use only these columns (comma-separated names; default with --model:
    /// the model's feature names).
    #[arg(long, value_delimiter = ',', value_name = "a,b,c")]
    pub columns: Option<Vec<String>>,
    /// Weights weigh the fit (with -k) and the --contamination quantile: a
    /// row of weight w counts as w rows.
    #[command(flatten)]
    pub weights: WeightArgs,
    /// Write the row,score,flag table here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT.csv")]
    pub output: Option<PathBuf>,
    /// Print one JSON summary on stdout (the table then goes only to -o).
    #[arg(long)]
    pub json: bool,
    /// Save the model with the threshold in force, for scoring new data later.
    #[arg(long, value_name = "MODEL.json")]
    pub save_model: Option<PathBuf>,
    /// Nothing on stderr but errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Read DATA from disk on every pass; the scores go to a temporary file
    /// next to the output, and the --contamination quantile is found by a
    /// few passes over it, so memory does not grow with the rows (except
    /// the flagged rows listed by --json).
    #[command(flatten)]
    pub stream: StreamArgs,
}

fn parse_contamination(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f < 0.5 => Ok(f),
        Ok(f) => Err(format!(
            "{f} is not a fraction between 0 and 0.5 (exclusive), e.g. 0.05"
        )),
        Err(_) => Err(format!("{s:?} is not a number")),
    }
}

fn parse_finite(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t.is_finite() => Ok(t),
        _ => Err(format!("{s:?} is not a finite number")),
    }
}

/// Where the threshold came from.
enum Rule {
    Given(f64),
    Contamination(f64),
    Stored(f64),
}

pub fn run(args: AnomaliesArgs) -> Result<()> {
    check_paths(
        &[
            Some(&args.data),
            args.model.as_deref(),
            args.options.init_model.as_deref(),
            args.weights.file(),
        ],
        &[
            ("-o", args.output.as_deref()),
            ("--save-model", args.save_model.as_deref()),
            ("--json", args.json.then_some(Path::new("/dev/stdout"))),
        ],
    )?;
    let verbosity = Verbosity::from_flags(false, args.quiet);
    let given = match (args.threshold, args.contamination) {
        (Some(t), _) => Some(Rule::Given(t)),
        (None, Some(f)) => Some(Rule::Contamination(f)),
        (None, None) => None,
    };
    if args.model.is_none() && given.is_none() {
        return Err(input_error(
            "no threshold: give --contamination F (flag about that fraction of rows) \
             or --threshold T (a log-density)",
        ));
    }
    let (file, found) = if args.stream.wanted(&args.data, args.quiet) {
        streamed(&args, given, verbosity)?
    } else {
        in_memory(&args, given, verbosity)?
    };
    report(&args, &file, &found, verbosity)
}

/// What scoring found, for the summaries.
struct Found {
    rule: Rule,
    threshold: f64,
    n_samples: usize,
    n_flagged: usize,
    /// `(row, score)`, lowest score first (ties in row order): every flagged
    /// row with `--json`, else the first five.
    flagged: Vec<(usize, f64)>,
}

/// Rows of the threshold's summary on stderr.
const SHOWN: usize = 5;

/// The order of flagged rows (`emkit::anomaly::below`'s): by score, ties by row.
fn lowest_first(row_a: usize, a: f64, row_b: usize, b: f64) -> std::cmp::Ordering {
    a.total_cmp(&b).then(row_a.cmp(&row_b))
}

/// The rule in force: the one given, else the model's stored threshold.
fn rule_for(args: &AnomaliesArgs, given: Option<Rule>, file: &MixtureFile) -> Result<Rule> {
    match (given, file.anomaly_threshold) {
        (Some(rule), _) => Ok(rule),
        (None, Some(t)) => Ok(Rule::Stored(t)),
        (None, None) => {
            let model = args.model.as_deref().map(display_name).unwrap_or_default();
            Err(input_error(format!(
                "{model}: the model has no stored anomaly_threshold; give --contamination F \
                 or --threshold T (add --save-model M.json to store it for next time)"
            )))
        }
    }
}

/// Fits with `fit`, reporting progress, and wraps the result as a model
/// file with its summary.
fn fit_model(
    args: &AnomaliesArgs,
    names: &[String],
    verbosity: Verbosity,
    progress: FitProgress,
    fit: impl FnOnce(&GaussianMixtureBuilder, &mut FitProgress) -> emkit::Result<MixtureFit>,
) -> Result<MixtureFile> {
    args.options.em.validate()?;
    let k = args.k.expect("clap requires -k or --model");
    let builder = args.options.builder(k)?;
    let mut progress = progress;
    let fitted = fit(&builder, &mut progress);
    progress.finish();
    let fitted = fitted.map_err(|e| fit_error(&display_name(&args.data), names, e))?;
    let best = fitted.report.best();
    if verbosity != Verbosity::Quiet && !best.converged() {
        eprintln!(
            "warning: the fit did not converge ({} iterations); raise --max-iter or --tol",
            best.n_iter()
        );
    }
    let summary = fit_summary(args, &fitted, names);
    Ok(MixtureFile {
        model: fitted.model,
        feature_names: Some(names.to_vec()),
        fit: Some(summary),
        anomaly_threshold: None,
        extra: Default::default(),
    })
}

fn fit_summary(args: &AnomaliesArgs, fitted: &MixtureFit, names: &[String]) -> Value {
    let best = fitted.report.best();
    json!({
        "n_components": fitted.model.n_components(),
        "covariance_type": fitted.model.covariance_type().name(),
        "n_samples": fitted.report.n_samples,
        "weights": args.weights.source(),
        "total_weight": fitted.report.total_weight,
        "n_features": fitted.model.n_features(),
        "log_likelihood": fitted.log_likelihood(),
        "mean_log_likelihood": fitted.mean_log_likelihood(),
        "bic": fitted.bic(),
        "aic": fitted.aic(),
        "n_parameters": fitted.model.n_parameters(),
        "n_iter": best.n_iter(),
        "n_em_steps": best.em_steps,
        "accel": args.options.em.accel.name(),
        "strategy": args.options.em.strategy.name(),
        "converged": best.converged(),
        "stop_reason": stop_name(best.stop),
        "best_init": fitted.report.best_init,
        "n_init": fitted.report.restarts.len(),
        "feature_names": names,
        "data": display_name(&args.data),
        "init": if args.options.init_model.is_some() { "model" } else { args.options.em.init.name() },
        "seed": args.options.em.seed,
        "tol": args.options.em.tol,
        "max_iter": args.options.em.max_iter,
        "reg_covar": args.options.em.reg_covar,
        "emkit_version": env!("CARGO_PKG_VERSION"),
    })
}

/// Saves the model with the threshold in force, when asked.
fn save_model(args: &AnomaliesArgs, file: &MixtureFile, threshold: f64) -> Result<()> {
    if let Some(path) = &args.save_model {
        let mut out = file.clone();
        out.anomaly_threshold = Some(threshold);
        let text = out.to_json_string();
        write_atomic(path, |w| w.write_all(text.as_bytes()))?;
    }
    Ok(())
}

/// The row,score,flag table goes to -o, or to standard output without --json.
fn writes_table(args: &AnomaliesArgs) -> bool {
    args.output.is_some() || !args.json
}

fn in_memory(
    args: &AnomaliesArgs,
    given: Option<Rule>,
    verbosity: Verbosity,
) -> Result<(MixtureFile, Found)> {
    let name = display_name(&args.data);
    let (file, table, weights) = match &args.model {
        Some(path) => {
            let file = read_model(path)?;
            let table = read_data_for_model(&args.data, args.columns.as_deref(), &file)?;
            let weights = args
                .weights
                .read_for_rows(&args.data, table.data.n_rows())?;
            (file, table, weights)
        }
        None => {
            let (table, weights) = args
                .weights
                .read_rows(&args.data, args.columns.as_deref())?;
            let rows = weighted(table.data.view(), weights.as_deref())?;
            let progress = FitProgress::new(verbosity);
            let file = fit_model(args, &table.names, verbosity, progress, |b, p| {
                b.fit_with_monitor(rows, p)
            })?;
            (file, table, weights)
        }
    };
    let scores = file
        .model
        .score_samples(table.data.view())
        .map_err(|e| anyhow::Error::new(e).context(name.clone()))?;
    let rule = rule_for(args, given, &file)?;
    let threshold = match rule {
        Rule::Given(t) | Rule::Stored(t) => t,
        Rule::Contamination(f) => weighted_contamination_threshold(&scores, weights.as_deref(), f)
            .map_err(|e| anyhow::Error::new(e).context(name.clone()))?,
    };
    let flagged = below(&scores, threshold);
    save_model(args, &file, threshold)?;
    if writes_table(args) {
        let mut flag = vec![false; scores.len()];
        flagged.iter().for_each(|&i| flag[i] = true);
        write_output(args.output.as_deref(), |out| {
            csv_line(out, &["row".into(), "score".into(), "flag".into()])?;
            for (i, s) in scores.iter().enumerate() {
                csv_line(
                    out,
                    &[i.to_string(), fmt_f64(*s), u8::from(flag[i]).to_string()],
                )?;
            }
            Ok(())
        })?;
    }
    let shown = if args.json { flagged.len() } else { SHOWN };
    let found = Found {
        rule,
        threshold,
        n_samples: scores.len(),
        n_flagged: flagged.len(),
        flagged: flagged
            .iter()
            .take(shown)
            .map(|&i| (i, scores[i]))
            .collect(),
    };
    Ok((file, found))
}

/// The streamed command: the fit (with -k) reads DATA on every pass; one
/// pass writes every row's score to a temporary file; the contamination
/// quantile reads that file a few times; one last pass over it writes the
/// table. The scores and the threshold are the in-memory command's, bit for
/// bit (integer weights or none; see `emkit::anomaly::source_quantile`).
fn streamed(
    args: &AnomaliesArgs,
    given: Option<Rule>,
    verbosity: Verbosity,
) -> Result<(MixtureFile, Found)> {
    let name = display_name(&args.data);
    let dir = stream::spill_dir(args.output.as_deref());
    let (file, data, weights) = match &args.model {
        Some(path) => {
            let file = read_model(path)?;
            let data = stream::open_for_model(
                &args.data,
                args.columns.as_deref(),
                file.model.n_features(),
                file.feature_names.as_deref(),
                &dir,
            )?;
            let weights =
                stream::open_weights_for(&args.weights, &args.data, data.rows.n_rows(), &dir)?;
            (file, data.rows, weights)
        }
        None => {
            let data = stream::open(&args.data, args.columns.as_deref(), &args.weights, &dir)?;
            let progress = FitProgress::new(verbosity).streaming(data.rows.n_rows());
            let rows = data.source_rows()?;
            let file = fit_model(args, &data.names, verbosity, progress, |b, p| {
                b.fit_source(rows, p)
            })?;
            (file, data.rows, data.weights)
        }
    };
    let model = &file.model;
    let mut spill = SpillWriter::create(&dir, 1).map_err(|e| read_error(&name, e))?;
    emkit::for_each_piece(&*data, |_, piece| {
        model
            .score_samples(piece)?
            .iter()
            .try_for_each(|s| spill.push(std::slice::from_ref(s)))
    })
    .map_err(|e| read_error(&name, e))?;
    let scores = spill.finish().map_err(|e| read_error(&name, e))?;
    let rule = rule_for(args, given, &file)?;
    let threshold = match rule {
        Rule::Given(t) | Rule::Stored(t) => t,
        Rule::Contamination(f) => source_contamination_threshold(&scores, weights.as_deref(), f)
            .map_err(|e| read_error(&name, e))?,
    };
    save_model(args, &file, threshold)?;
    // The flagged rows: all of them for --json (sorted at the end), else
    // the first few, kept sorted as they come.
    let mut flagged: Vec<(usize, f64)> = Vec::new();
    let mut n_flagged = 0;
    let mut note = |row: usize, score: f64| {
        if score < threshold {
            n_flagged += 1;
            if args.json {
                flagged.push((row, score));
            } else {
                let at = flagged.partition_point(|&(r, s)| lowest_first(r, s, row, score).is_lt());
                if at < SHOWN {
                    flagged.insert(at, (row, score));
                    flagged.truncate(SHOWN);
                }
            }
        }
    };
    if writes_table(args) {
        stream::write_rows(
            &scores,
            &name,
            args.output.as_deref(),
            &["row".into(), "score".into(), "flag".into()],
            |piece| Ok(piece.values().to_vec()),
            |values, start, r, cells| {
                let (row, score) = (start + r, values[r]);
                note(row, score);
                cells.extend([
                    row.to_string(),
                    fmt_f64(score),
                    u8::from(score < threshold).to_string(),
                ]);
            },
        )?;
    } else {
        emkit::for_each_piece(&scores, |start, piece| {
            piece
                .values()
                .iter()
                .enumerate()
                .for_each(|(r, &s)| note(start + r, s));
            Ok(())
        })
        .map_err(|e| read_error(&name, e))?;
    }
    if args.json {
        flagged.sort_by(|a, b| lowest_first(a.0, a.1, b.0, b.1));
    }
    let found = Found {
        rule,
        threshold,
        n_samples: scores.n_rows(),
        n_flagged,
        flagged,
    };
    Ok((file, found))
}

fn report(
    args: &AnomaliesArgs,
    file: &MixtureFile,
    found: &Found,
    verbosity: Verbosity,
) -> Result<()> {
    let name = display_name(&args.data);
    let (threshold, rule) = (found.threshold, &found.rule);
    let (source, contamination) = match rule {
        Rule::Given(_) => ("threshold", None),
        Rule::Contamination(f) => ("contamination", Some(*f)),
        Rule::Stored(_) => ("model", None),
    };
    if args.json {
        let out = json!({
            "threshold": threshold,
            "threshold_source": source,
            "contamination": contamination,
            "n_samples": found.n_samples,
            "n_flagged": found.n_flagged,
            "flagged": found.flagged.iter().map(|f| f.0).collect::<Vec<_>>(),
            "flagged_scores": found.flagged.iter().map(|f| f.1).collect::<Vec<_>>(),
            "data": name,
            "output": args.output.as_ref().map(|p| p.display().to_string()),
            "model": args.save_model.as_ref().map(|p| p.display().to_string()),
        });
        print_line(&serde_json::to_string(&out).context("serialising the summary")?)?;
    }
    if verbosity != Verbosity::Quiet {
        let m = &file.model;
        let how = match rule {
            Rule::Given(_) => "given by --threshold".to_string(),
            Rule::Contamination(f) => format!("the {f}-quantile of the scores"),
            Rule::Stored(_) => format!(
                "stored in {}",
                args.model.as_deref().map(display_name).unwrap_or_default()
            ),
        };
        eprintln!(
            "{} of {} rows of {name} flagged ({:.2}%): log-density below {threshold:.6} ({how})",
            found.n_flagged,
            found.n_samples,
            100.0 * found.n_flagged as f64 / found.n_samples.max(1) as f64,
        );
        eprintln!(
            "  under a {}-component {} Gaussian mixture{}",
            m.n_components(),
            m.covariance_type(),
            if args.model.is_some() {
                " (loaded)"
            } else {
                " (fitted)"
            }
        );
        if !found.flagged.is_empty() {
            let shown: Vec<String> = found
                .flagged
                .iter()
                .take(SHOWN)
                .map(|&(i, s)| format!("{i} ({s:.4})"))
                .collect();
            let more = if found.n_flagged > SHOWN { ", ..." } else { "" };
            eprintln!("  lowest first, row (score): {}{more}", shown.join(", "));
        }
        if let Some(p) = &args.save_model {
            eprintln!("  model with its threshold written to {}", p.display());
        }
    }
    Ok(())
}
