//! Sample weights: the semantics of scikit-learn's estimator checks and
//! Spark's tests. Integer weights equal duplicated rows, a zero weight equals
//! the row removed, scaling every weight changes only the reported totals; a
//! sequence of weight 2 equals that sequence given twice; a weighted fit never
//! lowers its (weighted) log-likelihood and is bit-identical on any number of
//! threads.

mod common;

use common::{blobs, categorical_truth, gaussian_truth, test_seed};
use emkit::hmm::{Emission, Hmm, HmmFit, Sequences};
use emkit::{CovarianceType, DataRef, GaussianMixture, Init, MixtureFit, Weighted};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

/// Equivalent fits see the same numbers summed in other orders and blocks:
/// each sum is rounded to a few ulps of its size, and 40 EM iterations of a
/// contracting map do not amplify that past 1e-12 of the values' scale.
const TOL: f64 = 1e-12;

/// The largest difference of `a` and `b` relative to `b`'s scale (at least 1).
fn deviation(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs() / scale))
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && deviation(a, b) <= TOL
}

/// Two fits are the same fit: iterations, stop, trace, parameters, criteria.
fn assert_same_mixture_fit(a: &MixtureFit, b: &MixtureFit, label: &str) {
    let (ra, rb) = (a.report.best(), b.report.best());
    assert_eq!(ra.n_iter(), rb.n_iter(), "{label}: iterations");
    assert_eq!(ra.stop, rb.stop, "{label}: stop");
    let trace = |r: &emkit::RestartReport| -> Vec<f64> {
        r.trace.iter().map(|e| e.mean_log_likelihood).collect()
    };
    assert!(
        close(&trace(ra), &trace(rb)),
        "{label}: traces {:?} vs {:?}",
        trace(ra),
        trace(rb)
    );
    assert!(
        close(a.model.weights(), b.model.weights()),
        "{label}: weights"
    );
    assert!(close(a.model.means(), b.model.means()), "{label}: means");
    assert!(
        close(
            a.model.covariances().values(),
            b.model.covariances().values()
        ),
        "{label}: covariances"
    );
    assert!(
        close(&[a.log_likelihood()], &[b.log_likelihood()]),
        "{label}: log-likelihood"
    );
    assert!(
        close(&[a.bic()], &[b.bic()]),
        "{label}: BIC {} vs {}",
        a.bic(),
        b.bic()
    );
    assert!(close(&[a.aic()], &[b.aic()]), "{label}: AIC");
    let worst = [
        deviation(&trace(ra), &trace(rb)),
        deviation(a.model.means(), b.model.means()),
        deviation(
            a.model.covariances().values(),
            b.model.covariances().values(),
        ),
        deviation(&[a.bic()], &[b.bic()]),
    ];
    let worst: Vec<String> = worst.iter().map(|v| format!("{v:.1e}")).collect();
    println!(
        "{label}: largest relative difference (trace, means, covariances, BIC) {}",
        worst.join(", ")
    );
}

/// `x` (`n × d`) with row `i` repeated `counts[i]` times (0: left out).
fn repeat_rows(x: &[f64], d: usize, counts: &[usize]) -> Vec<f64> {
    counts
        .iter()
        .enumerate()
        .flat_map(|(i, &c)| {
            std::iter::repeat_n(&x[i * d..(i + 1) * d], c)
                .flatten()
                .copied()
        })
        .collect()
}

/// A starting model for `data`: two EM iterations from k-means.
fn start_for(data: DataRef<'_>, k: usize, kind: CovarianceType) -> GaussianMixture {
    GaussianMixture::builder(k)
        .covariance(kind)
        .max_iter(2)
        .fit(data)
        .unwrap()
        .model
}

fn from_start(start: &GaussianMixture) -> emkit::GaussianMixtureBuilder {
    GaussianMixture::builder(start.n_components())
        .covariance(start.covariance_type())
        .init_model(start.clone())
        .tol(1e-10)
        .max_iter(40)
}

#[test]
fn integer_weights_equal_duplicated_rows_for_every_covariance_type() {
    let seed = test_seed(5);
    let (n, d, k) = (240, 3, 3);
    let x = blobs(n, d, k, seed);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let counts: Vec<usize> = (0..n).map(|_| rng.random_range(0..4)).collect();
    let weights: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    let dup = repeat_rows(&x, d, &counts);
    let data = DataRef::new(&x, n, d).unwrap();
    let dup_data = DataRef::new(&dup, dup.len() / d, d).unwrap();
    let weighted = Weighted::new(data, &weights).unwrap();
    assert_eq!(weighted.total(), dup_data.n_rows() as f64);
    for kind in CovarianceType::ALL {
        let start = start_for(dup_data, k, kind);
        let a = from_start(&start).fit(weighted).unwrap();
        let b = from_start(&start).fit(dup_data).unwrap();
        assert_same_mixture_fit(&a, &b, &format!("{kind}"));
        assert_eq!(a.report.total_weight, b.report.total_weight);
    }
}

#[test]
fn zero_weights_equal_removed_rows_and_scaling_changes_only_totals() {
    let seed = test_seed(6);
    let (n, d, k) = (300, 2, 4);
    let x = blobs(n, d, k, seed);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed + 1);
    let keep: Vec<usize> = (0..n).map(|_| usize::from(rng.random_bool(0.7))).collect();
    let weights: Vec<f64> = keep.iter().map(|&c| c as f64).collect();
    let kept = repeat_rows(&x, d, &keep);
    let data = DataRef::new(&x, n, d).unwrap();
    let kept_data = DataRef::new(&kept, kept.len() / d, d).unwrap();
    // Real weights, and the same scaled by 3.25.
    let real: Vec<f64> = (0..n).map(|_| rng.random_range(0.1..2.0)).collect();
    let scaled: Vec<f64> = real.iter().map(|w| w * 3.25).collect();
    for kind in CovarianceType::ALL {
        let start = start_for(kept_data, k, kind);
        let a = from_start(&start)
            .fit(Weighted::new(data, &weights).unwrap())
            .unwrap();
        let b = from_start(&start).fit(kept_data).unwrap();
        assert_same_mixture_fit(&a, &b, &format!("{kind}, zero weights"));

        let start = start_for(data, k, kind);
        let one = from_start(&start)
            .fit(Weighted::new(data, &real).unwrap())
            .unwrap();
        let other = from_start(&start)
            .fit(Weighted::new(data, &scaled).unwrap())
            .unwrap();
        let (r1, r2) = (one.report.best(), other.report.best());
        assert_eq!(r1.n_iter(), r2.n_iter(), "{kind}");
        assert!(
            close(one.model.means(), other.model.means()),
            "{kind}: scaled means"
        );
        assert!(
            close(one.model.weights(), other.model.weights()),
            "{kind}: scaled weights"
        );
        assert!(
            close(
                one.model.covariances().values(),
                other.model.covariances().values()
            ),
            "{kind}: scaled covariances"
        );
        assert!(
            close(&[one.mean_log_likelihood()], &[other.mean_log_likelihood()]),
            "{kind}"
        );
        assert!(
            close(&[3.25 * one.log_likelihood()], &[other.log_likelihood()]),
            "{kind}"
        );
        assert!(close(
            &[3.25 * one.report.total_weight],
            &[other.report.total_weight]
        ));
    }
}

#[test]
fn unit_weights_are_the_unweighted_fit_bit_for_bit() {
    let seed = test_seed(7);
    let (n, d, k) = (700, 4, 3);
    let x = blobs(n, d, k, seed);
    let data = DataRef::new(&x, n, d).unwrap();
    let ones = vec![1.0; n];
    for kind in CovarianceType::ALL {
        for init in [Init::KMeans, Init::Random] {
            let b = GaussianMixture::builder(k)
                .covariance(kind)
                .init(init.clone())
                .seed(seed);
            let plain = b.fit(data).unwrap();
            let weighted = b.fit(Weighted::new(data, &ones).unwrap()).unwrap();
            // Only the first centre of k-means++ is drawn differently (by
            // weight rather than uniformly); from a random start the two fits
            // are the same computation.
            if init == Init::Random {
                assert_eq!(plain.model, weighted.model, "{kind}");
                assert_eq!(plain.report, weighted.report, "{kind}");
            }
            assert_eq!(weighted.report.total_weight, n as f64);
        }
    }
}

#[test]
fn weighted_fits_are_bit_identical_on_one_and_four_threads() {
    let seed = test_seed(8);
    // Enough rows for many tasks (64 of more than 4 blocks).
    let (n, d, k) = (60_000, 3, 4);
    let x = blobs(n, d, k, seed);
    let data = DataRef::new(&x, n, d).unwrap();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let w: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..3.0)).collect();
    for kind in CovarianceType::ALL {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                GaussianMixture::builder(k)
                    .covariance(kind)
                    .n_init(2)
                    .max_iter(15)
                    .seed(seed)
                    .fit(Weighted::new(data, &w).unwrap())
                    .unwrap()
            })
        };
        let (one, four) = (run(1), run(4));
        assert_eq!(one.model, four.model, "{kind}");
        assert_eq!(one.report, four.report, "{kind}");
    }
}

#[test]
fn bad_weights_are_refused_with_the_reason() {
    let x = [0.0, 1.0, 2.0, 3.0];
    let data = DataRef::new(&x, 4, 1).unwrap();
    for (w, needle) in [
        (vec![1.0, 1.0, 1.0], "one weight per row"),
        (vec![1.0, -1.0, 1.0, 1.0], "weight 1 (0-based) is -1"),
        (vec![1.0, f64::NAN, 1.0, 1.0], "weight 1 (0-based) is NaN"),
        (vec![1.0, f64::INFINITY, 1.0, 1.0], "is inf"),
        (vec![0.0; 4], "every weight is 0"),
        (vec![f64::MAX; 4], "sum to inf"),
    ] {
        let e = Weighted::new(data, &w).unwrap_err();
        assert!(matches!(e, emkit::Error::InvalidWeights { .. }), "{e}");
        assert!(e.to_string().contains(needle), "{e} lacks {needle:?}");
    }
    // Fewer rows of positive weight than components.
    let w = [1.0, 0.0, 0.0, 2.0];
    let e = GaussianMixture::builder(3)
        .fit(Weighted::new(data, &w).unwrap())
        .unwrap_err();
    assert!(
        matches!(e, emkit::Error::TooFewSamples { n_samples: 2, .. }),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Weighted EM never lowers the weighted log-likelihood (`reg_covar = 0`:
    /// the M-step is the exact maximiser); iterations after a re-seed are exempt.
    #[test]
    fn weighted_log_likelihood_never_decreases(
        seed in 0u64..1000,
        kind in 0usize..4,
        weights in proptest::collection::vec(0.0f64..4.0, 90),
    ) {
        let kind = CovarianceType::ALL[kind];
        let x = blobs(90, 2, 3, seed);
        let data = DataRef::new(&x, 90, 2).unwrap();
        let Ok(w) = Weighted::new(data, &weights) else { return Ok(()) };
        let fit = GaussianMixture::builder(3)
            .covariance(kind)
            .reg_covar(0.0)
            .tol(0.0)
            .max_iter(30)
            .seed(seed)
            .fit(w);
        let fit = match fit {
            Ok(f) => f,
            Err(emkit::Error::SingularCovariance { .. }
                | emkit::Error::NonFiniteLikelihood { .. }
                | emkit::Error::TooFewSamples { .. }) => return Ok(()),
            Err(e) => panic!("unexpected error: {e}"),
        };
        let best = fit.report.best();
        for pair in best.trace.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if best.reseeded.iter().any(|&(it, _)| it == a.iteration) {
                continue;
            }
            // A mean of weighted log-densities, each rounded to a few ulps.
            let slack = 1e-12 * a.mean_log_likelihood.abs().max(1.0);
            prop_assert!(
                b.mean_log_likelihood >= a.mean_log_likelihood - slack,
                "{kind}: iteration {} went from {} to {}",
                b.iteration, a.mean_log_likelihood, b.mean_log_likelihood
            );
        }
    }
}

/// Observations (all sequences, row-major) and the sequences' lengths.
type Drawn = (Vec<f64>, Vec<usize>);

/// `lengths` sequences drawn from `truth`, and the same with sequence
/// `i` repeated `counts[i]` times.
fn sequences_and_repeats<E: Emission>(
    truth: &Hmm<E>,
    lengths: &[usize],
    counts: &[usize],
    seed: u64,
) -> (Drawn, Drawn) {
    let d = truth.n_features();
    let draws: Vec<Vec<f64>> = lengths
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            truth
                .sample(l, seed + i as u64)
                .unwrap()
                .0
                .values()
                .to_vec()
        })
        .collect();
    let all: Vec<f64> = draws.concat();
    let mut rep = Vec::new();
    let mut rep_lengths = Vec::new();
    for (i, &c) in counts.iter().enumerate() {
        for _ in 0..c {
            rep.extend_from_slice(&draws[i]);
            rep_lengths.push(lengths[i]);
        }
    }
    debug_assert_eq!(all.len(), lengths.iter().sum::<usize>() * d);
    ((all, lengths.to_vec()), (rep, rep_lengths))
}

fn assert_same_hmm_fit<E: Emission>(a: &HmmFit<E>, b: &HmmFit<E>, label: &str) {
    let (ra, rb) = (a.report.best(), b.report.best());
    assert_eq!(ra.n_iter(), rb.n_iter(), "{label}: iterations");
    let trace = |r: &emkit::RestartReport| -> Vec<f64> {
        r.trace.iter().map(|e| e.mean_log_likelihood).collect()
    };
    assert!(close(&trace(ra), &trace(rb)), "{label}: traces");
    assert!(close(a.model.start(), b.model.start()), "{label}: start");
    assert!(
        close(a.model.transitions(), b.model.transitions()),
        "{label}: transitions"
    );
    assert!(close(&[a.bic()], &[b.bic()]), "{label}: BIC");
    assert!(
        close(&[a.log_likelihood()], &[b.log_likelihood()]),
        "{label}: log-likelihood"
    );
}

#[test]
fn a_sequence_of_weight_two_is_that_sequence_given_twice() {
    let seed = test_seed(9);
    let lengths = [120, 35, 80, 1];
    let counts = [2, 1, 0, 3];
    let weights: Vec<f64> = counts.iter().map(|&c| c as f64).collect();

    let truth = gaussian_truth();
    let ((x, l), (rx, rl)) = sequences_and_repeats(&truth, &lengths, &counts, seed);
    let d = truth.n_features();
    let data = DataRef::new(&x, x.len() / d, d).unwrap();
    let rep = DataRef::new(&rx, rx.len() / d, d).unwrap();
    let weighted = Sequences::new(data, &l)
        .unwrap()
        .with_weights(&weights)
        .unwrap();
    let repeated = Sequences::new(rep, &rl).unwrap();
    for kind in CovarianceType::ALL {
        let start = emkit::hmm::GaussianHmm::builder(3)
            .covariance(kind)
            .max_iter(1)
            .seed(seed)
            .fit(&repeated)
            .unwrap()
            .model;
        let fit = |s: &Sequences<'_>| {
            emkit::hmm::GaussianHmm::builder(3)
                .covariance(kind)
                .init_model(start.clone())
                .tol(1e-10)
                .max_iter(25)
                .fit(s)
                .unwrap()
        };
        let (a, b) = (fit(&weighted), fit(&repeated));
        assert_same_hmm_fit(&a, &b, &format!("gaussian {kind}"));
        let (ea, eb) = (a.model.emission(), b.model.emission());
        assert!(close(ea.means(), eb.means()), "{kind}: means");
        assert!(
            close(ea.covariances().values(), eb.covariances().values()),
            "{kind}: covariances"
        );
    }

    let truth = categorical_truth();
    let ((x, l), (rx, rl)) = sequences_and_repeats(&truth, &lengths, &counts, seed);
    let data = DataRef::new(&x, x.len(), 1).unwrap();
    let rep = DataRef::new(&rx, rx.len(), 1).unwrap();
    let weighted = Sequences::new(data, &l)
        .unwrap()
        .with_weights(&weights)
        .unwrap();
    let repeated = Sequences::new(rep, &rl).unwrap();
    let fit = |s: &Sequences<'_>| {
        emkit::hmm::CategoricalHmm::builder(3)
            .init_model(truth.clone())
            .tol(1e-10)
            .max_iter(25)
            .fit(s)
            .unwrap()
    };
    let (a, b) = (fit(&weighted), fit(&repeated));
    assert_same_hmm_fit(&a, &b, "categorical");
    assert!(close(
        a.model.emission().probabilities(),
        b.model.emission().probabilities()
    ));
    assert_eq!(a.report.total_weight, b.report.n_samples as f64);
}
