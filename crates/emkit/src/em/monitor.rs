use super::{RestartReport, TraceEntry};

/// Watches a fit as it runs. The library never prints; a program that wants
/// progress output implements this. Every method has an empty default.
pub trait Monitor {
    /// Restart `restart` (0-based) of `n_init` is about to initialise.
    fn restart_started(&mut self, restart: usize, n_init: usize) {
        let _ = (restart, n_init);
    }
    /// One EM iteration of restart `restart` finished.
    fn iteration(&mut self, restart: usize, entry: &TraceEntry) {
        let _ = (restart, entry);
    }
    /// Restart `restart` finished (converged, stopped or failed).
    fn restart_finished(&mut self, restart: usize, report: &RestartReport) {
        let _ = (restart, report);
    }
    /// Asked before each restart and after each iteration: `true` ends the
    /// whole fit at once with [`crate::Error::Interrupted`] (a user's Ctrl-C,
    /// a deadline). The default never stops.
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// A monitor that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMonitor;

impl Monitor for NoMonitor {}

impl<M: Monitor + ?Sized> Monitor for &mut M {
    fn restart_started(&mut self, restart: usize, n_init: usize) {
        (**self).restart_started(restart, n_init)
    }
    fn iteration(&mut self, restart: usize, entry: &TraceEntry) {
        (**self).iteration(restart, entry)
    }
    fn restart_finished(&mut self, restart: usize, report: &RestartReport) {
        (**self).restart_finished(restart, report)
    }
    fn stop_requested(&mut self) -> bool {
        (**self).stop_requested()
    }
}
