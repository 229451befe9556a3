//! The `emkit` command: fit, apply and inspect EM models from the shell.
//!
//! This crate holds no numerics: argument parsing, reading and writing files,
//! progress and presentation. Exit codes: 0 success, 2 usage or input error,
//! 1 anything else. It is a library as well as the `emkit` binary so that
//! the fuzz targets (`fuzz/`) and tests reach the very code the command runs
//! (image decoding, say); only [`run`] and [`image_io`] are meant for them.

mod anomalies;
mod apply;
mod common;
mod fit;
mod hmm;
pub mod image_io;
mod output;
mod plot;
mod progress;
mod segment;
mod select;
mod stream;
mod weights;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Fit latent-variable models by Expectation–Maximization.
#[derive(Parser, Debug)]
#[command(name = "emkit", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The most memory a command may need, e.g. 8G, 500M, 2GiB, or none
    /// (default: the memory available now); requests above it are refused
    /// before anything large is allocated.
    #[arg(long, global = true, value_name = "SIZE", value_parser = emkit::memory::parse_size)]
    max_memory: Option<emkit::MemoryLimit>,
    /// CSV input has no header row: every line is data and the columns are
    /// named x0, x1, ... (as the columns of a .npy array are).
    #[arg(long, global = true)]
    no_header: bool,
    /// The character between the fields of CSV input: , (the default), ;, |,
    /// tab or space.
    #[arg(long, global = true, value_name = "CHAR", value_parser = emkit::io::parse_delimiter)]
    delimiter: Option<u8>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fit a Gaussian mixture to a data file and optionally save the model.
    Fit(fit::FitArgs),
    /// Assign each row of a data file to its most probable component.
    Predict(apply::PredictArgs),
    /// Log-likelihood of a data file under a saved model.
    Score(apply::ScoreArgs),
    /// Draw samples from a saved model.
    Sample(apply::SampleArgs),
    /// Fit a grid of component counts and covariance types; pick the best by BIC, AIC or ICL.
    Select(select::SelectArgs),
    /// Flag rows of low density under a fitted or saved mixture.
    Anomalies(anomalies::AnomaliesArgs),
    /// Draw a saved mixture over its data: two columns, components and ellipses.
    Plot(plot::PlotArgs),
    /// Segment an image by a Gaussian mixture on its pixel colours (and positions).
    Segment(segment::SegmentArgs),
    /// Hidden Markov models: fit, decode, score, sample.
    Hmm(hmm::HmmArgs),
}

/// Runs the command line in `std::env::args()`; the exit code to return.
pub fn run() -> ExitCode {
    restore_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // clap's own message on one line: its first line, plus the indented
            // lines right under it (the names of missing arguments), not the usage.
            let text = e.to_string();
            let mut lines = text.lines();
            let mut message = lines
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .trim_end_matches(':')
                .to_string();
            let details: Vec<&str> = lines
                .take_while(|l| l.starts_with(char::is_whitespace) && !l.trim().is_empty())
                .map(str::trim)
                .collect();
            if !details.is_empty() {
                message = format!("{message}: {}", details.join(", "));
            }
            eprintln!("emkit: error: {message} (see emkit --help)");
            return ExitCode::from(2);
        }
    };
    if let Some(limit) = cli.max_memory {
        emkit::memory::set_default_limit(limit);
    }
    let mut csv = emkit::io::CsvOptions {
        has_header: !cli.no_header,
        ..Default::default()
    };
    if let Some(d) = cli.delimiter {
        csv.delimiter = d;
    }
    common::set_csv_options(csv);
    // Unoptimised (debug) builds of the block kernels take about 3 MB of
    // stack, more than rayon's 2 MiB default for its workers; 16 MiB is only
    // address space until used. The thread count still follows RAYON_NUM_THREADS.
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(16 << 20)
        .build_global();
    let outcome = match cli.command {
        Command::Fit(args) => fit::run(args),
        Command::Predict(args) => apply::predict(args),
        Command::Score(args) => apply::score(args),
        Command::Sample(args) => apply::sample(args),
        Command::Select(args) => select::run(args),
        Command::Anomalies(args) => anomalies::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Segment(args) => segment::run(args),
        Command::Hmm(args) => hmm::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut line = common::one_line(&err);
            let memory = err.chain().any(|c| {
                matches!(
                    c.downcast_ref::<emkit::Error>(),
                    Some(emkit::Error::TooMuchMemory { .. })
                )
            });
            if memory {
                line.push_str(" (or allow more with --max-memory SIZE)");
            }
            eprintln!("emkit: error: {line}");
            ExitCode::from(common::exit_code(&err))
        }
    }
}

/// Rust ignores SIGPIPE, so a write to a closed pipe (`emkit ... | head`)
/// returns an error that `println!` turns into a panic. Restoring the
/// default action ends the process quietly instead (status 141), as for
/// every Unix filter, on standard output and standard error alike.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default has no
    // preconditions; it runs first thing, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
