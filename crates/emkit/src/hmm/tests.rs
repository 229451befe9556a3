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

/// The scaled recursions (the fast path) agree with log space (the definition):
/// log-likelihood, state posteriors and expected transitions, on random models
/// with zero transitions and emissions spread over 30 nats.
#[test]
fn scaled_forward_backward_equals_log_space() {
    use super::scaled::ScaledWork;
    let mut work = ScaledWork::default();
    for seed in 0..60u64 {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let k = 1 + (seed % 5) as usize;
        let t = 1 + rng.random_range(0..80);
        let mut c = case(seed, k, t);
        for e in c.emission.iter_mut() {
            *e *= 5.0; // −30 .. 5 nats
        }
        let log = forward_backward(&c.start, &c.trans, &c.emission);
        let start: Vec<f64> = c.start.iter().map(|v| v.exp()).collect();
        let trans: Vec<f64> = c.trans.iter().map(|v| v.exp()).collect();
        work.prepare(t, k);
        for (row, (b, s)) in c
            .emission
            .chunks(k)
            .zip(work.b.chunks_mut(k).zip(work.log_scale.iter_mut()))
        {
            let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            for (b, e) in b.iter_mut().zip(row) {
                *b = (e - m).exp();
            }
            *s = m;
        }
        let mut transitions = vec![0.0; k * k];
        let ll = work
            .forward_backward(&start, &trans, t, &mut transitions)
            .expect("these cases scale");
        // Both sum t terms of rounded logarithms / products: relative 1e-12.
        assert!(
            (ll - log.log_likelihood).abs() <= 1e-12 * (1.0 + ll.abs()),
            "seed {seed}: {ll} vs {}",
            log.log_likelihood
        );
        for (a, b) in work.gamma.iter().zip(&log.state) {
            assert!((a - b).abs() < 1e-10, "seed {seed}: posterior {a} vs {b}");
        }
        // Expected counts sum up to t − 1 posteriors, each to 1e-10 or so.
        for (a, b) in transitions.iter().zip(&log.transitions) {
            assert!(
                (a - b).abs() < 1e-10 * t as f64,
                "seed {seed}: transitions {a} vs {b}"
            );
        }
    }
}

/// Where scaling cannot represent a step (the only reachable state's emission
/// is e^−800 below the unreachable one's), the models fall back to log space
/// and still give the right, finite answer.
#[test]
fn unscalable_sequences_fall_back_to_log_space() {
    use super::{GaussianEmission, GaussianHmm, Sequences};
    use crate::{Covariances, DataRef};
    let emission =
        GaussianEmission::new(vec![0.0, 40.0], 1, Covariances::Full(vec![1.0, 1.0])).unwrap();
    let hmm = GaussianHmm::new(vec![1.0, 0.0], vec![1.0, 0.0, 0.0, 1.0], emission).unwrap();
    let x = [40.0, 0.0];
    let seqs = Sequences::one(DataRef::new(&x, 2, 1).unwrap());
    let ll = hmm.score(&seqs).unwrap();
    let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
    let want = -800.0 - 2.0 * half_ln_2pi;
    assert!((ll - want).abs() < 1e-12 * want.abs(), "{ll} vs {want}");
    let p = hmm.predict_proba(&seqs).unwrap();
    assert_eq!(p.values(), &[1.0, 0.0, 1.0, 0.0]);
    let f = hmm.filter(&seqs).unwrap();
    assert_eq!(f.values(), &[1.0, 0.0, 1.0, 0.0]);
}
