//! Replays every input under `fuzz/regressions/<target>/` (inputs that once
//! crashed, hung or exhausted memory in a fuzz run) and `fuzz/seeds/<target>/`
//! through the very functions the fuzz targets run (`fuzz/src/readers.rs`,
//! included here), on the stable toolchain: each must give `Ok` or an error,
//! never a panic, and keep the properties those functions check.
//!
//! `cargo test -p emkit --test fuzz_regressions -- --ignored` rewrites the
//! model seeds from fits on the bundled data.

#[path = "../../../fuzz/src/readers.rs"]
mod readers;

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use emkit::hmm::{AnyHmm, CategoricalHmm, GaussianHmm, GmmHmm, Sequences};
use emkit::io::{read_table, HmmFile, MixtureFile};
use emkit::{CovarianceType, Error, GaussianMixture};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files under `fuzz/{regressions,seeds}/<target>/`, sorted.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["regressions", "seeds"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Runs `check` on every input of `target`; fails naming each input that panicked.
///
/// On a thread with a large stack: in the dev profile the library's scoring
/// kernels need more than the 2 MiB a test thread gets (optimised builds do
/// not); that is no property of the readers under test.
fn replay(target: &'static str, check: fn(&[u8]) -> Result<(), Error>) -> (usize, usize) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || replay_here(target, check))
        .unwrap()
        .join()
        .unwrap()
}

fn replay_here(target: &str, check: fn(&[u8]) -> Result<(), Error>) -> (usize, usize) {
    let files = inputs(target);
    let (mut ok, mut failed) = (0, Vec::new());
    for path in &files {
        let bytes = fs::read(path).unwrap();
        match catch_unwind(AssertUnwindSafe(|| check(&bytes))) {
            Ok(Ok(())) => ok += 1,
            Ok(Err(_)) => {}
            Err(_) => failed.push(path.display().to_string()),
        }
    }
    assert!(failed.is_empty(), "{target}: panicked on {failed:?}");
    (files.len(), ok)
}

#[test]
fn csv_inputs_replay() {
    let (n, ok) = replay("csv", readers::csv);
    assert!(n > 0 && ok > 0, "{n} inputs, {ok} read");
}

#[test]
fn npy_inputs_replay() {
    let (n, ok) = replay("npy", readers::npy);
    assert!(n > 0 && ok > 0, "{n} inputs, {ok} read");
}

#[test]
fn lengths_inputs_replay() {
    let (n, ok) = replay("lengths", readers::lengths);
    assert!(n > 0 && ok > 0, "{n} inputs, {ok} read");
}

#[test]
fn model_file_inputs_replay() {
    let (n, ok) = replay("model_file", readers::model_file);
    assert!(n > 0 && ok > 0, "{n} inputs, {ok} loaded");
}

#[test]
fn hmm_model_file_inputs_replay() {
    let (n, ok) = replay("hmm_model_file", readers::hmm_model_file);
    assert!(n > 0 && ok > 0, "{n} inputs, {ok} loaded");
}

/// Writes the model seeds: a fit of each covariance type on faithful, and an
/// HMM of each emission.
#[test]
#[ignore = "rewrites fuzz/seeds; run by hand"]
fn write_model_seeds() {
    // Fits in the dev profile need more stack than a test thread has (see `replay`).
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(write_model_seeds_here)
        .unwrap()
        .join()
        .unwrap();
}

fn write_model_seeds_here() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let faithful = read_table(&data.join("faithful_std.csv"), None).unwrap();
    let symbols = read_table(&data.join("faithful_waiting_symbols.csv"), None).unwrap();
    let dir = fuzz_dir().join("seeds/model_file");
    fs::create_dir_all(&dir).unwrap();
    for kind in CovarianceType::ALL {
        let fit = GaussianMixture::builder(2)
            .covariance(kind)
            .seed(0)
            .fit(faithful.data.view())
            .unwrap();
        let mut file = MixtureFile::new(fit.model);
        file.feature_names = Some(faithful.names.clone());
        fs::write(dir.join(format!("{kind}.json")), file.to_json_string()).unwrap();
    }
    let dir = fuzz_dir().join("seeds/hmm_model_file");
    fs::create_dir_all(&dir).unwrap();
    let seqs = Sequences::one(faithful.data.view());
    let symbol_seqs = Sequences::one(symbols.data.view());
    let mut models = Vec::new();
    for kind in [
        CovarianceType::Full,
        CovarianceType::Diagonal,
        CovarianceType::Tied,
        CovarianceType::Spherical,
    ] {
        let fit = GaussianHmm::builder(2)
            .covariance(kind)
            .max_iter(20)
            .seed(0)
            .fit(&seqs)
            .unwrap();
        models.push((format!("gaussian_{kind}"), AnyHmm::Gaussian(fit.model)));
    }
    let fit = GmmHmm::builder(2)
        .n_mix(2)
        .covariance(CovarianceType::Diagonal)
        .max_iter(10)
        .seed(0)
        .fit(&seqs)
        .unwrap();
    models.push(("gmm_diag".into(), AnyHmm::Gmm(fit.model)));
    let fit = CategoricalHmm::builder(2)
        .max_iter(20)
        .seed(0)
        .fit(&symbol_seqs)
        .unwrap();
    models.push(("categorical".into(), AnyHmm::Categorical(fit.model)));
    for (name, model) in models {
        let mut file = HmmFile::new(model);
        file.feature_names = None;
        fs::write(dir.join(format!("{name}.json")), file.to_json_string()).unwrap();
    }
}
