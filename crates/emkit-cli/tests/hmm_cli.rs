//! `emkit hmm`, run as a user would.

mod common;

use std::fs;

use common::{data, json_of, reference, run, s};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("emkit-hmm-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn fit_json_contract_and_hmmlearn_reference() {
    let r = run(&[
        "hmm",
        "fit",
        s(&data("faithful_std.csv")),
        "--states",
        "2",
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
    assert_eq!(r.stderr, "", "-q prints nothing on stderr");
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
    let want = &reference_entry("gaussian_2d", 2, "full");
    assert_eq!(j["n_parameters"], want["n_parameters"]);
    assert_eq!(j["n_samples"], 272);
    let (ours, theirs) = (
        j["log_likelihood"].as_f64().unwrap(),
        want["log_likelihood"].as_f64().unwrap(),
    );
    // The margin for 2-state fits: 1e-6 per observation.
    assert!(ours >= theirs - 1e-6 * 272.0, "{ours} vs {theirs}");
    // BIC = −2 ln L + p ln n, with n the number of observations.
    let bic = -2.0 * ours + 13.0 * 272f64.ln();
    assert!((j["bic"].as_f64().unwrap() - bic).abs() <= 1e-9 * bic.abs());
}

fn reference_entry(family: &str, n: u64, cov: &str) -> serde_json::Value {
    let all = reference("faithful.hmm.json");
    all[family]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["n_components"] == n && e["covariance_type"].as_str().unwrap_or("") == cov)
        .unwrap()
        .clone()
}

#[test]
fn saved_model_scores_and_decodes_like_the_fit() {
    let model = tmp("faithful2.json");
    let r = run(&[
        "hmm",
        "fit",
        s(&data("faithful_std.csv")),
        "--states",
        "2",
        "--covariance",
        "diag",
        "--n-init",
        "3",
        "-o",
        s(&model),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let fitted = json_of(&r)["log_likelihood"].as_f64().unwrap();
    let r = run(&[
        "hmm",
        "score",
        s(&model),
        s(&data("faithful_std.csv")),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Save → load keeps every bit, and score sums like the fit's final E-step.
    assert_eq!(json_of(&r)["log_likelihood"].as_f64().unwrap(), fitted);

    let r = run(&["hmm", "decode", s(&model), s(&data("faithful_std.csv"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "state");
    assert_eq!(lines.len(), 273);
    let observations = data("faithful_std.csv");
    for algorithm in [&["--algorithm", "posterior"][..], &["--filter"][..]] {
        let mut args = vec!["hmm", "decode", s(&model), s(&observations)];
        args.extend_from_slice(algorithm);
        let r = run(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines[0], "state,proba_0,proba_1");
        for line in &lines[1..] {
            let cells: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
            // Two probabilities, each rounded once after normalising.
            assert!((cells[1] + cells[2] - 1.0).abs() < 1e-12, "{line}");
            let argmax = if cells[2] > cells[1] { 1.0 } else { 0.0 };
            assert_eq!(cells[0], argmax, "{line}");
        }
    }

    let r = run(&["hmm", "sample", s(&model), "-n", "50", "--seed", "3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "eruptions,waiting,state");
    assert_eq!(lines.len(), 51);
}

#[test]
fn categorical_fit_with_lengths() {
    let lengths = tmp("lengths.txt");
    fs::write(&lengths, "100\n\n72\n100\n").unwrap();
    let model = tmp("symbols.json");
    let symbols = data("faithful_waiting_symbols.csv");
    let r = run(&[
        "hmm",
        "fit",
        s(&symbols),
        "--states",
        "2",
        "--emission",
        "categorical",
        "--lengths",
        s(&lengths),
        "-o",
        s(&model),
        "--json",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json_of(&r);
    assert_eq!(j["n_sequences"], 3);
    assert_eq!(j["n_symbols"], 3);
    // (K − 1) start + K(K − 1) transitions + K(M − 1) emission probabilities.
    assert_eq!(j["n_parameters"], 1 + 2 + 4);
    let r = run(&[
        "hmm",
        "score",
        s(&model),
        s(&symbols),
        "--lengths",
        s(&lengths),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json_of(&r)["log_likelihood"], j["log_likelihood"]);
}

#[test]
fn bad_input_gets_one_clear_line_and_exit_2() {
    let std = data("faithful_std.csv");
    let symbols = data("faithful_waiting_symbols.csv");
    let short = tmp("short.txt");
    fs::write(&short, "100\n100\n").unwrap();
    let zero = tmp("zero.txt");
    fs::write(&zero, "272\n0\n").unwrap();
    let words = tmp("words.txt");
    fs::write(&words, "100\nabc\n").unwrap();
    let out_of_range = tmp("symbols.csv");
    fs::write(&out_of_range, "symbol\n0\n1\n5\n2\n").unwrap();
    let not_integer = tmp("halves.csv");
    fs::write(&not_integer, "symbol\n0\n1.5\n").unwrap();
    let bad_model = tmp("bad_rows.json");
    let model = tmp("good.json");
    let r = run(&[
        "hmm",
        "fit",
        s(&std),
        "--states",
        "2",
        "-o",
        s(&model),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&model).unwrap()).unwrap();
    doc["transitions"][1] = serde_json::json!([0.5, 0.6]);
    fs::write(&bad_model, doc.to_string()).unwrap();

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "hmm",
                "fit",
                s(&std),
                "--states",
                "2",
                "--lengths",
                s(&short),
            ],
            "sum to 200 but the data has 272 rows",
        ),
        (
            vec![
                "hmm",
                "fit",
                s(&std),
                "--states",
                "2",
                "--lengths",
                s(&zero),
            ],
            "line 2: a sequence length of 0",
        ),
        (
            vec![
                "hmm",
                "fit",
                s(&std),
                "--states",
                "2",
                "--lengths",
                s(&words),
            ],
            "line 2: \"abc\" is not a whole number",
        ),
        (
            vec![
                "hmm",
                "fit",
                s(&out_of_range),
                "--states",
                "2",
                "--emission",
                "categorical",
                "--n-symbols",
                "3",
            ],
            "row 2 (0-based): the symbol 5 is not an integer in 0..2",
        ),
        (
            vec![
                "hmm",
                "fit",
                s(&not_integer),
                "--states",
                "2",
                "--emission",
                "categorical",
            ],
            "the symbol 1.5 is not an integer",
        ),
        (
            vec!["hmm", "score", s(&bad_model), s(&std)],
            "`transitions[1]`: must sum to 1, it sums to 1.1",
        ),
        (
            vec!["hmm", "decode", s(&model), s(&symbols)],
            "has 1 columns but the model was fitted on 2 features",
        ),
        (
            vec!["hmm", "fit", s(&std), "--states", "2", "--learn", "sx"],
            "--learn",
        ),
        (vec!["hmm", "fit", s(&std), "--states", "0"], "at least 1"),
    ];
    for (args, needle) in cases {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}");
    }
    // A failed run leaves no output file behind.
    let never = tmp("never.json");
    let r = run(&[
        "hmm",
        "fit",
        s(&std),
        "--states",
        "2",
        "--lengths",
        s(&short),
        "-o",
        s(&never),
    ]);
    assert_eq!(r.code, 2);
    assert!(!never.exists());
}

#[test]
fn gmm_emissions_fit_save_and_score() {
    let model = tmp("gmm.json");
    let observations = data("faithful_std.csv");
    let r = run(&[
        "hmm",
        "fit",
        s(&observations),
        "--states",
        "2",
        "--emission",
        "gmm",
        "--n-mix",
        "2",
        "--covariance",
        "diag",
        "--n-init",
        "2",
        "-o",
        s(&model),
        "--json",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json_of(&r);
    assert_eq!(
        (j["emission"].as_str(), j["n_mix"].as_u64()),
        (Some("gmm"), Some(2))
    );
    // 1 start + 2 transitions + per state (1 weight + 2·2 means + 2·2 variances).
    assert_eq!(j["n_parameters"], 1 + 2 + 2 * 9);
    let r = run(&["hmm", "score", s(&model), s(&observations), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json_of(&r)["log_likelihood"], j["log_likelihood"]);
    let r = run(&["hmm", "sample", s(&model), "-n", "5"]);
    assert_eq!((r.code, r.stdout.lines().count()), (0, 6), "{}", r.stderr);
}
