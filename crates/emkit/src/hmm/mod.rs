//! Hidden Markov models: the recursions, emission-agnostic.
//!
//! Everything here works on a sequence's log emission probabilities
//! (`T × K`, row-major: `log_emission[t·K + j] = ln p(x_t | state j)`), so any
//! emission (Gaussian, categorical, mixture) plugs in by filling that matrix.
//! All arithmetic is in log space; a step whose every term is −∞ stays −∞.
//!
//! Still to come (issue 4): emissions, Baum–Welch on the shared EM engine,
//! multiple sequences, and `emkit hmm`.

mod forward_backward;
mod viterbi;

pub use forward_backward::{forward, forward_backward, Posteriors};
pub use viterbi::viterbi;

/// Checks the shapes shared by every recursion; panics on a caller's bug
/// (these are internal building blocks, not user-data entry points).
fn check_shapes(log_start: &[f64], log_trans: &[f64], log_emission: &[f64]) -> (usize, usize) {
    let k = log_start.len();
    assert!(k > 0, "an HMM needs at least one state");
    assert_eq!(log_trans.len(), k * k, "log_trans must be K × K");
    assert_eq!(log_emission.len() % k, 0, "log_emission must be T × K");
    (log_emission.len() / k, k)
}

#[cfg(test)]
mod tests;
