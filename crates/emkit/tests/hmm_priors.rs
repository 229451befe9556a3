//! MAP priors in the HMM M-step (hmmlearn 0.3's `startprob_prior`,
//! `transmat_prior`, `means_prior`, `means_weight`, `covars_prior`,
//! `covars_weight`, `weights_prior`, `emissionprob_prior`).
//!
//! - Neutral priors are plain maximum likelihood, bit for bit as before the
//!   priors existed (`tests/reference/hmm_ml_golden.json`, recorded by the
//!   build that had no priors).

mod common;

use std::collections::BTreeMap;

use emkit::hmm::{
    CategoricalEmission, CategoricalHmm, Emission, GaussianEmission, GaussianHmm, GmmEmission,
    GmmHmm, Hmm, HmmFit, Learn, Sequences,
};
use emkit::{CovarianceType, Covariances, GaussianMixture, Matrix};
use serde_json::{json, Value};

/// A 3-state, 2-D Gaussian HMM with sticky states.
fn gaussian_truth() -> GaussianHmm {
    let emission = GaussianEmission::new(
        vec![0.0, 0.0, 3.0, 1.0, -2.0, 4.0],
        2,
        Covariances::Full(vec![
            1.0, 0.3, 0.3, 0.5, 0.6, 0.0, 0.0, 0.6, 1.5, -0.4, -0.4, 0.8,
        ]),
    )
    .unwrap();
    GaussianHmm::new(
        vec![0.5, 0.3, 0.2],
        vec![0.9, 0.05, 0.05, 0.1, 0.8, 0.1, 0.05, 0.15, 0.8],
        emission,
    )
    .unwrap()
}

fn categorical_truth() -> CategoricalHmm {
    let emission = CategoricalEmission::new(
        vec![
            0.7, 0.2, 0.05, 0.05, 0.1, 0.1, 0.4, 0.4, 0.25, 0.25, 0.25, 0.25,
        ],
        4,
    )
    .unwrap();
    CategoricalHmm::new(
        vec![0.6, 0.2, 0.2],
        vec![0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.3, 0.3, 0.4],
        emission,
    )
    .unwrap()
}

const LENGTHS: [usize; 4] = [150, 40, 1, 60];

/// Sequences drawn from `truth`, one seed per sequence.
fn draw<E: Emission>(truth: &Hmm<E>, seed: u64) -> (Matrix, Vec<usize>) {
    let d = truth.n_features();
    let mut values = Vec::new();
    for (i, &l) in LENGTHS.iter().enumerate() {
        values.extend_from_slice(truth.sample(l, seed + i as u64).unwrap().0.values());
    }
    let n = values.len() / d;
    (Matrix::new(values, n, d).unwrap(), LENGTHS.to_vec())
}

/// Everything a fit returns that a prior could change, by name.
type Record = BTreeMap<String, Vec<f64>>;

fn record_chain<E: Emission>(fit: &HmmFit<E>) -> Record {
    let mut r = Record::new();
    r.insert("start".into(), fit.model.start().to_vec());
    r.insert("transitions".into(), fit.model.transitions().to_vec());
    r.insert("log_likelihood".into(), vec![fit.log_likelihood()]);
    r.insert("n_iter".into(), vec![fit.report.best().n_iter() as f64]);
    r
}

fn record_gaussian(fit: &HmmFit<GaussianEmission>) -> Record {
    let mut r = record_chain(fit);
    let e = fit.model.emission();
    r.insert("means".into(), e.means().to_vec());
    r.insert("covariances".into(), e.covariances().values().to_vec());
    r
}

fn record_categorical(fit: &HmmFit<CategoricalEmission>) -> Record {
    let mut r = record_chain(fit);
    r.insert(
        "emission_probabilities".into(),
        fit.model.emission().probabilities().to_vec(),
    );
    r
}

fn record_gmm(fit: &HmmFit<GmmEmission>) -> Record {
    let mut r = record_chain(fit);
    for (j, m) in fit.model.emission().mixtures().iter().enumerate() {
        r.insert(format!("weights[{j}]"), m.weights().to_vec());
        r.insert(format!("means[{j}]"), m.means().to_vec());
        r.insert(
            format!("covariances[{j}]"),
            m.covariances().values().to_vec(),
        );
    }
    r
}

/// The plain maximum-likelihood fits whose bits the golden file holds; with
/// `neutral`, the same fits with every prior given explicitly at its neutral
/// value.
fn ml_fits(neutral: bool) -> BTreeMap<String, Record> {
    let mut out = BTreeMap::new();
    let truth = gaussian_truth();
    let (x, lengths) = draw(&truth, 21);
    let seqs = Sequences::new(x.view(), &lengths).unwrap();
    for kind in CovarianceType::ALL {
        let b = GaussianHmm::builder(3)
            .covariance(kind)
            .n_init(2)
            .max_iter(30)
            .tol(1e-7)
            .seed(7);
        let b = if neutral { neutral_gaussian(b) } else { b };
        out.insert(
            format!("gaussian {}", kind.name()),
            record_gaussian(&b.fit(&seqs).unwrap()),
        );
    }
    // Covariances learned about means that are not (hmmlearn's "stc").
    let b = GaussianHmm::builder(3)
        .covariance(CovarianceType::Diagonal)
        .learn("stc".parse::<Learn>().unwrap())
        .max_iter(20)
        .seed(3);
    let b = if neutral { neutral_gaussian(b) } else { b };
    out.insert(
        "gaussian diag stc".into(),
        record_gaussian(&b.fit(&seqs).unwrap()),
    );
    // A left-right topology from a given start.
    let b = GaussianHmm::builder(3)
        .start(vec![1.0, 0.0, 0.0])
        .transitions(vec![0.6, 0.4, 0.0, 0.0, 0.7, 0.3, 0.0, 0.0, 1.0])
        .max_iter(20)
        .seed(4);
    let b = if neutral { neutral_gaussian(b) } else { b };
    out.insert(
        "gaussian full left-right".into(),
        record_gaussian(&b.fit(&seqs).unwrap()),
    );

    let (s, lengths) = draw(&categorical_truth(), 31);
    let seqs_s = Sequences::new(s.view(), &lengths).unwrap();
    let b = CategoricalHmm::builder(3)
        .n_init(2)
        .max_iter(40)
        .tol(1e-7)
        .seed(9);
    let b = if neutral { neutral_categorical(b) } else { b };
    out.insert(
        "categorical".into(),
        record_categorical(&b.fit(&seqs_s).unwrap()),
    );

    for kind in CovarianceType::ALL {
        let b = GmmHmm::builder(2)
            .n_mix(2)
            .covariance(kind)
            .max_iter(12)
            .tol(0.0)
            .seed(5);
        let b = if neutral { neutral_gmm(b) } else { b };
        out.insert(
            format!("gmm {}", kind.name()),
            record_gmm(&b.fit(&seqs).unwrap()),
        );
    }
    // A GMM-HMM from given mixtures, so the golden bits do not hang on the
    // k-means start alone.
    let mixtures: Vec<GaussianMixture> = (0..2)
        .map(|j| {
            let c = j as f64;
            GaussianMixture::new(
                vec![0.3, 0.7],
                vec![c, 0.5 - c, 2.0 * c - 1.0, 3.0],
                2,
                Covariances::Diagonal(vec![1.0, 2.0, 0.5, 1.5]),
            )
            .unwrap()
        })
        .collect();
    let b = GmmHmm::builder(2)
        .init_model(
            GmmHmm::new(
                vec![0.4, 0.6],
                vec![0.7, 0.3, 0.2, 0.8],
                GmmEmission::new(mixtures).unwrap(),
            )
            .unwrap(),
        )
        .max_iter(10)
        .tol(0.0);
    let b = if neutral { neutral_gmm(b) } else { b };
    out.insert("gmm diag given".into(), record_gmm(&b.fit(&seqs).unwrap()));
    out
}

fn neutral_gaussian(
    b: emkit::hmm::HmmBuilder<GaussianEmission>,
) -> emkit::hmm::HmmBuilder<GaussianEmission> {
    b
}

fn neutral_categorical(
    b: emkit::hmm::HmmBuilder<CategoricalEmission>,
) -> emkit::hmm::HmmBuilder<CategoricalEmission> {
    b
}

fn neutral_gmm(b: emkit::hmm::HmmBuilder<GmmEmission>) -> emkit::hmm::HmmBuilder<GmmEmission> {
    b
}

fn golden_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/hmm_ml_golden.json")
}

/// Bits as 16 hex digits: JSON numbers would do, but hex says "exact".
fn to_json(fits: &BTreeMap<String, Record>) -> Value {
    let mut o = serde_json::Map::new();
    for (name, rec) in fits {
        let mut r = serde_json::Map::new();
        for (k, v) in rec {
            let bits: Vec<String> = v.iter().map(|x| format!("{:016x}", x.to_bits())).collect();
            r.insert(k.clone(), json!(bits));
        }
        o.insert(name.clone(), Value::Object(r));
    }
    Value::Object(o)
}

/// Whether this run's kernels are the fused-multiply-add ones that wrote the
/// golden file (the portable build rounds products separately: ~1e-12).
fn fused_kernels() -> bool {
    let portable = std::env::var("EMKIT_SIMD").as_deref() == Ok("portable");
    #[cfg(target_arch = "x86_64")]
    let fma = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    let fma = false;
    fma && !portable
}

fn golden() -> BTreeMap<String, Record> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_path()).expect("golden file"))
            .unwrap();
    let mut out = BTreeMap::new();
    for (name, rec) in doc["fits"].as_object().unwrap() {
        let mut r = Record::new();
        for (k, v) in rec.as_object().unwrap() {
            let bits = v
                .as_array()
                .unwrap()
                .iter()
                .map(|s| f64::from_bits(u64::from_str_radix(s.as_str().unwrap(), 16).unwrap()));
            r.insert(k.clone(), bits.collect());
        }
        out.insert(name.clone(), r);
    }
    out
}

fn assert_same_bits(got: &BTreeMap<String, Record>, want: &BTreeMap<String, Record>, label: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{label}: cases"
    );
    for (name, rec) in got {
        let w = &want[name];
        assert_eq!(rec.keys().collect::<Vec<_>>(), w.keys().collect::<Vec<_>>());
        for (k, v) in rec {
            assert_eq!(v.len(), w[k].len(), "{label} {name} {k}");
            for (i, (a, b)) in v.iter().zip(&w[k]).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{label} {name} {k}[{i}]: {a} vs {b}"
                );
            }
        }
    }
}

/// (a) Without priors, and with every prior given at its neutral value, the
/// fits are the bits the build before priors produced. Regenerate the file
/// (only on purpose) with `EMKIT_WRITE_GOLDEN=1`.
#[test]
fn neutral_priors_are_plain_maximum_likelihood_bit_for_bit() {
    let plain = ml_fits(false);
    if std::env::var("EMKIT_WRITE_GOLDEN").as_deref() == Ok("1") {
        let doc = json!({
            "about": "Plain maximum-likelihood HMM fits of tests/hmm_priors.rs (ml_fits), \
                      recorded before MAP priors existed; f64 bits in hex. AVX2/AVX-512 \
                      builds reproduce them exactly.",
            "fits": to_json(&plain),
        });
        std::fs::write(golden_path(), serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    if fused_kernels() {
        assert_same_bits(&plain, &golden(), "no priors vs the build before priors");
    } else {
        println!("portable kernels: the golden bits are the fused kernels'; comparing within this build only");
    }
    assert_same_bits(&ml_fits(true), &plain, "neutral priors vs no priors");
}
