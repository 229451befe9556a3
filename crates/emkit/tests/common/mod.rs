//! Shared helpers for the integration tests.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// The seed of a random test: `EMKIT_SEED` when set, else `default`. Printed so a
/// failure can be replayed (`cargo test` shows it only for failing tests).
pub fn test_seed(default: u64) -> u64 {
    let seed = std::env::var("EMKIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    println!("seed = {seed} (set EMKIT_SEED to override)");
    seed
}

/// `n` rows from `k` well-separated Gaussian blobs in `d` dimensions, row-major.
pub fn blobs(n: usize, d: usize, k: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let centres: Vec<f64> = (0..k * d).map(|_| rng.random_range(-10.0..10.0)).collect();
    let scales: Vec<f64> = (0..k).map(|_| rng.random_range(0.5..2.0)).collect();
    let mut v = Vec::with_capacity(n * d);
    for i in 0..n {
        let j = i % k;
        for f in 0..d {
            let z: f64 = rng.sample(StandardNormal);
            v.push(centres[j * d + f] + scales[j] * z);
        }
    }
    v
}

/// Reads one of the bundled data sets (`data/NAME.csv`) with the library's reader.
pub fn bundled(name: &str) -> emkit::io::Table {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(format!("{name}.csv"));
    emkit::io::read_table(&path, None).expect("bundled data reads")
}

/// Loads a scikit-learn reference file from `tests/reference/`.
pub fn reference(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference file")).expect("json")
}

/// A 3-state, 2-D Gaussian HMM with sticky states.
pub fn gaussian_truth() -> emkit::hmm::GaussianHmm {
    let emission = emkit::hmm::GaussianEmission::new(
        vec![0.0, 0.0, 3.0, 1.0, -2.0, 4.0],
        2,
        emkit::Covariances::Full(vec![
            1.0, 0.3, 0.3, 0.5, 0.6, 0.0, 0.0, 0.6, 1.5, -0.4, -0.4, 0.8,
        ]),
    )
    .unwrap();
    emkit::hmm::GaussianHmm::new(
        vec![0.5, 0.3, 0.2],
        vec![0.9, 0.05, 0.05, 0.1, 0.8, 0.1, 0.05, 0.15, 0.8],
        emission,
    )
    .unwrap()
}

pub fn categorical_truth() -> emkit::hmm::CategoricalHmm {
    let emission = emkit::hmm::CategoricalEmission::new(
        vec![
            0.7, 0.2, 0.05, 0.05, 0.1, 0.1, 0.4, 0.4, 0.25, 0.25, 0.25, 0.25,
        ],
        4,
    )
    .unwrap();
    emkit::hmm::CategoricalHmm::new(
        vec![0.6, 0.2, 0.2],
        vec![0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.3, 0.3, 0.4],
        emission,
    )
    .unwrap()
}

/// Several sequences of different lengths drawn from `truth`.
pub fn draw<E: emkit::hmm::Emission>(
    truth: &emkit::hmm::Hmm<E>,
    lengths: &[usize],
    seed: u64,
) -> (emkit::Matrix, Vec<usize>) {
    let d = truth.n_features();
    let mut values = Vec::new();
    for (i, &l) in lengths.iter().enumerate() {
        values.extend_from_slice(truth.sample(l, seed + i as u64).unwrap().0.values());
    }
    let n = values.len() / d;
    (emkit::Matrix::new(values, n, d).unwrap(), lengths.to_vec())
}
