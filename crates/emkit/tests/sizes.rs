//! Sizes a user gives (components, restarts, iterations, samples, states,
//! symbols, lengths, grid ranges, memory limits): zero and huge values give
//! an `Error`, never a panic, an abort or an allocation the machine cannot
//! hold. Every fit that the properties let through is small and quick.

use emkit::hmm::{CategoricalHmm, GaussianHmm, GmmHmm, Sequences};
use emkit::memory::{parse_size, MemoryLimit};
use emkit::select::{select, SelectConfig};
use emkit::{DataRef, Error, GaussianMixture};
use proptest::prelude::*;

/// Twelve 2-D rows in two groups.
const X: [f64; 24] = [
    0.0, 0.1, 0.2, -0.1, -0.3, 0.2, 0.1, 0.4, -0.2, -0.2, 0.3, 0.0, 5.0, 5.1, 5.2, 4.9, 4.7, 5.2,
    5.1, 5.4, 4.8, 4.8, 5.3, 5.0,
];

/// Twelve symbols in 0..3.
const SYMBOLS: [f64; 12] = [0.0, 1.0, 2.0, 0.0, 0.0, 1.0, 2.0, 2.0, 1.0, 0.0, 1.0, 2.0];

fn data() -> DataRef<'static> {
    DataRef::new(&X, 12, 2).unwrap()
}

/// Zero, a small valid value, and values far beyond any machine.
fn size(valid: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(valid),
        Just(1usize << 40),
        Just(usize::MAX),
        (1usize << 36)..(1usize << 62),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mixture_fits_refuse_bad_sizes(k in size(2), n_init in size(2), max_iter in size(5)) {
        // No memory limit: what refuses the sizes here is their own bound.
        let fit = GaussianMixture::builder(k)
            .n_init(n_init)
            .max_iter(max_iter)
            .max_memory(MemoryLimit::Unlimited)
            .fit(data());
        let valid = (1..=12).contains(&k)
            && (1..=emkit::em::MAX_N_INIT).contains(&n_init)
            && (1..=emkit::em::MAX_MAX_ITER).contains(&max_iter);
        // Valid sizes here are the small ones: the fit runs and succeeds.
        prop_assert_eq!(fit.is_ok(), valid, "{:?}", fit.err());
    }

    #[test]
    fn restarts_and_iterations_within_bounds_are_refused_by_memory(limit in 1u64..(1 << 20)) {
        // A hundred thousand restarts of a hundred million iterations would
        // keep gigabytes of traces: below the limit, refused before starting.
        let fit = GaussianMixture::builder(2)
            .n_init(emkit::em::MAX_N_INIT)
            .max_iter(emkit::em::MAX_MAX_ITER)
            .max_memory(MemoryLimit::Bytes(limit))
            .fit(data());
        let is_memory_error = matches!(fit, Err(Error::TooMuchMemory { .. }));
        prop_assert!(is_memory_error);
    }

    #[test]
    fn sampling_refuses_what_memory_cannot_hold(n in size(7), seed in any::<u64>()) {
        let model = GaussianMixture::builder(2).fit(data()).unwrap().model;
        match model.sample(n, seed) {
            Ok((x, labels)) => {
                prop_assert!(n <= 7);
                prop_assert_eq!(x.n_rows(), n);
                prop_assert_eq!(labels.len(), n);
            }
            Err(e) => {
                prop_assert!(n >= 1 << 36);
                prop_assert!(matches!(e, Error::TooMuchMemory { .. }), "{}", e);
            }
        }
        let hmm = GaussianHmm::builder(2).max_iter(3).fit(&Sequences::one(data())).unwrap().model;
        match hmm.sample(n, seed) {
            Ok((x, states)) => {
                prop_assert!(n <= 7);
                prop_assert_eq!((x.n_rows(), states.len()), (n, n));
            }
            Err(e) => prop_assert!(matches!(e, Error::TooMuchMemory { .. }), "{}", e),
        }
    }

    #[test]
    fn hmm_fits_refuse_bad_sizes(states in size(2), n_mix in size(1), n_symbols in size(3)) {
        let seqs = Sequences::one(data());
        // A fixed limit, so the answer does not depend on the machine.
        let limit = MemoryLimit::Bytes(1 << 30);
        let g = GaussianHmm::builder(states).max_iter(3).max_memory(limit).fit(&seqs);
        prop_assert_eq!(g.is_ok(), (1..=12).contains(&states), "{:?}", g.err());
        let m = GmmHmm::builder(states).n_mix(n_mix).max_iter(3).max_memory(limit).fit(&seqs);
        let valid = (1..=12).contains(&states)
            && n_mix >= 1
            && states.checked_mul(n_mix).is_some_and(|c| c <= 12);
        prop_assert_eq!(m.is_ok(), valid, "{:?}", m.err());
        let symbols = Sequences::one(DataRef::new(&SYMBOLS, 12, 1).unwrap());
        let c = CategoricalHmm::builder(states)
            .n_symbols(n_symbols)
            .max_iter(3)
            .max_memory(limit)
            .fit(&symbols);
        // 3 symbols is the one valid size: 0 is no alphabet, and alphabets
        // of 2^36 symbols and more need terabytes.
        let valid = (1..=12).contains(&states) && n_symbols == 3;
        prop_assert_eq!(c.is_ok(), valid, "{:?}", c.err());
    }

    #[test]
    fn sequence_lengths_that_overflow_or_vanish_are_errors(a in size(6), b in size(6)) {
        let seqs = Sequences::new(data(), &[a, b]);
        prop_assert_eq!(seqs.is_ok(), a == 6 && b == 6);
    }

    #[test]
    fn select_ranges_are_bounded(lo in size(1), hi in size(2)) {
        let config = SelectConfig { n_components: lo..=hi, ..SelectConfig::default() };
        let sel = select(data(), &config, &GaussianMixture::builder(1).max_iter(3));
        let range_ok = lo >= 1 && lo <= hi && hi - lo < emkit::select::MAX_GRID_CELLS / 4;
        prop_assert_eq!(sel.is_ok(), range_ok, "{:?}", sel.err());
        if let Ok(sel) = sel {
            // Cells above the 12 rows fail alone.
            for cell in &sel.cells {
                prop_assert_eq!(cell.outcome.is_err(), cell.n_components > 12);
            }
        }
    }

    #[test]
    fn memory_sizes_parse_or_say_why(text in "[0-9]{0,25}(\\.[0-9]{0,3})?[ ]?(|b|k|m|g|t|kb|mb|gb|gib|x|e9)") {
        match parse_size(&text) {
            Ok(MemoryLimit::Bytes(b)) => prop_assert!(b >= 1),
            Ok(other) => prop_assert!(false, "{:?}", other),
            Err(message) => prop_assert!(message.contains(&text), "{}", message),
        }
    }
}

#[test]
fn a_wide_full_covariance_fit_is_refused_before_allocating() {
    // 3 rows × 30 000 features: a full covariance needs d² = 9e8 values per
    // component (7.2 GB each), refused under an 8 GB limit whatever the machine.
    let d = 30_000;
    let x = vec![0.5; 3 * d];
    let data = DataRef::new(&x, 3, d).unwrap();
    let err = GaussianMixture::builder(2)
        .max_memory(MemoryLimit::Bytes(8_000_000_000))
        .fit(data)
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::TooMuchMemory { .. }), "{err:?}");
    assert!(
        text.contains("30000 features") && text.contains("diag"),
        "{text}"
    );
    // The same rows with diagonal covariances need a few megabytes and fit.
    let fit = GaussianMixture::builder(2)
        .covariance(emkit::CovarianceType::Diagonal)
        .max_memory(MemoryLimit::Bytes(8_000_000_000))
        .fit(data);
    assert!(fit.is_ok(), "{:?}", fit.err());
}

#[test]
fn large_values_fit_like_their_scaled_copies_and_overflowing_ones_are_refused() {
    // Without reg_covar a Gaussian mixture fit is scale-equivariant: the same
    // k-means labels, the same path, and a mean log-likelihood lower by
    // d·ln(scale). Scaling by 1e90 rounds each value once (1 ulp), so the two
    // agree to ~1e-13 relative; 1e-9 leaves room for the iterations.
    let scale = 1e90;
    let big: Vec<f64> = X.iter().map(|v| v * scale).collect();
    let fit = |x: &[f64]| {
        GaussianMixture::builder(2)
            .covariance(emkit::CovarianceType::Diagonal)
            .reg_covar(0.0)
            .fit(DataRef::new(x, 12, 2).unwrap())
            .unwrap()
    };
    let (a, b) = (fit(&X), fit(&big));
    let expected = a.mean_log_likelihood() - 2.0 * scale.ln();
    let rel = (b.mean_log_likelihood() - expected).abs() / expected.abs();
    assert!(rel < 1e-9, "{} vs {expected}", b.mean_log_likelihood());
    assert_eq!(a.report.best().n_iter(), b.report.best().n_iter());
    // One value beyond the limit (about 3.4e152 for 24 values) is refused by row
    // and column.
    assert!((3e152..4e152).contains(&emkit::max_fit_magnitude(12, 2)));
    let mut over = big.clone();
    over[7] = 2e200;
    let err = GaussianMixture::builder(2)
        .fit(DataRef::new(&over, 12, 2).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, Error::ValueTooLarge { row: 3, column: 1, value, .. } if value == 2e200),
        "{err:?}"
    );
    let mut huge = X.to_vec();
    huge[0] = -1e308;
    let hmm = GaussianHmm::builder(2).fit(&Sequences::one(DataRef::new(&huge, 12, 2).unwrap()));
    assert!(
        matches!(
            hmm,
            Err(Error::ValueTooLarge {
                row: 0,
                column: 0,
                ..
            })
        ),
        "{hmm:?}"
    );
}
