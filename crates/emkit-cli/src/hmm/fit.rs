//! `emkit hmm fit`: Baum–Welch on data in memory or streamed, its summary.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::ValueEnum;
use emkit::hmm::{
    AnyHmm, CategoricalHmm, Emission, GaussianHmm, GmmHmm, HmmBuilder, HmmFit, Initialise, Learn,
    Sequences, SourceSequences,
};
use emkit::io::HmmFile;
use emkit::{CovarianceType, Monitor};
use serde_json::{json, Value};

use crate::common::{
    check_paths, check_tol_and_reg_covar, display_name, fit_error, input_error, print_line,
    read_error, write_atomic, write_trace,
};
use crate::fit::{stop_name, stop_text};
use crate::progress::{FitProgress, Verbosity};
use crate::stream;
use crate::weights::{read_weights_file, WeightArgs};

use super::{read_hmm, read_lengths, sequences, EmissionKind, FitArgs};

/// One weight per sequence: the `--weights` file's (one per sequence
/// already), or the `--weight-column`'s value, which must be the same on
/// every row of a sequence.
fn sequence_weights(
    args: &WeightArgs,
    seqs: &Sequences<'_>,
    weights: Vec<f64>,
    name: &str,
) -> Result<Vec<f64>> {
    if args.weight_column.is_none() {
        return Ok(weights);
    }
    (0..seqs.len())
        .map(|i| {
            let (start, rows) = seqs.sequence(i);
            constant_weight(args, i, start, &weights[start..start + rows.n_rows()], name)
        })
        .collect()
}

/// The per-row `--weight-column` of a streamed fit as one weight per
/// sequence, read a sequence at a time.
fn streamed_sequence_weights(
    args: &WeightArgs,
    rows: &dyn emkit::io::RowSource,
    lengths: &[usize],
    name: &str,
) -> Result<Vec<f64>> {
    let mut values = Vec::new();
    let mut start = 0;
    let mut weights = Vec::with_capacity(lengths.len());
    for (i, &len) in lengths.iter().enumerate() {
        rows.read_rows(start, len, &mut values)
            .map_err(|e| read_error(name, e))?;
        weights.push(constant_weight(args, i, start, &values, name)?);
        start += len;
    }
    Ok(weights)
}

/// The weight of sequence `i`, whose rows (from data row `start`, 0-based)
/// have the weights `values`: all the same.
fn constant_weight(
    args: &WeightArgs,
    i: usize,
    start: usize,
    values: &[f64],
    name: &str,
) -> Result<f64> {
    let w = values[0];
    match values.iter().position(|&v| v != w) {
        None => Ok(w),
        Some(r) => Err(input_error(format!(
            "{name}: {} holds {w} on data row {} but {} on row {} of the same \
             sequence ({i}, 0-based); a sequence has one weight",
            args.source().unwrap_or_default(),
            start + 1,
            values[r],
            start + r + 1
        ))),
    }
}

impl FitArgs {
    fn reg_covar(&self) -> f64 {
        self.reg_covar.unwrap_or(1e-6)
    }

    fn covariance(&self) -> CovarianceType {
        self.covariance.unwrap_or(CovarianceType::Full)
    }

    /// Options that mean nothing for the chosen emission, or that contradict
    /// the initial model, are refused rather than ignored.
    fn check_consistent(&self, init: Option<&HmmFile>) -> Result<()> {
        let emission = self.emission.to_possible_value();
        let emission = emission.as_ref().map_or("", |v| v.get_name());
        let unused = |flag: &str, used_by: &str| {
            input_error(format!(
                "{flag} applies to {used_by} emissions, not --emission {emission}; drop it"
            ))
        };
        if self.n_symbols.is_some() && self.emission != EmissionKind::Categorical {
            return Err(unused("--n-symbols", "categorical"));
        }
        if self.n_mix.is_some() && self.emission != EmissionKind::Gmm {
            return Err(unused("--n-mix", "gmm"));
        }
        if self.emission == EmissionKind::Categorical {
            if self.covariance.is_some() {
                return Err(unused("--covariance", "gaussian and gmm"));
            }
            if self.reg_covar.is_some() {
                return Err(unused("--reg-covar", "gaussian and gmm"));
            }
        }
        if let (Some(file), Some(path)) = (init, &self.init_model) {
            let kind = match &file.model {
                AnyHmm::Gaussian(m) => Some(m.emission().covariance_type()),
                AnyHmm::Gmm(m) => Some(m.emission().covariance_type()),
                AnyHmm::Categorical(_) => None,
            };
            if let (Some(given), Some(kind)) = (self.covariance, kind) {
                if given != kind {
                    return Err(input_error(format!(
                        "--covariance {given} contradicts --init-model {}, whose states have \
                         {kind} covariances; drop --covariance",
                        path.display()
                    )));
                }
            }
            if file.model.n_states() != self.states {
                return Err(input_error(format!(
                    "--states {} contradicts --init-model {}, a {}-state model; give --states {}",
                    self.states,
                    path.display(),
                    file.model.n_states(),
                    file.model.n_states()
                )));
            }
        }
        Ok(())
    }
}

pub(super) fn fit(args: FitArgs) -> Result<()> {
    check_paths(
        &[
            Some(&args.data),
            args.lengths.as_deref(),
            args.init_model.as_deref(),
            args.weights.file(),
        ],
        &[
            ("-o", args.output.as_deref()),
            ("--trace", args.trace.as_deref()),
            ("--json", args.json.then_some(Path::new("/dev/stdout"))),
        ],
    )?;
    check_tol_and_reg_covar(args.tol, args.reg_covar())?;
    let learn: Learn = args
        .learn
        .parse()
        .map_err(|e| input_error(format!("--learn: {e}")))?;
    let init = args.init_model.as_deref().map(read_hmm).transpose()?;
    args.check_consistent(init.as_ref())?;
    let name = display_name(&args.data);
    let lengths = args.lengths.as_deref().map(read_lengths).transpose()?;
    let n_sequences = lengths.as_ref().map_or(1, |l| l.len());
    let verbosity = Verbosity::from_flags(args.verbose, args.quiet);
    let (table, streamed);
    let (names, data, mut progress) = if args.stream.wanted(&args.data, args.quiet) {
        // The weight column comes with the data; a --weights file holds one
        // weight per sequence.
        let column = WeightArgs {
            weights: None,
            weight_column: args.weights.weight_column.clone(),
        };
        let dir = stream::spill_dir(args.output.as_deref());
        streamed = stream::open(&args.data, args.columns.as_deref(), &column, &dir)?;
        let rows = &*streamed.rows;
        let lengths = lengths.unwrap_or_else(|| vec![rows.n_rows()]);
        let seqs = SourceSequences::new(rows, &lengths).map_err(|e| match &args.lengths {
            Some(p) => input_error(format!("{} (with {name}): {e}", display_name(p))),
            None => read_error(&name, e),
        })?;
        let weights = match (&args.weights.weights, &streamed.weights) {
            (Some(file), _) => Some(read_weights_file(file, n_sequences, "sequence")?),
            (None, Some(w)) => Some(streamed_sequence_weights(
                &args.weights,
                &**w,
                &lengths,
                &name,
            )?),
            (None, None) => None,
        };
        let progress = FitProgress::new(verbosity).streaming(rows.n_rows());
        (
            &streamed.names,
            FitData::Stream(seqs).weighed(weights, &name)?,
            progress,
        )
    } else {
        let (t, row_weights) = args
            .weights
            .read(&args.data, args.columns.as_deref(), |_| {
                Ok((n_sequences, "sequence"))
            })?;
        table = t;
        let seqs = sequences(table.data.view(), &lengths, args.lengths.as_deref(), &name)?;
        let weights = row_weights
            .map(|w| sequence_weights(&args.weights, &seqs, w, &name))
            .transpose()?;
        let data = FitData::Memory(seqs).weighed(weights, &name)?;
        (&table.names, data, FitProgress::new(verbosity))
    };
    rayon::broadcast(|_| ());
    let started = Instant::now();
    let context = |e: emkit::Error| fit_error(&name, names, e);
    let fitted: AnyFit = match args.emission {
        EmissionKind::Gaussian => {
            let mut b = GaussianHmm::builder(args.states)
                .covariance(args.covariance())
                .reg_covar(args.reg_covar());
            if let Some(file) = &init {
                let AnyHmm::Gaussian(m) = &file.model else {
                    return Err(input_error(
                        "--init-model holds a categorical HMM; use --emission categorical",
                    ));
                };
                b = b.covariance(m.emission().covariance_type());
                b = b.init_model(m.clone());
            }
            AnyFit::Gaussian(run_fit(b, &args, learn, &data, &mut progress).map_err(context)?)
        }
        EmissionKind::Categorical => {
            let mut b = CategoricalHmm::builder(args.states);
            if let Some(m) = args.n_symbols {
                b = b.n_symbols(m);
            }
            if let Some(file) = &init {
                let AnyHmm::Categorical(m) = &file.model else {
                    return Err(input_error(
                        "--init-model holds a Gaussian HMM; use --emission gaussian",
                    ));
                };
                b = b.init_model(m.clone());
            }
            AnyFit::Categorical(run_fit(b, &args, learn, &data, &mut progress).map_err(context)?)
        }
        EmissionKind::Gmm => {
            let mut b = GmmHmm::builder(args.states)
                .covariance(args.covariance())
                .reg_covar(args.reg_covar())
                .n_mix(args.n_mix.unwrap_or(1));
            if let Some(file) = &init {
                let AnyHmm::Gmm(m) = &file.model else {
                    return Err(input_error(format!(
                        "--init-model holds a {} HMM; use --emission {}",
                        file.model.emission_name(),
                        file.model.emission_name()
                    )));
                };
                b = b.covariance(m.emission().covariance_type());
                b = b.init_model(m.clone());
            }
            AnyFit::Gmm(run_fit(b, &args, learn, &data, &mut progress).map_err(context)?)
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    progress.finish();
    let mut summary = fitted.summary(&args, data.len(), names, seconds);
    summary["streamed"] = json!(matches!(data, FitData::Stream(_)));
    if let Some(path) = &args.output {
        let file = HmmFile {
            model: fitted.model(),
            feature_names: Some(names.clone()),
            fit: Some(summary.clone()),
        };
        let text = file.to_json_string();
        write_atomic(path, |out| out.write_all(text.as_bytes()))?;
    }
    let report = fitted.report();
    if let Some(path) = &args.trace {
        write_trace(path, &report.best().trace)?;
    }
    if args.json {
        let mut out = summary.clone();
        out["model"] = json!(args.output.as_ref().map(|p| p.display().to_string()));
        print_line(&serde_json::to_string(&out).context("serialising the summary")?)?;
    }
    if verbosity != Verbosity::Quiet {
        print_summary(&name, &fitted, &summary, names, args.output.as_deref());
    }
    Ok(())
}

/// The sequences of a fit: in memory, or read from disk on every pass.
enum FitData<'a> {
    Memory(Sequences<'a>),
    Stream(SourceSequences<'a>),
}

impl FitData<'_> {
    /// These sequences with one weight each, if given.
    fn weighed(self, weights: Option<Vec<f64>>, name: &str) -> Result<Self> {
        let Some(w) = weights else { return Ok(self) };
        let with = |e: emkit::Error| input_error(format!("{name}: {e}"));
        Ok(match self {
            FitData::Memory(s) => FitData::Memory(s.with_weights(&w).map_err(with)?),
            FitData::Stream(s) => FitData::Stream(s.with_weights(&w).map_err(with)?),
        })
    }

    fn len(&self) -> usize {
        match self {
            FitData::Memory(s) => s.len(),
            FitData::Stream(s) => s.len(),
        }
    }
}

fn run_fit<E: Emission>(
    b: HmmBuilder<E>,
    args: &FitArgs,
    learn: Learn,
    data: &FitData<'_>,
    monitor: &mut dyn Monitor,
) -> emkit::Result<HmmFit<E>>
where
    HmmBuilder<E>: Initialise<E> + Clone,
{
    let b = b
        .learn(learn)
        .n_init(args.n_init)
        .max_iter(args.max_iter)
        .tol(args.tol)
        .seed(args.seed)
        .accel(args.accel)
        .strategy(args.strategy);
    match data {
        FitData::Memory(seqs) => b.fit_with_monitor(seqs, monitor),
        FitData::Stream(seqs) => b.fit_source(seqs, monitor),
    }
}

enum AnyFit {
    Gaussian(HmmFit<emkit::hmm::GaussianEmission>),
    Categorical(HmmFit<emkit::hmm::CategoricalEmission>),
    Gmm(HmmFit<emkit::hmm::GmmEmission>),
}

impl AnyFit {
    fn model(&self) -> AnyHmm {
        match self {
            AnyFit::Gaussian(f) => AnyHmm::Gaussian(f.model.clone()),
            AnyFit::Categorical(f) => AnyHmm::Categorical(f.model.clone()),
            AnyFit::Gmm(f) => AnyHmm::Gmm(f.model.clone()),
        }
    }

    fn report(&self) -> &emkit::FitReport {
        match self {
            AnyFit::Gaussian(f) => &f.report,
            AnyFit::Categorical(f) => &f.report,
            AnyFit::Gmm(f) => &f.report,
        }
    }

    fn summary(&self, args: &FitArgs, n_sequences: usize, names: &[String], seconds: f64) -> Value {
        let model = self.model();
        let report = self.report();
        let best = report.best();
        let (ll, mean) = (best.log_likelihood, best.mean_log_likelihood);
        let p = model.n_parameters();
        let (bic, aic) = (
            emkit::em::criteria::bic(ll, p, report.total_weight),
            emkit::em::criteria::aic(ll, p),
        );
        let unvisited: Vec<Value> = best
            .reseeded
            .iter()
            .map(|(iteration, state)| json!({"iteration": iteration, "state": state}))
            .collect();
        let failed = report.restarts.iter().filter(|r| r.error.is_some()).count();
        let mut s = json!({
            "model_type": "hmm",
            "emission": model.emission_name(),
            "n_components": model.n_states(),
            "n_samples": report.n_samples,
            "weights": args.weights.source(),
            "total_weight": report.total_weight,
            "n_sequences": n_sequences,
            "n_features": model.n_features(),
            "log_likelihood": ll,
            "mean_log_likelihood": mean,
            "bic": bic,
            "aic": aic,
            "n_parameters": model.n_parameters(),
            "n_iter": best.n_iter(),
            "n_em_steps": best.em_steps,
            "accel": args.accel.name(),
            "strategy": args.strategy.name(),
            "converged": best.converged(),
            "stop_reason": stop_name(best.stop),
            "best_init": report.best_init,
            "n_init": report.restarts.len(),
            "failed_restarts": failed,
            "unvisited": unvisited,
            "seconds": seconds,
            "feature_names": names,
            "data": display_name(&args.data),
            "learned": args.learn,
            "seed": args.seed,
            "tol": args.tol,
            "max_iter": args.max_iter,
            "emkit_version": env!("CARGO_PKG_VERSION"),
        });
        match &model {
            AnyHmm::Gaussian(h) => {
                s["covariance_type"] = json!(h.emission().covariance_type().name());
                s["reg_covar"] = json!(args.reg_covar());
            }
            AnyHmm::Categorical(h) => {
                s["covariance_type"] = Value::Null;
                s["n_symbols"] = json!(h.emission().n_symbols());
            }
            AnyHmm::Gmm(h) => {
                s["covariance_type"] = json!(h.emission().covariance_type().name());
                s["n_mix"] = json!(h.emission().n_mix());
                s["reg_covar"] = json!(args.reg_covar());
            }
        }
        s
    }
}

fn print_summary(
    name: &str,
    fit: &AnyFit,
    summary: &Value,
    names: &[String],
    output: Option<&Path>,
) {
    let model = fit.model();
    let report = fit.report();
    let best = report.best();
    let k = model.n_states();
    let kind = match &model {
        AnyHmm::Gaussian(h) => format!("Gaussian ({})", h.emission().covariance_type()),
        AnyHmm::Categorical(h) => format!("categorical ({} symbols)", h.emission().n_symbols()),
        AnyHmm::Gmm(h) => format!(
            "Gaussian-mixture ({} x {})",
            h.emission().n_mix(),
            h.emission().covariance_type()
        ),
    };
    eprintln!(
        "{k}-state {kind} HMM on {} observations in {} sequence(s) of {name}",
        report.n_samples, summary["n_sequences"]
    );
    eprintln!(
        "  log-likelihood {:.6} (mean {:.6} per observation)  BIC {:.4}  AIC {:.4}  parameters {}",
        best.log_likelihood,
        best.mean_log_likelihood,
        summary["bic"].as_f64().unwrap_or(f64::NAN),
        summary["aic"].as_f64().unwrap_or(f64::NAN),
        model.n_parameters()
    );
    eprintln!(
        "  best of {} restart(s): #{} {} in {:.3} s",
        report.restarts.len(),
        report.best_init + 1,
        stop_text(best),
        summary["seconds"].as_f64().unwrap_or(f64::NAN)
    );
    if !best.converged() {
        eprintln!(
            "  warning: not converged; raise --max-iter or --tol (the model is still written)"
        );
    }
    if let Some(&(iteration, state)) = best.reseeded.last() {
        eprintln!(
            "  note: {} time(s) a state was unvisited or collapsed and kept its emission (last: state {state} at iteration {iteration})",
            best.reseeded.len()
        );
    }
    if let Some(r) = report.restarts.iter().find(|r| r.error.is_some()) {
        eprintln!(
            "  note: a restart failed, e.g. #{}: {}",
            r.restart + 1,
            r.error.as_deref().unwrap_or("")
        );
    }
    eprintln!("  state   start  transitions");
    for i in 0..k {
        eprint!("  {i:<5} {:>7.4} ", model.start()[i]);
        for j in 0..k {
            eprint!(" {:>7.4}", model.transitions()[i * k + j]);
        }
        eprintln!();
    }
    match &model {
        AnyHmm::Gaussian(h) => {
            let labels: Vec<String> = (0..h.n_states()).map(|i| i.to_string()).collect();
            print_means("state", &labels, h.emission().means(), names)
        }
        AnyHmm::Gmm(h) => {
            let mixtures = h.emission().mixtures();
            let mut labels = Vec::new();
            let mut means = Vec::new();
            for (i, g) in mixtures.iter().enumerate() {
                for c in 0..g.n_components() {
                    labels.push(format!("{i}.{c} ({:.3})", g.weights()[c]));
                }
                means.extend_from_slice(g.means());
            }
            print_means("state.component (weight)", &labels, &means, names)
        }
        AnyHmm::Categorical(h) => {
            let m = h.emission().n_symbols();
            eprintln!("  state   emission probabilities of symbols 0..{}", m - 1);
            for i in 0..k {
                eprint!("  {i:<5}  ");
                for s in 0..m {
                    eprint!(" {:>7.4}", h.emission().probabilities()[i * m + s]);
                }
                eprintln!();
            }
        }
    }
    if let Some(p) = output {
        eprintln!("  model written to {}", p.display());
    }
}

/// One row of means per label, under a header of feature names.
fn print_means(title: &str, labels: &[String], means: &[f64], names: &[String]) {
    let d = names.len();
    let width = names
        .iter()
        .map(|n| n.len())
        .max()
        .unwrap_or(0)
        .clamp(9, 24);
    let left = labels.iter().map(|l| l.len()).max().unwrap_or(0).max(5);
    eprint!("  {title}  means\n  {:<left$} ", "");
    for n in names {
        eprint!(" {n:>width$}");
    }
    eprintln!();
    for (i, label) in labels.iter().enumerate() {
        eprint!("  {label:<left$} ");
        for f in 0..d {
            eprint!(" {:>width$.4}", means[i * d + f]);
        }
        eprintln!();
    }
}
