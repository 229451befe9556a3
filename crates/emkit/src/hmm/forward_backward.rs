//! Log-space forward–backward.

use super::check_shapes;
use crate::linalg::log_sum_exp;

/// What forward–backward gives for one sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Posteriors {
    /// `ln p(x_1..x_T)`.
    pub log_likelihood: f64,
    /// `T × K`: `P(state_t = j | x)`, each row summing to one.
    pub state: Vec<f64>,
    /// `K × K`: `Σ_t P(state_t = i, state_{t+1} = j | x)`, the expected
    /// transition counts (all zero for a sequence of length one).
    pub transitions: Vec<f64>,
}

/// The forward recursion: fills `log_alpha` (`T × K`, `ln p(x_1..x_t, state_t = j)`)
/// and returns `ln p(x_1..x_T)` (−∞ for an empty sequence's impossible case, 0 for T = 0).
pub fn forward(
    log_start: &[f64],
    log_trans: &[f64],
    log_emission: &[f64],
    log_alpha: &mut [f64],
) -> f64 {
    let (t_len, k) = check_shapes(log_start, log_trans, log_emission);
    assert_eq!(log_alpha.len(), t_len * k, "log_alpha must be T × K");
    if t_len == 0 {
        return 0.0;
    }
    let mut terms = vec![0.0; k];
    for j in 0..k {
        log_alpha[j] = log_start[j] + log_emission[j];
    }
    for t in 1..t_len {
        let (prev, cur) = log_alpha.split_at_mut(t * k);
        let prev = &prev[(t - 1) * k..];
        for j in 0..k {
            for i in 0..k {
                terms[i] = prev[i] + log_trans[i * k + j];
            }
            cur[j] = log_sum_exp(&terms) + log_emission[t * k + j];
        }
    }
    log_sum_exp(&log_alpha[(t_len - 1) * k..])
}

/// Forward–backward for one sequence: its log-likelihood, the state
/// posteriors and the expected transition counts.
pub fn forward_backward(log_start: &[f64], log_trans: &[f64], log_emission: &[f64]) -> Posteriors {
    let (t_len, k) = check_shapes(log_start, log_trans, log_emission);
    let mut log_alpha = vec![0.0; t_len * k];
    let ll = forward(log_start, log_trans, log_emission, &mut log_alpha);
    let mut log_beta = vec![0.0; t_len * k];
    let mut terms = vec![0.0; k];
    for t in (0..t_len.saturating_sub(1)).rev() {
        for i in 0..k {
            for j in 0..k {
                terms[j] = log_trans[i * k + j]
                    + log_emission[(t + 1) * k + j]
                    + log_beta[(t + 1) * k + j];
            }
            log_beta[t * k + i] = log_sum_exp(&terms);
        }
    }
    let mut state = vec![0.0; t_len * k];
    let mut transitions = vec![0.0; k * k];
    if !ll.is_finite() {
        // An impossible sequence has no posterior; leave zeros rather than NaN.
        return Posteriors {
            log_likelihood: ll,
            state,
            transitions,
        };
    }
    for t in 0..t_len {
        for j in 0..k {
            state[t * k + j] = (log_alpha[t * k + j] + log_beta[t * k + j] - ll).exp();
        }
    }
    for t in 0..t_len.saturating_sub(1) {
        for i in 0..k {
            let a = log_alpha[t * k + i];
            for j in 0..k {
                let v = a
                    + log_trans[i * k + j]
                    + log_emission[(t + 1) * k + j]
                    + log_beta[(t + 1) * k + j]
                    - ll;
                transitions[i * k + j] += v.exp();
            }
        }
    }
    Posteriors {
        log_likelihood: ll,
        state,
        transitions,
    }
}
