//! Versioned, self-describing JSON model files.
//!
//! ```json
//! {"format": "emkit.gaussian_mixture", "version": 1, "covariance_type": "full",
//!  "n_components": 2, "n_features": 2, "weights": [...], "means": [[...]],
//!  "covariances": [[[...]]], "feature_names": ["a", "b"], "fit": {...},
//!  "anomaly_threshold": -4.87}
//! ```
//!
//! `feature_names`, `fit` and `anomaly_threshold` are optional: files written
//! before a field existed still load.
//!
//! Covariances use scikit-learn's nesting: full `k × d × d`, tied `d × d`, diag
//! `k × d`, spherical `k`. Numbers are written in the shortest form that reads
//! back to the same double, so a saved-then-loaded model scores bit-identically.

use serde_json::{json, Map, Value};

use crate::dist::gaussian::{CovarianceType, Covariances};
use crate::error::{Error, Result};
use crate::mixture::GaussianMixture;

/// The `format` tag of a Gaussian-mixture model file.
pub const MIXTURE_FORMAT: &str = "emkit.gaussian_mixture";
/// The model-file version this build writes and reads.
pub const MIXTURE_VERSION: u64 = 1;

/// A mixture with what a file keeps beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureFile {
    /// The model.
    pub model: GaussianMixture,
    /// Names of the features, in column order, when known.
    pub feature_names: Option<Vec<String>>,
    /// Free-form summary of the fit that produced the model (kept as written).
    pub fit: Option<Value>,
    /// The log-density below which a row counts as an anomaly (`emkit
    /// anomalies`), when one was chosen; a finite number.
    pub anomaly_threshold: Option<f64>,
    /// Other top-level fields, kept so that tools built on emkit can store their
    /// own settings in the same file.
    pub extra: Map<String, Value>,
}

impl MixtureFile {
    /// Wraps a model with no names and no summary.
    pub fn new(model: GaussianMixture) -> Self {
        MixtureFile {
            model,
            feature_names: None,
            fit: None,
            anomaly_threshold: None,
            extra: Map::new(),
        }
    }

    /// The JSON document.
    pub fn to_json(&self) -> Value {
        let m = &self.model;
        let (k, d) = (m.n_components(), m.n_features());
        let covariances = covariances_to_json(m.covariances(), d);
        let mut doc = Map::new();
        doc.insert("format".into(), json!(MIXTURE_FORMAT));
        doc.insert("version".into(), json!(MIXTURE_VERSION));
        doc.insert("covariance_type".into(), json!(m.covariance_type().name()));
        doc.insert("n_components".into(), json!(k));
        doc.insert("n_features".into(), json!(d));
        doc.insert("weights".into(), json!(m.weights()));
        doc.insert("means".into(), json!(rows(m.means(), d)));
        doc.insert("covariances".into(), covariances);
        if let Some(names) = &self.feature_names {
            doc.insert("feature_names".into(), json!(names));
        }
        if let Some(fit) = &self.fit {
            doc.insert("fit".into(), fit.clone());
        }
        if let Some(t) = self.anomaly_threshold {
            doc.insert("anomaly_threshold".into(), json!(t));
        }
        for (key, value) in &self.extra {
            doc.entry(key.clone()).or_insert_with(|| value.clone());
        }
        Value::Object(doc)
    }

    /// The JSON document as pretty text.
    pub fn to_json_string(&self) -> String {
        // Serialising a Value built from finite numbers and strings cannot fail.
        serde_json::to_string_pretty(&self.to_json()).expect("a JSON value serialises") + "\n"
    }

    /// Reads and validates a document: format, version, shapes, symmetry and
    /// positive definiteness; errors name the field.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::InvalidModel {
            field: "(document)".into(),
            problem: format!("not valid JSON ({e}); is this an emkit model file?"),
        })?;
        Self::from_json(value)
    }

    /// Validates a parsed document; see [`MixtureFile::from_json_str`].
    pub fn from_json(value: Value) -> Result<Self> {
        let Value::Object(mut doc) = value else {
            return Err(bad("(document)", "must be a JSON object"));
        };
        check_format(
            &doc,
            MIXTURE_FORMAT,
            MIXTURE_VERSION,
            "a Gaussian-mixture model",
        )?;
        let kind = covariance_type(&doc)?;
        let weights = numbers(doc.get("weights"), "weights")?;
        let k = weights.len();
        let means_rows = matrix(doc.get("means"), "means")?;
        if means_rows.len() != k {
            return Err(bad(
                "means",
                &format!("has {} rows but there are {k} weights", means_rows.len()),
            ));
        }
        let d = means_rows.first().map_or(0, Vec::len);
        for key in ["n_components", "n_features"] {
            if let Some(v) = doc.get(key) {
                let want = if key == "n_components" { k } else { d };
                if v.as_u64() != Some(want as u64) {
                    return Err(bad(key, &format!("is {v} but the parameters have {want}")));
                }
            }
        }
        let means: Vec<f64> = means_rows.concat();
        let covariances = covariances_from_json(kind, doc.get("covariances"), k, d)?;
        let model = GaussianMixture::new(weights, means, d, covariances)?;
        let feature_names = feature_names(doc.remove("feature_names"), d)?;
        let fit = doc.remove("fit");
        let anomaly_threshold = match doc.remove("anomaly_threshold") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(t) if t.is_finite() => Some(t),
                _ => {
                    return Err(bad(
                        "anomaly_threshold",
                        &format!("must be a finite number (a log-density), found {v}"),
                    ))
                }
            },
        };
        for key in [
            "format",
            "version",
            "covariance_type",
            "n_components",
            "n_features",
            "weights",
            "means",
            "covariances",
        ] {
            doc.remove(key);
        }
        Ok(MixtureFile {
            model,
            feature_names,
            fit,
            anomaly_threshold,
            extra: doc,
        })
    }
}

/// Checks a document's `format` tag and `version`.
pub(crate) fn check_format(
    doc: &Map<String, Value>,
    format: &str,
    version: u64,
    what: &str,
) -> Result<()> {
    match doc.get("format").and_then(Value::as_str) {
        Some(f) if f == format => {}
        Some(other) => {
            return Err(bad(
                "format",
                &format!("expected {format:?}, found {other:?}; this is not {what}"),
            ))
        }
        None => return Err(bad("format", &format!("missing; expected {format:?}"))),
    }
    match doc.get("version").and_then(Value::as_u64) {
        Some(v) if v == version => Ok(()),
        Some(v) => Err(bad(
            "version",
            &format!(
                "this emkit reads version {version}, the file has version {v}; use a matching emkit"
            ),
        )),
        None => Err(bad("version", "missing or not a whole number")),
    }
}

/// Optional `feature_names`: `d` strings.
pub(crate) fn feature_names(v: Option<Value>, d: usize) -> Result<Option<Vec<String>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let names: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect();
            let names = names.ok_or_else(|| bad("feature_names", "must be a list of strings"))?;
            if names.len() != d {
                return Err(bad(
                    "feature_names",
                    &format!("has {} names for {d} features", names.len()),
                ));
            }
            Ok(Some(names))
        }
        Some(_) => Err(bad("feature_names", "must be a list of strings")),
    }
}

/// The `covariance_type` field.
pub(crate) fn covariance_type(doc: &Map<String, Value>) -> Result<CovarianceType> {
    doc.get("covariance_type")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad(
                "covariance_type",
                "missing; expected full, tied, diag or spherical",
            )
        })?
        .parse()
        .map_err(|_| bad("covariance_type", "must be full, tied, diag or spherical"))
}

/// Rows of `w` values as nested JSON lists.
pub(crate) fn rows(v: &[f64], w: usize) -> Vec<Vec<f64>> {
    v.chunks(w).map(|c| c.to_vec()).collect()
}

/// Covariances in scikit-learn's nesting: full `k × d × d`, tied `d × d`,
/// diag `k × d`, spherical `k`.
pub(crate) fn covariances_to_json(covariances: &Covariances, d: usize) -> Value {
    match covariances {
        Covariances::Full(v) => json!(v.chunks(d * d).map(|c| rows(c, d)).collect::<Vec<_>>()),
        Covariances::Tied(v) => json!(rows(v, d)),
        Covariances::Diagonal(v) => json!(rows(v, d)),
        Covariances::Spherical(v) => json!(v),
    }
}

/// Reads covariances of `kind` for `k` components in `d` dimensions (shapes
/// checked; values checked by the model that takes them).
pub(crate) fn covariances_from_json(
    kind: CovarianceType,
    cov: Option<&Value>,
    k: usize,
    d: usize,
) -> Result<Covariances> {
    Ok(match kind {
        CovarianceType::Full => {
            let Some(Value::Array(items)) = cov else {
                return Err(bad("covariances", "missing or not a list of matrices"));
            };
            if items.len() != k {
                return Err(bad(
                    "covariances",
                    &format!("has {} matrices, expected {k}", items.len()),
                ));
            }
            let mut v = Vec::with_capacity(k * d * d);
            for (j, item) in items.iter().enumerate() {
                let field = format!("covariances[{j}]");
                v.extend(square(Some(item), &field, d)?);
            }
            Covariances::Full(v)
        }
        CovarianceType::Tied => Covariances::Tied(square(cov, "covariances", d)?),
        CovarianceType::Diagonal => {
            let rows = matrix(cov, "covariances")?;
            if rows.len() != k || rows.iter().any(|r| r.len() != d) {
                return Err(bad(
                    "covariances",
                    &format!("must be {k} rows of {d} variances"),
                ));
            }
            Covariances::Diagonal(rows.concat())
        }
        CovarianceType::Spherical => {
            let v = numbers(cov, "covariances")?;
            if v.len() != k {
                return Err(bad(
                    "covariances",
                    &format!("must hold {k} variances, has {}", v.len()),
                ));
            }
            Covariances::Spherical(v)
        }
    })
}

pub(crate) fn bad(field: &str, problem: &str) -> Error {
    Error::InvalidModel {
        field: field.into(),
        problem: problem.into(),
    }
}

pub(crate) fn numbers(v: Option<&Value>, field: &str) -> Result<Vec<f64>> {
    let Some(Value::Array(items)) = v else {
        return Err(bad(field, "missing or not a list of numbers"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_f64()
                .ok_or_else(|| bad(&format!("{field}[{i}]"), "is not a number"))
        })
        .collect()
}

pub(crate) fn matrix(v: Option<&Value>, field: &str) -> Result<Vec<Vec<f64>>> {
    let Some(Value::Array(items)) = v else {
        return Err(bad(field, "missing or not a list of rows"));
    };
    let rows: Vec<Vec<f64>> = items
        .iter()
        .enumerate()
        .map(|(i, r)| numbers(Some(r), &format!("{field}[{i}]")))
        .collect::<Result<_>>()?;
    if let Some(first) = rows.first() {
        if first.is_empty() {
            return Err(bad(field, "rows must not be empty"));
        }
        if let Some(i) = rows.iter().position(|r| r.len() != first.len()) {
            return Err(bad(
                &format!("{field}[{i}]"),
                &format!("has {} values, expected {}", rows[i].len(), first.len()),
            ));
        }
    }
    Ok(rows)
}

fn square(v: Option<&Value>, field: &str, d: usize) -> Result<Vec<f64>> {
    let rows = matrix(v, field)?;
    if rows.len() != d || rows.iter().any(|r| r.len() != d) {
        return Err(bad(field, &format!("must be a {d} x {d} matrix")));
    }
    Ok(rows.concat())
}
