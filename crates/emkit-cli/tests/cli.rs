//! The real `emkit` binary, run as a user would.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn emkit() -> Command {
    Command::cargo_bin("emkit").unwrap()
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name)
}

fn reference(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../emkit/tests/reference")
        .join(name);
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    run_with_stdin(args, "")
}

fn run_with_stdin(args: &[&str], stdin: &str) -> Run {
    let out = emkit().args(args).write_stdin(stdin).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn json_of(r: &Run) -> Value {
    // The contract: stdout is exactly one JSON object.
    assert_eq!(r.stdout.lines().count(), 1, "stdout: {}", r.stdout);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn fit_json_has_the_contract_keys_and_matches_scikit_learn() {
    let iris = data("iris.csv");
    let r = run(&[
        "fit",
        s(&iris),
        "-k",
        "3",
        "--n-init",
        "20",
        "--tol",
        "1e-8",
        "--max-iter",
        "1000",
        "--json",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "-q prints nothing: {}", r.stderr);
    let j = json_of(&r);
    for key in [
        "n_components",
        "covariance_type",
        "n_samples",
        "n_features",
        "log_likelihood",
        "mean_log_likelihood",
        "bic",
        "aic",
        "n_parameters",
        "n_iter",
        "converged",
        "best_init",
        "seconds",
    ] {
        assert!(j.get(key).is_some(), "missing {key}");
    }
    assert_eq!(j["n_samples"], 150);
    assert_eq!(j["n_features"], 4);
    assert_eq!(j["n_components"], 3);
    assert_eq!(j["covariance_type"], "full");
    assert_eq!(j["converged"], true);
    let fits = reference("iris.gmm.json")["fits"]
        .as_array()
        .unwrap()
        .clone();
    let sk = fits
        .iter()
        .find(|f| f["k"] == 3 && f["covariance_type"] == "full")
        .unwrap();
    assert_eq!(j["n_parameters"], sk["n_parameters"]);
    let (ll, p) = (
        j["log_likelihood"].as_f64().unwrap(),
        j["n_parameters"].as_f64().unwrap(),
    );
    // The issue's bound: at least scikit-learn's mean log-likelihood minus 1e-6.
    assert!(
        j["mean_log_likelihood"].as_f64().unwrap()
            >= sk["mean_log_likelihood"].as_f64().unwrap() - 1e-6
    );
    let bic = -2.0 * ll + p * 150f64.ln();
    assert!((j["bic"].as_f64().unwrap() - bic).abs() < 1e-9 * bic.abs());
    assert!((j["aic"].as_f64().unwrap() - (-2.0 * ll + 2.0 * p)).abs() < 1e-9 * bic.abs());
}

#[test]
fn saved_model_scores_exactly_what_the_fit_reported() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    for cov in ["full", "tied", "diag", "spherical"] {
        let fit = run(&[
            "fit",
            s(&data("faithful.csv")),
            "-k",
            "2",
            "--covariance",
            cov,
            "-o",
            s(&model),
            "--json",
        ]);
        assert_eq!(fit.code, 0, "{}", fit.stderr);
        let score = run(&["score", s(&model), s(&data("faithful.csv")), "--json"]);
        assert_eq!(score.code, 0, "{}", score.stderr);
        let (a, b) = (json_of(&fit), json_of(&score));
        // save -> load is exact, and the fit's final E-step is the model's score.
        assert_eq!(
            a["log_likelihood"].as_f64(),
            b["log_likelihood"].as_f64(),
            "{cov}"
        );
        assert_eq!(a["bic"].as_f64(), b["bic"].as_f64(), "{cov}");
        let saved: Value = serde_json::from_str(&fs::read_to_string(&model).unwrap()).unwrap();
        assert_eq!(saved["format"], "emkit.gaussian_mixture");
        assert_eq!(saved["version"], 1);
        assert_eq!(
            saved["feature_names"],
            serde_json::json!(["eruptions", "waiting"])
        );
    }
}

#[test]
fn predict_sample_and_per_sample_scores() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let iris = data("iris.csv");
    assert_eq!(
        run(&["fit", s(&iris), "-k", "3", "-o", s(&model), "-q"]).code,
        0
    );

    let p = run(&["predict", s(&model), s(&iris)]);
    assert_eq!(p.code, 0, "{}", p.stderr);
    let lines: Vec<&str> = p.stdout.lines().collect();
    assert_eq!(lines[0], "label");
    assert_eq!(lines.len(), 151);
    assert!(lines[1..].iter().all(|l| ["0", "1", "2"].contains(l)));

    let out = dir.path().join("proba.csv");
    assert_eq!(
        run(&["predict", s(&model), s(&iris), "--proba", "-o", s(&out)]).code,
        0
    );
    let text = fs::read_to_string(&out).unwrap();
    let mut rows = text.lines();
    assert_eq!(rows.next().unwrap(), "label,proba_0,proba_1,proba_2");
    for (row, label) in rows.zip(&lines[1..]) {
        let cells: Vec<f64> = row.split(',').map(|c| c.parse().unwrap()).collect();
        // Three probabilities each rounded once.
        assert!((cells[1..].iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(cells[0].to_string(), *label);
    }

    let per = run(&["score", s(&model), s(&iris), "--per-sample"]);
    assert_eq!(per.code, 0);
    let vals: Vec<f64> = per
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(vals.len(), 150);
    let mean = run(&["score", s(&model), s(&iris)]);
    let mean: f64 = mean.stdout.trim().parse().unwrap();
    // Summed in a different order than the blocked mean: a few ulps.
    assert!((vals.iter().sum::<f64>() / 150.0 - mean).abs() < 1e-12);

    let a = run(&["sample", s(&model), "-n", "10", "--seed", "4"]);
    let b = run(&["sample", s(&model), "-n", "10", "--seed", "4"]);
    let c = run(&["sample", s(&model), "-n", "10", "--seed", "5"]);
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, c.stdout);
    assert_eq!(a.stdout.lines().count(), 11);
    assert!(a
        .stdout
        .starts_with("sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm,component\n"));
    // Samples score under their model through standard input (columns by name).
    let back = run_with_stdin(&["score", s(&model), "-"], &a.stdout);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert!(back.stdout.trim().parse::<f64>().unwrap().is_finite());
}

#[test]
fn trace_verbose_quiet_and_max_iter() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.csv");
    let model = dir.path().join("m.json");
    let r = run(&[
        "fit",
        s(&data("faithful.csv")),
        "-k",
        "2",
        "--trace",
        s(&trace),
        "-v",
        "--json",
    ]);
    assert_eq!(r.code, 0);
    let j = json_of(&r);
    let n_iter = j["n_iter"].as_u64().unwrap() as usize;
    let iteration_lines = r
        .stderr
        .lines()
        .filter(|l| l.contains(" iteration ") && l.contains(" change "))
        .count();
    assert_eq!(iteration_lines, n_iter, "{}", r.stderr);
    let t = fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "iteration,mean_log_likelihood,change");
    assert_eq!(lines.len(), n_iter + 1);
    let last_change: f64 = lines[n_iter].split(',').nth(2).unwrap().parse().unwrap();
    assert!(last_change.abs() < 1e-3);

    // Stopping at max_iter is not convergence, but the model is still written and it's exit 0.
    let r = run(&[
        "fit",
        s(&data("faithful.csv")),
        "-k",
        "3",
        "--max-iter",
        "2",
        "--tol",
        "0",
        "-o",
        s(&model),
        "--json",
    ]);
    assert_eq!(r.code, 0);
    let j = json_of(&r);
    assert_eq!(j["converged"], false);
    assert_eq!(j["n_iter"], 2);
    assert!(r.stderr.contains("not converged"));
    assert!(model.exists());
}

#[test]
fn stdin_columns_and_npy_inputs() {
    let text = fs::read_to_string(data("faithful.csv")).unwrap();
    let r = run_with_stdin(
        &["fit", "-", "-k", "2", "--json", "--columns", "waiting"],
        &text,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json_of(&r);
    assert_eq!(j["n_features"], 1);
    assert_eq!(j["n_samples"], 272);

    // The same data as a little-endian float64 .npy (version 1.0 header).
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("f.npy");
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, 2), }}",
        rows.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in rows.iter().flatten() {
        bytes.extend(v.to_le_bytes());
    }
    fs::write(&npy, bytes).unwrap();
    let a = json_of(&run(&["fit", s(&npy), "-k", "2", "--json", "-q"]));
    let b = json_of(&run(&[
        "fit",
        s(&data("faithful.csv")),
        "-k",
        "2",
        "--json",
        "-q",
    ]));
    // Same numbers in, same fit out.
    assert_eq!(a["log_likelihood"], b["log_likelihood"]);
}

/// Each bad input: exit 2, exactly one line on stderr naming the problem, no
/// output file, nothing on stdout.
#[test]
fn bad_input_gets_one_clear_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        fs::write(&p, text).unwrap();
        p
    };
    let model = d.join("m.json");
    assert_eq!(
        run(&[
            "fit",
            s(&data("iris.csv")),
            "-k",
            "2",
            "-o",
            s(&model),
            "-q"
        ])
        .code,
        0
    );
    let out = d.join("out.json");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "fit".into(),
                s(&write("text.csv", "a,b\n1,2\n3,abc\n")).into(),
                "-k".into(),
                "1".into(),
            ],
            "line 3, column \"b\"",
        ),
        (
            vec![
                "fit".into(),
                s(&write("nan.csv", "a,b\n1,2\nNaN,4\n")).into(),
                "-k".into(),
                "1".into(),
            ],
            "line 3, column \"a\"",
        ),
        (
            vec![
                "fit".into(),
                s(&write("inf.csv", "a,b\n1,2\n3,inf\n")).into(),
                "-k".into(),
                "1".into(),
            ],
            "line 3, column \"b\"",
        ),
        (
            vec![
                "fit".into(),
                s(&write("ragged.csv", "a,b\n1,2\n3\n")).into(),
                "-k".into(),
                "1".into(),
            ],
            "line 3",
        ),
        (
            vec![
                "fit".into(),
                s(&write("empty.csv", "")).into(),
                "-k".into(),
                "1".into(),
            ],
            "empty",
        ),
        (
            vec![
                "fit".into(),
                s(&write("header.csv", "a,b\n")).into(),
                "-k".into(),
                "1".into(),
            ],
            "no data rows",
        ),
        (
            vec![
                "fit".into(),
                s(&data("iris.csv")).into(),
                "-k".into(),
                "0".into(),
            ],
            "at least 1",
        ),
        (
            vec![
                "fit".into(),
                s(&data("iris.csv")).into(),
                "-k".into(),
                "151".into(),
            ],
            "151",
        ),
        (
            vec![
                "fit".into(),
                s(&d.join("missing.csv")).into(),
                "-k".into(),
                "2".into(),
            ],
            "no such file",
        ),
        (
            vec![
                "fit".into(),
                s(&data("iris.csv")).into(),
                "-k".into(),
                "2".into(),
                "--columns".into(),
                "nope".into(),
            ],
            "nope",
        ),
        (
            vec![
                "predict".into(),
                s(&model).into(),
                s(&data("faithful.csv")).into(),
            ],
            "4 features",
        ),
        (
            vec![
                "score".into(),
                s(&write("corrupt.json", "{not json")).into(),
                s(&data("iris.csv")).into(),
            ],
            "not valid JSON",
        ),
        (
            vec![
                "score".into(),
                s(&write(
                    "v9.json",
                    r#"{"format": "emkit.gaussian_mixture", "version": 9}"#,
                ))
                .into(),
                s(&data("iris.csv")).into(),
            ],
            "version",
        ),
        (
            vec![
                "score".into(),
                s(&write(
                    "other.json",
                    r#"{"format": "something.else", "version": 1}"#,
                ))
                .into(),
                s(&data("iris.csv")).into(),
            ],
            "format",
        ),
        (
            vec![
                "fit".into(),
                s(&data("iris.csv")).into(),
                "-k".into(),
                "2".into(),
                "-o".into(),
                s(&d.join("no/such/dir/m.json")).into(),
            ],
            "does not exist",
        ),
        (
            vec![
                "fit".into(),
                s(&data("iris.csv")).into(),
                "-k".into(),
                "2".into(),
                "--covariance".into(),
                "banana".into(),
            ],
            "banana",
        ),
        (
            vec![
                "fit".into(),
                s(&data("iris.csv")).into(),
                "-k".into(),
                "2".into(),
                "--tol".into(),
                "-1".into(),
            ],
            "tol",
        ),
    ];
    for (args, needle) in cases {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        if args[0] == "fit" && !args.contains(&"-o") {
            args.extend(["-o", s(&out)]);
        }
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("emkit: error: "), "{}", r.stderr);
        assert!(
            r.stderr.contains(needle),
            "{args:?}: {} lacks {needle:?}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"));
        assert!(r.stdout.is_empty());
        assert!(!out.exists(), "{args:?} left an output file");
    }
    // A corrupt model file with a non-symmetric covariance names the field.
    let mut m: Value = serde_json::from_str(&fs::read_to_string(&model).unwrap()).unwrap();
    m["covariances"][1][0][1] = serde_json::json!(123.0);
    let p = write("asym.json", &m.to_string());
    let r = run(&["score", s(&p), s(&data("iris.csv"))]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("covariances[1]") && r.stderr.contains("symmetric"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_failed_run_leaves_an_existing_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.json");
    fs::write(&out, "precious").unwrap();
    let bad = dir.path().join("bad.csv");
    fs::write(&bad, "a\n1\nx\n").unwrap();
    let r = run(&["fit", s(&bad), "-k", "1", "-o", s(&out)]);
    assert_eq!(r.code, 2);
    assert_eq!(fs::read_to_string(&out).unwrap(), "precious");
    // And no temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn warm_start_from_a_saved_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let f = data("faithful.csv");
    let first = json_of(&run(&[
        "fit",
        s(&f),
        "-k",
        "2",
        "--tol",
        "1e-9",
        "--max-iter",
        "1000",
        "-o",
        s(&model),
        "--json",
    ]));
    let warm = json_of(&run(&[
        "fit",
        s(&f),
        "-k",
        "2",
        "--init-model",
        s(&model),
        "--json",
        "-q",
    ]));
    assert!(warm["n_iter"].as_u64().unwrap() <= 3);
    let gap = (warm["mean_log_likelihood"].as_f64().unwrap()
        - first["mean_log_likelihood"].as_f64().unwrap())
    .abs();
    // Both sit at the same optimum, within the first fit's stopping tolerance.
    assert!(gap < 1e-6);
}
