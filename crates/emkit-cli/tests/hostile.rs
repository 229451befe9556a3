//! Hostile input: the real binary, run on every kind of bad input a user can
//! give it, across every subcommand.
//!
//! Each case asserts the exit code, one short line on stderr that names the
//! file, row, column or option at fault and what to do (the `says` needles),
//! no panic, nothing on stdout, and — the data-loss check — that the folder
//! holds exactly the same files with exactly the same bytes afterwards: no
//! output, no temporary, no input touched.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

mod common;

use common::{data, emkit};

/// The folder every case runs in, with its input files.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let copy = |from: &str, to: &str| fs::copy(data(from), d.join(to)).unwrap();
        copy("iris.csv", "x.csv");
        copy("faithful_std.csv", "obs.csv");
        copy("faithful_waiting_symbols.csv", "sym.csv");
        copy("chelsea.png", "img.png");
        let f = Fixture { dir };
        let ok = |args: &[&str]| {
            let out = f.command(args).output().unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
        };
        ok(&["fit", "x.csv", "-k", "2", "-o", "m.json", "-q"]);
        ok(&[
            "hmm", "fit", "obs.csv", "--states", "2", "-o", "hm.json", "-q",
        ]);
        ok(&[
            "hmm",
            "fit",
            "sym.csv",
            "--states",
            "2",
            "--emission",
            "categorical",
            "-o",
            "cm.json",
            "-q",
        ]);
        // A JPEG of our own making, then cut short.
        ok(&["segment", "img.png", "-k", "2", "-o", "seg.jpg", "-q"]);
        let jpeg = fs::read(f.path("seg.jpg")).unwrap();
        f.write("cut.jpg", &jpeg[..jpeg.len() * 2 / 3]);
        let png = fs::read(f.path("img.png")).unwrap();
        f.write("cut.png", &png[..png.len() / 2]);
        f.write("lengths.txt", b"136\n136\n");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("x.csv", f.path("link.csv")).unwrap();
            fs::hard_link(f.path("x.csv"), f.path("hard.csv")).unwrap();
        }
        fs::create_dir(f.path("folder")).unwrap();
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        fs::write(self.path(name), bytes).unwrap();
    }

    fn command(&self, args: &[&str]) -> assert_cmd::Command {
        let mut c = emkit();
        c.current_dir(self.dir.path()).args(args);
        c
    }

    /// Every file below the folder (hidden ones too) and its bytes.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in fs::read_dir(dir).unwrap().flatten() {
                let p = entry.path();
                let meta = fs::symlink_metadata(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                if meta.is_dir() {
                    walk(&p, root, out);
                } else if meta.file_type().is_symlink() {
                    let target = fs::read_link(&p).unwrap();
                    out.insert(rel, target.to_string_lossy().as_bytes().to_vec());
                } else {
                    out.insert(rel, fs::read(&p).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out
    }
}

/// One bad invocation and what it must answer.
struct Case {
    args: Vec<String>,
    stdin: Vec<u8>,
    code: i32,
    /// Texts the one stderr line must contain (what is wrong, where, the fix).
    says: Vec<&'static str>,
}

fn case(args: &str, code: i32, says: &[&'static str]) -> Case {
    Case {
        args: args.split_whitespace().map(String::from).collect(),
        stdin: Vec::new(),
        code,
        says: says.to_vec(),
    }
}

/// A case whose arguments contain spaces or empty strings.
fn case_args(args: &[&str], code: i32, says: &[&'static str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: Vec::new(),
        code,
        says: says.to_vec(),
    }
}

fn with_stdin(mut c: Case, stdin: &[u8]) -> Case {
    c.stdin = stdin.to_vec();
    c
}

/// A `.npy` file (version 1.0) with header `dict` and `body` bytes.
fn npy(dict: &str, body: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(body);
    out
}

fn bad_files(f: &Fixture) {
    f.write("numbers.csv", b"1,2\n3,4\n5,6\n");
    f.write("text.csv", b"a,b\n1,2\n3,abc\n");
    f.write("ragged.csv", b"a,b\n1,2\n3\n");
    f.write("empty.csv", b"");
    f.write("header.csv", b"a,b\n");
    f.write("huge.csv", b"a,b\n1,2\n3,1e308\n5,6\n");
    f.write("tab.tsv", b"a\tb\n1\t2\n3\t4\n");
    f.write("semi.csv", b"a;b\n1;2\n3;4\n");
    f.write("latin1.csv", b"caf\xe9,b\n1,2\n3,4\n");
    f.write(
        "utf16.csv",
        b"\xff\xfea\x00,\x00b\x00\n\x001\x00,\x002\x00\n\x00",
    );
    f.write(
        "data.csv.gz",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x4b\xd4\x49\xe2\x32\xd4\x31\xe2\x02\x00",
    );
    f.write(
        "sheet.xlsx",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
    );
    f.write("nul.csv", b"a,b\n1,\x002\n");
    let floats: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    f.write(
        "arr.npy",
        &npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
            &floats,
        ),
    );
    f.write(
        "rec.npy",
        &npy(
            "{'descr': [('a', '<f8'), ('b', '<f8')], 'fortran_order': False, 'shape': (2,), }",
            &floats,
        ),
    );
    f.write(
        "bomb.npy",
        &npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 1000000), }",
            &floats,
        ),
    );
    f.write("neg.txt", b"136\n-5\n");
    f.write("frac.txt", b"136\n2.5\n");
    f.write("short.txt", b"100\n100\n");
    f.write("words.txt", b"136\nabc\n");
    f.write("gif.png", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;");
    f.write("notimage.png", b"this is not an image\n");
    f.write("empty.png", b"");
    f.write("corrupt.json", b"{not json");
    f.write(
        "v9.json",
        br#"{"format": "emkit.gaussian_mixture", "version": 9}"#,
    );
    // Some of the model's columns, not all.
    f.write("part.csv", b"sepal_length_cm,sepal_width_cm,x,y\n1,2,3,4\n");
    // A 30 000-column table: a full covariance needs d² = 9e8 values per component.
    let wide: String = (0..30_000)
        .map(|j| format!("c{j}"))
        .collect::<Vec<_>>()
        .join(",");
    let row: String = (0..30_000)
        .map(|j| ((j % 7) as f64 * 0.5).to_string())
        .collect::<Vec<_>>()
        .join(",");
    f.write(
        "wide.csv",
        format!("{wide}\n{row}\n{row}\n{row}\n").as_bytes(),
    );
    // A model file with a start vector that does not sum to one.
    let mut hmm: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(f.path("hm.json")).unwrap()).unwrap();
    hmm["start"] = serde_json::json!([0.7, 0.7]);
    f.write("badstart.json", hmm.to_string().as_bytes());
    // A full-covariance model with 2 components, for warm starts.
    f.write("tiny.csv", b"a,b\n0,0\n1,0.5\n4,3\n5,2\n");
}

fn cases() -> Vec<Case> {
    vec![
        // Data loss: an output on an input, or on another output.
        case(
            "fit x.csv -k 2 -o x.csv",
            2,
            &["-o x.csv", "is the input", "another output"],
        ),
        case(
            "fit x.csv -k 2 -o link.csv",
            2,
            &["link.csv", "is the input x.csv"],
        ),
        case(
            "fit x.csv -k 2 -o hard.csv",
            2,
            &["hard.csv", "is the input x.csv"],
        ),
        case(
            "fit hard.csv -k 2 --trace x.csv",
            2,
            &["--trace x.csv", "is the input"],
        ),
        case(
            "fit x.csv -k 2 --init-model m.json -o m.json",
            2,
            &["m.json", "is the input"],
        ),
        case(
            "fit x.csv -k 2 -o z.json --trace z.json",
            2,
            &["-o z.json", "--trace z.json", "own path"],
        ),
        case(
            "fit x.csv -k 2 --trace z.png --plot z.png",
            2,
            &["--trace z.png", "--plot z.png"],
        ),
        case(
            "fit x.csv -k 2 --json -o /dev/stdout",
            2,
            &["--json", "standard output"],
        ),
        case("fit x.csv -k 2 -o folder", 2, &["folder", "is a folder"]),
        case(
            "fit x.csv -k 2 -o nodir/m.json",
            2,
            &["nodir", "does not exist"],
        ),
        case(
            "sample m.json -n 3 -o m.json",
            2,
            &["-o m.json", "is the input"],
        ),
        case(
            "predict m.json x.csv -o x.csv",
            2,
            &["x.csv", "is the input"],
        ),
        case(
            "predict m.json x.csv -o m.json",
            2,
            &["m.json", "is the input"],
        ),
        case(
            "score m.json x.csv --per-sample -o link.csv",
            2,
            &["link.csv", "is the input"],
        ),
        case(
            "select x.csv --k 1..2 -o x.csv",
            2,
            &["x.csv", "is the input"],
        ),
        case(
            "select x.csv --k 1..2 -o s.json --plot s.json",
            2,
            &["s.json", "own path"],
        ),
        case(
            "anomalies x.csv -k 2 --contamination 0.1 -o x.csv",
            2,
            &["x.csv", "is the input"],
        ),
        case(
            "anomalies x.csv --model m.json --save-model m.json",
            2,
            &["m.json", "is the input"],
        ),
        case(
            "segment img.png -k 2 -o img.png",
            2,
            &["img.png", "is the input"],
        ),
        case(
            "segment img.png -k 2 -o a.png --labels a.png",
            2,
            &["a.png", "own path"],
        ),
        case(
            "hmm fit obs.csv --states 2 -o obs.csv",
            2,
            &["obs.csv", "is the input"],
        ),
        case(
            "hmm fit obs.csv --states 2 --lengths lengths.txt -o lengths.txt",
            2,
            &["lengths.txt", "is the input"],
        ),
        case(
            "hmm decode hm.json obs.csv -o hm.json",
            2,
            &["hm.json", "is the input"],
        ),
        case(
            "hmm sample hm.json -n 5 -o hm.json",
            2,
            &["hm.json", "is the input"],
        ),
        // Sizes that would exhaust memory or overflow.
        case(
            "select x.csv --k 1..18446744073709551615",
            2,
            &["-k", "at most 10000", "shorter range"],
        ),
        case(
            "sample m.json -n 18446744073709551615",
            2,
            &["-n", "memory", "fewer samples", "--max-memory"],
        ),
        case(
            "sample m.json -n 1e9 --max-memory 1G",
            2,
            &["-n 1000000000", "40 GB", "1.0 GB"],
        ),
        case("sample m.json -n 1e20", 2, &["--n-samples", "too large"]),
        case("sample m.json -n 0", 2, &["--n-samples", "at least 1"]),
        case("sample m.json -n -5", 2, &["--n-samples", "negative"]),
        case(
            "hmm sample hm.json -n 18446744073709551615",
            2,
            &["-n", "memory"],
        ),
        case(
            "fit x.csv -k 2 --n-init 1000000000000",
            2,
            &["--n-init", "between 1 and 100000"],
        ),
        case(
            "fit x.csv -k 2 --max-iter 1e9",
            2,
            &["--max-iter", "between 1 and 100000000"],
        ),
        case(
            "fit x.csv -k 18446744073709551615",
            2,
            &["more than the number of samples", "fewer components"],
        ),
        case(
            "fit wide.csv -k 2 --max-memory 8G",
            2,
            &["wide.csv", "30000 features", "diag", "--max-memory"],
        ),
        case(
            "select wide.csv --k 1..2 --max-memory 8G",
            2,
            &["wide.csv", "memory", "--max-memory"],
        ),
        case(
            "hmm fit sym.csv --states 2 --emission categorical --n-symbols 1e11",
            2,
            &["sym.csv", "memory", "symbols"],
        ),
        case(
            "hmm fit obs.csv --states 100000",
            2,
            &["obs.csv", "100000", "more than the number of samples"],
        ),
        case(
            "fit x.csv -k 2 --max-memory lots",
            2,
            &["--max-memory", "not a size"],
        ),
        case(
            "fit huge.csv -k 1",
            2,
            &["huge.csv", "column \"b\"", "1e308", "rescale"],
        ),
        case(
            "hmm fit huge.csv --states 1",
            2,
            &["huge.csv", "column \"b\"", "rescale"],
        ),
        case("fit bomb.npy -k 1", 2, &["bomb.npy"]),
        // Silent wrong results made loud.
        case(
            "fit numbers.csv -k 1",
            2,
            &["numbers.csv", "line 1", "--no-header"],
        ),
        case(
            "score m.json part.csv",
            2,
            &["part.csv", "petal_length_cm", "--columns"],
        ),
        case(
            "fit x.csv -k 2 --covariance diag --init-model m.json",
            2,
            &["--covariance diag", "--init-model m.json", "full"],
        ),
        case(
            "fit x.csv -k 3 --init-model m.json",
            2,
            &["-k 3", "2-component"],
        ),
        case(
            "fit x.csv -k 2 --init-model m.json --n-init 5",
            2,
            &["--init-model", "--n-init"],
        ),
        case_args(
            &["hmm", "fit", "obs.csv", "--states", "2", "--learn", ""],
            2,
            &["--learn", "learns nothing"],
        ),
        case(
            "hmm fit sym.csv --states 2 --emission categorical --learn c",
            2,
            &["--learn", "no covariances"],
        ),
        case(
            "hmm fit sym.csv --states 2 --emission categorical --covariance diag",
            2,
            &["--covariance", "categorical", "drop it"],
        ),
        case(
            "hmm fit obs.csv --states 2 --n-mix 2",
            2,
            &["--n-mix", "gmm", "drop it"],
        ),
        case(
            "hmm fit obs.csv --states 2 --n-symbols 3",
            2,
            &["--n-symbols", "categorical"],
        ),
        case(
            "hmm fit obs.csv --states 3 --init-model hm.json",
            2,
            &["--states 3", "2-state"],
        ),
        case(
            "hmm fit obs.csv --states 2 --covariance diag --init-model hm.json",
            2,
            &["--covariance diag", "hm.json"],
        ),
        case(
            "select tiny.csv --k 5..6 --plot none.png",
            1,
            &["every fit of the grid failed"],
        ),
        // Messages that say what the file looks like.
        case("fit data.csv.gz -k 1", 2, &["data.csv.gz", "gzip"]),
        case("fit sheet.xlsx -k 1", 2, &["sheet.xlsx", "zip"]),
        case("fit latin1.csv -k 1", 2, &["latin1.csv", "Latin-1"]),
        case("fit utf16.csv -k 1", 2, &["utf16.csv", "UTF-16"]),
        case("fit nul.csv -k 1", 2, &["nul.csv", "binary"]),
        with_stdin(
            case("fit - -k 1", 2, &["<stdin>", ".npy"]),
            &npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                &[0; 32],
            ),
        ),
        case(
            "fit rec.npy -k 1",
            2,
            &["rec.npy", "structured", "structured_to_unstructured"],
        ),
        case("fit tab.tsv -k 1", 2, &["tab.tsv", "--delimiter tab"]),
        case("fit semi.csv -k 1", 2, &["semi.csv", "--delimiter"]),
        case(
            "hmm score badstart.json obs.csv",
            2,
            &["badstart.json", "start"],
        ),
        case(
            "hmm fit obs.csv --states 2 --lengths neg.txt",
            2,
            &["neg.txt", "line 2", "negative"],
        ),
        case(
            "hmm fit obs.csv --states 2 --lengths frac.txt",
            2,
            &["frac.txt", "line 2", "whole number"],
        ),
        case(
            "hmm fit obs.csv --states 2 --lengths words.txt",
            2,
            &["words.txt", "line 2", "\"abc\""],
        ),
        case(
            "hmm decode hm.json obs.csv --lengths short.txt",
            2,
            &["short.txt", "sum to 200", "272 rows"],
        ),
        case(
            "hmm fit obs.csv --states 2 --lengths missing.txt",
            2,
            &["missing.txt", "no such"],
        ),
        // Images.
        case(
            "segment cut.jpg -k 2 -o out.png",
            2,
            &["cut.jpg", "truncated"],
        ),
        case("segment cut.png -k 2 -o out.png", 2, &["cut.png"]),
        case(
            "segment gif.png -k 2 -o out.png",
            2,
            &["gif.png", "PNG or JPEG"],
        ),
        case("segment notimage.png -k 2 -o out.png", 2, &["notimage.png"]),
        case("segment empty.png -k 2 -o out.png", 2, &["empty.png"]),
        case("segment img.png -k 2 --labels l.jpg", 2, &["l.jpg", ".png"]),
        case(
            "segment img.png -k 2 --max-pixels 0",
            2,
            &["--max-pixels", "at least 1"],
        ),
        // Ordinary bad input, every subcommand.
        case("fit missing.csv -k 2", 2, &["missing.csv", "no such file"]),
        case("fit text.csv -k 1", 2, &["text.csv", "line 3", "\"b\""]),
        case("fit ragged.csv -k 1", 2, &["ragged.csv", "line 3"]),
        case("fit empty.csv -k 1", 2, &["empty.csv", "empty"]),
        case("fit header.csv -k 1", 2, &["header.csv", "no data rows"]),
        case("fit x.csv -k 2 --columns nope", 2, &["x.csv", "nope"]),
        case("fit x.csv -k 2 --tol nan", 2, &["--tol", "finite"]),
        case("fit x.csv -k 2 --reg-covar -1", 2, &["--reg-covar", ">= 0"]),
        case(
            "fit x.csv -k 2 --covariance banana",
            2,
            &["banana", "full, tied, diag or spherical"],
        ),
        case(
            "predict m.json obs.csv",
            2,
            &["obs.csv", "4 features", "--columns"],
        ),
        case(
            "predict corrupt.json x.csv",
            2,
            &["corrupt.json", "not valid JSON"],
        ),
        case("score v9.json x.csv", 2, &["v9.json", "version"]),
        case("score hm.json x.csv", 2, &["hm.json", "format"]),
        case("hmm decode m.json obs.csv", 2, &["m.json", "format"]),
        case(
            "sample missing.json -n 3",
            2,
            &["missing.json", "no such model file"],
        ),
        case(
            "anomalies x.csv -k 2 --contamination 0.7",
            2,
            &["--contamination", "0.5"],
        ),
        case(
            "anomalies x.csv -k 2",
            2,
            &["--contamination", "--threshold"],
        ),
        case("plot m.json x.csv -o p.gif", 2, &["p.gif", ".png or .svg"]),
        case(
            "plot m.json x.csv -o p.png --columns nope,sepal_width_cm",
            2,
            &["nope"],
        ),
        case("select x.csv --k 0..3", 2, &["--k", "at least 1"]),
        case(
            "select x.csv --k 1..2 --covariance full,round",
            2,
            &["round"],
        ),
        case(
            "hmm fit sym.csv --states 2 --emission categorical --n-symbols 2",
            2,
            &["sym.csv", "row 4", "symbol 2", "0..1"],
        ),
        case("hmm sample hm.json -n 0", 2, &["--n-samples", "at least 1"]),
        case("frobnicate x.csv", 2, &["frobnicate"]),
    ]
}

#[test]
fn every_hostile_case_fails_cleanly_and_touches_nothing() {
    let f = Fixture::new();
    bad_files(&f);
    let cases = cases();
    assert!(cases.len() >= 60, "the issue asks for at least 60 cases");
    let mut failures = Vec::new();
    for c in &cases {
        let before = f.snapshot();
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let out = f
            .command(&args)
            .write_stdin(c.stdin.clone())
            .output()
            .unwrap();
        let after = f.snapshot();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut wrong = Vec::new();
        if out.status.code() != Some(c.code) {
            wrong.push(format!("exit {:?}, expected {}", out.status.code(), c.code));
        }
        if stderr.lines().count() != 1 || !stderr.starts_with("emkit: error: ") {
            wrong.push("not one `emkit: error:` line".to_string());
        }
        // One line a person reads: long messages hide the point.
        if stderr.len() > 400 {
            wrong.push(format!("{} characters", stderr.len()));
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            wrong.push("panicked".to_string());
        }
        for needle in &c.says {
            if !stderr.contains(needle) {
                wrong.push(format!("lacks {needle:?}"));
            }
        }
        if !out.stdout.is_empty() {
            wrong.push("wrote to stdout".to_string());
        }
        if before != after {
            let changed: Vec<_> = after
                .keys()
                .chain(before.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .collect();
            wrong.push(format!("changed files: {changed:?}"));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}\n    {}\n    {}",
                c.args.join(" "),
                stderr.trim(),
                wrong.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every command that writes to standard output ends quietly when the reader
/// has gone: status 0, or killed by SIGPIPE (141 in a shell), never a panic.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let f = Fixture::new();
    let commands: &[&[&str]] = &[
        &["fit", "x.csv", "-k", "2", "--json", "-q"],
        &["predict", "m.json", "x.csv", "--proba"],
        &["score", "m.json", "x.csv"],
        &["score", "m.json", "x.csv", "--json"],
        &["score", "m.json", "x.csv", "--per-sample"],
        &["sample", "m.json", "-n", "100000"],
        &["select", "x.csv", "--k", "1..2", "--json", "-q"],
        &[
            "anomalies",
            "x.csv",
            "-k",
            "2",
            "--contamination",
            "0.1",
            "-q",
        ],
        &[
            "anomalies",
            "x.csv",
            "-k",
            "2",
            "--contamination",
            "0.1",
            "--json",
            "-q",
        ],
        &[
            "segment",
            "img.png",
            "-k",
            "2",
            "--json",
            "-q",
            "--max-iter",
            "5",
        ],
        &["hmm", "fit", "obs.csv", "--states", "2", "--json", "-q"],
        &["hmm", "decode", "hm.json", "obs.csv"],
        &["hmm", "score", "hm.json", "obs.csv", "--json"],
        &["hmm", "sample", "hm.json", "-n", "100000"],
    ];
    for args in commands {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("emkit"))
            .current_dir(f.dir.path())
            .args(*args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        #[cfg(unix)]
        let quiet = {
            use std::os::unix::process::ExitStatusExt;
            out.status.code() == Some(0) || out.status.signal() == Some(libc_sigpipe())
        };
        #[cfg(not(unix))]
        let quiet = out.status.code() == Some(0);
        assert!(quiet, "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?} printed: {stderr}");
    }
}

/// SIGPIPE's number (13 on every Unix emkit runs on).
#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13
}

/// The fixes the messages name do work: `--no-header`, `--delimiter`,
/// `--covariance diag` for wide data, `--max-memory` to allow more, and
/// columns by position when a file has none of the model's names.
#[test]
fn the_fixes_the_messages_name_work() {
    let f = Fixture::new();
    bad_files(&f);
    let json = |args: &[&str]| -> serde_json::Value {
        let out = f.command(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let j = json(&[
        "fit",
        "numbers.csv",
        "-k",
        "1",
        "--no-header",
        "--json",
        "-q",
    ]);
    assert_eq!(j["feature_names"], serde_json::json!(["x0", "x1"]));
    assert_eq!(j["n_samples"], 3, "the first line is data");
    let j = json(&[
        "fit",
        "tab.tsv",
        "-k",
        "1",
        "--delimiter",
        "tab",
        "--json",
        "-q",
    ]);
    assert_eq!(j["feature_names"], serde_json::json!(["a", "b"]));
    let j = json(&[
        "fit",
        "semi.csv",
        "-k",
        "1",
        "--delimiter",
        ";",
        "--json",
        "-q",
    ]);
    assert_eq!(j["n_samples"], 2);
    let j = json(&[
        "fit",
        "wide.csv",
        "-k",
        "1",
        "--covariance",
        "diag",
        "--json",
        "-q",
    ]);
    assert_eq!(j["n_features"], 30_000);
    let out = f
        .command(&["sample", "m.json", "-n", "3", "--max-memory", "none"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // None of the model's names: the columns by position, said on stderr.
    let mut renamed = fs::read_to_string(f.path("x.csv")).unwrap();
    let first = renamed.find('\n').unwrap();
    renamed.replace_range(..first, "a,b,c,d");
    f.write("renamed.csv", renamed.as_bytes());
    let by_name = f.command(&["score", "m.json", "x.csv"]).output().unwrap();
    let by_position = f
        .command(&["score", "m.json", "renamed.csv"])
        .output()
        .unwrap();
    assert!(by_position.status.success(), "{by_position:?}");
    assert_eq!(by_name.stdout, by_position.stdout, "the same columns");
    let note = String::from_utf8_lossy(&by_position.stderr);
    assert!(note.contains("by position"), "{note}");
}
