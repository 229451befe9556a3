//! Properties of Baum–Welch and of HMM inference that hold for any data.

mod common;

use common::{categorical_truth, draw, gaussian_truth, test_seed};
use emkit::hmm::{
    CategoricalHmm, Emission, GaussianHmm, GmmEmission, GmmHmm, HmmFit, Learn, Sequences,
};
use emkit::{CovarianceType, Covariances, DataRef, Error, GaussianMixture};

const LENGTHS: [usize; 5] = [300, 17, 1, 120, 64];

/// The mean log-likelihood never decreases from one iteration to the next.
fn assert_monotone<E: Emission>(fit: &HmmFit<E>, label: &str) {
    for r in &fit.report.restarts {
        for w in r.trace.windows(2) {
            let (a, b) = (w[0].mean_log_likelihood, w[1].mean_log_likelihood);
            // EM cannot decrease the likelihood; the sums are rounded to a few
            // ulps of their magnitude, so allow that much and no more.
            assert!(
                b >= a - 1e-12 * a.abs().max(1.0),
                "{label}: iteration {} went from {a} to {b}",
                w[1].iteration
            );
        }
        assert!(r.log_likelihood.is_finite(), "{label}");
    }
}

#[test]
fn baum_welch_never_decreases_the_likelihood_for_any_emission() {
    let seed = test_seed(11);
    let (x, lengths) = draw(&gaussian_truth(), &LENGTHS, seed);
    let seqs = Sequences::new(x.view(), &lengths).unwrap();
    for kind in CovarianceType::ALL {
        let fit = GaussianHmm::builder(3)
            .covariance(kind)
            .n_init(3)
            .tol(0.0)
            .max_iter(40)
            .seed(seed)
            .fit(&seqs)
            .unwrap();
        assert_monotone(&fit, kind.name());
    }
    let (s, lengths) = draw(&categorical_truth(), &LENGTHS, seed);
    let seqs = Sequences::new(s.view(), &lengths).unwrap();
    let fit = CategoricalHmm::builder(3)
        .n_init(3)
        .tol(0.0)
        .max_iter(60)
        .seed(seed)
        .fit(&seqs)
        .unwrap();
    assert_monotone(&fit, "categorical");
}

/// Maximum likelihood: the fitted model explains its data at least as well as
/// the model that generated it, and the reported value is the model's score.
#[test]
fn a_fit_scores_at_least_the_generating_model() {
    let seed = test_seed(5);
    let truth = gaussian_truth();
    let (x, lengths) = draw(&truth, &[2000, 500], seed);
    let seqs = Sequences::new(x.view(), &lengths).unwrap();
    let fit = GaussianHmm::builder(3)
        .n_init(4)
        .tol(1e-6)
        .max_iter(500)
        .seed(seed)
        .fit(&seqs)
        .unwrap();
    let ours = fit.model.score(&seqs).unwrap();
    assert_eq!(ours.to_bits(), fit.log_likelihood().to_bits());
    let theirs = truth.score(&seqs).unwrap();
    assert!(ours >= theirs, "fitted {ours} < generating {theirs}");
}

/// Zeros in a given transition matrix stay exactly zero (a left-right model),
/// and parameters that are not learned do not move.
#[test]
fn zero_transitions_stay_zero_and_frozen_parameters_stay_put() {
    let seed = test_seed(3);
    let (x, lengths) = draw(&gaussian_truth(), &LENGTHS, seed);
    let seqs = Sequences::new(x.view(), &lengths).unwrap();
    let left_right = vec![0.6, 0.4, 0.0, 0.0, 0.7, 0.3, 0.0, 0.0, 1.0];
    let fit = GaussianHmm::builder(3)
        .transitions(left_right.clone())
        .start(vec![1.0, 0.0, 0.0])
        .n_init(2)
        .max_iter(50)
        .fit(&seqs)
        .unwrap();
    for (got, given) in fit.model.transitions().iter().zip(&left_right) {
        assert!(
            *given != 0.0 || *got == 0.0,
            "a zero transition became {got}"
        );
    }
    assert_eq!(fit.model.start(), &[1.0, 0.0, 0.0]);
    assert_monotone(&fit, "left-right");

    let truth = gaussian_truth();
    let only_transitions = Learn {
        start: false,
        transitions: true,
        means: false,
        covariances: false,
    };
    let fit = GaussianHmm::builder(3)
        .init_model(truth.clone())
        .learn(only_transitions)
        .max_iter(20)
        .fit(&seqs)
        .unwrap();
    assert_eq!(fit.model.emission(), truth.emission());
    assert_eq!(fit.model.start(), truth.start());
    assert_ne!(fit.model.transitions(), truth.transitions());
    // hmmlearn counts only what is learned: K(K−1) transitions.
    assert_eq!(fit.model.n_parameters(), 6);

    // Covariances learned about fixed means: their first moments are not used.
    let fixed_means = Learn {
        means: false,
        ..Learn::ALL
    };
    let fit = GaussianHmm::builder(3)
        .init_model(truth.clone())
        .learn(fixed_means)
        .max_iter(20)
        .fit(&seqs)
        .unwrap();
    assert_eq!(fit.model.emission().means(), truth.emission().means());
    assert_monotone(&fit, "fixed means");
}

/// A state no observation can reach is left as it was and reported; nothing
/// becomes NaN.
#[test]
fn an_unvisited_state_keeps_its_parameters_and_is_reported() {
    let seed = test_seed(8);
    let (x, lengths) = draw(&gaussian_truth(), &LENGTHS, seed);
    let seqs = Sequences::new(x.view(), &lengths).unwrap();
    let truth = gaussian_truth();
    // State 2 cannot be entered: zero start and zero transitions into it.
    let transitions = vec![0.9, 0.1, 0.0, 0.2, 0.8, 0.0, 0.3, 0.3, 0.4];
    let fit = GaussianHmm::builder(3)
        .start(vec![0.5, 0.5, 0.0])
        .transitions(transitions.clone())
        .emission(truth.emission().clone())
        .max_iter(10)
        .fit(&seqs)
        .unwrap();
    let best = fit.report.best();
    assert!(
        best.reseeded.iter().any(|&(_, s)| s == 2),
        "{:?}",
        best.reseeded
    );
    assert_eq!(
        &fit.model.emission().means()[4..6],
        &truth.emission().means()[4..6]
    );
    assert_eq!(&fit.model.transitions()[6..9], &transitions[6..9]);
    assert!(fit.model.transitions().iter().all(|p| p.is_finite()));
    assert!(fit.log_likelihood().is_finite());
}

/// Fits are bit-identical whatever the number of threads.
#[test]
fn fits_do_not_depend_on_the_thread_count() {
    let seed = test_seed(21);
    // Enough observations (about 60 000) that the E-step runs in parallel.
    let many: Vec<usize> = (0..40).map(|i| 1000 + (i * 37) % 900).collect();
    let (x, lengths) = draw(&gaussian_truth(), &many, seed);
    let fit_with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let seqs = Sequences::new(x.view(), &lengths).unwrap();
            let fit = GaussianHmm::builder(3)
                .n_init(2)
                .max_iter(15)
                .seed(seed)
                .fit(&seqs)
                .unwrap();
            (fit.log_likelihood().to_bits(), fit.model)
        })
    };
    let one = fit_with(1);
    for threads in [2, 3] {
        assert!(fit_with(threads) == one, "{threads} threads");
    }
    // One long sequence (one block of the engine).
    let (x, _) = gaussian_truth().sample(40_000, seed).unwrap();
    let long_fit = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let fit = GaussianHmm::builder(3)
                .max_iter(5)
                .seed(seed)
                .fit(&Sequences::one(x.view()))
                .unwrap();
            (fit.log_likelihood().to_bits(), fit.model)
        })
    };
    assert!(long_fit(1) == long_fit(2), "one long sequence");
}

/// Filtering is causal: the probabilities at step t do not change when later
/// observations are added. Posteriors and filtered rows sum to one.
#[test]
fn filtering_uses_no_future_observations() {
    let seed = test_seed(4);
    let truth = gaussian_truth();
    let (x, _) = truth.sample(400, seed).unwrap();
    let all = Sequences::one(x.view());
    let full = truth.filter(&all).unwrap();
    let prefix = DataRef::new(&x.values()[..150 * 2], 150, 2).unwrap();
    let part = truth.filter(&Sequences::one(prefix)).unwrap();
    assert_eq!(part.values(), &full.values()[..150 * 3]);
    let post = truth.predict_proba(&all).unwrap();
    for t in 0..400 {
        for m in [&full, &post] {
            let s: f64 = m.row(t).iter().sum();
            // K = 3 probabilities, each rounded once after normalising.
            assert!((s - 1.0).abs() < 1e-12, "row {t} sums to {s}");
        }
    }
    // The posterior at the last step has no future to look at: it is the filter.
    for (a, b) in post.row(399).iter().zip(full.row(399)) {
        assert!((a - b).abs() < 1e-12);
    }
}

/// Lengths that do not split the data, symbols out of range and transition
/// rows that are not distributions are errors, not panics.
#[test]
fn bad_input_is_an_error() {
    let x = [0.0, 1.0, 2.0, 1.0];
    let data = DataRef::new(&x, 4, 1).unwrap();
    assert!(matches!(
        Sequences::new(data, &[2, 1]),
        Err(Error::InvalidLengths { .. })
    ));
    assert!(matches!(
        Sequences::new(data, &[2, 0, 2]),
        Err(Error::InvalidLengths { .. })
    ));
    let seqs = Sequences::one(data);
    let err = CategoricalHmm::builder(2)
        .n_symbols(2)
        .fit(&seqs)
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidObservation { row: 2, .. }),
        "{err}"
    );
    let model = categorical_truth();
    let bad = [0.0, 7.0];
    let err = model
        .score(&Sequences::one(DataRef::new(&bad, 2, 1).unwrap()))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidObservation { row: 1, .. }),
        "{err}"
    );
    let half = [0.5, 1.5];
    assert!(CategoricalHmm::builder(2)
        .fit(&Sequences::one(DataRef::new(&half, 2, 1).unwrap()))
        .is_err());
    let err = GaussianHmm::builder(2)
        .transitions(vec![0.5, 0.6, 0.5, 0.5])
        .fit(&seqs)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidModel { field, .. } if field == "transitions[0]"),
        "{err}"
    );
    let emission = gaussian_truth().emission().clone();
    assert!(GaussianHmm::new(vec![1.0, 0.0, 0.0], vec![0.5; 9], emission).is_err());
}

/// Oracle: a mixture emission with one component is a Gaussian emission; the
/// two models score alike and Baum–Welch moves them alike.
#[test]
fn a_one_component_gmm_hmm_is_the_gaussian_hmm() {
    let seed = test_seed(13);
    let truth = gaussian_truth();
    let (x, lengths) = draw(&truth, &LENGTHS, seed);
    let seqs = Sequences::new(x.view(), &lengths).unwrap();
    let e = truth.emission();
    let d = 2;
    let states: Vec<GaussianMixture> = (0..3)
        .map(|j| {
            let cov = Covariances::Full(e.covariances().component_matrix(j, d));
            GaussianMixture::new(vec![1.0], e.means()[j * d..(j + 1) * d].to_vec(), d, cov).unwrap()
        })
        .collect();
    let gmm = GmmHmm::new(
        truth.start().to_vec(),
        truth.transitions().to_vec(),
        GmmEmission::new(states).unwrap(),
    )
    .unwrap();
    let (a, b) = (truth.score(&seqs).unwrap(), gmm.score(&seqs).unwrap());
    // The same log-densities, one through a log-sum-exp over a single term.
    assert!((a - b).abs() <= 1e-12 * a.abs(), "{a} vs {b}");
    assert_eq!(gmm.n_parameters(), truth.n_parameters());
    let fit_g = GaussianHmm::builder(3)
        .init_model(truth.clone())
        .tol(0.0)
        .max_iter(15)
        .fit(&seqs)
        .unwrap();
    let fit_m = GmmHmm::builder(3)
        .init_model(gmm)
        .tol(0.0)
        .max_iter(15)
        .fit(&seqs)
        .unwrap();
    // 15 iterations of the same updates, rounded differently along the way.
    let (a, b) = (fit_g.log_likelihood(), fit_m.log_likelihood());
    assert!((a - b).abs() <= 1e-9 * a.abs(), "{a} vs {b}");
    for (p, q) in fit_g
        .model
        .transitions()
        .iter()
        .zip(fit_m.model.transitions())
    {
        assert!((p - q).abs() < 1e-8, "{p} vs {q}");
    }
}

#[test]
fn gmm_hmm_fits_never_decrease_the_likelihood() {
    let seed = test_seed(17);
    let (x, lengths) = draw(&gaussian_truth(), &LENGTHS, seed);
    let seqs = Sequences::new(x.view(), &lengths).unwrap();
    for kind in [CovarianceType::Full, CovarianceType::Diagonal] {
        let fit = GmmHmm::builder(2)
            .n_mix(2)
            .covariance(kind)
            .n_init(2)
            .tol(0.0)
            .max_iter(30)
            .seed(seed)
            .fit(&seqs)
            .unwrap();
        assert_monotone(&fit, &format!("gmm {kind}"));
        // K − 1 + K(K − 1) + K·(M − 1 + M·d + M·covariance parameters).
        let cov = kind.n_covariance_parameters(2, 2);
        assert_eq!(fit.model.n_parameters(), 1 + 2 + 2 * (1 + 2 * 2 + cov));
    }
    let err = GmmHmm::builder(2)
        .learn("stm".parse().unwrap())
        .fit(&seqs)
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidConfig { field: "learn", .. }),
        "{err}"
    );
}
