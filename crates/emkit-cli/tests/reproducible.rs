//! What the README's numbers promise on another processor: the AVX-512 and
//! AVX2 builds of the kernels give the same bits; the portable build (what a
//! processor without AVX2 and FMA runs) rounds products separately, so its
//! last digits differ, within ~1e-12 relative. `EMKIT_SIMD` chooses the build
//! here, so one machine checks all three.

use std::fs;

mod common;

use common::{data, emkit, s};

/// `(log_likelihood, n_iter, predict --proba text)` of a fit under `simd`.
fn run(simd: &str, dir: &std::path::Path, file: &str, cov: &str) -> (f64, u64, String) {
    let model = dir.join(format!("{simd}-{cov}.json"));
    let fit = emkit()
        .env("EMKIT_SIMD", simd)
        .args(["fit", s(&data(file)), "-k", "3", "--covariance", cov])
        .args([
            "--tol",
            "1e-8",
            "--max-iter",
            "1000",
            "--json",
            "-q",
            "-o",
            s(&model),
        ])
        .output()
        .unwrap();
    assert!(fit.status.success(), "{fit:?}");
    let j: serde_json::Value = serde_json::from_slice(&fit.stdout).unwrap();
    let proba = emkit()
        .env("EMKIT_SIMD", simd)
        .args(["predict", s(&model), s(&data(file)), "--proba"])
        .output()
        .unwrap();
    assert!(proba.status.success(), "{proba:?}");
    let _ = fs::remove_file(&model);
    (
        j["log_likelihood"].as_f64().unwrap(),
        j["n_iter"].as_u64().unwrap(),
        String::from_utf8(proba.stdout).unwrap(),
    )
}

fn cells(text: &str) -> Vec<f64> {
    text.lines()
        .skip(1)
        .flat_map(|l| l.split(',').skip(1).map(|c| c.parse::<f64>().unwrap()))
        .collect()
}

#[test]
fn every_kernel_build_gives_the_same_fit_to_1e12() {
    let dir = tempfile::tempdir().unwrap();
    let mut worst: f64 = 0.0;
    for file in ["iris.csv", "faithful.csv"] {
        for cov in ["full", "tied", "diag", "spherical"] {
            let wide = run("avx512", dir.path(), file, cov);
            let avx2 = run("avx2", dir.path(), file, cov);
            let portable = run("portable", dir.path(), file, cov);
            // The two fused builds: the same bits.
            assert_eq!(wide.0.to_bits(), avx2.0.to_bits(), "{file} {cov}");
            assert_eq!(wide.2, avx2.2, "{file} {cov}");
            // Portable: the same path, and numbers within 1e-12 relative. A
            // log-density is a sum of ~d² rounded products; separate rounding
            // moves it by a few ulps of its size, i.e. ~1e-15 relative, and EM
            // near its optimum does not amplify that (a contraction).
            assert_eq!(wide.1, portable.1, "{file} {cov}: iterations");
            let rel = (wide.0 - portable.0).abs() / wide.0.abs();
            assert!(rel < 1e-12, "{file} {cov}: {} vs {}", wide.0, portable.0);
            worst = worst.max(rel);
            // A probability is exp of a log-density difference: its relative
            // error is the absolute error of that difference, up to ~1e-12 of
            // the log-densities' size (|ln p| ≤ 1000 here), so compare the logs.
            for (a, b) in cells(&wide.2).iter().zip(cells(&portable.2)) {
                if *a == 0.0 || b == 0.0 {
                    assert_eq!(*a, b, "{file} {cov}");
                    continue;
                }
                let (la, lb) = (a.ln(), b.ln());
                let err = (la - lb).abs() / la.abs().max(1.0);
                assert!(err < 1e-12, "{file} {cov}: {a} vs {b}");
                worst = worst.max(err);
            }
        }
    }
    println!("worst relative difference, portable against AVX: {worst:e}");
}
