//! The most probable state path.

use super::check_shapes;

/// Viterbi: the most probable state path and its log-probability
/// `ln p(x, path)`. Ties go to the lowest state index. An empty sequence gives
/// `(0, [])`.
pub fn viterbi(log_start: &[f64], log_trans: &[f64], log_emission: &[f64]) -> (f64, Vec<usize>) {
    let (t_len, k) = check_shapes(log_start, log_trans, log_emission);
    if t_len == 0 {
        return (0.0, Vec::new());
    }
    let mut delta: Vec<f64> = (0..k).map(|j| log_start[j] + log_emission[j]).collect();
    let mut next = vec![0.0; k];
    let mut back = vec![0usize; t_len * k];
    for t in 1..t_len {
        for j in 0..k {
            let (mut best, mut arg) = (f64::NEG_INFINITY, 0);
            for i in 0..k {
                let v = delta[i] + log_trans[i * k + j];
                if v > best {
                    (best, arg) = (v, i);
                }
            }
            next[j] = best + log_emission[t * k + j];
            back[t * k + j] = arg;
        }
        std::mem::swap(&mut delta, &mut next);
    }
    let (mut best, mut last) = (f64::NEG_INFINITY, 0);
    for (j, &v) in delta.iter().enumerate() {
        if v > best {
            (best, last) = (v, j);
        }
    }
    let mut path = vec![0; t_len];
    path[t_len - 1] = last;
    for t in (1..t_len).rev() {
        path[t - 1] = back[t * k + path[t]];
    }
    (best, path)
}
