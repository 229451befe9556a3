//! `--weights FILE` and `--weight-column NAME` on fit, select, anomalies and
//! hmm fit: integer weights give the fit of the duplicated rows, bad weights
//! exit 2 naming the file, the weight and the fix.

use std::fmt::Write as _;
use std::fs;

mod common;

use common::{data, json_of, run, s};

/// Iris (150 rows, 4 features) as CSV text with a header, each row repeated
/// `counts[i]` times; and the counts themselves.
fn iris_rows() -> (String, Vec<String>) {
    let text = fs::read_to_string(data("iris.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    (header, lines.map(str::to_string).collect())
}

fn counts(n: usize) -> Vec<usize> {
    // A fixed, irregular pattern of 0..=3 copies.
    (0..n).map(|i| (i * 7 + i / 5) % 4).collect()
}

/// Relative agreement of two JSON numbers: the weighted and duplicated fits
/// sum the same terms in other orders (rounding of ~1e-15 per sum).
fn close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
    (a - b).abs() <= 1e-10 * b.abs().max(1.0)
}

#[test]
fn integer_weights_fit_what_the_duplicated_rows_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (header, rows) = iris_rows();
    let c = counts(rows.len());
    let mut dup = format!("{header}\n");
    let mut with_column = format!("{header},w\n");
    let mut weights = String::from("w\n");
    for (row, &n) in rows.iter().zip(&c) {
        for _ in 0..n {
            writeln!(dup, "{row}").unwrap();
        }
        writeln!(with_column, "{row},{n}").unwrap();
        writeln!(weights, "{n}").unwrap();
    }
    let paths = ["dup.csv", "col.csv", "w.csv", "start.json"].map(|f| dir.path().join(f));
    fs::write(&paths[0], dup).unwrap();
    fs::write(&paths[1], with_column).unwrap();
    fs::write(&paths[2], weights).unwrap();
    // One start for every fit: a short fit of the duplicated rows.
    let r = run(&[
        "fit",
        s(&paths[0]),
        "-k",
        "3",
        "--max-iter",
        "2",
        "-o",
        s(&paths[3]),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let iris = data("iris.csv");
    let common = [
        "-k",
        "3",
        "--init-model",
        s(&paths[3]),
        "--tol",
        "1e-10",
        "--json",
        "-q",
    ];
    let fit = |extra: &[&str]| {
        let mut args = vec!["fit"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&common);
        let r = run(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        json_of(&r)
    };
    let duplicated = fit(&[s(&paths[0])]);
    let by_file = fit(&[s(&iris), "--weights", s(&paths[2])]);
    let by_column = fit(&[s(&paths[1]), "--weight-column", "w"]);
    for j in [&by_file, &by_column] {
        for key in ["log_likelihood", "mean_log_likelihood", "bic", "aic"] {
            assert!(
                close(&j[key], &duplicated[key]),
                "{key}: {} vs {}",
                j[key],
                duplicated[key]
            );
        }
        assert_eq!(j["n_iter"], duplicated["n_iter"]);
        assert_eq!(j["total_weight"].as_f64(), duplicated["n_samples"].as_f64());
        assert_eq!(j["n_samples"], 150);
        assert_eq!(j["n_features"], 4, "the weight column is not a feature");
    }
    assert_eq!(by_column["feature_names"], duplicated["feature_names"]);
    assert!(by_file["weights"].as_str().unwrap().contains("--weights"));

    // select and anomalies take them too: the same BIC for the cell k = 3 full.
    let r = run(&[
        "select",
        s(&iris),
        "--weights",
        s(&paths[2]),
        "--k",
        "3..3",
        "--covariance",
        "full",
        "--json",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json_of(&r);
    assert_eq!(j["total_weight"].as_f64(), duplicated["n_samples"].as_f64());
    let r = run(&[
        "anomalies",
        s(&paths[1]),
        "--weight-column",
        "w",
        "-k",
        "2",
        "--contamination",
        "0.05",
        "--json",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn bad_weights_exit_2_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let iris = data("iris.csv");
    let write = |name: &str, body: String| {
        let p = dir.path().join(name);
        fs::write(&p, body).unwrap();
        p
    };
    let ones = |n: usize| format!("w\n{}", "1\n".repeat(n));
    let short = write("short.csv", ones(149));
    let negative = write("neg.csv", format!("w\n-1\n{}", "1\n".repeat(149)));
    let zeros = write("zero.csv", format!("w\n{}", "0\n".repeat(150)));
    let two = write("two.csv", format!("a,b\n{}", "1,1\n".repeat(150)));
    for (path, needles) in [
        (
            &short,
            vec!["short.csv", "one weight per row (150)", "got 149"],
        ),
        (
            &negative,
            vec!["neg.csv", "weight 0 (0-based) is -1", ">= 0"],
        ),
        (&zeros, vec!["zero.csv", "every weight is 0"]),
        (&two, vec!["two.csv", "one column", "--weight-column"]),
    ] {
        let r = run(&["fit", s(&iris), "-k", "2", "--weights", s(path), "-q"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        for n in needles {
            assert!(r.stderr.contains(n), "{:?} lacks {n:?}", r.stderr);
        }
    }
    let r = run(&["fit", s(&iris), "-k", "2", "--weight-column", "nope", "-q"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("\"nope\" is not a column"),
        "{}",
        r.stderr
    );
    // An output may not overwrite the weights file.
    let r = run(&[
        "fit",
        s(&iris),
        "-k",
        "2",
        "--weights",
        s(&short),
        "-o",
        s(&short),
        "-q",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(fs::read_to_string(&short).unwrap(), ones(149));
}

#[test]
fn hmm_sequence_weights_equal_repeated_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(data("faithful_std.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    // Three sequences; the first counts twice, the last not at all.
    let lengths = [100, 90, rows.len() - 190];
    let weights = [2, 1, 0];
    let mut repeated = format!("{header}\n");
    let mut rep_lengths = String::new();
    let mut start = 0;
    for (&l, &w) in lengths.iter().zip(&weights) {
        for _ in 0..w {
            for row in &rows[start..start + l] {
                writeln!(repeated, "{row}").unwrap();
            }
            writeln!(rep_lengths, "{l}").unwrap();
        }
        start += l;
    }
    let paths = [
        "rep.csv",
        "rep.lengths",
        "all.lengths",
        "w.csv",
        "start.json",
    ]
    .map(|f| dir.path().join(f));
    fs::write(&paths[0], repeated).unwrap();
    fs::write(&paths[1], rep_lengths).unwrap();
    fs::write(&paths[2], lengths.map(|l| format!("{l}\n")).concat()).unwrap();
    fs::write(
        &paths[3],
        format!("w\n{}", weights.map(|w| format!("{w}\n")).concat()),
    )
    .unwrap();
    let r = run(&[
        "hmm",
        "fit",
        s(&paths[0]),
        "--lengths",
        s(&paths[1]),
        "--states",
        "2",
        "--max-iter",
        "1",
        "-o",
        s(&paths[4]),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let fit = |extra: &[&str]| {
        let mut args = vec!["hmm", "fit"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "--states",
            "2",
            "--init-model",
            s(&paths[4]),
            "--tol",
            "1e-10",
            "--json",
            "-q",
        ]);
        let r = run(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        json_of(&r)
    };
    let faithful = data("faithful_std.csv");
    let a = fit(&[
        s(&faithful),
        "--lengths",
        s(&paths[2]),
        "--weights",
        s(&paths[3]),
    ]);
    let b = fit(&[s(&paths[0]), "--lengths", s(&paths[1])]);
    for key in ["log_likelihood", "mean_log_likelihood", "bic", "aic"] {
        assert!(close(&a[key], &b[key]), "{key}: {} vs {}", a[key], b[key]);
    }
    assert_eq!(a["n_iter"], b["n_iter"]);
    assert_eq!(a["total_weight"].as_f64(), b["n_samples"].as_f64());
    // A weights file of the wrong length names the sequences.
    let r = run(&[
        "hmm",
        "fit",
        s(&faithful),
        "--lengths",
        s(&paths[2]),
        "--weights",
        s(&paths[2]),
        "--states",
        "2",
        "-q",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}
