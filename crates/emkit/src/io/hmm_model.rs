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
    bad, check_format, count, covariance_field, covariance_type, covariances_from_json,
    covariances_to_json, feature_names, matrix, numbers, refield, rows, short,
};
use crate::dist::gaussian::CovarianceType;
use crate::error::{Error, Result};
use crate::hmm::{
    AnyHmm, CategoricalEmission, CategoricalHmm, Emission, GaussianEmission, GaussianHmm,
    GmmEmission, GmmHmm, Hmm, Learn,
};
use crate::mixture::GaussianMixture;

/// The `format` tag of an HMM model file.
pub const HMM_FORMAT: &str = "emkit.hmm";
/// The `emission` values a file may hold.
const EMISSIONS: &str = "\"gaussian\", \"categorical\" or \"gmm\"";

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
        let transitions = matrix(doc.get("transitions"), "transitions")?;
        let k = transitions.len();
        if k == 0 {
            return Err(bad(
                "transitions",
                "is empty; an HMM needs at least one state (one row per state)",
            ));
        }
        if let Some(i) = transitions.iter().position(|r| r.len() != k) {
            return Err(bad(
                &format!("transitions[{i}]"),
                &format!(
                    "has {} values but there are {k} rows; the matrix must be square (one row \
                     and one column per state)",
                    transitions[i].len()
                ),
            ));
        }
        if start.len() != k {
            let ks = start.len();
            // Two fields against one: `n_states` says which of the two is wrong.
            return Err(if count(&doc, "n_states") == Some(ks) && ks > 0 {
                bad(
                    "transitions",
                    &format!(
                        "is {k} x {k} but start has {ks} values and n_states is {ks}; give one \
                         row and one column per state"
                    ),
                )
            } else {
                bad(
                    "start",
                    &format!(
                        "has {ks} values but transitions has {k} rows; give one start \
                         probability per state"
                    ),
                )
            });
        }
        let transitions = transitions.concat();
        let learned: Learn = match doc.get("learned") {
            None => Learn::ALL,
            Some(Value::String(letters)) => letters.parse().map_err(|e| match e {
                Error::InvalidConfig { reason, .. } => bad("learned", &reason),
                other => other,
            })?,
            Some(other) => {
                return Err(bad(
                    "learned",
                    &format!(
                        "must be a string of the letters s, t, m, c, e (e.g. \"stmc\"), found {}",
                        short(other)
                    ),
                ))
            }
        };
        // The model names `start[0][c]` as the one row of a matrix; the file has a list.
        let chain_field = |f: &str| match f.strip_prefix("start[0]") {
            Some(rest) => format!("start{rest}"),
            None => f.to_string(),
        };
        let (mut model, d) = match doc.get("emission") {
            Some(Value::String(e)) if e == "gaussian" => {
                let kind = covariance_type(&doc)?;
                let means = matrix(doc.get("means"), "means")?;
                if means.len() != k {
                    return Err(bad(
                        "means",
                        &format!(
                            "has {} rows but there are {k} states (one row per state)",
                            means.len()
                        ),
                    ));
                }
                let d = means[0].len();
                let cov = covariances_from_json(kind, doc.get("covariances"), k, d)?;
                let emission = GaussianEmission::new(means.concat(), d, cov)
                    .map_err(|e| refield(e, |f| covariance_field(kind, f)))?;
                let hmm = GaussianHmm::new(start, transitions, emission)
                    .map_err(|e| refield(e, chain_field))?;
                (AnyHmm::Gaussian(hmm), d)
            }
            Some(Value::String(e)) if e == "categorical" => {
                let p = matrix(doc.get("emission_probabilities"), "emission_probabilities")?;
                if p.len() != k {
                    return Err(bad(
                        "emission_probabilities",
                        &format!(
                            "has {} rows but there are {k} states (one row per state)",
                            p.len()
                        ),
                    ));
                }
                let m = p[0].len();
                if let Some(v) = doc.get("n_symbols") {
                    if v.as_u64() != Some(m as u64) {
                        return Err(bad(
                            "n_symbols",
                            &format!(
                                "is {} but the emission probabilities have {m} columns",
                                short(v)
                            ),
                        ));
                    }
                }
                let emission = CategoricalEmission::new(p.concat(), m)?;
                let hmm = CategoricalHmm::new(start, transitions, emission)
                    .map_err(|e| refield(e, chain_field))?;
                (AnyHmm::Categorical(hmm), 1)
            }
            Some(Value::String(e)) if e == "gmm" => {
                let kind = covariance_type(&doc)?;
                let (emission, d) = gmm_emission(&doc, kind, k)?;
                let hmm = GmmHmm::new(start, transitions, emission)
                    .map_err(|e| refield(e, chain_field))?;
                (AnyHmm::Gmm(hmm), d)
            }
            Some(other) => {
                return Err(bad(
                    "emission",
                    &format!("unknown emission {}; expected {EMISSIONS}", short(other)),
                ))
            }
            None => return Err(bad("emission", &format!("missing; expected {EMISSIONS}"))),
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
                    &format!("is {} but start and transitions have {k} states", short(v)),
                ));
            }
        }
        if let Some(v) = doc.get("n_features") {
            if v.as_u64() != Some(d as u64) {
                return Err(bad(
                    "n_features",
                    &format!("is {} but the emission parameters have {d}", short(v)),
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

/// The mixture emissions of a `"gmm"` file for `k` states: per state `weights[j]` (`M`),
/// `means[j]` (`M × d`) and `covariances[j]` (the mixture's covariances); and `d`.
fn gmm_emission(
    doc: &Map<String, Value>,
    kind: CovarianceType,
    k: usize,
) -> Result<(GmmEmission, usize)> {
    let weights = matrix(doc.get("weights"), "weights")?;
    let per_state = |key: &str| -> Result<&Vec<Value>> {
        match doc.get(key) {
            Some(Value::Array(items)) if items.len() == k => Ok(items),
            Some(Value::Array(items)) => Err(bad(
                key,
                &format!(
                    "has {} entries but there are {k} states (one entry per state)",
                    items.len()
                ),
            )),
            Some(other) => Err(bad(
                key,
                &format!(
                    "must be a list with one entry per state ({k}), found {}",
                    short(other)
                ),
            )),
            None => Err(bad(
                key,
                "missing; mixture emissions need one entry per state",
            )),
        }
    };
    if weights.len() != k {
        return Err(bad(
            "weights",
            &format!(
                "has {} rows but there are {k} states (one row of mixture weights per state)",
                weights.len()
            ),
        ));
    }
    let means = per_state("means")?;
    let covs = per_state("covariances")?;
    let n_mix = weights[0].len();
    if let Some(v) = doc.get("n_mix") {
        if v.as_u64() != Some(n_mix as u64) {
            return Err(bad(
                "n_mix",
                &format!("is {} but the weights have {n_mix} columns", short(v)),
            ));
        }
    }
    let mut states = Vec::with_capacity(k);
    let mut d = 0;
    for j in 0..k {
        let field = format!("means[{j}]");
        let mu = matrix(Some(&means[j]), &field)?;
        if mu.len() != n_mix {
            return Err(bad(
                &field,
                &format!("has {} rows for {n_mix} mixture weights", mu.len()),
            ));
        }
        let dj = mu[0].len();
        if j > 0 && dj != d {
            return Err(bad(
                &format!("{field}[0]"),
                &format!("has {dj} values but the means of state 0 have {d}"),
            ));
        }
        d = dj;
        let cov = covariances_from_json(kind, Some(&covs[j]), n_mix, d)
            .map_err(|e| refield(e, |f| state_field(f, j)))?;
        let mixture = GaussianMixture::new(weights[j].clone(), mu.concat(), d, cov)
            .map_err(|e| refield(e, |f| state_field(&covariance_field(kind, f), j)))?;
        states.push(mixture);
    }
    let emission = GmmEmission::new(states).map_err(|e| {
        refield(e, |f| match f.strip_prefix("states") {
            Some(rest) => format!("means{rest}"),
            None => f.to_string(),
        })
    })?;
    Ok((emission, d))
}

/// A field named by state `j`'s mixture (`weights`, `means[1][0]`, `covariances`) as the
/// file spells it: `weights[j]`, `means[j][1][0]`, `covariances[j]`.
fn state_field(field: &str, j: usize) -> String {
    let name_end = field
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(field.len());
    let (name, rest) = field.split_at(name_end);
    match name {
        "weights" | "means" | "covariances" => format!("{name}[{j}]{rest}"),
        _ => field.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Covariances;

    const START: [f64; 2] = [0.4, 0.6];
    const TRANSITIONS: [f64; 4] = [0.9, 0.1, 0.2, 0.8];

    fn gaussian(kind: CovarianceType) -> Value {
        let cov = match kind {
            CovarianceType::Full => Covariances::Full(vec![1.0, 0.1, 0.1, 1.0, 2.0, 0.0, 0.0, 2.0]),
            CovarianceType::Tied => Covariances::Tied(vec![1.0, 0.3, 0.3, 1.0]),
            CovarianceType::Diagonal => Covariances::Diagonal(vec![1.0, 2.0, 3.0, 4.0]),
            CovarianceType::Spherical => Covariances::Spherical(vec![1.0, 2.0]),
        };
        let e = GaussianEmission::new(vec![0.0, 0.0, 3.0, 3.0], 2, cov).unwrap();
        let h = GaussianHmm::new(START.to_vec(), TRANSITIONS.to_vec(), e).unwrap();
        HmmFile::new(AnyHmm::Gaussian(h)).to_json()
    }

    fn categorical() -> Value {
        let e = CategoricalEmission::new(vec![0.5, 0.25, 0.25, 0.1, 0.1, 0.8], 3).unwrap();
        let h = CategoricalHmm::new(START.to_vec(), TRANSITIONS.to_vec(), e).unwrap();
        HmmFile::new(AnyHmm::Categorical(h)).to_json()
    }

    fn gmm(kind: CovarianceType) -> Value {
        let state = |shift: f64| {
            let cov = match kind {
                CovarianceType::Full => {
                    Covariances::Full(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.5, 0.5, 1.0])
                }
                CovarianceType::Tied => Covariances::Tied(vec![1.0, 0.3, 0.3, 1.0]),
                CovarianceType::Diagonal => Covariances::Diagonal(vec![1.0, 2.0, 3.0, 4.0]),
                CovarianceType::Spherical => Covariances::Spherical(vec![1.0, 2.0]),
            };
            GaussianMixture::new(vec![0.3, 0.7], vec![shift, 0.0, shift + 1.0, 1.0], 2, cov)
                .unwrap()
        };
        let e = GmmEmission::new(vec![state(0.0), state(5.0)]).unwrap();
        let h = GmmHmm::new(START.to_vec(), TRANSITIONS.to_vec(), e).unwrap();
        HmmFile::new(AnyHmm::Gmm(h)).to_json()
    }

    fn load(v: &Value) -> Result<HmmFile> {
        HmmFile::from_json_str(&v.to_string())
    }

    /// The field and the message of loading `v`, which must fail.
    fn fault(v: Value) -> (String, String) {
        match load(&v) {
            Err(e @ Error::InvalidModel { .. }) => {
                let shown = e.to_string();
                assert!(!shown.contains('\n'), "{shown}");
                let Error::InvalidModel { field, .. } = e else {
                    unreachable!()
                };
                (field, shown)
            }
            other => panic!("expected InvalidModel, got {other:?}"),
        }
    }

    fn edit(mut v: Value, f: impl FnOnce(&mut Value)) -> Value {
        f(&mut v);
        v
    }

    fn remove(key: &'static str) -> impl FnOnce(&mut Value) {
        move |v| drop(v.as_object_mut().unwrap().remove(key))
    }

    #[test]
    fn every_emission_round_trips() {
        let mut docs = vec![categorical()];
        for kind in CovarianceType::ALL {
            docs.push(gaussian(kind));
            docs.push(gmm(kind));
        }
        for v in docs {
            assert_eq!(load(&v).unwrap().to_json(), v);
        }
    }

    #[test]
    fn the_chain_fields_are_named_as_written() {
        use CovarianceType::Full;
        let cases: Vec<(Value, &str, &str)> = vec![
            // A start of the wrong length is the start's fault, not the transitions'.
            (
                edit(gaussian(Full), |v| v["start"] = json!([0.2, 0.3, 0.5])),
                "start",
                "has 3 values but transitions has 2 rows",
            ),
            (
                edit(gaussian(Full), |v| v["start"] = json!([])),
                "start",
                "has 0 values",
            ),
            (edit(gaussian(Full), remove("start")), "start", "missing"),
            (
                edit(gaussian(Full), |v| v["start"][1] = json!("x")),
                "start[1]",
                "must be a number",
            ),
            (
                edit(gaussian(Full), |v| v["start"] = json!([0.5, 0.6])),
                "start",
                "must sum to 1",
            ),
            (
                edit(gaussian(Full), |v| v["start"] = json!([1.5, -0.5])),
                "start[1]",
                "probability",
            ),
            // n_states sides with the start: the transitions are wrong.
            (
                edit(gaussian(Full), |v| {
                    v["start"] = json!([0.2, 0.3, 0.5]);
                    v["n_states"] = json!(3);
                }),
                "transitions",
                "n_states is 3",
            ),
            (
                edit(gaussian(Full), |v| v["transitions"] = json!([])),
                "transitions",
                "at least one state",
            ),
            (
                edit(gaussian(Full), |v| v["transitions"][1] = json!([1.0])),
                "transitions[1]",
                "has 1 values",
            ),
            (
                edit(gaussian(Full), |v| {
                    v["transitions"] = json!([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
                }),
                "transitions[0]",
                "square",
            ),
            (
                edit(gaussian(Full), |v| v["transitions"][1] = json!([0.5, 0.6])),
                "transitions[1]",
                "must sum to 1",
            ),
            (
                edit(gaussian(Full), |v| v["transitions"][0][1] = json!(-0.1)),
                "transitions[0][1]",
                "probability",
            ),
            (
                edit(gaussian(Full), |v| v["learned"] = json!("sx")),
                "learned",
                "unknown letter 'x'",
            ),
            (
                edit(gaussian(Full), |v| v["learned"] = json!(5)),
                "learned",
                "string of the letters",
            ),
            (
                edit(gaussian(Full), |v| v["emission"] = json!(5)),
                "emission",
                "unknown emission 5",
            ),
            (
                edit(gaussian(Full), |v| v["emission"] = json!("poisson")),
                "emission",
                "\"poisson\"",
            ),
            (
                edit(gaussian(Full), remove("emission")),
                "emission",
                "missing",
            ),
            (
                edit(gaussian(Full), |v| v["n_states"] = json!(3)),
                "n_states",
                "is 3",
            ),
            (
                edit(gaussian(Full), |v| v["n_features"] = json!(3)),
                "n_features",
                "is 3",
            ),
            (
                edit(gaussian(Full), |v| {
                    v["feature_names"] = json!(["a", "b", "c"])
                }),
                "feature_names",
                "3 names",
            ),
            (
                edit(gaussian(Full), |v| {
                    v["format"] = json!("emkit.gaussian_mixture")
                }),
                "format",
                "not an HMM model",
            ),
            (
                edit(gaussian(Full), |v| v["version"] = json!(-1)),
                "version",
                "whole number",
            ),
        ];
        check(cases);
    }

    fn check(cases: Vec<(Value, &str, &str)>) {
        for (v, field, says) in cases {
            let (got, shown) = fault(v);
            assert_eq!(got, field, "{shown}");
            assert!(shown.contains(says), "{field}: {shown} should say {says:?}");
        }
    }

    #[test]
    fn gaussian_and_categorical_emission_fields() {
        use CovarianceType::*;
        check(vec![
            (
                edit(gaussian(Full), |v| v["means"] = json!([[0.0, 0.0]])),
                "means",
                "has 1 rows but there are 2 states",
            ),
            (
                edit(gaussian(Full), |v| v["means"][1] = json!([0.0])),
                "means[1]",
                "has 1 values",
            ),
            (
                edit(gaussian(Full), remove("covariance_type")),
                "covariance_type",
                "missing",
            ),
            (
                edit(gaussian(Full), |v| v["covariances"][1][0][0] = json!(-1.0)),
                "covariances[1]",
                "positive definite",
            ),
            (
                edit(gaussian(Full), |v| v["covariances"][1] = json!([[1.0]])),
                "covariances[1]",
                "2 x 2",
            ),
            (
                edit(gaussian(Tied), |v| v["covariances"][0][1] = json!(0.9)),
                "covariances",
                "symmetric",
            ),
            (
                edit(gaussian(Diagonal), |v| v["covariances"][0][1] = json!(0.0)),
                "covariances[0]",
                "positive definite",
            ),
            (
                edit(gaussian(Spherical), |v| v["covariances"] = json!([1.0])),
                "covariances",
                "2 variances",
            ),
            (
                edit(categorical(), |v| {
                    v["emission_probabilities"] = json!([[1.0]])
                }),
                "emission_probabilities",
                "has 1 rows",
            ),
            (
                edit(categorical(), |v| {
                    v["emission_probabilities"][1] = json!([0.5, 0.5])
                }),
                "emission_probabilities[1]",
                "has 2 values",
            ),
            (
                edit(categorical(), |v| {
                    v["emission_probabilities"][1][2] = json!(0.9)
                }),
                "emission_probabilities[1]",
                "must sum to 1",
            ),
            (
                edit(categorical(), |v| {
                    v["emission_probabilities"][0][0] = json!(-0.5)
                }),
                "emission_probabilities[0][0]",
                "probability",
            ),
            (
                edit(categorical(), |v| v["n_symbols"] = json!(4)),
                "n_symbols",
                "is 4",
            ),
            (
                edit(categorical(), |v| v["n_features"] = json!(2)),
                "n_features",
                "is 2",
            ),
        ]);
    }

    #[test]
    fn mixture_emission_fields_name_the_state() {
        use CovarianceType::*;
        check(vec![
            (edit(gmm(Full), remove("weights")), "weights", "missing"),
            (
                edit(gmm(Full), |v| v["weights"] = json!([[1.0]])),
                "weights",
                "has 1 rows but there are 2 states",
            ),
            (
                edit(gmm(Full), |v| v["weights"][1] = json!([0.5, 0.6])),
                "weights[1]",
                "sum to 1",
            ),
            (
                edit(gmm(Full), |v| v["weights"][1] = json!([1.5, -0.5])),
                "weights[1][1]",
                ">= 0",
            ),
            (edit(gmm(Full), remove("means")), "means", "missing"),
            (
                edit(gmm(Full), |v| v["means"] = json!([1])),
                "means",
                "has 1 entries",
            ),
            (
                edit(gmm(Full), remove("covariances")),
                "covariances",
                "missing",
            ),
            (
                edit(gmm(Full), |v| v["covariances"] = json!("x")),
                "covariances",
                "one entry per state",
            ),
            (
                edit(gmm(Full), |v| v["means"][1] = json!([[0.0, 0.0]])),
                "means[1]",
                "has 1 rows for 2",
            ),
            (
                edit(gmm(Full), |v| v["means"][1] = json!([[0.0], [1.0]])),
                "means[1][0]",
                "the means of state 0 have 2",
            ),
            (
                edit(gmm(Full), |v| v["means"][1][0][1] = json!(true)),
                "means[1][0][1]",
                "must be a number",
            ),
            (edit(gmm(Full), |v| v["n_mix"] = json!(3)), "n_mix", "is 3"),
            (
                edit(gmm(Full), |v| v["covariances"][1][0][0][1] = json!(0.3)),
                "covariances[1][0]",
                "symmetric",
            ),
            (
                edit(gmm(Full), |v| v["covariances"][1] = json!([[[1.0]]])),
                "covariances[1]",
                "has 1 matrices",
            ),
            (
                edit(gmm(Full), |v| v["covariances"][1][1] = json!([[1.0]])),
                "covariances[1][1]",
                "2 x 2",
            ),
            (
                edit(gmm(Tied), |v| {
                    v["covariances"][1] = json!([[1.0, 2.0], [2.0, 1.0]])
                }),
                "covariances[1]",
                "positive definite",
            ),
            (
                edit(gmm(Diagonal), |v| v["covariances"][0][1][0] = json!(0.0)),
                "covariances[0][1]",
                "positive definite",
            ),
            (
                edit(gmm(Diagonal), |v| v["covariances"][1][1] = json!([1.0])),
                "covariances[1][1]",
                "has 1 values",
            ),
            (
                edit(gmm(Spherical), |v| v["covariances"][1] = json!([1.0])),
                "covariances[1]",
                "2 variances",
            ),
            (
                edit(gmm(Spherical), |v| v["covariances"][1][1] = json!(0.0)),
                "covariances[1][1]",
                "positive definite",
            ),
        ]);
    }

    proptest::proptest! {
        /// A claimed count of any size or kind is compared, never allocated:
        /// anything but the true count names its field.
        #[test]
        fn any_claimed_count_is_checked(
            claim in proptest::prop_oneof![
                proptest::strategy::Just(json!(0)),
                proptest::strategy::Just(json!(u64::MAX)),
                proptest::strategy::Just(json!(-3)),
                proptest::strategy::Just(json!(1e300)),
                proptest::strategy::Strategy::prop_map(proptest::prelude::any::<u64>(), |n| json!(n)),
            ],
            which in 0usize..4,
        ) {
            let (mut v, key, truth) = match which {
                0 => (gaussian(CovarianceType::Full), "n_states", 2),
                1 => (gaussian(CovarianceType::Full), "n_features", 2),
                2 => (categorical(), "n_symbols", 3),
                _ => (gmm(CovarianceType::Diagonal), "n_mix", 2),
            };
            v[key] = claim.clone();
            let truth = claim.as_u64() == Some(truth);
            match load(&v) {
                Ok(_) => proptest::prop_assert!(truth),
                Err(Error::InvalidModel { field, .. }) => {
                    proptest::prop_assert!(!truth);
                    proptest::prop_assert_eq!(field, key);
                }
                Err(other) => proptest::prop_assert!(false, "{other:?}"),
            }
        }
    }
}
