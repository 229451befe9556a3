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
