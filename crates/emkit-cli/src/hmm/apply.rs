//! `emkit hmm decode | score | sample`: using a saved HMM, on data in
//! memory or a batch of sequences at a time.

use std::path::Path;

use anyhow::Result;
use emkit::hmm::{AnyHmm, Sequences, SourceSequences};
use emkit::io::HmmFile;
use serde_json::json;

use crate::common::{
    check_paths, csv_line, display_name, fmt_f64, input_error, print_line, read_data_for_features,
    read_error, write_output,
};
use crate::stream;

use super::{read_hmm, read_lengths, sequences, Algorithm, DecodeArgs, SampleArgs, ScoreArgs};

/// The model, the data (columns chosen by the model's names) and the lengths.
fn load(
    model: &Path,
    data: &Path,
    columns: Option<&[String]>,
    lengths: Option<&Path>,
) -> Result<(HmmFile, emkit::io::Table, Option<Vec<usize>>)> {
    let file = read_hmm(model)?;
    let table = read_data_for_features(
        data,
        columns,
        file.model.n_features(),
        file.feature_names.as_deref(),
    )?;
    let lengths = lengths.map(read_lengths).transpose()?;
    Ok((file, table, lengths))
}

/// A library error about the data, named after the data file.
fn data_error(name: &str) -> impl Fn(emkit::Error) -> anyhow::Error + '_ {
    move |e| input_error(format!("{name}: {e}"))
}

pub(super) fn decode(args: DecodeArgs) -> Result<()> {
    check_paths(
        &[Some(&args.model), Some(&args.data), args.lengths.as_deref()],
        &[("-o", args.output.as_deref())],
    )?;
    if args.stream.wanted(&args.data, false) {
        return decode_streamed(&args);
    }
    let (file, table, lengths) = load(
        &args.model,
        &args.data,
        args.columns.as_deref(),
        args.lengths.as_deref(),
    )?;
    let name = display_name(&args.data);
    let seqs = sequences(table.data.view(), &lengths, args.lengths.as_deref(), &name)?;
    let (states, proba) = decoded(&file.model, &seqs, &args).map_err(data_error(&name))?;
    write_output(args.output.as_deref(), |out| {
        csv_line(out, &decode_header(&file.model, proba.is_some()))?;
        for_each_decoded(&states, proba.as_ref(), |row| csv_line(out, row))
    })
}

/// The states of `seqs` by the algorithm asked for, and their
/// probabilities where it gives them.
fn decoded(
    model: &AnyHmm,
    seqs: &Sequences<'_>,
    args: &DecodeArgs,
) -> emkit::Result<(Vec<usize>, Option<emkit::Matrix>)> {
    Ok(if args.filter {
        let p = model.filter(seqs)?;
        (argmax_rows(&p), Some(p))
    } else if args.algorithm == Algorithm::Posterior {
        let p = model.predict_proba(seqs)?;
        (argmax_rows(&p), Some(p))
    } else {
        (model.decode(seqs)?.1, None)
    })
}

fn decode_header(model: &AnyHmm, proba: bool) -> Vec<String> {
    let mut header = vec!["state".to_string()];
    if proba {
        header.extend((0..model.n_states()).map(|j| format!("proba_{j}")));
    }
    header
}

/// Calls `line` with the cells of every decoded step.
fn for_each_decoded<E>(
    states: &[usize],
    proba: Option<&emkit::Matrix>,
    mut line: impl FnMut(&[String]) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut row = Vec::new();
    for (t, s) in states.iter().enumerate() {
        row.clear();
        row.push(s.to_string());
        if let Some(p) = proba {
            row.extend(p.row(t).iter().map(|&v| fmt_f64(v)));
        }
        line(&row)?;
    }
    Ok(())
}

/// The model, the data opened for streaming with the model's columns, and
/// the lengths (one sequence of every row without a lengths file).
fn load_streamed(
    model: &Path,
    data: &Path,
    columns: Option<&[String]>,
    lengths: Option<&Path>,
    output: Option<&Path>,
) -> Result<(HmmFile, stream::Streamed, Vec<usize>)> {
    let file = read_hmm(model)?;
    let streamed = stream::open_for_model(
        data,
        columns,
        file.model.n_features(),
        file.feature_names.as_deref(),
        &stream::spill_dir(output),
    )?;
    let lengths = match lengths {
        Some(path) => {
            let lengths = read_lengths(path)?;
            SourceSequences::new(&*streamed.rows, &lengths).map_err(|e| {
                input_error(format!(
                    "{} (with {}): {e}",
                    display_name(path),
                    display_name(data)
                ))
            })?;
            lengths
        }
        None => vec![streamed.rows.n_rows()],
    };
    Ok((file, streamed, lengths))
}

/// The streamed decode: a batch of whole sequences read, decoded and
/// written at a time (`emkit::hmm::for_each_batch`); the output is the
/// in-memory one, byte for byte.
fn decode_streamed(args: &DecodeArgs) -> Result<()> {
    let (file, data, lengths) = load_streamed(
        &args.model,
        &args.data,
        args.columns.as_deref(),
        args.lengths.as_deref(),
        args.output.as_deref(),
    )?;
    let proba = args.filter || args.algorithm == Algorithm::Posterior;
    let header = decode_header(&file.model, proba);
    stream::write_csv(
        &display_name(&args.data),
        args.output.as_deref(),
        &header,
        |emit| {
            emkit::hmm::for_each_batch(&*data.rows, &lengths, |_, seqs| {
                let (states, proba) = decoded(&file.model, seqs, args)?;
                for_each_decoded(&states, proba.as_ref(), &mut *emit)
            })
        },
    )
}

fn argmax_rows(p: &emkit::Matrix) -> Vec<usize> {
    (0..p.n_rows())
        .map(|t| {
            let row = p.row(t);
            (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b })
        })
        .collect()
}

pub(super) fn score(args: ScoreArgs) -> Result<()> {
    let name = display_name(&args.data);
    let (model, ll, n, n_sequences) = if args.stream.wanted(&args.data, false) {
        let (file, data, lengths) = load_streamed(
            &args.model,
            &args.data,
            args.columns.as_deref(),
            args.lengths.as_deref(),
            None,
        )?;
        let ll = file
            .model
            .score_source(&*data.rows, &lengths)
            .map_err(|e| read_error(&name, e))?;
        (file.model, ll, data.rows.n_rows(), lengths.len())
    } else {
        let (file, table, lengths) = load(
            &args.model,
            &args.data,
            args.columns.as_deref(),
            args.lengths.as_deref(),
        )?;
        let seqs = sequences(table.data.view(), &lengths, args.lengths.as_deref(), &name)?;
        let ll = file.model.score(&seqs).map_err(data_error(&name))?;
        (file.model, ll, seqs.n_samples(), seqs.len())
    };
    if args.json {
        let p = model.n_parameters();
        let out = json!({
            "n_samples": n,
            "n_sequences": n_sequences,
            "n_features": model.n_features(),
            "log_likelihood": ll,
            "mean_log_likelihood": ll / n as f64,
            "bic": emkit::em::criteria::bic(ll, p, n as f64),
            "aic": emkit::em::criteria::aic(ll, p),
            "n_parameters": p,
        });
        print_line(&out.to_string())?;
    } else {
        print_line(&ll.to_string())?;
        eprintln!(
            "total log-likelihood of {name} ({n} observations in {n_sequences} sequence(s)) under {}",
            display_name(&args.model)
        );
    }
    Ok(())
}

pub(super) fn sample(args: SampleArgs) -> Result<()> {
    check_paths(&[Some(&args.model)], &[("-o", args.output.as_deref())])?;
    let file = read_hmm(&args.model)?;
    let d = file.model.n_features();
    let names = file
        .feature_names
        .clone()
        .unwrap_or_else(|| match &file.model {
            AnyHmm::Categorical(_) => vec!["symbol".into()],
            AnyHmm::Gaussian(_) | AnyHmm::Gmm(_) => (0..d).map(|i| format!("x{i}")).collect(),
        });
    let (x, states) = file
        .model
        .sample(args.n, args.seed)
        .map_err(|e| anyhow::Error::new(e).context(format!("-n {}", args.n)))?;
    write_output(args.output.as_deref(), |out| {
        let mut header = names.clone();
        header.push("state".into());
        csv_line(out, &header)?;
        for (t, s) in states.iter().enumerate() {
            let mut row: Vec<String> = x.row(t).iter().map(|&v| fmt_f64(v)).collect();
            row.push(s.to_string());
            csv_line(out, &row)?;
        }
        Ok(())
    })
}
