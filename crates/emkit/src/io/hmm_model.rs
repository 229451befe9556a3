//! HMM model files: versioned, self-describing JSON.
//!
//! ```json
//! {"format": "emkit.hmm", "version": 1, "emission": "gaussian",
//!  "n_states": 2, "n_features": 2, "start": [...], "transitions": [[...]],
//!  "learned": "stmc", "covariance_type": "full", "means": [[...]],
//!  "covariances": [[[...]]], "feature_names": ["a", "b"], "fit": {...}}
//! ```
//!
//! Categorical models hold `"emission": "categorical"`, `"n_symbols"` and
//! `"emission_probabilities"` (`K × M`) instead of means and covariances.
//! Mixture emissions (`"emission": "gmm"`) hold `"n_mix"`, `"weights"`
//! (`K × M`), `"means"` (`K × M × d`) and `"covariances"`: per state, the
//! mixture's covariances in scikit-learn's nesting.
//! Numbers are written in the shortest form that reads back to the same
//! double, so a saved-then-loaded model scores bit-identically.

use serde_json::{json, Map, Value};

use super::model::{
    bad, check_format, covariance_type, covariances_from_json, covariances_to_json, feature_names,
    matrix, numbers, rows,
};
use crate::error::Result;
use crate::hmm::{
    AnyHmm, CategoricalEmission, CategoricalHmm, Emission, GaussianEmission, GaussianHmm,
    GmmEmission, GmmHmm, Hmm, Learn,
};
use crate::mixture::GaussianMixture;

/// The `format` tag of an HMM model file.
pub const HMM_FORMAT: &str = "emkit.hmm";
/// The HMM model-file version this build writes and reads.
pub const HMM_VERSION: u64 = 1;

/// An HMM with what a file keeps beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct HmmFile {
    /// The model.
    pub model: AnyHmm,
    /// Names of the observation columns, when known.
    pub feature_names: Option<Vec<String>>,
    /// Free-form summary of the fit that produced the model (kept as written).
    pub fit: Option<Value>,
}

impl HmmFile {
    /// Wraps a model with no names and no summary.
    pub fn new(model: AnyHmm) -> Self {
        HmmFile {
            model,
            feature_names: None,
            fit: None,
        }
    }

    /// The JSON document.
    pub fn to_json(&self) -> Value {
        fn common<E: Emission>(doc: &mut Map<String, Value>, h: &Hmm<E>) {
            doc.insert("n_states".into(), json!(h.n_states()));
            doc.insert("n_features".into(), json!(h.n_features()));
            doc.insert("start".into(), json!(h.start()));
            doc.insert(
                "transitions".into(),
                json!(rows(h.transitions(), h.n_states())),
            );
            doc.insert("learned".into(), json!(h.learned().letters()));
        }
        let mut doc = Map::new();
        doc.insert("format".into(), json!(HMM_FORMAT));
        doc.insert("version".into(), json!(HMM_VERSION));
        match &self.model {
            AnyHmm::Gaussian(h) => {
                doc.insert("emission".into(), json!("gaussian"));
                common(&mut doc, h);
                let e = h.emission();
                let d = h.n_features();
                doc.insert("covariance_type".into(), json!(e.covariance_type().name()));
                doc.insert("means".into(), json!(rows(e.means(), d)));
                doc.insert(
                    "covariances".into(),
                    covariances_to_json(e.covariances(), d),
                );
            }
            AnyHmm::Categorical(h) => {
                doc.insert("emission".into(), json!("categorical"));
                common(&mut doc, h);
                let e = h.emission();
                doc.insert("n_symbols".into(), json!(e.n_symbols()));
                doc.insert(
                    "emission_probabilities".into(),
                    json!(rows(e.probabilities(), e.n_symbols())),
                );
            }
            AnyHmm::Gmm(h) => {
                doc.insert("emission".into(), json!("gmm"));
                common(&mut doc, h);
                let e = h.emission();
                let d = h.n_features();
                doc.insert("covariance_type".into(), json!(e.covariance_type().name()));
                doc.insert("n_mix".into(), json!(e.n_mix()));
                let m = e.mixtures();
                doc.insert(
                    "weights".into(),
                    json!(m.iter().map(|g| g.weights()).collect::<Vec<_>>()),
                );
                doc.insert(
                    "means".into(),
                    json!(m.iter().map(|g| rows(g.means(), d)).collect::<Vec<_>>()),
                );
                doc.insert(
                    "covariances".into(),
                    json!(m
                        .iter()
                        .map(|g| covariances_to_json(g.covariances(), d))
                        .collect::<Vec<_>>()),
                );
            }
        }
        if let Some(names) = &self.feature_names {
            doc.insert("feature_names".into(), json!(names));
        }
        if let Some(fit) = &self.fit {
            doc.insert("fit".into(), fit.clone());
        }
        Value::Object(doc)
    }

    /// The JSON document as pretty text.
    pub fn to_json_string(&self) -> String {
        // Serialising a Value built from finite numbers and strings cannot fail.
        serde_json::to_string_pretty(&self.to_json()).expect("a JSON value serialises") + "\n"
    }

    /// Reads and validates a document: format, version, shapes, probability
    /// rows that sum to one, positive-definite covariances; errors name the field.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            bad(
                "(document)",
                &format!("not valid JSON ({e}); is this an emkit HMM file?"),
            )
        })?;
        let Value::Object(mut doc) = value else {
            return Err(bad("(document)", "must be a JSON object"));
        };
        check_format(&doc, HMM_FORMAT, HMM_VERSION, "an HMM model")?;
        let start = numbers(doc.get("start"), "start")?;
        let k = start.len();
        let transitions = matrix(doc.get("transitions"), "transitions")?;
        if transitions.len() != k || transitions.iter().any(|r| r.len() != k) {
            return Err(bad(
                "transitions",
                &format!("must be a {k} x {k} matrix (one row per state)"),
            ));
        }
        let transitions = transitions.concat();
        let learned: Learn = match doc.get("learned") {
            None => Learn::ALL,
            Some(v) => v
                .as_str()
                .ok_or_else(|| bad("learned", "must be a string of letters s, t, m, c"))?
                .parse()
                .map_err(|e| bad("learned", &format!("{e}")))?,
        };
        let (mut model, d) = match doc.get("emission").and_then(Value::as_str) {
            Some("gaussian") => {
                let kind = covariance_type(&doc)?;
                let means = matrix(doc.get("means"), "means")?;
                if means.len() != k {
                    return Err(bad(
                        "means",
                        &format!("has {} rows but there are {k} states", means.len()),
                    ));
                }
                let d = means.first().map_or(0, Vec::len);
                let cov = covariances_from_json(kind, doc.get("covariances"), k, d)?;
                let emission = GaussianEmission::new(means.concat(), d, cov)?;
                (
                    AnyHmm::Gaussian(GaussianHmm::new(start, transitions, emission)?),
                    d,
                )
            }
            Some("categorical") => {
                let p = matrix(doc.get("emission_probabilities"), "emission_probabilities")?;
                if p.len() != k {
                    return Err(bad(
                        "emission_probabilities",
                        &format!("has {} rows but there are {k} states", p.len()),
                    ));
                }
                let m = p.first().map_or(0, Vec::len);
                if let Some(v) = doc.get("n_symbols") {
                    if v.as_u64() != Some(m as u64) {
                        return Err(bad(
                            "n_symbols",
                            &format!("is {v} but the emission probabilities have {m}"),
                        ));
                    }
                }
                let emission = CategoricalEmission::new(p.concat(), m)?;
                (
                    AnyHmm::Categorical(CategoricalHmm::new(start, transitions, emission)?),
                    1,
                )
            }
            Some("gmm") => {
                let kind = covariance_type(&doc)?;
                let weights = matrix(doc.get("weights"), "weights")?;
                let (Some(Value::Array(means)), Some(Value::Array(covs))) =
                    (doc.get("means"), doc.get("covariances"))
                else {
                    return Err(bad(
                        "means",
                        "mixture emissions need per-state lists of means and covariances",
                    ));
                };
                if weights.len() != k || means.len() != k || covs.len() != k {
                    return Err(bad(
                        "weights",
                        &format!("weights, means and covariances need one entry per state ({k})"),
                    ));
                }
                let mut states = Vec::with_capacity(k);
                let mut d = 0;
                for j in 0..k {
                    let mu = matrix(Some(&means[j]), &format!("means[{j}]"))?;
                    let mix = weights[j].len();
                    if mu.len() != mix {
                        return Err(bad(
                            &format!("means[{j}]"),
                            &format!("has {} rows for {mix} weights", mu.len()),
                        ));
                    }
                    d = mu.first().map_or(0, Vec::len);
                    let cov = covariances_from_json(kind, Some(&covs[j]), mix, d)?;
                    states.push(GaussianMixture::new(
                        weights[j].clone(),
                        mu.concat(),
                        d,
                        cov,
                    )?);
                }
                let emission = GmmEmission::new(states)?;
                (AnyHmm::Gmm(GmmHmm::new(start, transitions, emission)?), d)
            }
            Some(other) => {
                return Err(bad(
                    "emission",
                    &format!(
                    "unknown emission {other:?}; expected \"gaussian\", \"categorical\" or \"gmm\""
                ),
                ))
            }
            None => {
                return Err(bad(
                    "emission",
                    "missing; expected \"gaussian\", \"categorical\" or \"gmm\"",
                ))
            }
        };
        match &mut model {
            AnyHmm::Gaussian(h) => h.set_learned(learned),
            AnyHmm::Categorical(h) => h.set_learned(learned),
            AnyHmm::Gmm(h) => h.set_learned(learned),
        }
        if let Some(v) = doc.get("n_states") {
            if v.as_u64() != Some(k as u64) {
                return Err(bad(
                    "n_states",
                    &format!("is {v} but the parameters have {k}"),
                ));
            }
        }
        if let Some(v) = doc.get("n_features") {
            if v.as_u64() != Some(d as u64) {
                return Err(bad(
                    "n_features",
                    &format!("is {v} but the parameters have {d}"),
                ));
            }
        }
        let feature_names = feature_names(doc.remove("feature_names"), d)?;
        Ok(HmmFile {
            model,
            feature_names,
            fit: doc.remove("fit"),
        })
    }
}
