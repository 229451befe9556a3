//! MAP priors in the HMM M-step (hmmlearn 0.3's `startprob_prior`,
//! `transmat_prior`, `means_prior`, `means_weight`, `covars_prior`,
//! `covars_weight`, `weights_prior`, `emissionprob_prior`).
//!
//! - (a) Neutral priors are plain maximum likelihood, bit for bit as before
//!   the priors existed (`tests/reference/hmm_ml_golden.json`, recorded by
//!   the build that had no priors).
//! - (b) With priors, emkit's M-steps are hmmlearn 0.3.3's
//!   (`tests/reference/hmm_priors.json`, from `make_hmm_prior_refs.py`).
//! - (c) With any priors a MAP M-step returns a valid model; the exact one
//!   never lowers the log posterior and converges to a local maximum of it
//!   (an oracle of the formulas that needs no hmmlearn, and covers the exact
//!   GMM-HMM M-step with priors, which hmmlearn does not have).

mod common;

use common::{categorical_truth, gaussian_truth};

use std::collections::BTreeMap;

use emkit::hmm::{
    CategoricalEmission, CategoricalHmm, CovarianceCentre, Emission, GaussianEmission, GaussianHmm,
    GmmEmission, GmmHmm, Hmm, HmmBuilder, HmmFit, Learn, PriorArray, Sequences,
};
use emkit::{CovarianceType, Covariances, GaussianMixture, Matrix};
use serde_json::{json, Value};

const LENGTHS: [usize; 4] = [150, 40, 1, 60];

/// Sequences drawn from `truth`, one seed per sequence.
fn draw<E: Emission>(truth: &Hmm<E>, seed: u64) -> (Matrix, Vec<usize>) {
    common::draw(truth, &LENGTHS, seed)
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
        let b = if neutral { neutral_gmm(b, kind) } else { b };
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
    let b = if neutral {
        neutral_gmm(b, CovarianceType::Diagonal)
    } else {
        b
    };
    out.insert("gmm diag given".into(), record_gmm(&b.fit(&seqs).unwrap()));
    out
}

/// Every prior of a Gaussian HMM at its neutral value, in several shapes.
fn neutral_gaussian(b: HmmBuilder<GaussianEmission>) -> HmmBuilder<GaussianEmission> {
    b.startprob_prior(1.0)
        .transmat_prior(PriorArray::new(vec![1.0; 3], vec![3]))
        .means_prior(PriorArray::new(vec![0.5, -2.0], vec![2]))
        .means_weight(0.0)
        .covars_prior(0.0)
        .covars_weight(1.0)
}

fn neutral_categorical(b: HmmBuilder<CategoricalEmission>) -> HmmBuilder<CategoricalEmission> {
    b.startprob_prior(vec![1.0; 3])
        .transmat_prior(1.0)
        .emissionprob_prior(PriorArray::new(vec![1.0; 4], vec![1, 4]))
}

/// hmmlearn's `GMMHMM` defaults (its `None`s made explicit), which are
/// neutral for the non-spherical types; spherical's neutral `α` is
/// `−(d + 2)/2`, with `d = 2` here equal to hmmlearn's `−(M + 2)/2`.
fn neutral_gmm(b: HmmBuilder<GmmEmission>, kind: CovarianceType) -> HmmBuilder<GmmEmission> {
    // d = 2 features, M = 2 components.
    let (alpha, nu) = match kind {
        CovarianceType::Full => (0.0, -4.0),
        CovarianceType::Tied => (0.0, -5.0),
        CovarianceType::Diagonal => (-1.5, 0.0),
        CovarianceType::Spherical => (-2.0, 0.0),
    };
    b.startprob_prior(1.0)
        .transmat_prior(1.0)
        .weights_prior(1.0)
        .means_prior(3.0)
        .means_weight(0.0)
        .covars_prior(alpha)
        .covars_weight(nu)
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

// ---------------------------------------------------------------------------
// (b) hmmlearn's MAP M-steps (`tests/reference/hmm_priors.json`, made by
// `tests/reference/make_hmm_prior_refs.py` with hmmlearn 0.3.3).

fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().unwrap() as usize
}

fn prior_of(case: &Value, name: &str) -> PriorArray {
    let p = &case["priors"][name];
    let shape = p["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(usize_of)
        .collect();
    PriorArray::new(floats(&p["values"]), shape)
}

fn covariances(kind: CovarianceType, values: Vec<f64>) -> Covariances {
    match kind {
        CovarianceType::Full => Covariances::Full(values),
        CovarianceType::Tied => Covariances::Tied(values),
        CovarianceType::Diagonal => Covariances::Diagonal(values),
        CovarianceType::Spherical => Covariances::Spherical(values),
    }
}

/// `max |a − b| / max |b|` over one parameter array: relative to the
/// array's scale, so that entries near zero (off-diagonal covariances,
/// probabilities of rare symbols) are held to the same absolute accuracy as
/// their neighbours.
fn relative_difference(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

/// A fitted model's parameters by the reference's names.
fn chain_params<E: Emission>(fit: &HmmFit<E>) -> Record {
    let mut r = Record::new();
    r.insert("startprob".into(), fit.model.start().to_vec());
    r.insert("transmat".into(), fit.model.transitions().to_vec());
    let n = fit.report.n_samples as f64;
    let trace = &fit.report.best().trace;
    r.insert(
        "log_likelihoods".into(),
        trace.iter().map(|t| t.mean_log_likelihood * n).collect(),
    );
    r
}

/// Which of a case's settings a fit passes to emkit.
#[derive(Clone, Copy)]
enum Settings<'a> {
    /// All of them, with hmmlearn's covariance centre for GMM-HMMs.
    All,
    /// All but one prior.
    Without(&'a str),
    /// All priors, but the exact M-step's covariance centre.
    NewMeans,
    /// None: plain maximum likelihood, the exact M-step.
    None,
}

/// One case's fit after `n_iter` iterations with `settings`.
fn fit_case(case: &Value, n_iter: usize, settings: Settings<'_>) -> Record {
    let given = |name: &str| match settings {
        Settings::All | Settings::NewMeans => true,
        Settings::Without(n) => n != name,
        Settings::None => false,
    };
    // The case's prior `name` when the settings pass it.
    let prior = |name: &str| given(name).then(|| prior_of(case, name));
    let k = usize_of(&case["n_components"]);
    let init = &case["init"];
    let (start, trans) = (floats(&init["startprob"]), floats(&init["transmat"]));
    let lengths: Vec<usize> = case["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(usize_of)
        .collect();
    let x = floats(&case["X"]);
    let d = match case["model"].as_str().unwrap() {
        "categorical" => 1,
        _ => usize_of(&case["n_features"]),
    };
    let data = Matrix::new(x.clone(), x.len() / d, d).unwrap();
    let seqs = Sequences::new(data.view(), &lengths).unwrap();
    let kind = || -> CovarianceType { case["covariance_type"].as_str().unwrap().parse().unwrap() };
    match case["model"].as_str().unwrap() {
        "gaussian" => {
            let e = GaussianEmission::new(
                floats(&init["means"]),
                d,
                covariances(kind(), floats(&init["covars"])),
            )
            .unwrap();
            let mut b = GaussianHmm::builder(k)
                .init_model(GaussianHmm::new(start, trans, e).unwrap())
                .max_iter(n_iter)
                .tol(0.0)
                .reg_covar(0.0);
            if let Some(p) = prior("startprob_prior") {
                b = b.startprob_prior(p);
            }
            if let Some(p) = prior("transmat_prior") {
                b = b.transmat_prior(p);
            }
            if let Some(p) = prior("means_prior") {
                b = b.means_prior(p);
            }
            if let Some(p) = prior("means_weight") {
                b = b.means_weight(p);
            }
            if let Some(p) = prior("covars_prior") {
                b = b.covars_prior(p);
            }
            if let Some(p) = prior("covars_weight") {
                b = b.covars_weight(p);
            }
            let fit = b.fit(&seqs).unwrap();
            let mut r = chain_params(&fit);
            let e = fit.model.emission();
            r.insert("means".into(), e.means().to_vec());
            r.insert("covars".into(), e.covariances().values().to_vec());
            r
        }
        "categorical" => {
            let m = usize_of(&case["n_symbols"]);
            let e = CategoricalEmission::new(floats(&init["emissionprob"]), m).unwrap();
            let mut b = CategoricalHmm::builder(k)
                .init_model(CategoricalHmm::new(start, trans, e).unwrap())
                .max_iter(n_iter)
                .tol(0.0);
            if let Some(p) = prior("startprob_prior") {
                b = b.startprob_prior(p);
            }
            if let Some(p) = prior("transmat_prior") {
                b = b.transmat_prior(p);
            }
            if let Some(p) = prior("emissionprob_prior") {
                b = b.emissionprob_prior(p);
            }
            let fit = b.fit(&seqs).unwrap();
            let mut r = chain_params(&fit);
            r.insert(
                "emissionprob".into(),
                fit.model.emission().probabilities().to_vec(),
            );
            r
        }
        _ => {
            let (weights, means, covars) = (
                init["weights"].as_array().unwrap(),
                init["means"].as_array().unwrap(),
                init["covars"].as_array().unwrap(),
            );
            let states = (0..k)
                .map(|j| {
                    GaussianMixture::new(
                        floats(&weights[j]),
                        floats(&means[j]),
                        d,
                        covariances(kind(), floats(&covars[j])),
                    )
                    .unwrap()
                })
                .collect();
            let e = GmmEmission::new(states).unwrap();
            let mut b = GmmHmm::builder(k)
                .init_model(GmmHmm::new(start, trans, e).unwrap())
                .max_iter(n_iter)
                .tol(0.0)
                .reg_covar(0.0);
            if matches!(settings, Settings::All | Settings::Without(_)) {
                b = b.covariance_centre(CovarianceCentre::PreviousMeans);
            }
            if let Some(p) = prior("startprob_prior") {
                b = b.startprob_prior(p);
            }
            if let Some(p) = prior("transmat_prior") {
                b = b.transmat_prior(p);
            }
            if let Some(p) = prior("weights_prior") {
                b = b.weights_prior(p);
            }
            if let Some(p) = prior("means_prior") {
                b = b.means_prior(p);
            }
            if let Some(p) = prior("means_weight") {
                b = b.means_weight(p);
            }
            if let Some(p) = prior("covars_prior") {
                b = b.covars_prior(p);
            }
            if let Some(p) = prior("covars_weight") {
                b = b.covars_weight(p);
            }
            let fit = b.fit(&seqs).unwrap();
            let mut r = chain_params(&fit);
            let mix = fit.model.emission().mixtures();
            r.insert(
                "weights".into(),
                mix.iter().flat_map(|m| m.weights().to_vec()).collect(),
            );
            r.insert(
                "means".into(),
                mix.iter().flat_map(|m| m.means().to_vec()).collect(),
            );
            r.insert(
                "covars".into(),
                mix.iter()
                    .flat_map(|m| m.covariances().values().to_vec())
                    .collect(),
            );
            r
        }
    }
}

/// The largest relative difference (see [`relative_difference`]) between a
/// fit and hmmlearn's result, over every parameter array and the trace.
fn worst_difference(ours: &Record, theirs: &Value) -> (f64, String) {
    let mut worst = (0.0, String::new());
    for (name, v) in ours {
        let r = relative_difference(v, &floats(&theirs[name.as_str()]));
        // A NaN counts as the worst.
        if r > worst.0 || r.is_nan() {
            worst = (r, name.clone());
        }
    }
    worst
}

/// (b) From the same model, with the same priors (of every kind, in the
/// shapes hmmlearn's users pass them: scalars, per-state columns, per-feature
/// rows, full arrays), emkit's parameters after 1 and after 5 iterations
/// agree with hmmlearn's to 1e-10 of each array's scale, for GaussianHMM
/// (four covariance types), CategoricalHMM and GMMHMM (four types, hmmlearn's
/// covariance centring), and so do the log-likelihoods of every iteration.
///
/// Why 1e-10: both sides compute the same formulas in f64, differently
/// ordered — emkit's scaled forward–backward against hmmlearn's log-space
/// one, emkit's covariances centred on the data mean against hmmlearn's
/// `Σx² − 2μΣx + μ²N` (which cancels to ~1e-15 relative on these data), sums
/// in other orders. That is ~1e-15 per step, grown a few-fold by each EM
/// iteration; measured, the worst is about 2e-14 after 5 iterations, so
/// 1e-10 leaves room for other processors and BLAS builds. A formula that
/// differed would show by far more: the controls below check that leaving
/// out any single prior of the `priors` cases (or, for GMM-HMMs, using the
/// exact M-step's covariance centre) moves the result by more than 1e-8 of
/// its scale, and leaving out all of them (the `hmmlearn defaults` cases:
/// its `covars_prior=1e-2`, its GMM-HMM centring) by more than 1e-5.
#[test]
fn map_steps_agree_with_hmmlearn() {
    let doc = common::reference("hmm_priors.json");
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    let mut report = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut worst = (0.0f64, String::new());
        for result in case["results"].as_array().unwrap() {
            let n_iter = usize_of(&result["n_iter"]);
            let ours = fit_case(case, n_iter, Settings::All);
            let (r, field) = worst_difference(&ours, result);
            assert!(
                r <= 1e-10,
                "{name}, {n_iter} iteration(s): {field} differs from hmmlearn's by {r:e} of its scale"
            );
            if r > worst.0 {
                worst = (r, format!("{field} after {n_iter}"));
            }
        }
        // Controls: the agreement above is not vacuous.
        let last = case["results"].as_array().unwrap().last().unwrap();
        let n_iter = usize_of(&last["n_iter"]);
        let moved = |settings| worst_difference(&fit_case(case, n_iter, settings), last);
        let (plain, field) = moved(Settings::None);
        assert!(
            plain > 1e-5,
            "{name}: without priors the result is within {plain:e} ({field}); the case tests nothing"
        );
        let mut least = plain;
        if name.ends_with(" priors") {
            for prior in case["priors"].as_object().unwrap().keys() {
                let (r, field) = moved(Settings::Without(prior));
                assert!(
                    r > 1e-8,
                    "{name}: without {prior} the result moves only {r:e} ({field})"
                );
                least = least.min(r);
            }
            if case["model"] == "gmm" {
                let (r, field) = moved(Settings::NewMeans);
                assert!(
                    r > 1e-8,
                    "{name}: the centre moves the result only {r:e} ({field})"
                );
                least = least.min(r);
            }
        }
        report.push(format!(
            "{name:32} largest relative difference {:.1e} ({}); without all priors {plain:.1e}, \
             smallest effect of one setting {least:.1e}",
            worst.0, worst.1
        ));
    }
    println!("{}", report.join("\n"));
}

// ---------------------------------------------------------------------------
// (c) Properties: a MAP M-step returns a valid model whatever the priors; the
// exact MAP M-step never lowers the log posterior and ends at a maximum of it.

/// Probability rows summing to one, entries finite in [0, 1].
fn assert_distributions(values: &[f64], width: usize, what: &str) {
    for (r, row) in values.chunks(width).enumerate() {
        assert!(
            row.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)),
            "{what} row {r}: {row:?}"
        );
        let s: f64 = row.iter().sum();
        assert!((s - 1.0).abs() <= 1e-12, "{what} row {r} sums to {s}");
    }
}

/// Every covariance positive definite (its Cholesky factor exists), every
/// mean finite.
fn assert_gaussians(means: &[f64], cov: &Covariances, d: usize, what: &str) {
    assert!(
        means.iter().all(|m| m.is_finite()),
        "{what}: means {means:?}"
    );
    let k = means.len() / d;
    let blocks = if cov.covariance_type() == CovarianceType::Tied {
        1
    } else {
        k
    };
    let mut l = vec![0.0; d * d];
    for j in 0..blocks {
        let c = cov.component_matrix(j, d);
        assert!(
            emkit::linalg::cholesky_lower(&c, d, &mut l).is_ok(),
            "{what}: covariance {j} not positive definite: {c:?}"
        );
    }
}

fn assert_valid<E: Emission>(model: &Hmm<E>, what: &str, emission: impl Fn(&E, &str)) {
    let k = model.n_states();
    assert_distributions(model.start(), k, &format!("{what} start"));
    assert_distributions(model.transitions(), k, &format!("{what} transitions"));
    emission(model.emission(), what);
}

fn valid_gaussian(e: &GaussianEmission, what: &str) {
    assert_gaussians(e.means(), e.covariances(), e.n_features(), what);
}

fn valid_categorical(e: &CategoricalEmission, what: &str) {
    assert_distributions(
        e.probabilities(),
        e.n_symbols(),
        &format!("{what} emission"),
    );
}

fn valid_gmm(e: &GmmEmission, what: &str) {
    for (j, m) in e.mixtures().iter().enumerate() {
        let w = format!("{what} state {j}");
        assert_distributions(m.weights(), m.n_components(), &format!("{w} weights"));
        assert_gaussians(m.means(), m.covariances(), m.n_features(), &w);
    }
}

/// A conjugate prior on one block of Gaussian components in the M-step's
/// terms (an independent restatement of what hmmlearn's formulas maximise):
/// `log p = Σ_c [−½ power·ln det Σ − ½ tr((Ψ + λ_c δ_c δ_cᵀ) Σ⁻¹)]`, per
/// variance for diag, once for a tied Σ; `δ = μ − μ₀`.
struct GaussPrior {
    kind: CovarianceType,
    d: usize,
    /// `k × d`.
    mu0: Vec<f64>,
    /// `k × d` (one value per component for full and tied).
    lambda: Vec<f64>,
    /// Full `k × d × d`, tied `d × d`, diag `k × d`, spherical `k`.
    scale: Vec<f64>,
    /// Full and spherical `k` (spherical: of `ln σ²`), tied 1, diag `k × d`.
    power: Vec<f64>,
}

/// `(ln det, inverse)` of a symmetric 2 × 2 matrix.
fn det_inv_2(c: &[f64]) -> (f64, [f64; 4]) {
    let det = c[0] * c[3] - c[1] * c[2];
    (det.ln(), [c[3] / det, -c[1] / det, -c[2] / det, c[0] / det])
}

fn gaussian_log_prior(means: &[f64], cov: &Covariances, p: &GaussPrior) -> f64 {
    let d = p.d;
    let k = means.len() / d;
    let delta: Vec<f64> = means.iter().zip(&p.mu0).map(|(m, m0)| m - m0).collect();
    let v = cov.values();
    let mut lp = 0.0;
    match p.kind {
        CovarianceType::Diagonal => {
            for a in 0..k * d {
                let q = p.scale[a] + p.lambda[a] * delta[a] * delta[a];
                lp += -0.5 * p.power[a] * v[a].ln() - 0.5 * q / v[a];
            }
        }
        CovarianceType::Spherical => {
            for j in 0..k {
                let mut q = p.scale[j];
                for i in 0..d {
                    q += p.lambda[j * d + i] * delta[j * d + i].powi(2);
                }
                lp += -0.5 * p.power[j] * v[j].ln() - 0.5 * q / v[j];
            }
        }
        CovarianceType::Full | CovarianceType::Tied => {
            assert_eq!(d, 2, "the 2 x 2 closed forms");
            let tied = p.kind == CovarianceType::Tied;
            for j in 0..k {
                let c = if tied {
                    &v[..4]
                } else {
                    &v[j * 4..(j + 1) * 4]
                };
                let (ld, inv) = det_inv_2(c);
                let dl = &delta[j * d..(j + 1) * d];
                let maha: f64 = (0..2)
                    .flat_map(|a| (0..2).map(move |b| (a, b)))
                    .map(|(a, b)| dl[a] * inv[a * 2 + b] * dl[b])
                    .sum();
                lp -= 0.5 * p.lambda[j * d] * maha;
                if !tied || j == 0 {
                    let s = if tied {
                        &p.scale[..4]
                    } else {
                        &p.scale[j * 4..(j + 1) * 4]
                    };
                    let tr: f64 = (0..4).map(|i| s[i] * inv[i]).sum();
                    lp += -0.5 * p.power[if tied { 0 } else { j }] * ld - 0.5 * tr;
                }
            }
        }
    }
    lp
}

/// `Σ (α − 1) ln p` of rows of probabilities.
fn dirichlet_log_prior(p: &[f64], alpha: &[f64]) -> f64 {
    p.iter()
        .zip(alpha)
        .map(|(p, a)| if *a == 1.0 { 0.0 } else { (a - 1.0) * p.ln() })
        .sum()
}

fn chain_log_prior<E: Emission>(h: &Hmm<E>, start: &[f64], transitions: &[f64]) -> f64 {
    dirichlet_log_prior(h.start(), start) + dirichlet_log_prior(h.transitions(), transitions)
}

fn uniform(rng: &mut impl rand::Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// A random symmetric positive definite 2 × 2 matrix of about `scale`.
fn spd2(rng: &mut impl rand::Rng, scale: f64) -> Vec<f64> {
    let a = uniform(rng, 4, -1.0, 1.0);
    let mut m = [0.0; 4];
    for r in 0..2 {
        for c in 0..2 {
            m[r * 2 + c] = scale * ((0..2).map(|t| a[r * 2 + t] * a[c * 2 + t]).sum::<f64>() / 2.0)
                + if r == c { 0.2 * scale } else { 0.0 };
        }
    }
    m.to_vec()
}

/// The log prior density of a model.
type LogPrior<'a, E> = &'a dyn Fn(&Hmm<E>) -> f64;

/// Runs `steps` single EM steps from `first` (each a fit of one iteration
/// started from the previous model), checking each model with `valid` and,
/// when `log_prior` is given, that `score + log prior` never falls.
fn steps<E: Emission>(
    builder: impl Fn(Hmm<E>) -> emkit::Result<HmmFit<E>>,
    first: Hmm<E>,
    n: usize,
    seqs: &Sequences<'_>,
    what: &str,
    valid: impl Fn(&E, &str),
    log_prior: Option<LogPrior<'_, E>>,
) {
    let mut model = first;
    let mut previous: Option<f64> = None;
    for step in 0..n {
        let fit = builder(model).unwrap_or_else(|e| panic!("{what} step {step}: {e}"));
        model = fit.model;
        assert_valid(&model, &format!("{what} step {step}"), &valid);
        if let Some(lp) = log_prior {
            let ll = model.score(seqs).unwrap();
            let post = ll + lp(&model);
            if let Some(p) = previous {
                assert!(
                    post >= p - 1e-10 * p.abs(),
                    "{what} step {step}: the log posterior fell from {p} to {post}"
                );
            }
            previous = Some(post);
        }
    }
}

/// Small moves that keep rows of probabilities valid: for each row and each
/// pair of neighbours, a share `eps` of the smaller moved to the other, both
/// ways.
fn nudge_rows(values: &[f64], width: usize, eps: f64) -> Vec<(String, Vec<f64>)> {
    let mut out = Vec::new();
    for r in 0..values.len() / width {
        for i in r * width..(r + 1) * width - 1 {
            let delta = eps * values[i].min(values[i + 1]);
            for sign in [1.0, -1.0] {
                let mut v = values.to_vec();
                v[i] += sign * delta;
                v[i + 1] -= sign * delta;
                out.push((format!("row {r} entries {i}/{}", i + 1), v));
            }
        }
    }
    out
}

/// Small moves of Gaussian components: each mean coordinate by `eps`
/// standard deviations, each variance by a factor `1 ± eps`, each covariance
/// (full, tied) by `eps` of the product of the standard deviations.
fn nudge_gaussians(
    means: &[f64],
    cov: &Covariances,
    d: usize,
    eps: f64,
) -> Vec<(String, Vec<f64>, Covariances)> {
    let kind = cov.covariance_type();
    let k = means.len() / d;
    let v = cov.values();
    let sd = |j: usize, a: usize| cov.component_matrix(j, d)[a * d + a].sqrt();
    let mut out = Vec::new();
    for sign in [1.0, -1.0] {
        for j in 0..k {
            for a in 0..d {
                let mut m = means.to_vec();
                m[j * d + a] += sign * eps * sd(j, a);
                out.push((format!("mean {j}[{a}]"), m, cov.clone()));
            }
        }
        let matrices = match kind {
            CovarianceType::Full => k,
            CovarianceType::Tied => 1,
            _ => 0,
        };
        for j in 0..matrices {
            for a in 0..d {
                for b in a..d {
                    let mut c = v.to_vec();
                    let at = j * d * d;
                    if a == b {
                        c[at + a * d + a] *= 1.0 + sign * eps;
                    } else {
                        let step = sign * eps * (v[at + a * d + a] * v[at + b * d + b]).sqrt();
                        c[at + a * d + b] += step;
                        c[at + b * d + a] += step;
                    }
                    out.push((
                        format!("covariance {j}[{a}][{b}]"),
                        means.to_vec(),
                        covariances(kind, c),
                    ));
                }
            }
        }
        if matrices == 0 {
            for i in 0..v.len() {
                let mut c = v.to_vec();
                c[i] *= 1.0 + sign * eps;
                out.push((
                    format!("variance {i}"),
                    means.to_vec(),
                    covariances(kind, c),
                ));
            }
        }
    }
    out
}

/// Every small move of a model's chain (start and transition rows) and of
/// its emission (`emission`'s moves), each as a whole model.
fn nudges<E: Emission>(model: &Hmm<E>, emission: Vec<(String, E)>) -> Vec<(String, Hmm<E>)> {
    let k = model.n_states();
    let (start, trans, e) = (model.start(), model.transitions(), model.emission());
    let mut out = Vec::new();
    for (name, s) in nudge_rows(start, k, 1e-3) {
        out.push((
            format!("start {name}"),
            Hmm::new(s, trans.to_vec(), e.clone()).unwrap(),
        ));
    }
    for (name, t) in nudge_rows(trans, k, 1e-3) {
        out.push((
            format!("transitions {name}"),
            Hmm::new(start.to_vec(), t, e.clone()).unwrap(),
        ));
    }
    for (name, e) in emission {
        out.push((name, Hmm::new(start.to_vec(), trans.to_vec(), e).unwrap()));
    }
    out
}

/// A converged exact MAP fit is a local maximum of the log posterior: no
/// small move of any parameter raises `score + log prior` by more than the
/// rounding of the score (moves of 1e-3 that a wrong term in an M-step
/// formula — one pseudo-count too many in a denominator, say — would reward
/// by ~1e-4 here).
fn assert_map_optimum<E: Emission>(
    what: &str,
    model: &Hmm<E>,
    log_posterior: impl Fn(&Hmm<E>) -> f64,
    moves: Vec<(String, Hmm<E>)>,
) {
    let at = log_posterior(model);
    assert!(!moves.is_empty());
    for (name, moved) in moves {
        let v = log_posterior(&moved);
        assert!(
            v <= at + 1e-7 + 1e-12 * at.abs(),
            "{what}: moving {name} raises the log posterior from {at} by {:e}",
            v - at
        );
    }
}

/// Gaussian (four covariance types) and categorical HMMs with random priors
/// of every kind: 40 single steps, each a valid model with a log posterior no
/// lower than the step before; then a converged fit, a local maximum.
#[test]
fn exact_map_steps_are_valid_monotone_and_end_at_a_posterior_maximum() {
    use rand::{Rng, SeedableRng};
    let seed = common::test_seed(17);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let (x, lengths) = draw(&gaussian_truth(), seed);
    let seqs = Sequences::new(x.view(), &lengths).unwrap();
    let (k, d) = (3, 2);
    for trial in 0..3 {
        let start_a = uniform(&mut rng, k, 1.0, 4.0);
        let trans_a = uniform(&mut rng, k * k, 1.0, 4.0);
        for kind in CovarianceType::ALL {
            let what = format!("trial {trial} gaussian {kind}");
            let mu0 = uniform(&mut rng, k * d, -2.0, 2.0);
            let cw: f64 = rng.random_range(0.0..6.0);
            let shared = matches!(kind, CovarianceType::Full | CovarianceType::Tied);
            let (lambda, weight) = if shared {
                let l: f64 = rng.random_range(0.0..5.0);
                (vec![l; k * d], PriorArray::scalar(l))
            } else {
                let l = uniform(&mut rng, k * d, 0.0, 5.0);
                (l.clone(), PriorArray::new(l, vec![k, d]))
            };
            let (psi, psi_shape, scale, power) = match kind {
                CovarianceType::Full => {
                    let p: Vec<f64> = (0..k).flat_map(|_| spd2(&mut rng, 0.5)).collect();
                    (p.clone(), vec![k, d, d], p, vec![(cw - 2.0).max(0.0); k])
                }
                CovarianceType::Tied => {
                    let p = spd2(&mut rng, 0.5);
                    (p.clone(), vec![d, d], p, vec![(cw - 2.0).max(0.0)])
                }
                CovarianceType::Diagonal => {
                    let p = uniform(&mut rng, k * d, 0.0, 1.0);
                    (p.clone(), vec![k, d], p, vec![(cw - 1.0).max(0.0); k * d])
                }
                CovarianceType::Spherical => {
                    let p = uniform(&mut rng, k * d, 0.0, 1.0);
                    let sums = p.chunks(d).map(|r| r.iter().sum()).collect();
                    (p, vec![k, d], sums, vec![d as f64 * (cw - 1.0).max(0.0); k])
                }
            };
            let spec = GaussPrior {
                kind,
                d,
                mu0: mu0.clone(),
                lambda,
                scale,
                power,
            };
            let b = GaussianHmm::builder(k)
                .covariance(kind)
                .reg_covar(0.0)
                .startprob_prior(start_a.clone())
                .transmat_prior(PriorArray::new(trans_a.clone(), vec![k, k]))
                .means_prior(PriorArray::new(mu0, vec![k, d]))
                .means_weight(weight)
                .covars_prior(PriorArray::new(psi, psi_shape))
                .covars_weight(cw);
            let first = b.clone().max_iter(1).seed(trial).fit(&seqs).unwrap().model;
            let lp = |h: &GaussianHmm| {
                chain_log_prior(h, &start_a, &trans_a)
                    + gaussian_log_prior(h.emission().means(), h.emission().covariances(), &spec)
            };
            steps(
                |m| b.clone().init_model(m).max_iter(1).fit(&seqs),
                first,
                40,
                &seqs,
                &what,
                valid_gaussian,
                Some(&lp),
            );
            let best = b
                .clone()
                .max_iter(20_000)
                .tol(1e-14)
                .seed(trial)
                .fit(&seqs)
                .unwrap()
                .model;
            let e = best.emission();
            let moves = nudge_gaussians(e.means(), e.covariances(), d, 1e-3)
                .into_iter()
                .map(|(n, m, c)| (n, GaussianEmission::new(m, d, c).unwrap()))
                .collect();
            let post = |h: &GaussianHmm| h.score(&seqs).unwrap() + lp(h);
            assert_map_optimum(&what, &best, post, nudges(&best, moves));
        }

        // Categorical emissions.
        let (sym, lengths) = draw(&categorical_truth(), seed + 100 + trial);
        let seqs_c = Sequences::new(sym.view(), &lengths).unwrap();
        let emission_a = uniform(&mut rng, k * 4, 1.0, 4.0);
        let b = CategoricalHmm::builder(k)
            .startprob_prior(start_a.clone())
            .transmat_prior(PriorArray::new(trans_a.clone(), vec![k, k]))
            .emissionprob_prior(PriorArray::new(emission_a.clone(), vec![k, 4]));
        let first = b
            .clone()
            .max_iter(1)
            .seed(trial)
            .fit(&seqs_c)
            .unwrap()
            .model;
        let lp = |h: &CategoricalHmm| {
            chain_log_prior(h, &start_a, &trans_a)
                + dirichlet_log_prior(h.emission().probabilities(), &emission_a)
        };
        steps(
            |m| b.clone().init_model(m).max_iter(1).fit(&seqs_c),
            first,
            40,
            &seqs_c,
            &format!("trial {trial} categorical"),
            valid_categorical,
            Some(&lp),
        );
        let best = b
            .clone()
            .max_iter(20_000)
            .tol(1e-14)
            .seed(trial)
            .fit(&seqs_c)
            .unwrap()
            .model;
        let moves = nudge_rows(best.emission().probabilities(), 4, 1e-3)
            .into_iter()
            .map(|(n, p)| {
                (
                    format!("emission {n}"),
                    CategoricalEmission::new(p, 4).unwrap(),
                )
            })
            .collect();
        let post = |h: &CategoricalHmm| h.score(&seqs_c).unwrap() + lp(h);
        assert_map_optimum(
            &format!("trial {trial} categorical"),
            &best,
            post,
            nudges(&best, moves),
        );
    }
}

/// hmmlearn's `GMMHMM` priors, restated as the prior each state's mixture
/// M-step maximises (weights' Dirichlet, then [`GaussPrior`] per state): the
/// exact M-step as above; hmmlearn's centring gives valid models.
#[test]
fn gmm_map_steps_are_valid_and_the_exact_one_ends_at_a_posterior_maximum() {
    use rand::SeedableRng;
    let seed = common::test_seed(19);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let (x, lengths) = draw(&gaussian_truth(), seed);
    let seqs = Sequences::new(x.view(), &lengths).unwrap();
    let (k, m, d) = (2, 2, 2);
    let (nf, nm) = (d as f64, m as f64);
    for kind in CovarianceType::ALL {
        let weights_a = uniform(&mut rng, k * m, 1.0, 4.0);
        let mu0 = uniform(&mut rng, k * m * d, -2.0, 2.0);
        let lambda = uniform(&mut rng, k * m, 0.0, 5.0);
        // hmmlearn's parameters, their shapes, and per state the scale and
        // the power of ln det that its formulas imply.
        let (cp, cp_shape, cw, cw_shape, scale, power): (_, _, Vec<f64>, _, Vec<f64>, Vec<f64>) =
            match kind {
                CovarianceType::Full => {
                    let psi: Vec<f64> = (0..k * m).flat_map(|_| spd2(&mut rng, 0.5)).collect();
                    let nu = uniform(&mut rng, k * m, -(nf + 2.0), 2.0);
                    let power = nu.iter().map(|v| v + nf + 2.0).collect();
                    (psi.clone(), vec![k, m, d, d], nu, vec![k, m], psi, power)
                }
                CovarianceType::Tied => {
                    let psi: Vec<f64> = (0..k).flat_map(|_| spd2(&mut rng, 0.5)).collect();
                    let nu = uniform(&mut rng, k, -(nm + nf + 1.0), 2.0);
                    let power = nu.iter().map(|v| nm + v + nf + 1.0).collect();
                    (psi.clone(), vec![k, d, d], nu, vec![k], psi, power)
                }
                CovarianceType::Diagonal => {
                    let alpha = uniform(&mut rng, k * m * d, -1.5, 1.5);
                    let beta = uniform(&mut rng, k * m * d, 0.0, 1.0);
                    let power = alpha.iter().map(|a| 2.0 * a + 3.0).collect();
                    let scale = beta.iter().map(|b| 2.0 * b).collect();
                    (alpha, vec![k, m, d], beta, vec![k, m, d], scale, power)
                }
                CovarianceType::Spherical => {
                    let alpha = uniform(&mut rng, k * m, -(nf + 2.0) / 2.0, 1.0);
                    let beta = uniform(&mut rng, k * m, 0.0, 1.0);
                    let power = alpha.iter().map(|a| nf + 2.0 * a + 2.0).collect();
                    let scale = beta.iter().map(|b| 2.0 * b).collect();
                    (alpha, vec![k, m], beta, vec![k, m], scale, power)
                }
            };
        let (per_scale, per_power) = (scale.len() / k, power.len() / k);
        let specs: Vec<GaussPrior> = (0..k)
            .map(|j| GaussPrior {
                kind,
                d,
                mu0: mu0[j * m * d..(j + 1) * m * d].to_vec(),
                lambda: lambda[j * m..(j + 1) * m]
                    .iter()
                    .flat_map(|&l| [l; 2])
                    .collect(),
                scale: scale[j * per_scale..(j + 1) * per_scale].to_vec(),
                power: power[j * per_power..(j + 1) * per_power].to_vec(),
            })
            .collect();
        let b = GmmHmm::builder(k)
            .n_mix(m)
            .covariance(kind)
            .reg_covar(0.0)
            .weights_prior(PriorArray::new(weights_a.clone(), vec![k, m]))
            .means_prior(PriorArray::new(mu0.clone(), vec![k, m, d]))
            .means_weight(PriorArray::new(lambda.clone(), vec![k, m]))
            .covars_prior(PriorArray::new(cp, cp_shape))
            .covars_weight(PriorArray::new(cw, cw_shape));
        let lp = |h: &GmmHmm| -> f64 {
            h.emission()
                .mixtures()
                .iter()
                .zip(&specs)
                .enumerate()
                .map(|(j, (mix, spec))| {
                    dirichlet_log_prior(mix.weights(), &weights_a[j * m..(j + 1) * m])
                        + gaussian_log_prior(mix.means(), mix.covariances(), spec)
                })
                .sum()
        };
        let first = b.clone().max_iter(1).seed(3).fit(&seqs).unwrap().model;
        steps(
            |h| b.clone().init_model(h).max_iter(1).fit(&seqs),
            first.clone(),
            40,
            &seqs,
            &format!("gmm {kind}"),
            valid_gmm,
            Some(&lp),
        );
        let best = b
            .clone()
            .max_iter(20_000)
            .tol(1e-14)
            .seed(3)
            .fit(&seqs)
            .unwrap()
            .model;
        let mut moves = Vec::new();
        let mixtures = best.emission().mixtures();
        for (j, mix) in mixtures.iter().enumerate() {
            let with = |m: GaussianMixture| {
                let mut states = mixtures.to_vec();
                states[j] = m;
                GmmEmission::new(states).unwrap()
            };
            let (w, mu, cov) = (mix.weights(), mix.means(), mix.covariances());
            for (n, w) in nudge_rows(w, m, 1e-3) {
                let moved = GaussianMixture::new(w, mu.to_vec(), d, cov.clone()).unwrap();
                moves.push((format!("state {j} weights {n}"), with(moved)));
            }
            for (n, mu, cov) in nudge_gaussians(mu, cov, d, 1e-3) {
                let moved = GaussianMixture::new(w.to_vec(), mu, d, cov).unwrap();
                moves.push((format!("state {j} {n}"), with(moved)));
            }
        }
        let post = |h: &GmmHmm| h.score(&seqs).unwrap() + lp(h);
        assert_map_optimum(&format!("gmm {kind}"), &best, post, nudges(&best, moves));
        // hmmlearn's centring is no exact M-step: validity only.
        let b = b.covariance_centre(CovarianceCentre::PreviousMeans);
        steps(
            |h| b.clone().init_model(h).max_iter(1).fit(&seqs),
            first,
            10,
            &seqs,
            &format!("gmm {kind} previous means"),
            valid_gmm,
            None,
        );
    }
}

/// Priors at the edges of their ranges — concentrations below one (clamped
/// pseudo-counts) and zero, prior means far away with huge weights, huge
/// scales and pseudo-counts, GMM degrees of freedom that leave small
/// components with negative denominators — still give valid models: no NaN,
/// no negative probability, positive definite covariances.
#[test]
fn extreme_priors_still_give_valid_models() {
    use rand::SeedableRng;
    let seed = common::test_seed(23);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let (x, lengths) = draw(&gaussian_truth(), seed);
    let seqs = Sequences::new(x.view(), &lengths).unwrap();
    let (k, d) = (3, 2);
    let sparse_start = vec![0.0, 0.3, 5.0];
    for kind in CovarianceType::ALL {
        for (weight, scale, dof) in [(1e6, 1e6, 1e6), (1e-3, 0.0, 0.0), (0.0, 1e-300, 0.5)] {
            let psi = match kind {
                CovarianceType::Full => PriorArray::new(
                    (0..k).flat_map(|_| spd2(&mut rng, scale)).collect(),
                    vec![k, d, d],
                ),
                CovarianceType::Tied => PriorArray::new(spd2(&mut rng, scale), vec![d, d]),
                _ => PriorArray::scalar(scale),
            };
            let b = GaussianHmm::builder(k)
                .covariance(kind)
                .startprob_prior(sparse_start.clone())
                .transmat_prior(PriorArray::new(
                    uniform(&mut rng, k * k, 0.0, 1.0),
                    vec![k, k],
                ))
                .means_prior(1e3)
                .means_weight(weight)
                .covars_prior(psi)
                .covars_weight(dof);
            let first = b.clone().max_iter(1).seed(1).fit(&seqs).unwrap().model;
            steps(
                |m| b.clone().init_model(m).max_iter(1).fit(&seqs),
                first,
                6,
                &seqs,
                &format!("gaussian {kind} weight {weight} scale {scale} dof {dof}"),
                valid_gaussian,
                None,
            );
        }
    }
    let (sym, lengths) = draw(&categorical_truth(), seed);
    let seqs_c = Sequences::new(sym.view(), &lengths).unwrap();
    let b = CategoricalHmm::builder(k)
        .startprob_prior(0.0)
        .transmat_prior(0.5)
        .emissionprob_prior(PriorArray::new(
            uniform(&mut rng, k * 4, 0.0, 1.0),
            vec![k, 4],
        ));
    let first = b.clone().max_iter(1).fit(&seqs_c).unwrap().model;
    steps(
        |m| b.clone().init_model(m).max_iter(1).fit(&seqs_c),
        first,
        6,
        &seqs_c,
        "categorical sparse",
        valid_categorical,
        None,
    );
    for kind in CovarianceType::ALL {
        // Denominators N − 2: the component a weights prior of zero empties
        // is re-seeded with the weight of one row and then has no valid
        // covariance; it is repaired from the others.
        let (alpha, nu) = match kind {
            CovarianceType::Diagonal => (-2.5, 0.5),
            CovarianceType::Spherical => (-3.0, 0.5),
            CovarianceType::Full => (0.0, -6.0),
            CovarianceType::Tied => (0.0, -8.0),
        };
        for centre in [CovarianceCentre::NewMeans, CovarianceCentre::PreviousMeans] {
            let b = GmmHmm::builder(2)
                .n_mix(3)
                .covariance(kind)
                .covariance_centre(centre)
                .weights_prior(PriorArray::new(vec![0.0, 0.5, 3.0], vec![3]))
                .means_prior(PriorArray::new(vec![10.0, -10.0], vec![d]))
                .means_weight(0.5)
                .covars_prior(alpha)
                .covars_weight(nu);
            let first = b.clone().max_iter(1).seed(2).fit(&seqs).unwrap().model;
            steps(
                |m| b.clone().init_model(m).max_iter(1).fit(&seqs),
                first,
                6,
                &seqs,
                &format!("gmm {kind} {centre:?} edges"),
                valid_gmm,
                None,
            );
        }
        // Far below that (an improper prior with no mode for most
        // components), a fit may end in an error; it never returns NaN.
        let improper = match kind {
            CovarianceType::Full | CovarianceType::Tied => (0.0, -1e3),
            CovarianceType::Diagonal | CovarianceType::Spherical => (-1e3, 0.0),
        };
        let b = GmmHmm::builder(2)
            .n_mix(3)
            .covariance(kind)
            .covars_prior(improper.0)
            .covars_weight(improper.1);
        match b.max_iter(5).seed(2).fit(&seqs) {
            Ok(fit) => assert_valid(&fit.model, &format!("gmm {kind} improper"), valid_gmm),
            Err(e) => assert!(
                matches!(e, emkit::Error::SingularCovariance { .. }),
                "gmm {kind} improper: {e}"
            ),
        }
    }
}
