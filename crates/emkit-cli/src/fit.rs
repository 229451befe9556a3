//! `emkit fit`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use emkit::io::MixtureFile;
use emkit::{MixtureFit, RestartReport, StopReason};
use serde_json::{json, Value};

use crate::common::{
    check_paths, display_name, fit_error, parse_positive, print_line, write_atomic, write_trace,
    FitOptions,
};
use crate::plot::{self, check_plot_path};
use crate::progress::{FitProgress, Verbosity};
use crate::stream::{self, StreamArgs};
use crate::weights::{weighted, WeightArgs};

#[derive(Args, Debug)]
pub struct FitArgs {
    /// Data: CSV with a header row (`-` for standard input), `.npy` or `.parquet`.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// Number of mixture components.
    #[arg(short = 'k', long = "components", value_parser = parse_positive, allow_negative_numbers = true)]
    pub k: usize,
    #[command(flatten)]
    pub options: FitOptions,
    /// Use only these columns (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "a,b,c")]
    pub columns: Option<Vec<String>>,
    #[command(flatten)]
    pub weights: WeightArgs,
    #[command(flatten)]
    pub stream: StreamArgs,
    /// Save the fitted model here (JSON).
    #[arg(short = 'o', long = "output", value_name = "MODEL.json")]
    pub output: Option<PathBuf>,
    /// Print one JSON object with the fit summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the best restart's convergence trace (iteration, log-likelihood, change) as CSV.
    #[arg(long, value_name = "TRACE.csv")]
    pub trace: Option<PathBuf>,
    /// Draw the best restart's convergence curve (log-likelihood per iteration).
    #[arg(long, value_name = "CURVE.png|.svg")]
    pub plot: Option<PathBuf>,
    /// One line per EM iteration on stderr.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Nothing on stderr but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// "converged at iteration 12" / "stopped at max_iter (100) without
/// converging", with the passes over the data when acceleration added some:
/// "converged at iteration 12 (15 E-steps)".
pub fn stop_text(report: &RestartReport) -> String {
    let stop = match report.stop {
        StopReason::Converged { iteration } => format!("converged at iteration {iteration}"),
        StopReason::MaxIter { iterations } => {
            format!("stopped at max_iter ({iterations}) without converging")
        }
        StopReason::Failed => return "failed".into(),
    };
    if report.em_steps > report.n_iter() {
        format!("{stop} ({} E-steps)", report.em_steps)
    } else {
        stop
    }
}

pub fn stop_name(stop: StopReason) -> &'static str {
    match stop {
        StopReason::Converged { .. } => "converged",
        StopReason::MaxIter { .. } => "max_iter",
        StopReason::Failed => "failed",
    }
}

pub fn run(args: FitArgs) -> Result<()> {
    check_paths(
        &[
            Some(&args.data),
            args.options.init_model.as_deref(),
            args.weights.file(),
        ],
        &[
            ("-o", args.output.as_deref()),
            ("--trace", args.trace.as_deref()),
            ("--plot", args.plot.as_deref()),
            ("--json", args.json.then_some(Path::new("/dev/stdout"))),
        ],
    )?;
    if let Some(path) = &args.plot {
        check_plot_path(path)?;
    }
    args.options.em.validate()?;
    let name = display_name(&args.data);
    let builder = args.options.builder(args.k)?;
    let verbosity = Verbosity::from_flags(args.verbose, args.quiet);
    let streamed = args.stream.wanted(&args.data, args.quiet);
    let (names, fitted, seconds) = if streamed {
        let dir = stream::spill_dir(args.output.as_deref());
        let data = stream::open(&args.data, args.columns.as_deref(), &args.weights, &dir)?;
        let mut progress = FitProgress::new(verbosity).streaming(data.rows.n_rows());
        rayon::broadcast(|_| ());
        let started = Instant::now();
        let fitted = builder.fit_source(data.source_rows()?, &mut progress);
        let seconds = started.elapsed().as_secs_f64();
        progress.finish();
        let fitted = fitted.map_err(|e| fit_error(&name, &data.names, e))?;
        (data.names, fitted, seconds)
    } else {
        let (table, weights) = args
            .weights
            .read_rows(&args.data, args.columns.as_deref())?;
        let data = weighted(table.data.view(), weights.as_deref())?;
        let mut progress = FitProgress::new(verbosity);
        // Start the worker threads now: `seconds` reports the fit, not the
        // one-time cost of spawning the process's thread pool.
        rayon::broadcast(|_| ());
        let started = Instant::now();
        let fitted = builder.fit_with_monitor(data, &mut progress);
        let seconds = started.elapsed().as_secs_f64();
        progress.finish();
        let fitted = fitted.map_err(|e| fit_error(&name, &table.names, e))?;
        (table.names, fitted, seconds)
    };

    let mut summary = summary_json(&args, &fitted, &names, seconds);
    summary["streamed"] = json!(streamed);
    if let Some(path) = &args.output {
        let file = MixtureFile {
            model: fitted.model.clone(),
            feature_names: Some(names.clone()),
            fit: Some(summary.clone()),
            anomaly_threshold: None,
            extra: Default::default(),
        };
        let text = file.to_json_string();
        write_atomic(path, |out| out.write_all(text.as_bytes()))?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "{}-component {} mixture, {name}",
            fitted.model.n_components(),
            fitted.model.covariance_type()
        );
        plot::convergence(path, &fitted.report.best().trace, &title)?;
    }
    if let Some(path) = &args.trace {
        write_trace(path, &fitted.report.best().trace)?;
    }
    if args.json {
        let mut out = summary;
        out["model"] = json!(args.output.as_ref().map(|p| p.display().to_string()));
        print_line(&serde_json::to_string(&out).context("serialising the summary")?)?;
    }
    if verbosity != Verbosity::Quiet {
        print_summary(&name, &fitted, &names, &args, seconds);
    }
    Ok(())
}

fn summary_json(args: &FitArgs, fit: &MixtureFit, names: &[String], seconds: f64) -> Value {
    let best = fit.report.best();
    let m = &fit.model;
    let reseeded: Vec<Value> = best
        .reseeded
        .iter()
        .map(|(iteration, component)| json!({"iteration": iteration, "component": component}))
        .collect();
    let failed = fit
        .report
        .restarts
        .iter()
        .filter(|r| r.error.is_some())
        .count();
    json!({
        "n_components": m.n_components(),
        "covariance_type": m.covariance_type().name(),
        "n_samples": fit.report.n_samples,
        "weights": args.weights.source(),
        "total_weight": fit.report.total_weight,
        "n_features": m.n_features(),
        "log_likelihood": fit.log_likelihood(),
        "mean_log_likelihood": fit.mean_log_likelihood(),
        "bic": fit.bic(),
        "aic": fit.aic(),
        "n_parameters": m.n_parameters(),
        "n_iter": best.n_iter(),
        "n_em_steps": best.em_steps,
        "accel": args.options.em.accel.name(),
        "strategy": args.options.em.strategy.name(),
        "converged": best.converged(),
        "stop_reason": stop_name(best.stop),
        "best_init": fit.report.best_init,
        "n_init": fit.report.restarts.len(),
        "failed_restarts": failed,
        "reseeded": reseeded,
        "seconds": seconds,
        "feature_names": names,
        "data": display_name(&args.data),
        "init": if args.options.init_model.is_some() { "model".to_string() } else { args.options.em.init.name().to_string() },
        "seed": args.options.em.seed,
        "tol": args.options.em.tol,
        "max_iter": args.options.em.max_iter,
        "reg_covar": args.options.em.reg_covar,
        "emkit_version": env!("CARGO_PKG_VERSION"),
    })
}

fn print_summary(name: &str, fit: &MixtureFit, names: &[String], args: &FitArgs, seconds: f64) {
    let output = args.output.as_ref();
    let m = &fit.model;
    let best = fit.report.best();
    let (k, d) = (m.n_components(), m.n_features());
    eprintln!(
        "{k}-component {} Gaussian mixture on {} rows x {d} columns of {name}",
        m.covariance_type(),
        fit.report.n_samples
    );
    if let Some(source) = args.weights.source() {
        eprintln!(
            "  rows weighted by {source} (total weight {}, the n of BIC)",
            fit.report.total_weight
        );
    }
    eprintln!(
        "  log-likelihood {:.6} (mean {:.6} per row)  BIC {:.4}  AIC {:.4}  parameters {}",
        fit.log_likelihood(),
        fit.mean_log_likelihood(),
        fit.bic(),
        fit.aic(),
        m.n_parameters()
    );
    eprintln!(
        "  best of {} restart(s): #{} {} in {:.3} s",
        fit.report.restarts.len(),
        fit.report.best_init + 1,
        stop_text(best),
        seconds
    );
    if !best.converged() {
        eprintln!(
            "  warning: not converged; raise --max-iter or --tol (the model is still written)"
        );
    }
    for (iteration, component) in &best.reseeded {
        eprintln!("  note: component {component} was empty or collapsed at iteration {iteration} and was re-seeded");
    }
    let failed: Vec<&RestartReport> = fit
        .report
        .restarts
        .iter()
        .filter(|r| r.error.is_some())
        .collect();
    if let Some(r) = failed.first() {
        eprintln!(
            "  note: {} restart(s) failed, e.g. #{}: {}",
            failed.len(),
            r.restart + 1,
            r.error.as_deref().unwrap_or("")
        );
    }
    let width = names
        .iter()
        .map(|n| n.len())
        .max()
        .unwrap_or(0)
        .clamp(9, 24);
    eprintln!("  {:<9} {:>8}  means", "component", "weight");
    eprint!("  {:<9} {:>8} ", "", "");
    for n in names {
        eprint!(" {n:>width$}");
    }
    eprintln!();
    for j in 0..k {
        eprint!("  {j:<9} {:>8.4} ", m.weights()[j]);
        for f in 0..d {
            eprint!(" {:>width$.4}", m.means()[j * d + f]);
        }
        eprintln!();
    }
    if let Some(p) = output {
        eprintln!("  model written to {}", p.display());
    }
}
