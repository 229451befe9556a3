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
        if k == 0 {
            return Err(bad(
                "weights",
                "is empty; a mixture needs at least one component (one weight each)",
            ));
        }
        let means_rows = matrix(doc.get("means"), "means")?;
        if means_rows.len() != k {
            let rows = means_rows.len();
            // Two fields against one: `n_components` says which of the two is wrong.
            return Err(if count(&doc, "n_components") == Some(rows) {
                bad(
                    "weights",
                    &format!("has {k} values but means has {rows} rows and n_components is {rows}"),
                )
            } else {
                bad(
                    "means",
                    &format!("has {rows} rows but there are {k} weights (one row per component)"),
                )
            });
        }
        let d = means_rows.first().map_or(0, Vec::len);
        for key in ["n_components", "n_features"] {
            if let Some(v) = doc.get(key) {
                let want = if key == "n_components" { k } else { d };
                if v.as_u64() != Some(want as u64) {
                    return Err(bad(
                        key,
                        &format!("is {} but the parameters have {want}", short(v)),
                    ));
                }
            }
        }
        let means: Vec<f64> = means_rows.concat();
        let covariances = covariances_from_json(kind, doc.get("covariances"), k, d)?;
        let model = GaussianMixture::new(weights, means, d, covariances)
            .map_err(|e| refield(e, |f| covariance_field(kind, f)))?;
        let feature_names = feature_names(doc.remove("feature_names"), d)?;
        let fit = doc.remove("fit");
        let anomaly_threshold = match doc.remove("anomaly_threshold") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(t) if t.is_finite() => Some(t),
                _ => {
                    return Err(bad(
                        "anomaly_threshold",
                        &format!(
                            "must be a finite number (a log-density), found {}",
                            short(&v)
                        ),
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
    match doc.get("format") {
        Some(Value::String(f)) if f == format => {}
        Some(Value::String(other)) => {
            return Err(bad(
                "format",
                &format!("expected {format:?}, found {other:?}; this is not {what} file"),
            ))
        }
        Some(other) => {
            return Err(bad(
                "format",
                &format!(
                    "must be the string {format:?}, found {}; this is not {what} file",
                    short(other)
                ),
            ))
        }
        None => {
            return Err(bad(
                "format",
                &format!("missing; expected {format:?} (is this {what} file?)"),
            ))
        }
    }
    match doc.get("version") {
        Some(v) if v.as_u64() == Some(version) => Ok(()),
        Some(v) if v.as_u64().is_some() => Err(bad(
            "version",
            &format!(
                "this emkit reads version {version}, the file has version {v}; use a matching emkit"
            ),
        )),
        Some(v) => Err(bad(
            "version",
            &format!("must be a whole number ({version}), found {}", short(v)),
        )),
        None => Err(bad("version", &format!("missing; expected {version}"))),
    }
}

/// Optional `feature_names`: `d` strings.
pub(crate) fn feature_names(v: Option<Value>, d: usize) -> Result<Option<Vec<String>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let names = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        bad(
                            &format!("feature_names[{i}]"),
                            &format!("must be a string (a column name), found {}", short(v)),
                        )
                    })
                })
                .collect::<Result<Vec<String>>>()?;
            if names.len() != d {
                return Err(bad(
                    "feature_names",
                    &format!("has {} names for {d} features", names.len()),
                ));
            }
            Ok(Some(names))
        }
        Some(other) => Err(bad(
            "feature_names",
            &format!(
                "must be a list of strings (one per feature), found {}",
                short(&other)
            ),
        )),
    }
}

/// The `covariance_type` field.
pub(crate) fn covariance_type(doc: &Map<String, Value>) -> Result<CovarianceType> {
    match doc.get("covariance_type") {
        None => Err(bad(
            "covariance_type",
            "missing; expected full, tied, diag or spherical",
        )),
        Some(Value::String(s)) => s.parse().map_err(|_| {
            bad(
                "covariance_type",
                &format!("must be full, tied, diag or spherical, found {s:?}"),
            )
        }),
        Some(other) => Err(bad(
            "covariance_type",
            &format!(
                "must be full, tied, diag or spherical, found {}",
                short(other)
            ),
        )),
    }
}

/// A whole-number field, when present and valid.
pub(crate) fn count(doc: &Map<String, Value>, key: &str) -> Option<usize> {
    doc.get(key)?.as_u64()?.try_into().ok()
}

/// The same error with its field renamed by `f`; errors that name no field pass through.
pub(crate) fn refield(err: Error, f: impl FnOnce(&str) -> String) -> Error {
    match err {
        Error::InvalidModel { field, problem } => Error::InvalidModel {
            field: f(&field),
            problem,
        },
        other => other,
    }
}

/// A field named by the mixture model, as the file spells it: a tied covariance is one
/// matrix, `covariances`, where the model counts it as block `[0]`.
pub(crate) fn covariance_field(kind: CovarianceType, field: &str) -> String {
    match field.strip_prefix("covariances[0]") {
        Some(rest) if kind == CovarianceType::Tied => format!("covariances{rest}"),
        _ => field.to_string(),
    }
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
            let items = match cov {
                Some(Value::Array(items)) => items,
                Some(other) => {
                    return Err(bad(
                        "covariances",
                        &format!(
                            "must be a list of {k} matrices ({d} x {d}), found {}",
                            short(other)
                        ),
                    ))
                }
                None => return Err(bad("covariances", "missing; expected a list of matrices")),
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
            if rows.len() != k {
                return Err(bad(
                    "covariances",
                    &format!(
                        "has {} rows, expected {k} (one row of {d} variances per component)",
                        rows.len()
                    ),
                ));
            }
            if let Some(i) = rows.iter().position(|r| r.len() != d) {
                return Err(bad(
                    &format!("covariances[{i}]"),
                    &format!(
                        "has {} variances, expected {d} (one per feature)",
                        rows[i].len()
                    ),
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

/// At most this many characters of a JSON value are shown in a message.
const MAX_SHOWN_CHARS: usize = 40;

/// A JSON value as text, shortened when long.
pub(crate) fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= MAX_SHOWN_CHARS {
        text
    } else {
        let head: String = text.chars().take(MAX_SHOWN_CHARS).collect();
        format!("{head}...")
    }
}

pub(crate) fn numbers(v: Option<&Value>, field: &str) -> Result<Vec<f64>> {
    let items = match v {
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(bad(
                field,
                &format!("must be a list of numbers, found {}", short(other)),
            ))
        }
        None => return Err(bad(field, "missing; expected a list of numbers")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_f64().ok_or_else(|| {
                bad(
                    &format!("{field}[{i}]"),
                    &format!("must be a number, found {}", short(x)),
                )
            })
        })
        .collect()
}

pub(crate) fn matrix(v: Option<&Value>, field: &str) -> Result<Vec<Vec<f64>>> {
    let items = match v {
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(bad(
                field,
                &format!("must be a list of rows of numbers, found {}", short(other)),
            ))
        }
        None => return Err(bad(field, "missing; expected a list of rows of numbers")),
    };
    let rows: Vec<Vec<f64>> = items
        .iter()
        .enumerate()
        .map(|(i, r)| numbers(Some(r), &format!("{field}[{i}]")))
        .collect::<Result<_>>()?;
    if let Some(first) = rows.first() {
        if first.is_empty() {
            return Err(bad(
                &format!("{field}[0]"),
                "is empty; every row needs at least one value",
            ));
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
        let width = rows.first().map_or(0, Vec::len);
        return Err(bad(
            field,
            &format!(
                "must be a {d} x {d} matrix (d = {d} features), found {} x {width}",
                rows.len()
            ),
        ));
    }
    Ok(rows.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-component model in `d = 2` of each covariance type, as a JSON document.
    fn doc(kind: CovarianceType) -> Value {
        let covariances = match kind {
            CovarianceType::Full => Covariances::Full(vec![1.0, 0.2, 0.2, 2.0, 0.5, 0.0, 0.0, 0.5]),
            CovarianceType::Tied => Covariances::Tied(vec![1.0, 0.3, 0.3, 1.0]),
            CovarianceType::Diagonal => Covariances::Diagonal(vec![1.0, 2.0, 3.0, 4.0]),
            CovarianceType::Spherical => Covariances::Spherical(vec![1.0, 2.0]),
        };
        let model =
            GaussianMixture::new(vec![0.25, 0.75], vec![0.0, 1.0, 5.0, 6.0], 2, covariances)
                .unwrap();
        let mut file = MixtureFile::new(model);
        file.feature_names = Some(vec!["a".into(), "b".into()]);
        file.to_json()
    }

    /// The field and the message of loading `v`, which must fail.
    fn fault(v: Value) -> (String, String) {
        match MixtureFile::from_json(v) {
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

    fn remove(v: &mut Value, key: &str) {
        v.as_object_mut().unwrap().remove(key);
    }

    fn edit(kind: CovarianceType, f: impl FnOnce(&mut Value)) -> Value {
        let mut v = doc(kind);
        f(&mut v);
        v
    }

    #[test]
    fn every_covariance_type_round_trips() {
        for kind in CovarianceType::ALL {
            let file = MixtureFile::from_json(doc(kind)).unwrap();
            assert_eq!(file.to_json(), doc(kind), "{kind}");
        }
    }

    #[test]
    fn each_error_names_the_field_at_fault() {
        use CovarianceType::*;
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                edit(Full, |v| v["format"] = json!(3)),
                "format",
                "must be the string",
            ),
            (
                edit(Full, |v| drop(v.as_object_mut().unwrap().remove("format"))),
                "format",
                "missing",
            ),
            (
                edit(Full, |v| v["version"] = json!("1")),
                "version",
                "whole number",
            ),
            (
                edit(Full, |v| v["version"] = json!(7)),
                "version",
                "version 7",
            ),
            (
                edit(Full, |v| v["covariance_type"] = json!(1)),
                "covariance_type",
                "found 1",
            ),
            (
                edit(Full, |v| v["weights"] = json!([])),
                "weights",
                "at least one component",
            ),
            (
                edit(Full, |v| v["weights"] = json!({"a": 1})),
                "weights",
                "list of numbers",
            ),
            (
                edit(Full, |v| v["weights"][1] = json!(null)),
                "weights[1]",
                "must be a number",
            ),
            (
                edit(Full, |v| {
                    v["weights"] = json!([0.5, -0.5, 1.0]);
                    remove(v, "n_components");
                }),
                "means",
                "3 weights",
            ),
            // n_components sides with the means: the weights are wrong.
            (
                edit(Full, |v| v["weights"] = json!([0.2, 0.3, 0.5])),
                "weights",
                "n_components is 2",
            ),
            (
                edit(Full, |v| v["weights"] = json!([1.5, -0.5])),
                "weights[1]",
                ">= 0",
            ),
            (
                edit(Full, |v| v["weights"] = json!([0.5, 0.6])),
                "weights",
                "sum to 1",
            ),
            (
                edit(Full, |v| v["means"] = json!(2)),
                "means",
                "list of rows",
            ),
            (
                edit(Full, |v| v["means"][0] = json!([])),
                "means[0]",
                "is empty",
            ),
            (
                edit(Full, |v| v["means"][1] = json!([1.0])),
                "means[1]",
                "has 1 values",
            ),
            (
                edit(Full, |v| v["means"][1][0] = json!("x")),
                "means[1][0]",
                "must be a number",
            ),
            (
                edit(Full, |v| v["n_components"] = json!(3)),
                "n_components",
                "is 3",
            ),
            (
                edit(Full, |v| v["n_features"] = json!(1)),
                "n_features",
                "is 1",
            ),
            (
                edit(Full, |v| v["covariances"] = json!(1.0)),
                "covariances",
                "list of 2 matrices",
            ),
            (
                edit(Full, |v| {
                    drop(v.as_object_mut().unwrap().remove("covariances"))
                }),
                "covariances",
                "missing",
            ),
            (
                edit(Full, |v| v["covariances"][1] = json!([[1.0]])),
                "covariances[1]",
                "2 x 2",
            ),
            (
                edit(Full, |v| v["covariances"][1][0][1] = json!(0.4)),
                "covariances[1]",
                "symmetric",
            ),
            (
                edit(Full, |v| {
                    v["covariances"][0] = json!([[1.0, 2.0], [2.0, 1.0]])
                }),
                "covariances[0]",
                "positive definite",
            ),
            // One tied matrix: `covariances`, not `covariances[0]`.
            (
                edit(Tied, |v| v["covariances"][0][1] = json!(0.1)),
                "covariances",
                "symmetric",
            ),
            (
                edit(Tied, |v| v["covariances"] = json!([[1.0, 2.0], [2.0, 1.0]])),
                "covariances",
                "positive definite",
            ),
            (
                edit(Tied, |v| v["covariances"] = json!([[1.0]])),
                "covariances",
                "2 x 2",
            ),
            (
                edit(Diagonal, |v| v["covariances"][1] = json!([1.0])),
                "covariances[1]",
                "has 1 values",
            ),
            (
                edit(Diagonal, |v| v["covariances"] = json!([[1.0, 2.0]])),
                "covariances",
                "has 1 rows",
            ),
            (
                edit(Diagonal, |v| v["covariances"][1][1] = json!(0.0)),
                "covariances[1]",
                "positive definite",
            ),
            (
                edit(Spherical, |v| v["covariances"] = json!([1.0])),
                "covariances",
                "2 variances",
            ),
            (
                edit(Spherical, |v| v["covariances"][0] = json!(-1.0)),
                "covariances[0]",
                "positive definite",
            ),
            (
                edit(Full, |v| v["feature_names"] = json!("a,b")),
                "feature_names",
                "list of strings",
            ),
            (
                edit(Full, |v| v["feature_names"][1] = json!(2)),
                "feature_names[1]",
                "must be a string",
            ),
            (
                edit(Full, |v| v["feature_names"] = json!(["a"])),
                "feature_names",
                "1 names for 2",
            ),
            (
                edit(Full, |v| v["anomaly_threshold"] = json!([1])),
                "anomaly_threshold",
                "finite number",
            ),
        ];
        for (v, field, says) in cases {
            let (got, shown) = fault(v);
            assert_eq!(got, field, "{shown}");
            assert!(shown.contains(says), "{field}: {shown} should say {says:?}");
        }
    }

    #[test]
    fn bad_json_is_named_as_the_document() {
        for text in ["", "{", "[1, 2]", "null", "{\"format\": 1e999}"] {
            match MixtureFile::from_json_str(text) {
                Err(Error::InvalidModel { field, .. }) => assert_eq!(field, "(document)", "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    proptest::proptest! {
        /// A claimed count of any size or kind is compared, never allocated:
        /// anything but the true count names its field.
        #[test]
        fn any_claimed_count_is_checked(
            claim in proptest::prop_oneof![
                proptest::strategy::Just(json!(0)),
                proptest::strategy::Just(json!(u64::MAX)),
                proptest::strategy::Just(json!(-1)),
                proptest::strategy::Just(json!(1e300)),
                proptest::strategy::Just(json!(2.0)),
                proptest::strategy::Strategy::prop_map(proptest::prelude::any::<u64>(), |n| json!(n)),
            ],
            key in proptest::sample::select(vec!["n_components", "n_features"]),
        ) {
            let v = edit(CovarianceType::Diagonal, |v| v[key] = claim.clone());
            let truth = claim.as_u64() == Some(2);
            match MixtureFile::from_json(v) {
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
