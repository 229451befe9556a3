//! Reading numeric CSV tables.
//!
//! The first non-blank line is the header (column names); every later line is one row of
//! numbers. Fields are separated by commas, may be quoted, and have ASCII whitespace trimmed
//! around them. Blank lines are skipped wherever they occur. Lines may end in `\n` or `\r\n`.
//!
//! Every problem is reported as [`Error::Table`] with the 1-based line of the row at fault
//! (counting every line of the input, blank ones included) and, for a bad cell, the name of its
//! column. I/O errors while reading become [`Error::Io`], with the line reached in the message.

use std::collections::HashMap;
use std::io::{self, Read};

use super::data::Table;
use crate::data::Matrix;
use crate::error::{Error, Result};

/// Cell texts (compared case-insensitively) that spreadsheets and data tools write for a
/// missing value. `nan`, `inf` and their variants are caught by parsing instead.
const MISSING_TOKENS: &[&str] = &[
    "na", "n/a", "#n/a", "null", "none", "nil", "missing", "?", "-", ".",
];

/// At most this many header names are listed in a "no such column" message.
const MAX_LISTED_NAMES: usize = 20;

/// At most this many characters of a bad cell are quoted in a message.
const MAX_QUOTED_CHARS: usize = 40;

/// Reads a CSV table of numbers from `reader`.
///
/// The first non-blank line must be a header of column names. With `columns: None` every
/// column must be numeric and have a unique, non-empty name. With `columns: Some(names)` only
/// those columns are parsed, in the order given, and the other columns may hold anything
/// (text, empty names, repeated names).
///
/// Numbers are parsed with Rust's `f64` parser after trimming, so `1e-5`, `-.5` and `+3` are
/// accepted. Empty cells, `NA`, `nan`, `inf` and other missing or non-finite values are
/// rejected, since missing values are not supported yet.
///
/// The input is read in one streaming pass into a single buffer.
///
/// # Errors
///
/// [`Error::Table`] for an empty input, a header without data rows, bad or repeated column
/// names, an unknown or repeated selected column, a row with the wrong number of fields, or a
/// cell that is not a finite number; [`Error::Io`] when reading fails.
pub fn read_csv<R: Read>(reader: R, columns: Option<&[String]>) -> Result<Table> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        // Only `\n` ends a record, so that the parser's line count stays exact for `\r\n`
        // files; the `\r` left at the end of the last field is trimmed like other whitespace.
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(64 * 1024)
        .from_reader(Tracked::new(reader));
    let mut record = csv::ByteRecord::new();

    // Header: the first non-blank record.
    loop {
        if !next_record(&mut rdr, &mut record)? {
            return Err(Error::Table {
                line: 0,
                column: None,
                problem: "the file is empty; expected a header row of column names and at least \
                          one data row"
                    .into(),
            });
        }
        if !is_blank(&record) {
            break;
        }
    }
    let header_line = record_line(&rdr, &record);
    let header = read_header(&record, header_line, columns.is_none())?;
    let n_fields = header.len();
    let selected = match columns {
        None => (0..n_fields).collect(),
        Some(names) => select_columns(&header, names, header_line)?,
    };

    let mut values: Vec<f64> = Vec::new();
    let mut n_rows: usize = 0;
    while next_record(&mut rdr, &mut record)? {
        if record.len() != n_fields {
            if is_blank(&record) {
                continue;
            }
            return Err(Error::Table {
                line: record_line(&rdr, &record),
                column: None,
                problem: format!(
                    "this row has {} field{} but the header has {n_fields}; every row needs one \
                     value per column",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" },
                ),
            });
        }
        if n_fields == 1 && is_blank(&record) {
            continue;
        }
        for &j in &selected {
            match parse_cell(&record[j]) {
                Ok(v) => values.push(v),
                Err(problem) => {
                    return Err(Error::Table {
                        line: record_line(&rdr, &record),
                        column: Some(header[j].clone()),
                        problem,
                    })
                }
            }
        }
        n_rows += 1;
    }
    if n_rows == 0 {
        return Err(Error::Table {
            line: 0,
            column: None,
            problem: "the file has a header but no data rows; add at least one row of numbers"
                .into(),
        });
    }

    let names = selected.iter().map(|&j| header[j].clone()).collect();
    let data = Matrix::new(values, n_rows, selected.len())?;
    Ok(Table { names, data })
}

/// Reads the next record; `false` at the end of the input.
fn next_record<R: Read>(
    rdr: &mut csv::Reader<Tracked<R>>,
    record: &mut csv::ByteRecord,
) -> Result<bool> {
    rdr.read_byte_record(record).map_err(|err| {
        let line = rdr.position().line();
        if !err.is_io_error() {
            return Error::Table {
                line,
                column: None,
                problem: format!("{err}; check that the file is valid CSV"),
            };
        }
        match err.into_kind() {
            csv::ErrorKind::Io(e) => Error::Io(io::Error::new(
                e.kind(),
                format!("reading stopped at line {line}: {e}"),
            )),
            other => Error::Table {
                line,
                column: None,
                problem: format!("{other:?}; check that the file is valid CSV"),
            },
        }
    })
}

/// A record that came from a line holding only whitespace.
fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record[0].trim_ascii().is_empty()
}

/// The 1-based line on which `record` (just read) starts.
///
/// The csv reader stamps a record with the position before the blank lines it skipped, so
/// the line is worked out backwards from the position after the record: less the newlines
/// inside quoted fields, less the newline that ended the record (absent only when the input
/// ends without one).
fn record_line<R: Read>(rdr: &csv::Reader<Tracked<R>>, record: &csv::ByteRecord) -> u64 {
    let pos = rdr.position();
    let inner = rdr.get_ref();
    let inside = record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
    let ended_by_eof = inner.eof && pos.byte() == inner.total && inner.last != Some(b'\n');
    let terminator = u64::from(!ended_by_eof);
    pos.line().saturating_sub(inside + terminator).max(1)
}

/// Validates the header and gives back its names (trimmed, with a UTF-8 byte-order mark
/// removed from the first one).
///
/// `strict`: every name must be non-empty, valid UTF-8 and unique (all columns are used).
fn read_header(record: &csv::ByteRecord, line: u64, strict: bool) -> Result<Vec<String>> {
    let mut names = Vec::with_capacity(record.len());
    for (j, raw) in record.iter().enumerate() {
        let mut raw = raw.trim_ascii();
        if j == 0 {
            raw = raw
                .strip_prefix(b"\xEF\xBB\xBF")
                .unwrap_or(raw)
                .trim_ascii();
        }
        let name = match std::str::from_utf8(raw) {
            Ok(s) => s.to_owned(),
            Err(_) if strict => {
                return Err(Error::Table {
                    line,
                    column: Some((j + 1).to_string()),
                    problem: format!(
                        "the name of column number {} is not valid UTF-8; save the file as UTF-8",
                        j + 1
                    ),
                })
            }
            Err(_) => String::from_utf8_lossy(raw).into_owned(),
        };
        if strict && name.is_empty() {
            return Err(Error::Table {
                line,
                column: Some((j + 1).to_string()),
                problem: format!(
                    "column number {} has an empty name; give every column a name in the \
                     header row",
                    j + 1
                ),
            });
        }
        names.push(name);
    }
    if strict {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(names.len());
        for (j, name) in names.iter().enumerate() {
            if let Some(first) = seen.insert(name, j) {
                return Err(Error::Table {
                    line,
                    column: Some(name.clone()),
                    problem: format!(
                        "columns number {} and {} have the same name; give every column a \
                         unique name in the header row",
                        first + 1,
                        j + 1
                    ),
                });
            }
        }
    }
    Ok(names)
}

/// Maps the selected names to header positions, in the order given.
fn select_columns(header: &[String], names: &[String], header_line: u64) -> Result<Vec<usize>> {
    if names.is_empty() {
        return Err(Error::Table {
            line: 0,
            column: None,
            problem: "no columns were selected; name at least one column".into(),
        });
    }
    let mut positions: HashMap<&str, Vec<usize>> = HashMap::with_capacity(header.len());
    for (j, name) in header.iter().enumerate() {
        positions.entry(name.as_str()).or_default().push(j);
    }
    let mut selected = Vec::with_capacity(names.len());
    for (k, name) in names.iter().enumerate() {
        if names[..k].contains(name) {
            return Err(Error::Table {
                line: 0,
                column: Some(name.clone()),
                problem: "this column is selected twice; list each column once".into(),
            });
        }
        match positions.get(name.as_str()).map(Vec::as_slice) {
            Some([j]) if !name.is_empty() => selected.push(*j),
            Some(&[a, b, ..]) if !name.is_empty() => {
                return Err(Error::Table {
                    line: header_line,
                    column: Some(name.clone()),
                    problem: format!(
                        "columns number {} and {} both have this name; rename one of them so \
                         the selection is unambiguous",
                        a + 1,
                        b + 1
                    ),
                })
            }
            _ => {
                return Err(Error::Table {
                    line: header_line,
                    column: Some(name.clone()),
                    problem: format!("no such column; the header has: {}", list_names(header)),
                })
            }
        }
    }
    Ok(selected)
}

/// `a, b, c`, shortened for wide headers.
fn list_names(header: &[String]) -> String {
    let mut out = header
        .iter()
        .filter(|n| !n.is_empty())
        .take(MAX_LISTED_NAMES)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let named = header.iter().filter(|n| !n.is_empty()).count();
    if named > MAX_LISTED_NAMES {
        out.push_str(&format!(" and {} more", named - MAX_LISTED_NAMES));
    }
    out
}

/// Parses one cell; the error is the problem sentence.
fn parse_cell(raw: &[u8]) -> std::result::Result<f64, String> {
    let raw = raw.trim_ascii();
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(format!(
            "{} is not valid UTF-8 text; save the file as UTF-8",
            quote(&String::from_utf8_lossy(raw))
        ));
    };
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(missing(text)),
        Err(_)
            if text.is_empty() || MISSING_TOKENS.iter().any(|t| t.eq_ignore_ascii_case(text)) =>
        {
            Err(missing(text))
        }
        Err(_) => Err(format!(
            "{} is not a number; every selected column must be numeric (use --columns to pick \
             numeric columns)",
            quote(text)
        )),
    }
}

fn missing(text: &str) -> String {
    format!(
        "missing or non-finite value {}; missing values are not supported yet: remove or impute \
         that row",
        quote(text)
    )
}

/// The cell in double quotes, shortened when long.
fn quote(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        format!("{text:?}")
    } else {
        let short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{:?}...", short)
    }
}

/// A reader that remembers how many bytes it gave out, the last of them, and whether it
/// reached the end; [`record_line`] needs these to tell whether the input ended with a newline.
struct Tracked<R> {
    inner: R,
    total: u64,
    last: Option<u8>,
    eof: bool,
}

impl<R> Tracked<R> {
    fn new(inner: R) -> Self {
        Tracked {
            inner,
            total: 0,
            last: None,
            eof: false,
        }
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.total += n as u64;
            self.last = buf.get(n - 1).copied();
        } else if !buf.is_empty() {
            self.eof = true;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Table> {
        read_csv(text.as_bytes(), None)
    }

    fn read_cols(text: &str, cols: &[&str]) -> Result<Table> {
        let cols: Vec<String> = cols.iter().map(|s| s.to_string()).collect();
        read_csv(text.as_bytes(), Some(&cols))
    }

    fn table_err(result: Result<Table>) -> (u64, Option<String>, String, String) {
        match result {
            Err(e @ Error::Table { .. }) => {
                let shown = e.to_string();
                match e {
                    Error::Table {
                        line,
                        column,
                        problem,
                    } => (line, column, problem, shown),
                    _ => unreachable!(),
                }
            }
            other => panic!("expected Error::Table, got {other:?}"),
        }
    }

    #[test]
    fn reads_numbers() {
        let t = read("a,b,c\n1,2.5,-3\n1e-5, 2.5 ,+4\n-.5,7E2,0\n").unwrap();
        assert_eq!(t.names, ["a", "b", "c"]);
        assert_eq!(t.data.n_rows(), 3);
        assert_eq!(t.data.n_cols(), 3);
        assert_eq!(
            t.data.values(),
            &[1.0, 2.5, -3.0, 1e-5, 2.5, 4.0, -0.5, 700.0, 0.0]
        );
    }

    #[test]
    fn trims_header_and_accepts_quotes_crlf_bom_and_no_final_newline() {
        let t = read("\u{feff} x ,\"y\"\r\n\"1\", 2\r\n3,4").unwrap();
        assert_eq!(t.names, ["x", "y"]);
        assert_eq!(t.data.values(), &[1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn trailing_and_interior_blank_lines_are_ignored() {
        let t = read("a,b\n1,2\n\n3,4\n\n\n   \n").unwrap();
        assert_eq!(t.data.n_rows(), 2);
        assert_eq!(t.data.values(), &[1.0, 2.0, 3.0, 4.0]);
        let t = read("\n\na\n1\n\n2\n\n").unwrap();
        assert_eq!(t.data.values(), &[1.0, 2.0]);
    }

    #[test]
    fn selection_skips_text_and_reorders() {
        let text = "id,name,x,y\n1,alice,0.5,1.5\n2,\"bob, jr\",2.5,3.5\n";
        let t = read_cols(text, &["y", "x"]).unwrap();
        assert_eq!(t.names, ["y", "x"]);
        assert_eq!(t.data.n_rows(), 2);
        assert_eq!(t.data.n_cols(), 2);
        assert_eq!(t.data.values(), &[1.5, 0.5, 3.5, 2.5]);
    }

    #[test]
    fn selection_tolerates_odd_names_in_unselected_columns() {
        let t = read_cols("a,,note,note\n1,x,y,z\n", &["a"]).unwrap();
        assert_eq!(t.data.values(), &[1.0]);
    }

    #[test]
    fn text_column_without_selection_is_an_error() {
        let (line, column, problem, shown) = table_err(read("x,name\n1,2\n3,abc\n"));
        assert_eq!(line, 3);
        assert_eq!(column.as_deref(), Some("name"));
        assert!(problem.contains("\"abc\" is not a number"), "{problem}");
        assert!(problem.contains("--columns"), "{problem}");
        assert!(shown.contains("\"name\""), "{shown}");
        assert!(shown.starts_with("line 3"), "{shown}");
    }

    #[test]
    fn empty_input() {
        for text in ["", "\n\n", "  \n\n"] {
            let (line, column, problem, _) = table_err(read(text));
            assert_eq!(line, 0);
            assert_eq!(column, None);
            assert!(problem.contains("the file is empty"), "{problem}");
        }
    }

    #[test]
    fn header_only() {
        for text in ["a,b\n", "a,b", "a,b\n\n\n"] {
            let (line, column, problem, _) = table_err(read(text));
            assert_eq!(line, 0);
            assert_eq!(column, None);
            assert!(problem.contains("no data rows"), "{problem}");
        }
    }

    #[test]
    fn ragged_row_reports_its_line() {
        let err = read("a,b,c\n1,2,3\n4,5,6\n7,8\n").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Table {
                    line: 4,
                    column: None,
                    ..
                }
            ),
            "{err:?}"
        );
        let shown = err.to_string();
        assert!(
            shown.contains("has 2 fields but the header has 3"),
            "{shown}"
        );

        // Blank lines, quoted newlines and \r\n endings do not throw the count off.
        let text = "a,b\r\n\r\n1,\"two\nlines\"\r\n\r\n3,4\r\n5,6,7\r\n";
        let err = read_cols(text, &["a"]).unwrap_err();
        assert!(matches!(err, Error::Table { line: 7, .. }), "{err:?}");
        // Too many fields, last line without a newline.
        let err = read("a,b\n\n\n1,2\n3,4,5").unwrap_err();
        assert!(matches!(err, Error::Table { line: 5, .. }), "{err:?}");
    }

    #[test]
    fn missing_and_non_finite_values() {
        for bad in [
            "", "nan", "NaN", "NA", "n/a", "null", "inf", "-inf", "Infinity", "1e400",
        ] {
            let text = format!("a,b\n1,2\n3,{bad}\n");
            let err = read(&text).unwrap_err();
            let shown = err.to_string();
            match err {
                Error::Table {
                    line,
                    column,
                    problem,
                } => {
                    assert_eq!(line, 3, "{bad}");
                    assert_eq!(column.as_deref(), Some("b"), "{bad}");
                    assert!(
                        problem.contains("missing or non-finite"),
                        "{bad}: {problem}"
                    );
                    assert!(problem.contains(&format!("\"{bad}\"")), "{bad}: {problem}");
                }
                other => panic!("{other:?}"),
            }
            assert!(shown.contains("column \"b\""), "{shown}");
        }
    }

    #[test]
    fn nan_in_selected_column_reports_line_and_column() {
        let err = read_cols("t,v\nx,1\n\ny,NaN\n", &["v"]).unwrap_err();
        assert!(
            matches!(&err, Error::Table { line: 4, column: Some(c), .. } if c == "v"),
            "{err:?}"
        );
        assert!(err.to_string().contains("\"v\""));
    }

    #[test]
    fn unknown_selected_column() {
        let (line, column, problem, shown) = table_err(read_cols("a,b,c\n1,2,3\n", &["a", "z"]));
        assert_eq!(line, 1);
        assert_eq!(column.as_deref(), Some("z"));
        assert_eq!(problem, "no such column; the header has: a, b, c");
        assert!(shown.contains("\"z\""), "{shown}");
    }

    #[test]
    fn column_selected_twice() {
        let (_, column, problem, _) = table_err(read_cols("a,b\n1,2\n", &["a", "b", "a"]));
        assert_eq!(column.as_deref(), Some("a"));
        assert!(problem.contains("selected twice"), "{problem}");
    }

    #[test]
    fn empty_selection() {
        let (_, _, problem, _) = table_err(read_cols("a,b\n1,2\n", &[]));
        assert!(problem.contains("no columns were selected"), "{problem}");
    }

    #[test]
    fn ambiguous_selection() {
        let (line, column, problem, _) = table_err(read_cols("a,b,a\n1,2,3\n", &["a"]));
        assert_eq!(line, 1);
        assert_eq!(column.as_deref(), Some("a"));
        assert!(problem.contains("columns number 1 and 3"), "{problem}");
    }

    #[test]
    fn bad_header_names() {
        let (line, column, problem, _) = table_err(read("a,,c\n1,2,3\n"));
        assert_eq!(line, 1);
        assert_eq!(column.as_deref(), Some("2"));
        assert!(problem.contains("empty name"), "{problem}");

        let (line, column, problem, shown) = table_err(read("a,b, a\n1,2,3\n"));
        assert_eq!(line, 1);
        assert_eq!(column.as_deref(), Some("a"));
        assert!(problem.contains("same name"), "{problem}");
        assert!(shown.contains("\"a\""), "{shown}");
    }

    #[test]
    fn header_line_counts_leading_blank_lines() {
        let (line, ..) = table_err(read("\n\na,a\n1,2\n"));
        assert_eq!(line, 3);
    }

    #[test]
    fn invalid_utf8_cell() {
        let bytes = b"a,b\n1,\xff\xfe\n";
        let err = read_csv(&bytes[..], None).unwrap_err();
        assert!(
            matches!(&err, Error::Table { line: 2, column: Some(c), .. } if c == "b"),
            "{err:?}"
        );
        assert!(err.to_string().contains("UTF-8"));
        // Not selected: fine.
        let t = read_csv(&bytes[..], Some(&["a".to_string()])).unwrap();
        assert_eq!(t.data.values(), &[1.0]);
    }

    #[test]
    fn long_cells_are_shortened_in_messages() {
        let long = "y".repeat(500);
        let (_, _, problem, _) = table_err(read(&format!("a\n{long}\n")));
        assert!(problem.len() < 200, "{problem}");
    }

    struct FailAfter<'a> {
        data: &'a [u8],
    }

    impl Read for FailAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "pipe closed"));
            }
            let n = self.data.len().min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn io_error_keeps_kind_and_names_line() {
        let err = read_csv(
            FailAfter {
                data: b"a,b\n1,2\n3,4\n5,",
            },
            None,
        )
        .unwrap_err();
        match err {
            Error::Io(e) => {
                assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
                assert!(e.to_string().contains("line 4"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn many_rows() {
        let mut text = String::from("a,b,c\n");
        for i in 0..10_000 {
            text.push_str(&format!("{i},{}.5,{}\n", i * 2, -i));
        }
        let t = read(&text).unwrap();
        assert_eq!(t.data.n_rows(), 10_000);
        assert_eq!(t.data.row(9_999), &[9999.0, 19998.5, -9999.0]);
    }
}
