//! hmmlearn's fits of Old Faithful as a sequence (`tests/reference/faithful.hmm.json`,
//! hmmlearn 0.3.3, best of 20 restarts): our evaluation of the stored
//! parameters, and our own fits from scratch.

mod common;

use common::{bundled, reference};
use emkit::hmm::{CategoricalEmission, CategoricalHmm, GaussianEmission, GaussianHmm, Sequences};
use emkit::{CovarianceType, Covariances, DataRef};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

/// The observations of a reference family: both standardised columns, the
/// standardised `waiting` column, or the symbols.
fn observations(family: &str) -> (Vec<f64>, usize) {
    match family {
        "gaussian_2d" => {
            let t = bundled("faithful_std");
            (t.data.values().to_vec(), 2)
        }
        "gaussian_waiting" => {
            let t = bundled("faithful_std");
            let v = (0..t.data.n_rows()).map(|i| t.data.row(i)[1]).collect();
            (v, 1)
        }
        _ => {
            let t = bundled("faithful_waiting_symbols");
            (t.data.values().to_vec(), 1)
        }
    }
}

fn gaussian(e: &Value, d: usize) -> GaussianHmm {
    let kind: CovarianceType = e["covariance_type"].as_str().unwrap().parse().unwrap();
    let k = e["n_components"].as_u64().unwrap() as usize;
    let full = floats(&e["covars"]);
    // hmmlearn's `covars_` are k × d × d whatever the type; diag keeps the diagonals.
    let cov = match kind {
        CovarianceType::Full => Covariances::Full(full),
        CovarianceType::Diagonal => Covariances::Diagonal(
            (0..k * d)
                .map(|i| full[(i / d) * d * d + (i % d) * (d + 1)])
                .collect(),
        ),
        other => panic!("no {other} reference"),
    };
    let emission = GaussianEmission::new(floats(&e["means"]), d, cov).unwrap();
    GaussianHmm::new(floats(&e["startprob"]), floats(&e["transmat"]), emission).unwrap()
}

fn categorical(e: &Value) -> CategoricalHmm {
    let m = e["n_symbols"].as_u64().unwrap() as usize;
    let emission = CategoricalEmission::new(floats(&e["emissionprob"]), m).unwrap();
    CategoricalHmm::new(floats(&e["startprob"]), floats(&e["transmat"]), emission).unwrap()
}

const FAMILIES: [&str; 3] = [
    "gaussian_2d",
    "gaussian_waiting",
    "categorical_waiting_3symbols",
];

fn entries(family: &str) -> Vec<Value> {
    reference("faithful.hmm.json")[family]
        .as_array()
        .unwrap()
        .clone()
}

fn name(family: &str, e: &Value) -> String {
    format!(
        "{family} n={} {}",
        e["n_components"],
        e["covariance_type"].as_str().unwrap_or("")
    )
}

/// Relative difference.
fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn stored_hmmlearn_parameters_give_hmmlearns_likelihood_and_viterbi_path() {
    for family in FAMILIES {
        let (x, d) = observations(family);
        let data = DataRef::new(&x, x.len() / d, d).unwrap();
        let seqs = Sequences::one(data);
        for e in entries(family) {
            let label = name(family, &e);
            let (ll, (vlp, path), occupancy, n_params) = if family.starts_with("gaussian") {
                let m = gaussian(&e, d);
                let p = m.predict_proba(&seqs).unwrap();
                let occ: Vec<f64> = (0..m.n_states())
                    .map(|j| (0..p.n_rows()).map(|t| p.row(t)[j]).sum())
                    .collect();
                (
                    m.score(&seqs).unwrap(),
                    m.decode(&seqs).unwrap(),
                    occ,
                    m.n_parameters(),
                )
            } else {
                let m = categorical(&e);
                let p = m.predict_proba(&seqs).unwrap();
                let occ: Vec<f64> = (0..m.n_states())
                    .map(|j| (0..p.n_rows()).map(|t| p.row(t)[j]).sum())
                    .collect();
                (
                    m.score(&seqs).unwrap(),
                    m.decode(&seqs).unwrap(),
                    occ,
                    m.n_parameters(),
                )
            };
            let want = e["log_likelihood"].as_f64().unwrap();
            println!("{label}: ll {ll} vs {want} (rel {:.1e})", rel(ll, want));
            // The bound: both sides evaluate the same recursion in
            // double precision over 272 steps.
            assert!(rel(ll, want) <= 1e-10, "{label}: {ll} vs {want}");
            let want_v = e["viterbi_log_probability"].as_f64().unwrap();
            assert!(rel(vlp, want_v) <= 1e-10, "{label}: {vlp} vs {want_v}");
            let want_path: Vec<usize> = e["viterbi_path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(path, want_path, "{label}: Viterbi path");
            // Expected occupancy sums 272 posteriors, each to rounding.
            for (o, w) in occupancy
                .iter()
                .zip(floats(&e["posterior_state_occupancy"]))
            {
                assert!(
                    (o - w).abs() <= 1e-8 * 272.0,
                    "{label}: occupancy {o} vs {w}"
                );
            }
            assert_eq!(
                n_params,
                e["n_parameters"].as_u64().unwrap() as usize,
                "{label}"
            );
        }
    }
}

/// The builder's default `reg_covar`, added to every variance.
const REG_COVAR: f64 = 1e-6;

/// Our fit's total log-likelihood and parameter count for a reference entry,
/// with the settings: 20 restarts, tol 1e-8, at most 1000 iterations.
fn our_fit(family: &str, e: &Value, seqs: &Sequences<'_>, d: usize) -> (f64, usize, usize) {
    let k = e["n_components"].as_u64().unwrap() as usize;
    let (ll, p, failed) = if family.starts_with("gaussian") {
        let kind: CovarianceType = e["covariance_type"].as_str().unwrap().parse().unwrap();
        let _ = d;
        let fit = GaussianHmm::builder(k)
            .covariance(kind)
            .n_init(20)
            .tol(1e-8)
            .max_iter(1000)
            .fit(seqs)
            .unwrap();
        let failed = fit
            .report
            .restarts
            .iter()
            .filter(|r| r.error.is_some())
            .count();
        (fit.log_likelihood(), fit.model.n_parameters(), failed)
    } else {
        let fit = CategoricalHmm::builder(k)
            .n_init(20)
            .tol(1e-8)
            .max_iter(1000)
            .fit(seqs)
            .unwrap();
        let failed = fit
            .report
            .restarts
            .iter()
            .filter(|r| r.error.is_some())
            .count();
        (fit.log_likelihood(), fit.model.n_parameters(), failed)
    };
    (ll, p, failed)
}

#[test]
fn our_fits_reach_hmmlearns_best_of_20() {
    for family in FAMILIES {
        let (x, d) = observations(family);
        let n = x.len() / d;
        let data = DataRef::new(&x, n, d).unwrap();
        let seqs = Sequences::one(data);
        for e in entries(family) {
            let label = name(family, &e);
            let k = e["n_components"].as_u64().unwrap();
            let mut want = e["log_likelihood"].as_f64().unwrap();
            let singular = e["min_covariance_eigenvalue"]
                .as_f64()
                .is_some_and(|v| v < REG_COVAR);
            if singular {
                // hmmlearn's best here has a state collapsed onto tied values
                // (a variance of 9e-17: the likelihood is unbounded there). Our
                // reg_covar floor forbids that, by design; the fair target is
                // hmmlearn's best restart that did not collapse.
                want = e["restarts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["log_likelihood"].as_f64().unwrap())
                    .filter(|&l| (l - want).abs() > 1e-6 * want.abs())
                    .fold(f64::NEG_INFINITY, f64::max);
                println!(
                    "{label}: singular reference; comparing with the best regular restart {want}"
                );
            }
            let (ll, p, failed) = our_fit(family, &e, &seqs, d);
            let shortfall = (want - ll) / n as f64;
            println!("{label}: ours {ll} vs hmmlearn {want}: shortfall {shortfall:.2e} per observation, {failed} failed restarts");
            assert_eq!(p, e["n_parameters"].as_u64().unwrap() as usize, "{label}");
            // The margins: 2-state optima are reached by most restarts
            // and must match to 1e-6 per observation; 3-state ones are fragile.
            let margin = if k == 2 { 1e-6 } else { 1e-3 };
            assert!(shortfall <= margin, "{label}: shortfall {shortfall:e}");
        }
    }
}
