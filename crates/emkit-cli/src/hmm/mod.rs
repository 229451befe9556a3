//! `emkit hmm fit | decode | score | sample`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use emkit::hmm::Sequences;
use emkit::io::HmmFile;
use emkit::CovarianceType;

use crate::common::{display_name, input_error, parse_covariance, parse_positive};
use crate::stream::StreamArgs;
use crate::weights::WeightArgs;

mod apply;
mod fit;

#[derive(Args, Debug)]
pub struct HmmArgs {
    #[command(subcommand)]
    command: HmmCommand,
}

#[derive(Subcommand, Debug)]
enum HmmCommand {
    /// Fit an HMM by Baum–Welch and optionally save it.
    Fit(FitArgs),
    /// The most probable states (Viterbi or per-step posterior), or filtered probabilities.
    Decode(DecodeArgs),
    /// Log-likelihood of sequences under a saved HMM.
    Score(ScoreArgs),
    /// Draw one sequence from a saved HMM.
    Sample(SampleArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EmissionKind {
    Gaussian,
    Categorical,
    /// A Gaussian mixture per state (GMM-HMM).
    Gmm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Algorithm {
    Viterbi,
    Posterior,
}

#[derive(Args, Debug)]
struct FitArgs {
    /// Observations: CSV with a header row (`-` for standard input), `.npy` or `.parquet`;
    /// for categorical emissions one column of integer symbols 0..M-1.
    #[arg(value_name = "DATA")]
    data: PathBuf,
    /// Number of hidden states.
    #[arg(long, value_parser = parse_positive, allow_negative_numbers = true)]
    states: usize,
    /// What each state emits.
    #[arg(long, value_enum, default_value = "gaussian")]
    emission: EmissionKind,
    /// Covariance structure of Gaussian and gmm states: full (the default),
    /// tied, diag or spherical.
    #[arg(long, value_parser = parse_covariance)]
    covariance: Option<CovarianceType>,
    /// Number of symbols M of categorical emissions (default: largest symbol + 1).
    #[arg(long, value_parser = parse_positive, allow_negative_numbers = true)]
    n_symbols: Option<usize>,
    /// Mixture components per state of gmm emissions (default 1).
    #[arg(long, value_parser = parse_positive, allow_negative_numbers = true)]
    n_mix: Option<usize>,
    /// One sequence length per line (default: all rows are one sequence).
    #[arg(long, value_name = "FILE")]
    lengths: Option<PathBuf>,
    /// Number of restarts; the best log-likelihood wins.
    #[arg(long, default_value_t = 1, value_parser = parse_positive, allow_negative_numbers = true)]
    n_init: usize,
    /// Most Baum–Welch iterations per restart.
    #[arg(long, default_value_t = 100, value_parser = parse_positive, allow_negative_numbers = true)]
    max_iter: usize,
    /// Convergence threshold on the change of the mean log-likelihood per observation.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    tol: f64,
    /// Added to every covariance diagonal of Gaussian and gmm emissions
    /// (default 1e-6).
    #[arg(long, allow_negative_numbers = true)]
    reg_covar: Option<f64>,
    /// What to learn, as hmmlearn's letters: s start, t transitions, m means
    /// (categorical: emission probabilities, also `e`), c covariances.
    #[arg(long, default_value = "stmc")]
    learn: String,
    /// Start from this saved HMM (all its parameters; one restart).
    #[arg(long, value_name = "MODEL.json", conflicts_with = "n_init")]
    init_model: Option<PathBuf>,
    /// Master seed; each restart derives its own.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Baum–Welch acceleration: squarem (extrapolates along pairs of EM
    /// steps and keeps a step only when it raises the likelihood) or none.
    #[arg(long, default_value_t = emkit::Accel::default(), value_parser = crate::common::parse_accel)]
    accel: emkit::Accel,
    /// How the --n-init starts are spent: restarts, or split-merge (em-EM
    /// from short runs; HMMs have no split-and-merge moves yet, so the
    /// search ends there).
    #[arg(long, default_value_t = emkit::Strategy::default(), value_parser = crate::common::parse_strategy)]
    strategy: emkit::Strategy,
    /// Use only these columns (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "a,b,c")]
    columns: Option<Vec<String>>,
    /// Sequence weights: --weights FILE holds one per sequence, in --lengths
    /// order; a --weight-column must be constant within each sequence. A
    /// sequence of weight 2 counts as that sequence given twice.
    #[command(flatten)]
    weights: WeightArgs,
    /// Read each sequence from disk when a pass reaches it, holding one
    /// sequence per thread instead of the data.
    #[command(flatten)]
    stream: StreamArgs,
    /// Save the fitted model here (JSON).
    #[arg(short = 'o', long = "output", value_name = "MODEL.json")]
    output: Option<PathBuf>,
    /// Print one JSON object with the fit summary on stdout.
    #[arg(long)]
    json: bool,
    /// Write the best restart's convergence trace as CSV.
    #[arg(long, value_name = "TRACE.csv")]
    trace: Option<PathBuf>,
    /// One line per iteration on stderr.
    #[arg(short, long, conflicts_with = "quiet")]
    verbose: bool,
    /// Nothing on stderr but errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct DecodeArgs {
    /// A model saved by `emkit hmm fit -o`.
    #[arg(value_name = "MODEL")]
    model: PathBuf,
    /// Observations (CSV with a header row, `-` for standard input, `.npy` or `.parquet`).
    #[arg(value_name = "DATA")]
    data: PathBuf,
    /// viterbi: the most probable path; posterior: the most probable state at
    /// each step, with every state's probability.
    #[arg(long, value_enum, default_value = "viterbi", conflicts_with = "filter")]
    algorithm: Algorithm,
    /// Causal (forward-only) state probabilities: each step sees only the
    /// observations up to it (online regime detection).
    #[arg(long)]
    filter: bool,
    /// One sequence length per line (default: all rows are one sequence).
    #[arg(long, value_name = "FILE")]
    lengths: Option<PathBuf>,
    /// Use these columns (default: the model's feature names, else all columns).
    #[arg(long, value_delimiter = ',', value_name = "a,b,c")]
    columns: Option<Vec<String>>,
    /// Write here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT.csv")]
    output: Option<PathBuf>,
    /// Read and decode a batch of whole sequences at a time, writing as it
    /// goes, instead of holding the data.
    #[command(flatten)]
    stream: StreamArgs,
}

#[derive(Args, Debug)]
struct ScoreArgs {
    /// A model saved by `emkit hmm fit -o`.
    #[arg(value_name = "MODEL")]
    model: PathBuf,
    /// Observations (CSV with a header row, `-` for standard input, `.npy` or `.parquet`).
    #[arg(value_name = "DATA")]
    data: PathBuf,
    /// One sequence length per line (default: all rows are one sequence).
    #[arg(long, value_name = "FILE")]
    lengths: Option<PathBuf>,
    /// Use these columns (default: the model's feature names, else all columns).
    #[arg(long, value_delimiter = ',', value_name = "a,b,c")]
    columns: Option<Vec<String>>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Read and score a batch of whole sequences at a time instead of
    /// holding the data.
    #[command(flatten)]
    stream: StreamArgs,
}

#[derive(Args, Debug)]
struct SampleArgs {
    /// A model saved by `emkit hmm fit -o`.
    #[arg(value_name = "MODEL")]
    model: PathBuf,
    /// Length of the sequence.
    #[arg(short = 'n', long = "n-samples", value_parser = parse_positive, allow_negative_numbers = true)]
    n: usize,
    /// Seed of the random draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT.csv")]
    output: Option<PathBuf>,
}

pub fn run(args: HmmArgs) -> Result<()> {
    match args.command {
        HmmCommand::Fit(a) => fit::fit(a),
        HmmCommand::Decode(a) => apply::decode(a),
        HmmCommand::Score(a) => apply::score(a),
        HmmCommand::Sample(a) => apply::sample(a),
    }
}

/// Reads a lengths file (see [`emkit::io::read_lengths`]).
fn read_lengths(path: &Path) -> Result<Vec<usize>> {
    let name = display_name(path);
    let file = fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            input_error(format!("{name}: no such lengths file; check the path"))
        } else {
            input_error(format!("{name}: cannot read: {e}"))
        }
    })?;
    emkit::io::read_lengths(file).map_err(|e| match e {
        emkit::Error::Io(e) => input_error(format!("{name}: cannot read: {e}")),
        e => input_error(format!("{name}: {e}")),
    })
}

/// The data split into sequences by `--lengths`, with both files named in errors.
fn sequences<'a>(
    data: emkit::DataRef<'a>,
    lengths: &'a Option<Vec<usize>>,
    lengths_path: Option<&Path>,
    data_name: &str,
) -> Result<Sequences<'a>> {
    match (lengths, lengths_path) {
        (Some(l), Some(p)) => Sequences::new(data, l)
            .map_err(|e| input_error(format!("{} (with {data_name}): {e}", display_name(p)))),
        _ => Ok(Sequences::one(data)),
    }
}

fn read_hmm(path: &Path) -> Result<HmmFile> {
    let name = display_name(path);
    let text = fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            input_error(format!("{name}: no such model file; check the path"))
        } else {
            input_error(format!("{name}: cannot read model file: {e}"))
        }
    })?;
    HmmFile::from_json_str(&text).map_err(|e| input_error(format!("{name}: {e}")))
}
