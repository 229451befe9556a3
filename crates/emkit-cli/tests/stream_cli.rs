//! `--stream` on fit, predict and score: the data read from disk on every
//! pass gives the outputs of the data in memory, bit for bit; streaming
//! starts by itself when the data would take more than half of
//! `--max-memory`; bad files exit 2 naming the row, and no temporary file is
//! left behind.

use std::fs;
use std::path::Path;

mod common;

use common::{data, json_of, model_of, run, s};

/// Iris's rows as a 2-D `<f8` `.npy` (C order), and the same values as CSV.
fn iris_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let text = fs::read_to_string(data("iris.csv")).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    let npy = dir.join("iris.npy");
    write_npy(&npy, &rows);
    let csv = dir.join("iris.csv");
    fs::write(&csv, text).unwrap();
    (npy, csv)
}

fn write_npy(path: &Path, rows: &[Vec<f64>]) {
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    let header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}\n",
        rows.len(),
        rows[0].len()
    );
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in rows.iter().flatten() {
        out.extend(v.to_le_bytes());
    }
    fs::write(path, out).unwrap();
}

fn fit(args: &[&str]) -> serde_json::Value {
    let r = run(args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    json_of(&r)
}

#[test]
fn streamed_fits_equal_fits_in_memory_for_npy_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (npy, csv) = iris_files(dir.path());
    for (input, columns) in [
        (&npy, None),
        (&csv, None),
        (&npy, Some("x3,x1")),
        (&csv, Some("petal_width_cm,sepal_width_cm")),
    ] {
        for kind in ["full", "tied", "diag", "spherical"] {
            let mut models = Vec::new();
            for stream in [false, true] {
                let out = dir.path().join(format!("m{stream}.json"));
                let mut args = vec![
                    "fit",
                    s(input),
                    "-k",
                    "3",
                    "--covariance",
                    kind,
                    "--n-init",
                    "2",
                    "--seed",
                    "4",
                    "--json",
                    "-q",
                    "-o",
                    s(&out),
                ];
                if let Some(c) = columns {
                    args.extend(["--columns", c]);
                }
                if stream {
                    args.push("--stream");
                }
                let summary = fit(&args);
                assert_eq!(summary["streamed"], stream);
                models.push((model_of(&out), summary["log_likelihood"].clone()));
            }
            assert_eq!(models[0], models[1], "{input:?} {columns:?} {kind}");
        }
    }
    // The spill files of the CSV fits went away with them.
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("spill"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn streamed_weights_equal_weights_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(data("iris.csv")).unwrap();
    let mut lines = text.lines();
    let mut with_w = format!("{},w\n", lines.next().unwrap());
    let mut weights = vec![];
    for (i, l) in lines.enumerate() {
        let w = ((i * 7) % 4) as f64 * 0.5;
        with_w.push_str(&format!("{l},{w}\n"));
        weights.push(vec![w]);
    }
    let csv = dir.path().join("w.csv");
    fs::write(&csv, with_w).unwrap();
    let wnpy = dir.path().join("w.npy");
    write_npy(&wnpy, &weights);
    let (npy, _) = iris_files(dir.path());
    let weight_sets: [(&Path, [&str; 2]); 2] = [
        (&csv, ["--weight-column", "w"]),
        (&npy, ["--weights", s(&wnpy)]),
    ];
    for (input, flag) in weight_sets {
        let mut results = Vec::new();
        for stream in [false, true] {
            let out = dir.path().join(format!("m{stream}.json"));
            let mut args = vec!["fit", s(input), "-k", "3", "--json", "-q", "-o", s(&out)];
            args.extend(flag);
            if stream {
                args.push("--stream");
            }
            let summary = fit(&args);
            results.push((model_of(&out), summary["total_weight"].clone()));
        }
        assert_eq!(results[0], results[1], "{input:?}");
    }
}

#[test]
fn predict_and_score_stream_the_same_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (npy, csv) = iris_files(dir.path());
    let model = dir.path().join("m.json");
    fit(&["fit", s(&csv), "-k", "3", "-q", "--json", "-o", s(&model)]);
    for input in [&npy, &csv] {
        for command in [
            &["predict", "--proba"][..],
            &["score", "--per-sample"],
            &["score", "--json"],
        ] {
            let outputs: Vec<String> = [false, true]
                .iter()
                .map(|&stream| {
                    let mut args = command.to_vec();
                    args.extend([s(&model), s(input)]);
                    if stream {
                        args.push("--stream");
                    }
                    let r = run(&args);
                    assert_eq!(r.code, 0, "{}", r.stderr);
                    r.stdout
                })
                .collect();
            assert_eq!(outputs[0], outputs[1], "{command:?} {input:?}");
            assert!(outputs[0].lines().count() >= 1);
        }
    }
}

#[test]
fn data_larger_than_half_the_budget_is_streamed_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Vec<f64>> = (0..400_000)
        .map(|i| {
            vec![
                (i % 3) as f64 * 5.0 + (i % 17) as f64 * 0.1,
                (i % 11) as f64,
            ]
        })
        .collect();
    let npy = dir.path().join("rows.npy");
    write_npy(&npy, &rows);
    // 6.4 MB as numbers: a 10 MB budget streams it (the streamed fit needs
    // about 7 MB, most of it per-task scratch), 100 MB does not.
    for (budget, streamed) in [("10M", true), ("100M", false)] {
        let r = run(&["--max-memory", budget, "fit", s(&npy), "-k", "2", "--json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(json_of(&r)["streamed"], streamed, "{budget}");
        assert_eq!(
            r.stderr.contains("streamed from disk"),
            streamed,
            "{}",
            r.stderr
        );
    }
}

#[test]
fn bad_streamed_files_exit_2_naming_the_row_or_the_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<Vec<f64>> = (0..300).map(|i| vec![i as f64, (i % 7) as f64]).collect();
    rows[217][1] = f64::NAN;
    let bad = dir.path().join("nan.npy");
    write_npy(&bad, &rows);
    let r = run(&["fit", s(&bad), "-k", "2", "--stream"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("row 217, column 1"), "{}", r.stderr);
    let bytes = fs::read(&bad).unwrap();
    let short = dir.path().join("short.npy");
    fs::write(&short, &bytes[..bytes.len() - 8]).unwrap();
    let r = run(&["fit", s(&short), "-k", "2", "--stream"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("short.npy") && r.stderr.contains("truncated"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

/// Runs `args` with and without `--stream` and returns both stdouts, after
/// checking that both succeeded.
fn with_and_without_stream(args: &[&str]) -> [String; 2] {
    [false, true].map(|stream| {
        let mut a = args.to_vec();
        if stream {
            a.push("--stream");
        }
        let r = run(&a);
        assert_eq!(r.code, 0, "{a:?}: {}", r.stderr);
        r.stdout
    })
}

/// `anomalies --stream` scores the rows into a temporary file and finds the
/// contamination quantile by passes over it: the table, the JSON and the
/// saved threshold are the in-memory command's, byte for byte, with a fit
/// (-k) or a model, with integer weights or none.
#[test]
fn streamed_anomalies_equal_anomalies_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (npy, csv) = iris_files(dir.path());
    let weights: Vec<Vec<f64>> = (0..150).map(|i| vec![(i % 4) as f64]).collect();
    let wnpy = dir.path().join("w.npy");
    write_npy(&wnpy, &weights);
    let model = dir.path().join("m.json");
    fit(&["fit", s(&csv), "-k", "3", "-q", "--json", "-o", s(&model)]);
    let cases: Vec<Vec<&str>> = vec![
        vec!["-k", "3", "--contamination", "0.05", "--seed", "2"],
        vec!["-k", "2", "--covariance", "diag", "--contamination", "0.1"],
        vec!["--model", s(&model), "--contamination", "0.07"],
        vec!["--model", s(&model), "--threshold", "-3.5"],
        vec![
            "--model",
            s(&model),
            "--contamination",
            "0.2",
            "--weights",
            s(&wnpy),
        ],
        vec!["-k", "3", "--contamination", "0.05", "--weights", s(&wnpy)],
    ];
    for input in [&npy, &csv] {
        for case in &cases {
            for json in [false, true] {
                let saved = dir.path().join("saved.json");
                let mut args = vec!["anomalies", s(input), "-q", "--save-model", s(&saved)];
                args.extend(case);
                if json {
                    args.push("--json");
                }
                let [memory, streamed] = with_and_without_stream(&args);
                assert_eq!(memory, streamed, "{args:?}");
                if json {
                    let summary: serde_json::Value = serde_json::from_str(&memory).unwrap();
                    let n = summary["n_flagged"].as_u64().unwrap();
                    assert!(n > 0 && n < 150, "{args:?}: {summary}");
                    assert_eq!(summary["flagged"].as_array().unwrap().len() as u64, n);
                } else {
                    assert_eq!(memory.lines().count(), 151, "{args:?}");
                }
            }
        }
    }
}

/// Iris's four features as a 4-sequence series with a lengths file.
fn series(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (npy, _) = iris_files(dir);
    let lengths = dir.join("lengths.txt");
    fs::write(&lengths, "40\n1\n60\n49\n").unwrap();
    (npy, lengths)
}

/// `hmm fit --stream` reads each sequence when a pass reaches it: from the
/// same seed it is the in-memory fit bit for bit (the start's sample holds
/// every row), for every emission, with and without sequence weights.
#[test]
fn streamed_hmm_fits_equal_fits_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (npy, lengths) = series(dir.path());
    let symbols = data("faithful_waiting_symbols.csv");
    let sym_lengths = dir.path().join("sym_lengths.txt");
    fs::write(&sym_lengths, "100\n72\n100\n").unwrap();
    let seq_weights = dir.path().join("sw.csv");
    fs::write(&seq_weights, "w\n1\n0\n2\n3\n").unwrap();
    let l = s(&lengths);
    let cases: Vec<Vec<&str>> = vec![
        vec![s(&npy), "--states", "3", "--lengths", l],
        vec![
            s(&npy),
            "--states",
            "2",
            "--covariance",
            "diag",
            "--lengths",
            l,
        ],
        vec![s(&npy), "--states", "2", "--covariance", "tied"],
        vec![
            s(&npy),
            "--states",
            "2",
            "--covariance",
            "spherical",
            "--lengths",
            l,
            "--weights",
            s(&seq_weights),
        ],
        vec![
            s(&npy),
            "--states",
            "2",
            "--emission",
            "gmm",
            "--n-mix",
            "2",
            "--covariance",
            "diag",
            "--lengths",
            l,
        ],
        vec![
            s(&symbols),
            "--states",
            "2",
            "--emission",
            "categorical",
            "--lengths",
            s(&sym_lengths),
        ],
    ];
    for case in cases {
        let mut results = Vec::new();
        for stream in [false, true] {
            let out = dir.path().join(format!("h{stream}.json"));
            let mut args = vec![
                "hmm",
                "fit",
                "--n-init",
                "2",
                "--seed",
                "3",
                "--json",
                "-q",
                "-o",
                s(&out),
            ];
            args.extend(&case);
            if stream {
                args.push("--stream");
            }
            let summary = fit(&args);
            assert_eq!(summary["streamed"], stream, "{args:?}");
            results.push((
                model_of(&out),
                summary["log_likelihood"].clone(),
                summary["n_iter"].clone(),
            ));
        }
        assert_eq!(results[0], results[1], "{case:?}");
    }
}

/// `hmm decode` and `hmm score` with `--stream` read a batch of whole
/// sequences at a time: the same bytes as in memory.
#[test]
fn streamed_hmm_decode_and_score_equal_them_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (npy, lengths) = series(dir.path());
    let model = dir.path().join("h.json");
    fit(&[
        "hmm",
        "fit",
        s(&npy),
        "--states",
        "3",
        "--lengths",
        s(&lengths),
        "-q",
        "--json",
        "-o",
        s(&model),
    ]);
    for with_lengths in [false, true] {
        for command in [
            &["hmm", "decode"][..],
            &["hmm", "decode", "--algorithm", "posterior"],
            &["hmm", "decode", "--filter"],
            &["hmm", "score", "--json"],
            &["hmm", "score"],
        ] {
            let mut args = command.to_vec();
            args.extend([s(&model), s(&npy)]);
            if with_lengths {
                args.extend(["--lengths", s(&lengths)]);
            }
            let [memory, streamed] = with_and_without_stream(&args);
            assert_eq!(memory, streamed, "{args:?}");
            assert!(!memory.is_empty());
        }
    }
    // A lengths file that does not add up names itself, exit 2.
    let bad = dir.path().join("bad.txt");
    fs::write(&bad, "40\n1\n").unwrap();
    let r = run(&[
        "hmm",
        "decode",
        s(&model),
        s(&npy),
        "--lengths",
        s(&bad),
        "--stream",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("bad.txt") && r.stderr.contains("sum to 41"),
        "{}",
        r.stderr
    );
}
