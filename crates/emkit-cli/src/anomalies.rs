//! `emkit anomalies`: flag rows whose log-density is below a threshold.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{ArgGroup, Args};
use emkit::anomaly::{below, weighted_contamination_threshold};
use emkit::io::MixtureFile;
use serde_json::json;

use crate::common::{
    check_paths, csv_line, display_name, fit_error, fmt_f64, input_error, parse_positive,
    print_line, read_data_for_model, read_model, write_atomic, write_output, FitOptions,
};
use crate::fit::stop_name;
use crate::progress::{FitProgress, Verbosity};
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
        conflicts_with_all = ["covariance", "n_init", "max_iter", "tol", "reg_covar", "init", "init_model", "seed"]
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
    let name = display_name(&args.data);
    let given = match (args.threshold, args.contamination) {
        (Some(t), _) => Some(Rule::Given(t)),
        (None, Some(f)) => Some(Rule::Contamination(f)),
        (None, None) => None,
    };
    let (file, table, weights) = match (&args.model, args.k) {
        (Some(path), _) => {
            let file = read_model(path)?;
            let table = read_data_for_model(&args.data, args.columns.as_deref(), &file)?;
            let weights = args
                .weights
                .read_for_rows(&args.data, table.data.n_rows())?;
            (file, table, weights)
        }
        (None, Some(k)) => {
            if given.is_none() {
                return Err(input_error(
                    "no threshold: give --contamination F (flag about that fraction of rows) \
                     or --threshold T (a log-density)",
                ));
            }
            args.options.em.validate()?;
            let (table, weights) = args
                .weights
                .read_rows(&args.data, args.columns.as_deref())?;
            let builder = args.options.builder(k)?;
            let mut progress = FitProgress::new(verbosity);
            let rows = weighted(table.data.view(), weights.as_deref())?;
            let fitted = builder.fit_with_monitor(rows, &mut progress);
            progress.finish();
            let fitted = fitted.map_err(|e| fit_error(&name, &table.names, e))?;
            let best = fitted.report.best();
            let summary = json!({
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
                "converged": best.converged(),
                "stop_reason": stop_name(best.stop),
                "best_init": fitted.report.best_init,
                "n_init": fitted.report.restarts.len(),
                "feature_names": &table.names,
                "data": &name,
                "init": if args.options.init_model.is_some() { "model" } else { args.options.em.init.name() },
                "seed": args.options.em.seed,
                "tol": args.options.em.tol,
                "max_iter": args.options.em.max_iter,
                "reg_covar": args.options.em.reg_covar,
                "emkit_version": env!("CARGO_PKG_VERSION"),
            });
            if verbosity != Verbosity::Quiet && !best.converged() {
                eprintln!(
                    "warning: the fit did not converge ({} iterations); raise --max-iter or --tol",
                    best.n_iter()
                );
            }
            let file = MixtureFile {
                model: fitted.model,
                feature_names: Some(table.names.clone()),
                fit: Some(summary),
                anomaly_threshold: None,
                extra: Default::default(),
            };
            (file, table, weights)
        }
        (None, None) => unreachable!("clap requires -k or --model"),
    };
    let data = table.data.view();
    let scores = file
        .model
        .score_samples(data)
        .map_err(|e| anyhow::Error::new(e).context(name.clone()))?;
    let rule = match given {
        Some(rule) => rule,
        None => match file.anomaly_threshold {
            Some(t) => Rule::Stored(t),
            None => {
                let model = args.model.as_deref().map(display_name).unwrap_or_default();
                return Err(input_error(format!(
                    "{model}: the model has no stored anomaly_threshold; give --contamination F \
                     or --threshold T (add --save-model M.json to store it for next time)"
                )));
            }
        },
    };
    let threshold = match rule {
        Rule::Given(t) | Rule::Stored(t) => t,
        Rule::Contamination(f) => weighted_contamination_threshold(&scores, weights.as_deref(), f)
            .map_err(|e| anyhow::Error::new(e).context(name.clone()))?,
    };
    let flagged = below(&scores, threshold);

    if let Some(path) = &args.save_model {
        let mut out = file.clone();
        out.anomaly_threshold = Some(threshold);
        let text = out.to_json_string();
        write_atomic(path, |w| w.write_all(text.as_bytes()))?;
    }
    let mut flag = vec![false; scores.len()];
    flagged.iter().for_each(|&i| flag[i] = true);
    if args.output.is_some() || !args.json {
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
    let (source, contamination) = match rule {
        Rule::Given(_) => ("threshold", None),
        Rule::Contamination(f) => ("contamination", Some(f)),
        Rule::Stored(_) => ("model", None),
    };
    if args.json {
        let out = json!({
            "threshold": threshold,
            "threshold_source": source,
            "contamination": contamination,
            "n_samples": scores.len(),
            "n_flagged": flagged.len(),
            "flagged": flagged,
            "flagged_scores": flagged.iter().map(|&i| scores[i]).collect::<Vec<_>>(),
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
            flagged.len(),
            scores.len(),
            100.0 * flagged.len() as f64 / scores.len().max(1) as f64,
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
        if !flagged.is_empty() {
            let shown: Vec<String> = flagged
                .iter()
                .take(5)
                .map(|&i| format!("{i} ({:.4})", scores[i]))
                .collect();
            let more = if flagged.len() > 5 { ", ..." } else { "" };
            eprintln!("  lowest first, row (score): {}{more}", shown.join(", "));
        }
        if let Some(p) = &args.save_model {
            eprintln!("  model with its threshold written to {}", p.display());
        }
    }
    Ok(())
}
