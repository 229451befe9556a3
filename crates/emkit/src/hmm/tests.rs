//! Oracles: brute-force enumeration of every state path for tiny sequences.

use rand::{Rng, SeedableRng};

use super::{forward_backward, viterbi};

/// A random distribution in log space (some entries exactly zero probability
/// when `sparse`, as a left-right topology has).
fn log_simplex(rng: &mut impl Rng, k: usize, sparse: bool) -> Vec<f64> {
    let mut p: Vec<f64> = (0..k).map(|_| rng.random_range(0.05..1.0)).collect();
    if sparse && k > 1 {
        let z = rng.random_range(0..k);
        p[z] = 0.0;
    }
    let s: f64 = p.iter().sum();
    p.iter().map(|v| (v / s).ln()).collect()
}

struct Case {
    k: usize,
    t: usize,
    start: Vec<f64>,
    trans: Vec<f64>,
    emission: Vec<f64>,
}

fn case(seed: u64, k: usize, t: usize) -> Case {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let start = log_simplex(&mut rng, k, false);
    let trans = (0..k)
        .flat_map(|_| log_simplex(&mut rng, k, seed.is_multiple_of(3)))
        .collect();
    let emission = (0..t * k).map(|_| rng.random_range(-6.0..1.0)).collect();
    Case {
        k,
        t,
        start,
        trans,
        emission,
    }
}

/// Every path with its log-probability.
fn paths(c: &Case) -> Vec<(Vec<usize>, f64)> {
    let mut out = Vec::new();
    for code in 0..c.k.pow(c.t as u32) {
        let path: Vec<usize> = (0..c.t).map(|i| code / c.k.pow(i as u32) % c.k).collect();
        let mut lp = c.start[path[0]] + c.emission[path[0]];
        for i in 1..c.t {
            lp += c.trans[path[i - 1] * c.k + path[i]] + c.emission[i * c.k + path[i]];
        }
        out.push((path, lp));
    }
    out
}

#[test]
fn forward_backward_and_viterbi_equal_brute_force() {
    for seed in 0..40u64 {
        for k in 1..=3 {
            for t in 1..=6 {
                let c = case(seed * 100 + (k * 10 + t) as u64, k, t);
                let all = paths(&c);
                let total: f64 = all.iter().map(|(_, lp)| lp.exp()).sum();
                let post = forward_backward(&c.start, &c.trans, &c.emission);
                // Sums of at most 3^6 terms, each rounded: relative 1e-12 is ample.
                assert!(
                    (post.log_likelihood - total.ln()).abs() <= 1e-12 * (1.0 + total.ln().abs()),
                    "seed {seed} k {k} t {t}"
                );
                for step in 0..t {
                    let row = &post.state[step * k..(step + 1) * k];
                    assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                    for j in 0..k {
                        let brute: f64 = all
                            .iter()
                            .filter(|(p, _)| p[step] == j)
                            .map(|(_, lp)| lp.exp())
                            .sum::<f64>()
                            / total;
                        assert!(
                            (row[j] - brute).abs() < 1e-12,
                            "state posterior seed {seed} k {k} t {t}"
                        );
                    }
                }
                for i in 0..k {
                    for j in 0..k {
                        let brute: f64 = all
                            .iter()
                            .map(|(p, lp)| {
                                p.windows(2).filter(|w| w[0] == i && w[1] == j).count() as f64
                                    * lp.exp()
                            })
                            .sum::<f64>()
                            / total;
                        assert!(
                            (post.transitions[i * k + j] - brute).abs() < 1e-11,
                            "transitions seed {seed} k {k} t {t}"
                        );
                    }
                }
                let (best_lp, best_path) = viterbi(&c.start, &c.trans, &c.emission);
                let max = all
                    .iter()
                    .map(|(_, lp)| *lp)
                    .fold(f64::NEG_INFINITY, f64::max);
                assert!((best_lp - max).abs() <= 1e-12 * (1.0 + max.abs()));
                let lp_of_path = all.iter().find(|(p, _)| *p == best_path).unwrap().1;
                assert!((lp_of_path - max).abs() <= 1e-12 * (1.0 + max.abs()));
            }
        }
    }
}

#[test]
fn impossible_and_empty_sequences() {
    // A state that can never be entered after the start, with an emission only it explains.
    let start = [0.0, f64::NEG_INFINITY];
    let trans = [0.0, f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY];
    let emission = [0.0, f64::NEG_INFINITY, f64::NEG_INFINITY, 0.0];
    let post = forward_backward(&start, &trans, &emission);
    assert_eq!(post.log_likelihood, f64::NEG_INFINITY);
    assert!(post.state.iter().all(|p| *p == 0.0));
    let empty = forward_backward(&[0.0], &[0.0], &[]);
    assert_eq!((empty.log_likelihood, empty.state.len()), (0.0, 0));
    assert_eq!(viterbi(&[0.0], &[0.0], &[]), (0.0, vec![]));
}
