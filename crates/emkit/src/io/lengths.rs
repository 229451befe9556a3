//! Reading a sequence-lengths file: one positive whole number per line.
//!
//! Blank lines are skipped; a first line that is a column name (letters and
//! `_` only, e.g. `length`) is skipped too. Every problem is an
//! [`Error::Table`] naming the 1-based line.

use std::io::Read;

use crate::error::{Error, Result};

/// At most this many characters of a bad line are quoted in a message.
const MAX_QUOTED_CHARS: usize = 40;

/// Reads sequence lengths from `reader` (see the module docs).
///
/// # Errors
///
/// [`Error::Table`] for a line that is not a positive whole number (zero,
/// negative, fractional, text, too large), for a file that is not UTF-8 text,
/// and for a file with no lengths; [`Error::Io`] when reading fails.
pub fn read_lengths<R: Read>(mut reader: R) -> Result<Vec<usize>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| Error::Table {
        line: line_of(&bytes, e.valid_up_to()),
        column: None,
        problem: "not UTF-8 text; a lengths file holds one whole number per line".into(),
    })?;
    let mut lengths = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        let cell = line.trim().trim_start_matches('\u{feff}').trim();
        if cell.is_empty() {
            continue;
        }
        let fail = |problem: String| Error::Table {
            line: line_no,
            column: None,
            problem,
        };
        let shown = quote(cell);
        match cell.parse::<usize>() {
            Ok(0) => {
                return Err(fail(
                    "a sequence length of 0; every sequence needs at least one row".into(),
                ))
            }
            Ok(l) => lengths.push(l),
            Err(_) if i == 0 && cell.chars().all(|c| c.is_alphabetic() || c == '_') => {}
            Err(_) => {
                let problem = match cell.parse::<f64>() {
                    Ok(v) if v < 0.0 => format!(
                        "{shown} is negative; a sequence length is a number of rows, at least 1"
                    ),
                    Ok(v) if v.is_finite() && v.fract() != 0.0 => format!(
                        "{shown} is not a whole number; a sequence length is a number of rows"
                    ),
                    Ok(v) if v.is_finite() && cell.bytes().all(|b| b.is_ascii_digit()) => {
                        format!("{shown} is too large for a sequence length")
                    }
                    Ok(_) => format!(
                        "{shown} is not written as a whole number of rows (e.g. 250, not 2.5e2)"
                    ),
                    Err(_) => {
                        format!("{shown} is not a whole number; give one sequence length per line")
                    }
                };
                return Err(fail(problem));
            }
        }
    }
    if lengths.is_empty() {
        return Err(Error::Table {
            line: 0,
            column: None,
            problem: "no lengths; give one sequence length per line".into(),
        });
    }
    Ok(lengths)
}

/// The 1-based line holding byte `at`.
fn line_of(bytes: &[u8], at: usize) -> u64 {
    bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// `text` in quotes, shortened when long.
fn quote(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{head:?}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &[u8]) -> (u64, String) {
        match read_lengths(text) {
            Err(Error::Table { line, problem, .. }) => (line, problem),
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn reads_lengths_with_header_blank_lines_and_crlf() {
        assert_eq!(read_lengths(&b"3\n4\n"[..]).unwrap(), [3, 4]);
        assert_eq!(
            read_lengths(&b"length\r\n3\r\n\r\n 4 \r\n"[..]).unwrap(),
            [3, 4]
        );
        assert_eq!(read_lengths(&b"\xEF\xBB\xBF5"[..]).unwrap(), [5]);
    }

    #[test]
    fn each_bad_line_is_named_with_what_is_wrong() {
        assert_eq!(problem(b"3\n0\n").0, 2);
        assert!(problem(b"3\n0\n").1.contains("length of 0"));
        assert!(
            problem(b"-5\n").1.contains("negative"),
            "{:?}",
            problem(b"-5")
        );
        assert!(problem(b"2.5\n").1.contains("not a whole number"));
        assert!(problem(b"3\nabc\n").1.contains("\"abc\""));
        assert!(problem(b"99999999999999999999999\n")
            .1
            .contains("too large"));
        assert!(problem(b"2e2\n").1.contains("250"));
        assert!(problem(b"").1.contains("no lengths"));
        assert!(problem(b"length\n").1.contains("no lengths"));
        let (line, p) = problem(b"1\n2\n\xff\n");
        assert_eq!(line, 3);
        assert!(p.contains("UTF-8"), "{p}");
    }

    proptest::proptest! {
        /// A length of any size: read when it is a positive `usize`, else an
        /// error on its line.
        #[test]
        fn any_length_reads_or_names_its_line(
            value in proptest::prop_oneof![
                proptest::strategy::Just(0u128),
                1u128..1000,
                proptest::strategy::Just(usize::MAX as u128),
                proptest::strategy::Just(usize::MAX as u128 + 1),
                proptest::prelude::any::<u128>(),
            ],
            before in 0usize..3,
        ) {
            let text = format!("{}{value}\n", "7\n".repeat(before));
            match read_lengths(text.as_bytes()) {
                Ok(l) => {
                    proptest::prop_assert!(value >= 1 && value <= usize::MAX as u128);
                    proptest::prop_assert_eq!(l.last().copied(), Some(value as usize));
                    proptest::prop_assert_eq!(l.len(), before + 1);
                }
                Err(Error::Table { line, .. }) => {
                    proptest::prop_assert!(value == 0 || value > usize::MAX as u128);
                    proptest::prop_assert_eq!(line, before as u64 + 1);
                }
                Err(other) => proptest::prop_assert!(false, "{other:?}"),
            }
        }
    }
}
