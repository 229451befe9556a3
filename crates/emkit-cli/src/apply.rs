//! `emkit predict`, `score` and `sample`: using a saved model.

use std::path::{Path, PathBuf};

use emkit::io::MixtureFile;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use crate::common::{
    check_paths, csv_line, display_name, fmt_f64, parse_positive, print_line, read_data_for_model,
    read_error, read_model, write_output,
};
use crate::stream::{self, StreamArgs};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A model saved by `emkit fit -o`.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Data: CSV with a header row (`-` for standard input), `.npy` or `.parquet`.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// Also write the probability of every component.
    #[arg(long)]
    pub proba: bool,
    /// Use these columns (default: the model's feature names, else all columns).
    #[arg(long, value_delimiter = ',', value_name = "a,b,c")]
    pub columns: Option<Vec<String>>,
    /// Write here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT.csv")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub stream: StreamArgs,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// A model saved by `emkit fit -o`.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Data: CSV with a header row (`-` for standard input), `.npy` or `.parquet`.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// Write the log-density of every row (CSV) instead of the mean.
    #[arg(long, conflicts_with = "json")]
    pub per_sample: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Use these columns (default: the model's feature names, else all columns).
    #[arg(long, value_delimiter = ',', value_name = "a,b,c")]
    pub columns: Option<Vec<String>>,
    /// With --per-sample: write here instead of standard output.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "OUT.csv",
        requires = "per_sample"
    )]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub stream: StreamArgs,
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A model saved by `emkit fit -o`.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Number of samples.
    #[arg(short = 'n', long = "n-samples", value_parser = parse_positive, allow_negative_numbers = true)]
    pub n: usize,
    /// Seed of the random draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT.csv")]
    pub output: Option<PathBuf>,
}

pub fn predict(args: PredictArgs) -> Result<()> {
    check_paths(
        &[Some(&args.model), Some(&args.data)],
        &[("-o", args.output.as_deref())],
    )?;
    let file = read_model(&args.model)?;
    if args.stream.wanted(&args.data, false) {
        return predict_streamed(&args, &file);
    }
    let table = read_data_for_model(&args.data, args.columns.as_deref(), &file)?;
    let data = table.data.view();
    let labels = file.model.predict(data)?;
    let proba = if args.proba {
        Some(file.model.predict_proba(data)?)
    } else {
        None
    };
    let k = file.model.n_components();
    write_output(args.output.as_deref(), |out| {
        let mut header = vec!["label".to_string()];
        if proba.is_some() {
            header.extend((0..k).map(|j| format!("proba_{j}")));
        }
        csv_line(out, &header)?;
        for (i, l) in labels.iter().enumerate() {
            let mut row = vec![l.to_string()];
            if let Some(p) = &proba {
                row.extend(p.row(i).iter().map(|&v| fmt_f64(v)));
            }
            csv_line(out, &row)?;
        }
        Ok(())
    })
}

pub fn score(args: ScoreArgs) -> Result<()> {
    check_paths(
        &[Some(&args.model), Some(&args.data)],
        &[("-o", args.output.as_deref())],
    )?;
    let file = read_model(&args.model)?;
    if args.stream.wanted(&args.data, false) {
        return score_streamed(&args, &file);
    }
    let table = read_data_for_model(&args.data, args.columns.as_deref(), &file)?;
    let data = table.data.view();
    let model = &file.model;
    if args.per_sample {
        let scores = model.score_samples(data)?;
        return write_output(args.output.as_deref(), |out| {
            csv_line(out, &["log_likelihood".into()])?;
            for s in &scores {
                csv_line(out, &[fmt_f64(*s)])?;
            }
            Ok(())
        });
    }
    let mean = model.score(data)?;
    print_score(&args, model, mean, data.n_rows())
}

fn print_score(
    args: &ScoreArgs,
    model: &emkit::GaussianMixture,
    mean: f64,
    n: usize,
) -> Result<()> {
    if args.json {
        // One pass over the data: the criteria follow from the score.
        let ll = mean * n as f64;
        let p = model.n_parameters();
        let out = json!({
            "n_samples": n,
            "n_features": model.n_features(),
            "log_likelihood": ll,
            "mean_log_likelihood": mean,
            "bic": emkit::em::criteria::bic(ll, p, n as f64),
            "aic": emkit::em::criteria::aic(ll, p),
            "n_parameters": p,
        });
        print_line(&out.to_string())?;
    } else {
        print_line(&mean.to_string())?;
        eprintln!(
            "mean log-likelihood per row of {} ({n} rows) under {}",
            display_name(&args.data),
            display_name(&args.model)
        );
    }
    Ok(())
}

pub fn sample(args: SampleArgs) -> Result<()> {
    check_paths(&[Some(&args.model)], &[("-o", args.output.as_deref())])?;
    let file = read_model(&args.model)?;
    let d = file.model.n_features();
    let names = file
        .feature_names
        .clone()
        .unwrap_or_else(|| (0..d).map(|i| format!("x{i}")).collect());
    let (x, labels) = file
        .model
        .sample(args.n, args.seed)
        .map_err(|e| anyhow::Error::new(e).context(format!("-n {}", args.n)))?;
    write_output(args.output.as_deref(), |out| {
        let mut header = names.clone();
        header.push("component".into());
        csv_line(out, &header)?;
        for (i, l) in labels.iter().enumerate() {
            let mut row: Vec<String> = x.row(i).iter().map(|&v| fmt_f64(v)).collect();
            row.push(l.to_string());
            csv_line(out, &row)?;
        }
        Ok(())
    })
}

/// Opens the data of `predict` or `score` for streaming into `file`'s model.
fn open_streamed(
    data: &Path,
    columns: Option<&[String]>,
    output: Option<&Path>,
    file: &MixtureFile,
) -> Result<stream::Streamed> {
    stream::open_for_model(
        data,
        columns,
        file.model.n_features(),
        file.feature_names.as_deref(),
        &stream::spill_dir(output),
    )
}

fn predict_streamed(args: &PredictArgs, file: &MixtureFile) -> Result<()> {
    let data = open_streamed(
        &args.data,
        args.columns.as_deref(),
        args.output.as_deref(),
        file,
    )?;
    let model = &file.model;
    let k = model.n_components();
    let mut header = vec!["label".to_string()];
    if args.proba {
        header.extend((0..k).map(|j| format!("proba_{j}")));
    }
    stream::write_rows(
        &*data.rows,
        &display_name(&args.data),
        args.output.as_deref(),
        &header,
        |piece| {
            let labels = model.predict(piece)?;
            let proba = if args.proba {
                Some(model.predict_proba(piece)?)
            } else {
                None
            };
            Ok((labels, proba))
        },
        |(labels, proba), _, r, cells| {
            cells.push(labels[r].to_string());
            if let Some(p) = proba {
                cells.extend(p.row(r).iter().map(|&v| fmt_f64(v)));
            }
        },
    )
}

fn score_streamed(args: &ScoreArgs, file: &MixtureFile) -> Result<()> {
    let data = open_streamed(
        &args.data,
        args.columns.as_deref(),
        args.output.as_deref(),
        file,
    )?;
    let model = &file.model;
    let name = display_name(&args.data);
    if args.per_sample {
        return stream::write_rows(
            &*data.rows,
            &name,
            args.output.as_deref(),
            &["log_likelihood".into()],
            |piece| model.score_samples(piece),
            |scores, _, r, cells| cells.push(fmt_f64(scores[r])),
        );
    }
    let mean = model
        .score_source(&*data.rows)
        .map_err(|e| read_error(&name, e))?;
    print_score(args, model, mean, data.rows.n_rows())
}
