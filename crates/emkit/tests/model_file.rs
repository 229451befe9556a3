//! Model files: save -> load is exact, and loading validates every field.

mod common;

use common::{blobs, test_seed};
use emkit::io::MixtureFile;
use emkit::{CovarianceType, DataRef, Error, GaussianMixture};
use serde_json::{json, Value};

fn fitted(kind: CovarianceType, seed: u64) -> (Vec<f64>, MixtureFile) {
    let x = blobs(400, 3, 3, seed);
    let fit = GaussianMixture::builder(3)
        .covariance(kind)
        .seed(seed)
        .fit(DataRef::new(&x, 400, 3).unwrap())
        .unwrap();
    let mut file = MixtureFile::new(fit.model);
    file.feature_names = Some(vec!["a".into(), "b".into(), "c".into()]);
    file.fit = Some(json!({"note": "kept as written"}));
    (x, file)
}

#[test]
fn save_then_load_scores_bit_identically() {
    let seed = test_seed(17);
    for kind in CovarianceType::ALL {
        let (x, file) = fitted(kind, seed);
        let loaded = MixtureFile::from_json_str(&file.to_json_string()).unwrap();
        assert_eq!(loaded, file, "{kind}");
        let data = DataRef::new(&x, 400, 3).unwrap();
        let (a, b) = (
            file.model.score_samples(data).unwrap(),
            loaded.model.score_samples(data).unwrap(),
        );
        assert!(
            a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
            "{kind}"
        );
    }
}

fn load_error(doc: &Value) -> String {
    match MixtureFile::from_json(doc.clone()) {
        Err(e @ Error::InvalidModel { .. }) => e.to_string(),
        other => panic!("expected InvalidModel, got {other:?}"),
    }
}

#[test]
fn loading_names_the_field_at_fault() {
    let (_, file) = fitted(CovarianceType::Full, 1);
    let good = file.to_json();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|v| v["format"] = json!("emkit.hmm")), "`format`"),
        (with(&|v| v["version"] = json!(2)), "`version`"),
        (
            with(&|v| v["covariance_type"] = json!("round")),
            "`covariance_type`",
        ),
        (
            with(&|v| v["weights"] = json!([0.5, 0.5, 0.5])),
            "`weights`",
        ),
        (with(&|v| v["weights"][1] = json!("x")), "`weights[1]`"),
        (with(&|v| v["means"] = json!([[0.0, 0.0, 0.0]])), "`means`"),
        (with(&|v| v["means"][2] = json!([0.0, 0.0])), "`means[2]`"),
        (
            with(&|v| v["covariances"][0][0][1] = json!(99.0)),
            "`covariances[0]`",
        ),
        (
            with(&|v| {
                v["covariances"][2] = json!([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            }),
            "`covariances[2]`",
        ),
        (
            with(&|v| v["feature_names"] = json!(["a"])),
            "`feature_names`",
        ),
        (with(&|v| v["n_features"] = json!(7)), "`n_features`"),
        (
            with(&|v| v["anomaly_threshold"] = json!("low")),
            "`anomaly_threshold`",
        ),
        (json!([1, 2, 3]), "`(document)`"),
    ];
    for (doc, field) in cases {
        let msg = load_error(&doc);
        assert!(msg.starts_with(field), "{msg} should name {field}");
    }
    assert!(MixtureFile::from_json_str("{oops").is_err());
}

#[test]
fn the_anomaly_threshold_is_optional_and_kept() {
    let (_, mut file) = fitted(CovarianceType::Diagonal, 3);
    // A file written before the field existed loads, with no threshold.
    let old = file.to_json();
    assert!(old.get("anomaly_threshold").is_none());
    assert_eq!(MixtureFile::from_json(old).unwrap().anomaly_threshold, None);
    // An explicit null is the same as absent.
    let mut null = file.to_json();
    null["anomaly_threshold"] = Value::Null;
    assert_eq!(
        MixtureFile::from_json(null).unwrap().anomaly_threshold,
        None
    );
    // A threshold survives save -> load exactly, and stays out of `extra`.
    file.anomaly_threshold = Some(-4.867694806154823);
    let loaded = MixtureFile::from_json_str(&file.to_json_string()).unwrap();
    assert_eq!(loaded, file);
    assert!(loaded.extra.is_empty());
}
