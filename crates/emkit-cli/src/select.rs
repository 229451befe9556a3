//! `emkit select`: fit a grid of k × covariance types, pick the best by a criterion.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use emkit::io::MixtureFile;
use emkit::select::{
    select_with_progress, CellFit, CellStatus, Criterion, GridCell, SelectConfig, Selection,
    DEGENERATE_RELATIVE_VARIANCE,
};
use emkit::CovarianceType;
use serde_json::{json, Value};

use crate::common::{check_paths, display_name, fit_error, print_line, write_atomic, EmOptions};
use crate::fit::stop_name;
use crate::plot::{self, check_plot_path};
use crate::progress::{CountProgress, Verbosity};
use crate::weights::{weighted, WeightArgs};

#[derive(Args, Debug)]
pub struct SelectArgs {
    /// Data: CSV with a header row (`-` for standard input), `.npy` or `.parquet`.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// Numbers of components to try, A..B inclusive (e.g. 1..6), or one number.
    #[arg(short = 'k', long = "k", value_name = "A..B", value_parser = parse_k_range)]
    pub k: RangeInclusive<usize>,
    /// Covariance types to try: a comma-separated list of full, tied, diag,
    /// spherical, or all.
    #[arg(long, default_value = "all", value_name = "LIST", value_parser = parse_covariance_list)]
    pub covariance: CovarianceList,
    /// Criterion that picks the best fit (lower is better): bic, aic or icl.
    #[arg(long, default_value = "bic", value_parser = parse_criterion)]
    pub criterion: Criterion,
    #[command(flatten)]
    pub em: EmOptions,
    /// Use only these columns (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "a,b,c")]
    pub columns: Option<Vec<String>>,
    #[command(flatten)]
    pub weights: WeightArgs,
    /// Save the best model here (JSON, the format of `emkit fit -o`).
    #[arg(short = 'o', long = "output", value_name = "BEST.json")]
    pub output: Option<PathBuf>,
    /// Draw the criterion against k, one line per covariance type.
    #[arg(long, value_name = "FILE.png|.svg")]
    pub plot: Option<PathBuf>,
    /// Print one JSON object with the pick and the whole table on stdout.
    #[arg(long)]
    pub json: bool,
    /// Let a degenerate fit (a collapsed component) be chosen as best.
    #[arg(long)]
    pub allow_degenerate: bool,
    /// One line on stderr as each fit of the grid finishes.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Nothing on stderr but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The covariance types of `--covariance`, in the order given.
#[derive(Clone, Debug)]
pub struct CovarianceList(pub Vec<CovarianceType>);

fn parse_k_range(s: &str) -> Result<RangeInclusive<usize>, String> {
    let number = |t: &str| -> Result<usize, String> {
        t.trim().parse::<usize>().map_err(|_| {
            format!("{s:?} is not a range of numbers of components; give A..B, e.g. 1..6")
        })
    };
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (number(a)?, number(b.trim_start_matches('='))?),
        None => {
            let k = number(s)?;
            (k, k)
        }
    };
    if a == 0 {
        return Err(format!(
            "{s:?} starts at 0; a mixture has at least 1 component"
        ));
    }
    if a > b {
        return Err(format!(
            "{s:?} is empty; give A..B with A <= B, e.g. {b}..{a}"
        ));
    }
    Ok(a..=b)
}

fn parse_covariance_list(s: &str) -> Result<CovarianceList, String> {
    if s.trim() == "all" {
        return Ok(CovarianceList(CovarianceType::ALL.to_vec()));
    }
    let mut list = Vec::new();
    for part in s.split(',') {
        let c: CovarianceType = part.trim().parse().map_err(|_| {
            format!(
                "unknown covariance {part:?}; use a list of full, tied, diag, spherical, or all"
            )
        })?;
        if !list.contains(&c) {
            list.push(c);
        }
    }
    Ok(CovarianceList(list))
}

fn parse_criterion(s: &str) -> Result<Criterion, String> {
    s.parse()
        .map_err(|_| format!("unknown criterion {s:?}; use bic, aic or icl"))
}

pub fn run(args: SelectArgs) -> Result<()> {
    check_paths(
        &[Some(&args.data), args.weights.file()],
        &[
            ("-o", args.output.as_deref()),
            ("--plot", args.plot.as_deref()),
            ("--json", args.json.then_some(Path::new("/dev/stdout"))),
        ],
    )?;
    if let Some(p) = &args.plot {
        check_plot_path(p)?;
    }
    args.em.validate()?;
    let name = display_name(&args.data);
    let (table, weights) = args
        .weights
        .read_rows(&args.data, args.columns.as_deref())?;
    let data = weighted(table.data.view(), weights.as_deref())?;
    let config = SelectConfig {
        n_components: args.k.clone(),
        covariance_types: args.covariance.0.clone(),
        criterion: args.criterion,
        allow_degenerate: args.allow_degenerate,
    };
    let verbosity = Verbosity::from_flags(args.verbose, args.quiet);
    // Not `count()`, which walks the range: `--k 1..18446744073709551615` is
    // refused by the library, not counted here.
    let n_cells = (args.k.end() - args.k.start())
        .saturating_add(1)
        .saturating_mul(config.covariance_types.len());
    let progress = CountProgress::new(n_cells, "fits", verbosity);
    // As in `fit`: `seconds` is the work, not the thread pool's start.
    rayon::broadcast(|_| ());
    let started = Instant::now();
    let selection = select_with_progress(data, &config, &args.em.builder(1), |cell| {
        if verbosity == Verbosity::Verbose {
            eprintln!("{}", cell_line(cell));
        }
        progress.tick();
    });
    let seconds = started.elapsed().as_secs_f64();
    progress.finish();
    let selection = selection.map_err(|e| fit_error(&name, &table.names, e))?;

    // When every cell failed the error says why in one line; a table of
    // failures would only repeat it.
    let some_fit = selection.cells.iter().any(|c| c.outcome.is_ok());
    if verbosity != Verbosity::Quiet && some_fit {
        print_table(
            &name,
            &args,
            &selection,
            data.data().n_rows(),
            data.data().n_cols(),
            seconds,
        );
    }
    // A chart with no point on it would only mislead: when no cell can be
    // chosen, the command fails and draws nothing.
    let Some((best, best_fit)) = selection.best() else {
        return Err(no_best(&selection));
    };
    if let Some(path) = &args.plot {
        plot_criterion(path, &args, &selection, &name)?;
    }
    if let Some(path) = &args.output {
        let file = MixtureFile {
            model: best_fit.fit.model.clone(),
            feature_names: Some(table.names.clone()),
            fit: Some(model_summary(&args, best, best_fit, &table.names)),
            anomaly_threshold: None,
            extra: Default::default(),
        };
        let text = file.to_json_string();
        write_atomic(path, |out| out.write_all(text.as_bytes()))?;
        if verbosity != Verbosity::Quiet {
            eprintln!("best model written to {}", path.display());
        }
    }
    if args.json {
        let out = json!({
            "criterion": args.criterion.name(),
            "best": criteria_json(best, Some(best_fit)),
            "table": selection.cells.iter().map(cell_json).collect::<Vec<_>>(),
            "allow_degenerate": args.allow_degenerate,
            "degenerate_below": DEGENERATE_RELATIVE_VARIANCE,
            "n_samples": data.data().n_rows(),
            "weights": args.weights.source(),
            "total_weight": data.total(),
            "n_features": data.data().n_cols(),
            "data": name,
            "model": args.output.as_ref().map(|p| p.display().to_string()),
            "seconds": seconds,
        });
        print_line(&serde_json::to_string(&out).context("serialising the summary")?)?;
    }
    Ok(())
}

/// The criterion against k, one line per covariance type (failed cells left
/// out): the pick ringed and labelled, degenerate cells hollow.
fn plot_criterion(path: &Path, args: &SelectArgs, selection: &Selection, name: &str) -> Result<()> {
    let criterion = args.criterion;
    let series: Vec<plot::CriterionSeries> = selection
        .config
        .covariance_types
        .iter()
        .map(|&kind| plot::CriterionSeries {
            name: kind.name().to_string(),
            points: selection
                .cells
                .iter()
                .filter(|c| c.covariance_type == kind)
                .filter_map(|c| {
                    let fit = c.outcome.as_ref().ok()?;
                    Some(plot::CriterionPoint {
                        k: c.n_components,
                        value: fit.criterion(criterion),
                        degenerate: fit.degenerate(),
                    })
                })
                .collect(),
        })
        .collect();
    let best = selection.best().and_then(|(cell, _)| {
        let s = selection
            .config
            .covariance_types
            .iter()
            .position(|&kind| kind == cell.covariance_type)?;
        Some((s, cell.n_components))
    });
    let upper = criterion.name().to_uppercase();
    plot::criterion(
        path,
        &plot::CriterionChart {
            title: &format!("{upper} by number of components, {name} (lower is better)"),
            criterion: &upper,
            series: &series,
            best,
            allow_degenerate: args.allow_degenerate,
        },
    )
}

/// Why there is no best: every fit failed, or every fit that worked collapsed.
fn no_best(selection: &Selection) -> anyhow::Error {
    let failed: Vec<&GridCell> = selection
        .cells
        .iter()
        .filter(|c| c.status() == CellStatus::Failed)
        .collect();
    if failed.len() == selection.cells.len() {
        let first = failed[0];
        let reason = first
            .outcome
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        anyhow!(
            "every fit of the grid failed (first: k = {} {}: {reason})",
            first.n_components,
            first.covariance_type
        )
    } else {
        anyhow!(
            "every fit that succeeded is degenerate (a collapsed component); \
             rerun with --allow-degenerate to choose among them, or try smaller k"
        )
    }
}

/// The keys every table row and the pick share.
fn criteria_json(cell: &GridCell, fit: Option<&CellFit>) -> Value {
    json!({
        "k": cell.n_components,
        "covariance_type": cell.covariance_type.name(),
        "bic": fit.map(|f| f.bic),
        "aic": fit.map(|f| f.aic),
        "icl": fit.map(|f| f.icl),
        "mean_log_likelihood": fit.map(|f| f.fit.mean_log_likelihood()),
    })
}

fn cell_json(cell: &GridCell) -> Value {
    let fit = cell.outcome.as_ref().ok();
    let mut v = criteria_json(cell, fit);
    let extra = json!({
        "status": cell.status().name(),
        "log_likelihood": fit.map(|f| f.fit.log_likelihood()),
        "n_parameters": fit.map(|f| f.fit.model.n_parameters()),
        "converged": fit.is_some_and(|f| f.fit.report.best().converged()),
        "stop_reason": fit.map_or("failed", |f| stop_name(f.fit.report.best().stop)),
        "n_iter": fit.map(|f| f.fit.report.best().n_iter()),
        "n_em_steps": fit.map(|f| f.fit.report.best().em_steps),
        "min_relative_variance": fit.and_then(|f| f.min_relative_variance),
        "error": cell.outcome.as_ref().err().map(|e| e.to_string()),
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
        a.extend(b);
    }
    v
}

/// The `fit` summary stored in the best model's file.
fn model_summary(args: &SelectArgs, cell: &GridCell, fit: &CellFit, names: &[String]) -> Value {
    let best = fit.fit.report.best();
    let m = &fit.fit.model;
    json!({
        "n_components": m.n_components(),
        "covariance_type": m.covariance_type().name(),
        "n_samples": fit.fit.report.n_samples,
        "n_features": m.n_features(),
        "log_likelihood": fit.fit.log_likelihood(),
        "mean_log_likelihood": fit.fit.mean_log_likelihood(),
        "bic": fit.bic,
        "aic": fit.aic,
        "icl": fit.icl,
        "n_parameters": m.n_parameters(),
        "n_iter": best.n_iter(),
        "n_em_steps": best.em_steps,
        "converged": best.converged(),
        "stop_reason": stop_name(best.stop),
        "best_init": fit.fit.report.best_init,
        "n_init": fit.fit.report.restarts.len(),
        "min_relative_variance": fit.min_relative_variance,
        "status": cell.status().name(),
        "selected_by": {
            "command": "select",
            "criterion": args.criterion.name(),
            "k": [args.k.start(), args.k.end()],
            "covariance_types": args.covariance.0.iter().map(|c| c.name()).collect::<Vec<_>>(),
            "allow_degenerate": args.allow_degenerate,
        },
        "feature_names": names,
        "data": display_name(&args.data),
        "init": args.em.init.name(),
        "seed": args.em.seed,
        "tol": args.em.tol,
        "accel": args.em.accel.name(),
        "strategy": args.em.strategy.name(),
        "max_iter": args.em.max_iter,
        "reg_covar": args.em.reg_covar,
        "emkit_version": env!("CARGO_PKG_VERSION"),
    })
}

/// `-v`: one line per finished cell.
fn cell_line(cell: &GridCell) -> String {
    let head = format!("k = {} {}", cell.n_components, cell.covariance_type);
    match &cell.outcome {
        Ok(f) => format!(
            "{head}: mean log-likelihood {:.6}, BIC {:.4}, {}",
            f.fit.mean_log_likelihood(),
            f.bic,
            cell.status().name()
        ),
        Err(e) => format!("{head}: failed: {e}"),
    }
}

fn print_table(
    name: &str,
    args: &SelectArgs,
    selection: &Selection,
    n: usize,
    d: usize,
    seconds: f64,
) {
    let types: Vec<&str> = args.covariance.0.iter().map(|c| c.name()).collect();
    eprintln!(
        "model selection on {n} rows x {d} columns of {name}: k {}..{} x {}, {} restart(s) each, {} fits in {seconds:.3} s",
        args.k.start(),
        args.k.end(),
        types.join(", "),
        args.em.n_init,
        selection.cells.len()
    );
    eprintln!(
        "     {:>3}  {:<10} {:>15} {:>11} {:>11} {:>11} {:>7}  {:<9}  {:<9}  status",
        "k", "covariance", "log-likelihood", "BIC", "AIC", "ICL", "params", "converged", "stop"
    );
    let mut degenerate = false;
    for (i, cell) in selection.cells.iter().enumerate() {
        let mark = if selection.best == Some(i) { "*" } else { " " };
        match &cell.outcome {
            Ok(f) => {
                let best = f.fit.report.best();
                let status = match cell.status() {
                    CellStatus::Degenerate => {
                        degenerate = true;
                        format!(
                            "degenerate (min relative variance {:.1e})",
                            f.min_relative_variance.unwrap_or(f64::NAN)
                        )
                    }
                    s => s.name().to_string(),
                };
                eprintln!(
                    "  {mark}  {:>3}  {:<10} {:>15.4} {:>11.4} {:>11.4} {:>11.4} {:>7}  {:<9}  {:<9}  {status}",
                    cell.n_components,
                    cell.covariance_type.name(),
                    f.fit.log_likelihood(),
                    f.bic,
                    f.aic,
                    f.icl,
                    f.fit.model.n_parameters(),
                    if best.converged() { "yes" } else { "no" },
                    stop_name(best.stop),
                )
            }
            Err(e) => eprintln!(
                "  {mark}  {:>3}  {:<10} {:>15} {:>11} {:>11} {:>11} {:>7}  {:<9}  {:<9}  failed: {e}",
                cell.n_components,
                cell.covariance_type.name(),
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "failed"
            ),
        }
    }
    match selection.best() {
        Some((cell, f)) => eprintln!(
            "best by {} (*): k = {}, {} ({} {:.4}, mean log-likelihood {:.6} per row)",
            args.criterion.name().to_uppercase(),
            cell.n_components,
            cell.covariance_type,
            args.criterion.name().to_uppercase(),
            f.criterion(args.criterion),
            f.fit.mean_log_likelihood()
        ),
        None => eprintln!("no best fit"),
    }
    if degenerate {
        let rule = if args.allow_degenerate {
            "allowed by --allow-degenerate"
        } else {
            "never chosen unless --allow-degenerate"
        };
        eprintln!(
            "degenerate: some component's variance along a direction is below {DEGENERATE_RELATIVE_VARIANCE:e} of the data's ({rule})"
        );
    }
}
