//! What each library fuzz target runs on one input, and the properties it
//! checks. The fuzz targets (`fuzz_targets/*.rs`) and the ordinary test
//! `crates/emkit/tests/fuzz_regressions.rs` include this same file, so a
//! committed crashing input replays through exactly the code that crashed.
//!
//! Each function returns `Ok(())` or the error the reader gave (never a panic
//! for a user's bytes) and panics only when a property the readers promise
//! does not hold.

use emkit::hmm::{AnyHmm, Sequences};
use emkit::io::{read_csv_with, read_lengths, read_npy, CsvOptions, HmmFile, MixtureFile, Table};
use emkit::{DataRef, Error};

/// Every error message is one line.
fn one_line(e: &Error) {
    let shown = e.to_string();
    assert!(
        !shown.contains(['\n', '\r']),
        "a message of more than one line: {shown:?}"
    );
}

/// A table the readers give back: a name per column, at least one row, all values finite.
fn check_table(t: &Table) {
    let d = &t.data;
    assert!(d.n_rows() > 0 && d.n_cols() > 0);
    assert_eq!(t.names.len(), d.n_cols());
    assert_eq!(d.values().len(), d.n_rows() * d.n_cols());
    assert!(d.values().iter().all(|v| v.is_finite()));
}

/// Names a selection may draw on: header names, `.npy`-style names, odd ones.
const NAMES: [&str; 8] = ["a", "b", "x0", "x1", "x2", "1", "", "a b"];

/// `read_csv_with` on arbitrary bytes and options.
///
/// Byte 0: bit 0 off means a header; bits 1-3 pick the delimiter (`,` `;` tab
/// space `|`, or byte 1 itself). Byte 1: its low 3 bits are how many columns to
/// select (0: all), each named by one of the next bytes. The rest is the file.
pub fn csv(data: &[u8]) -> Result<(), Error> {
    let [flags, pick, rest @ ..] = data else {
        return Ok(());
    };
    let delimiter = match (flags >> 1) & 7 {
        0 => b',',
        1 => b';',
        2 => b'\t',
        3 => b' ',
        4 => b'|',
        _ => *pick,
    };
    let n_selected = usize::from(pick & 7);
    let (names, file) = rest.split_at(n_selected.min(rest.len()));
    let columns: Vec<String> = names
        .iter()
        .map(|&b| NAMES[usize::from(b) % NAMES.len()].to_string())
        .collect();
    let options = CsvOptions {
        has_header: flags & 1 == 0,
        delimiter,
    };
    let selection = (n_selected > 0).then_some(&columns[..]);
    match read_csv_with(file, selection, &options) {
        Ok(t) => {
            check_table(&t);
            if let Some(names) = selection {
                assert_eq!(t.names, names);
            }
            Ok(())
        }
        Err(e) => {
            one_line(&e);
            Err(e)
        }
    }
}

/// `read_npy` on arbitrary bytes.
pub fn npy(data: &[u8]) -> Result<(), Error> {
    match read_npy(data) {
        Ok(t) => {
            check_table(&t);
            Ok(())
        }
        Err(e) => {
            one_line(&e);
            Err(e)
        }
    }
}

/// `read_lengths` on arbitrary bytes.
pub fn lengths(data: &[u8]) -> Result<(), Error> {
    match read_lengths(data) {
        Ok(l) => {
            assert!(!l.is_empty() && l.iter().all(|&n| n > 0));
            Ok(())
        }
        Err(e) => {
            one_line(&e);
            Err(e)
        }
    }
}

/// A few rows of `d` features around the origin and far from it.
fn rows(d: usize) -> Vec<f64> {
    let pattern = [0.0, 1.0, -2.5, 1e3, 0.125];
    (0..4 * d).map(|i| pattern[i % pattern.len()]).collect()
}

/// `MixtureFile::from_json_str`, then scoring and predicting a tiny data set
/// with the model; a model that loads saves and loads again to the same
/// model, with bit-identical scores.
pub fn model_file(data: &[u8]) -> Result<(), Error> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let file = match MixtureFile::from_json_str(text) {
        Ok(f) => f,
        Err(e) => {
            one_line(&e);
            return Err(e);
        }
    };
    let m = &file.model;
    let d = m.n_features();
    let x = rows(d);
    let x = DataRef::new(&x, 4, d).expect("4 x d values");
    let scores = m
        .score_samples(x)
        .expect("a loaded model scores data of its width");
    assert_eq!(scores.len(), 4);
    assert!(scores.iter().all(|s| !s.is_nan()), "NaN score: {scores:?}");
    let labels = m.predict(x).expect("a loaded model predicts");
    assert!(labels.iter().all(|&j| j < m.n_components()));
    let again = MixtureFile::from_json_str(&file.to_json_string()).expect("a saved model loads");
    assert_eq!(again, file);
    let rescored = again.model.score_samples(x).expect("scores");
    assert!(scores
        .iter()
        .zip(&rescored)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    Ok(())
}

/// `HmmFile::from_json_str`, then scoring and decoding a short sequence; a
/// model that loads saves and loads again to the same model.
pub fn hmm_model_file(data: &[u8]) -> Result<(), Error> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let file = match HmmFile::from_json_str(text) {
        Ok(f) => f,
        Err(e) => {
            one_line(&e);
            return Err(e);
        }
    };
    let h = &file.model;
    let d = h.n_features();
    let x = match h {
        AnyHmm::Categorical(c) => {
            let m = c.emission().n_symbols();
            (0..5).map(|t| (t % m) as f64).collect()
        }
        _ => rows(d),
    };
    let n = x.len() / d;
    let x = DataRef::new(&x, n, d).expect("n x d values");
    let seqs = Sequences::one(x);
    let ll = h
        .score(&seqs)
        .expect("a loaded model scores a sequence it can emit");
    assert!(!ll.is_nan(), "NaN log-likelihood");
    let (_, path) = h.decode(&seqs).expect("a loaded model decodes");
    assert_eq!(path.len(), n);
    assert!(path.iter().all(|&s| s < h.n_states()));
    let again = HmmFile::from_json_str(&file.to_json_string()).expect("a saved model loads");
    assert_eq!(again, file);
    Ok(())
}
