//! Parquet input on the command line: a Parquet file gives the outputs of
//! the same values in CSV, bit for bit, in memory and streamed; columns are
//! picked by name (by `--columns`, `--weight-column` and a model's feature
//! names); unreadable files exit 2 with one line naming the file and fix.

use std::fs;
use std::path::{Path, PathBuf};

mod common;

use common::{data, json_of, model_of, run, s};

/// A Parquet fixture written by pyarrow (crates/emkit/tests/parquet/make.py).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../emkit/tests/parquet")
        .join(name)
}

fn ok(args: &[&str]) -> common::Run {
    let r = run(args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    r
}

#[test]
fn parquet_fits_equal_csv_fits_in_memory_and_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let csv = data("iris.csv");
    let pq = fixture("iris.parquet");
    for kind in ["full", "diag"] {
        for columns in [None, Some("petal_width_cm,sepal_width_cm")] {
            let mut models = Vec::new();
            for (input, stream) in [(&csv, false), (&pq, false), (&pq, true)] {
                let out = dir.path().join("m.json");
                let mut args = vec![
                    "fit",
                    s(input),
                    "-k",
                    "3",
                    "--covariance",
                    kind,
                    "--n-init",
                    "2",
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
                let summary = json_of(&ok(&args));
                assert_eq!(summary["streamed"], stream);
                models.push(model_of(&out));
            }
            assert_eq!(models[0], models[1], "{kind} {columns:?}");
            assert_eq!(models[0], models[2], "{kind} {columns:?} streamed");
        }
    }
    // Weights from a column of the Parquet file.
    let mut models = Vec::new();
    for input in [&csv, &pq] {
        let out = dir.path().join("w.json");
        ok(&[
            "fit",
            s(input),
            "-k",
            "2",
            "--weight-column",
            "petal_width_cm",
            "-q",
            "-o",
            s(&out),
        ]);
        models.push(model_of(&out));
    }
    assert_eq!(models[0], models[1]);
}

#[test]
fn predict_and_score_on_parquet_pick_the_model_columns_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    // The model's features in another order than the file's.
    ok(&[
        "fit",
        s(&data("iris.csv")),
        "-k",
        "3",
        "--columns",
        "petal_width_cm,sepal_length_cm,petal_length_cm",
        "-q",
        "-o",
        s(&model),
    ]);
    for command in [&["predict", "--proba"][..], &["score", "--per-sample"]] {
        let mut outputs = Vec::new();
        for (input, stream) in [
            (data("iris.csv"), false),
            (fixture("iris.parquet"), false),
            (fixture("iris_v2_gzip.parquet"), true),
        ] {
            let mut args = command.to_vec();
            args.extend([s(&model), s(&input)]);
            if stream {
                args.push("--stream");
            }
            outputs.push(ok(&args).stdout);
        }
        assert_eq!(outputs[0], outputs[1], "{command:?}");
        assert_eq!(outputs[0], outputs[2], "{command:?} streamed");
        assert_eq!(outputs[0].lines().count(), 151, "{command:?}");
    }
}

#[test]
fn unreadable_parquet_exits_2_with_one_line_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.parquet");
    fs::write(&fake, "a,b\n1,2\n").unwrap();
    let cases: [(PathBuf, &[&str], &str); 6] = [
        (
            fixture("nulls.parquet"),
            &[],
            "row 5 (0-based), column \"b\" is null",
        ),
        (
            fixture("iris_brotli.parquet"),
            &[],
            "compressed with Brotli",
        ),
        (
            fixture("types_zstd.parquet"),
            &[],
            "\"label\" is a text column",
        ),
        (
            fixture("types_zstd.parquet"),
            &["--columns", "i8,when"],
            "\"when\" is a timestamp",
        ),
        (
            fixture("iris.parquet"),
            &["--columns", "petal"],
            "no column named \"petal\"",
        ),
        (fake, &[], "not a Parquet file"),
    ];
    for (input, extra, says) in &cases {
        for stream in [false, true] {
            let mut args = vec!["fit", s(input), "-k", "2"];
            args.extend(*extra);
            if stream {
                args.push("--stream");
            }
            let r = run(&args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
            assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
            let name = input.file_name().unwrap().to_str().unwrap();
            assert!(r.stderr.contains(name), "{args:?}: {}", r.stderr);
            assert_eq!(
                r.stderr.trim_end().lines().count(),
                1,
                "{args:?}: {}",
                r.stderr
            );
        }
    }
}
