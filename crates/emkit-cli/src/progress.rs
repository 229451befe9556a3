//! Watching a fit: `-v` prints one line per iteration; on a terminal a progress
//! bar appears for fits that take more than a moment; `-q` silences both.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use emkit::{Monitor, RestartReport, TraceEntry};
use indicatif::{ProgressBar, ProgressStyle};

/// How much a command says on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// A summary (and a progress bar on a terminal).
    Normal,
    /// Also one line per EM iteration.
    Verbose,
}

impl Verbosity {
    pub fn from_flags(verbose: bool, quiet: bool) -> Self {
        match (verbose, quiet) {
            (_, true) => Verbosity::Quiet,
            (true, false) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        }
    }
}

/// A progress bar appears only after this long, so quick fits stay clean.
const BAR_DELAY: Duration = Duration::from_millis(400);

pub struct FitProgress {
    verbosity: Verbosity,
    started: Instant,
    terminal: bool,
    bar: Option<ProgressBar>,
    n_init: usize,
    restart: usize,
    /// Rows read on every pass, when the data is streamed.
    streamed_rows: Option<usize>,
    passes: usize,
}

impl FitProgress {
    /// The bar of a streamed fit also counts the passes over its `rows` rows.
    pub fn streaming(mut self, rows: usize) -> Self {
        self.streamed_rows = Some(rows);
        self
    }

    pub fn new(verbosity: Verbosity) -> Self {
        FitProgress {
            verbosity,
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            bar: None,
            n_init: 1,
            restart: 0,
            streamed_rows: None,
            passes: 0,
        }
    }

    fn tick(&mut self, entry: Option<&TraceEntry>) {
        if self.verbosity != Verbosity::Normal || !self.terminal {
            return;
        }
        if self.bar.is_none() && self.started.elapsed() >= BAR_DELAY {
            let bar = ProgressBar::new(self.n_init as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos}/{len} restarts done [{bar:30}] {elapsed} {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(self.restart as u64);
            if let Some(e) = entry {
                let passes = match self.streamed_rows {
                    Some(rows) => format!(", pass {} over {rows} rows", self.passes),
                    None => String::new(),
                };
                bar.set_message(format!(
                    "iteration {} log-likelihood {:.6}{passes}",
                    e.iteration, e.mean_log_likelihood
                ));
            }
        }
    }

    /// Removes the bar before the summary is printed.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Monitor for FitProgress {
    fn restart_started(&mut self, restart: usize, n_init: usize) {
        self.restart = restart;
        self.n_init = n_init;
        self.tick(None);
    }

    fn iteration(&mut self, restart: usize, entry: &TraceEntry) {
        self.passes += 1;
        if self.verbosity == Verbosity::Verbose {
            let change = entry
                .change
                .map_or("-".to_string(), |c| format!("{c:+.3e}"));
            eprintln!(
                "restart {}/{} iteration {:>4}  mean log-likelihood {:.10}  change {change}",
                restart + 1,
                self.n_init,
                entry.iteration,
                entry.mean_log_likelihood
            );
        }
        self.tick(Some(entry));
    }

    fn restart_finished(&mut self, restart: usize, report: &RestartReport) {
        if self.verbosity == Verbosity::Verbose {
            match &report.error {
                Some(e) => eprintln!("restart {}/{} failed: {e}", restart + 1, self.n_init),
                None => eprintln!(
                    "restart {}/{} done: mean log-likelihood {:.10} ({})",
                    restart + 1,
                    self.n_init,
                    report.mean_log_likelihood,
                    crate::fit::stop_text(report)
                ),
            }
        }
        self.restart = restart + 1;
        self.tick(None);
    }
}

impl Drop for FitProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A bar counting finished pieces of work that run in parallel (the cells of
/// `emkit select`): on a terminal at normal verbosity, once the work has taken
/// more than a moment; `tick` may be called from any thread.
pub struct CountProgress {
    show: bool,
    started: Instant,
    total: u64,
    what: &'static str,
    done: std::sync::atomic::AtomicU64,
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl CountProgress {
    pub fn new(total: usize, what: &'static str, verbosity: Verbosity) -> Self {
        CountProgress {
            show: verbosity == Verbosity::Normal && std::io::stderr().is_terminal(),
            started: Instant::now(),
            total: total as u64,
            what,
            done: Default::default(),
            bar: Default::default(),
        }
    }

    /// One more piece finished.
    pub fn tick(&self) {
        let done = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if !self.show {
            return;
        }
        // A poisoned lock only means another tick panicked: skip the bar.
        let Ok(mut bar) = self.bar.lock() else { return };
        if bar.is_none() && self.started.elapsed() >= BAR_DELAY {
            let b = ProgressBar::new(self.total);
            b.set_style(
                ProgressStyle::with_template(&format!(
                    "{{spinner}} {{pos}}/{{len}} {} done [{{bar:30}}] {{elapsed}}",
                    self.what
                ))
                .expect("a valid template")
                .progress_chars("=> "),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            *bar = Some(b);
        }
        if let Some(b) = bar.as_ref() {
            b.set_position(done);
        }
    }

    /// Removes the bar before the summary is printed.
    pub fn finish(&self) {
        if let Ok(mut bar) = self.bar.lock() {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
        }
    }
}
