//! Reading numeric CSV tables.
//!
//! By default the first non-blank line is the header (column names) and every later line is
//! one row of numbers; with [`CsvOptions::has_header`] off every line is a row and the columns
//! are named `x0`, `x1`, ... (as for `.npy` arrays). Fields are separated by commas (or the
//! [`CsvOptions::delimiter`]), may be quoted, and have ASCII whitespace trimmed around them.
//! With a space delimiter, runs of spaces count as one separator, so aligned columns read
//! well. Blank lines are skipped wherever they occur. Lines may end in `\n` or `\r\n`.
//!
//! Every problem is reported as [`Error::Table`] with the 1-based line of the row at fault
//! (counting every line of the input, blank ones included) and, for a bad cell, the name of its
//! column. I/O errors while reading become [`Error::Io`], with the line reached in the message.
//! Input that is not CSV text at all (compressed, a spreadsheet, a `.npy` array, UTF-16,
//! Latin-1, binary) is named as what it looks like, with how to convert it.

use std::collections::HashMap;
use std::io::{self, Cursor, Read};

use super::data::Table;
use super::source::{Spill, SpillWriter};
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

/// Bytes looked at before parsing to recognise input that is not CSV text.
const SNIFF_LEN: usize = 8 * 1024;

/// How a CSV table is laid out.
///
/// The default is what `emkit` expects without flags: a header row, commas between fields.
///
/// ```
/// use emkit::io::{read_csv_with, CsvOptions};
///
/// let opts = CsvOptions { has_header: false, delimiter: b';' };
/// let t = read_csv_with("1;2\n3;4\n".as_bytes(), None, &opts).unwrap();
/// assert_eq!(t.names, ["x0", "x1"]);
/// assert_eq!(t.data.values(), &[1.0, 2.0, 3.0, 4.0]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// The first non-blank line holds column names. Without it every line is data and the
    /// columns are named `x0`, `x1`, ... (0-based).
    pub has_header: bool,
    /// The byte between fields: `b','` by default; `b'\t'`, `b';'`, `b'|'` and `b' '` are the
    /// others in common use (see [`parse_delimiter`]). Any ASCII byte but a quote, a
    /// control character other than tab, a letter, a digit or a sign or point of a number.
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            has_header: true,
            delimiter: b',',
        }
    }
}

/// Parses a delimiter as written on a command line: `,` `;` `|`, `tab` or `\t`, `space`.
///
/// A real tab or space character is taken too. The error is one sentence listing the
/// choices.
///
/// ```
/// assert_eq!(emkit::io::parse_delimiter("tab"), Ok(b'\t'));
/// assert_eq!(emkit::io::parse_delimiter(";"), Ok(b';'));
/// assert!(emkit::io::parse_delimiter("::").is_err());
/// ```
pub fn parse_delimiter(s: &str) -> std::result::Result<u8, String> {
    match s {
        "," => Ok(b','),
        ";" => Ok(b';'),
        "|" => Ok(b'|'),
        "\t" | "\\t" => Ok(b'\t'),
        " " => Ok(b' '),
        _ if s.eq_ignore_ascii_case("tab") => Ok(b'\t'),
        _ if s.eq_ignore_ascii_case("space") => Ok(b' '),
        _ => Err(format!(
            "unknown delimiter {s:?}; use one of , ; | tab (or \\t) space"
        )),
    }
}

/// Reads a CSV table of numbers from `reader` with a header row and commas between fields;
/// the same as [`read_csv_with`] with the default [`CsvOptions`].
///
/// # Errors
///
/// As [`read_csv_with`].
pub fn read_csv<R: Read>(reader: R, columns: Option<&[String]>) -> Result<Table> {
    read_csv_with(reader, columns, &CsvOptions::default())
}

/// Reads a CSV table of numbers from `reader`, laid out as `options` says.
///
/// With a header, the first non-blank line must be column names; without one, the columns are
/// named `x0`, `x1`, .... With `columns: None` every column must be numeric and (with a header)
/// have a unique, non-empty name. With `columns: Some(names)` only those columns are parsed, in
/// the order given, and the other columns may hold anything (text, empty names, repeated
/// names).
///
/// Numbers are parsed with Rust's `f64` parser after trimming, so `1e-5`, `-.5` and `+3` are
/// accepted. Empty cells, `NA`, `nan`, `inf` and other missing or non-finite values are
/// rejected, since missing values are not supported yet.
///
/// The input is read in one streaming pass into a single buffer.
///
/// # Errors
///
/// [`Error::Table`] for an empty input, input that is not CSV text (named as what it looks
/// like: gzip, zip, Parquet, `.npy`, UTF-16, Latin-1, binary), a header without data rows, a
/// header made only of numbers (it looks like data), a one-field header that holds another
/// delimiter, bad or repeated column names, an unknown or repeated selected column, a row with
/// the wrong number of fields, or a cell that is not a finite number; [`Error::InvalidConfig`]
/// for a delimiter that cannot separate fields; [`Error::Io`] when reading fails.
pub fn read_csv_with<R: Read>(
    reader: R,
    columns: Option<&[String]>,
    options: &CsvOptions,
) -> Result<Table> {
    let mut values: Vec<f64> = Vec::new();
    let (names, n_rows) = parse_csv(reader, columns, options, |row| {
        values.extend_from_slice(row);
        Ok(())
    })?;
    let data = Matrix::new(values, n_rows, names.len())?;
    Ok(Table { names, data })
}

/// Reads a CSV table as [`read_csv_with`] does, into a temporary binary
/// file in `dir` rather than memory: the form of a table that a streamed fit
/// reads on every pass ([`Spill`]). Returns the column names and the rows.
///
/// # Errors
///
/// As [`read_csv_with`]; [`Error::Io`] when the temporary file cannot be
/// created or written.
pub fn read_csv_spilled<R: Read>(
    reader: R,
    columns: Option<&[String]>,
    options: &CsvOptions,
    dir: &std::path::Path,
) -> Result<(Vec<String>, Spill)> {
    let mut writer: Option<SpillWriter> = None;
    let (names, _) = parse_csv(reader, columns, options, |row| {
        if writer.is_none() {
            writer = Some(SpillWriter::create(dir, row.len())?);
        }
        writer.as_mut().expect("created above").push(row)
    })?;
    let spill = writer
        .expect("parse_csv fails on a table without rows")
        .finish()?;
    Ok((names, spill))
}

/// The one CSV parser: checks the layout, then hands every row's selected
/// values to `row`, in order; returns the selected names and the row count
/// (at least 1).
fn parse_csv<R: Read>(
    mut reader: R,
    columns: Option<&[String]>,
    options: &CsvOptions,
    mut row: impl FnMut(&[f64]) -> Result<()>,
) -> Result<(Vec<String>, usize)> {
    let delimiter = options.delimiter;
    check_delimiter(delimiter)?;
    // An error while reading the first bytes is kept for the parser to meet at its place,
    // so that it is reported with the line reached, as any later one is.
    let mut prefix = vec![0u8; SNIFF_LEN];
    let (got, failed) = read_until_full(&mut reader, &mut prefix);
    prefix.truncate(got);
    if let Some(problem) = not_csv_text(&prefix) {
        return Err(Error::Table {
            line: 1,
            column: None,
            problem,
        });
    }

    let rest = Pending {
        error: failed,
        inner: reader,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        // Only `\n` ends a record, so that the parser's line count stays exact for `\r\n`
        // files; the `\r` left at the end of the last field is trimmed like other whitespace.
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(64 * 1024)
        .from_reader(Tracked::new(Cursor::new(prefix).chain(rest)));
    let mut record = csv::ByteRecord::new();
    let mut raw = csv::ByteRecord::new();

    // The first non-blank record: the header, or the first row.
    loop {
        if !next_record(&mut rdr, &mut raw, &mut record, delimiter)? {
            let problem = if options.has_header {
                "the file is empty; expected a header row of column names and at least one data \
                 row"
            } else {
                "the file is empty; expected at least one row of numbers"
            };
            return Err(Error::Table {
                line: 0,
                column: None,
                problem: problem.into(),
            });
        }
        if !is_blank(&record) {
            break;
        }
    }
    strip_bom(&mut record);
    let first_line = record_line(&rdr, &record);
    let header = if options.has_header {
        read_header(&record, first_line, columns.is_none())?
    } else {
        (0..record.len()).map(|j| format!("x{j}")).collect()
    };
    let found = |names: &[String]| names.iter().all(|n| header.contains(n));
    if !(options.has_header && columns.is_some_and(found)) {
        if let Some(problem) = other_delimiter(&record, delimiter, options.has_header) {
            return Err(Error::Table {
                line: first_line,
                column: None,
                problem,
            });
        }
        if options.has_header && record.iter().all(is_number) {
            return Err(Error::Table {
                line: first_line,
                column: None,
                problem: "the first row holds only numbers, so it looks like data rather than \
                          column names; add a header row of column names or pass --no-header \
                          (the columns are then named x0, x1, ...)"
                    .into(),
            });
        }
    }
    let n_fields = header.len();
    let selected = match columns {
        None => (0..n_fields).collect(),
        Some(names) => select_columns(&header, names, first_line, options.has_header)?,
    };

    let mut cells: Vec<f64> = Vec::with_capacity(selected.len());
    let mut n_rows: usize = 0;
    let mut pending = !options.has_header;
    loop {
        if pending {
            pending = false;
        } else if !next_record(&mut rdr, &mut raw, &mut record, delimiter)? {
            break;
        }
        if record.len() != n_fields {
            if is_blank(&record) {
                continue;
            }
            return Err(Error::Table {
                line: record_line(&rdr, &record),
                column: None,
                problem: format!(
                    "this row has {} field{} but the {} has {n_fields}; every row needs one \
                     value per column",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" },
                    if options.has_header {
                        "header"
                    } else {
                        "first row"
                    },
                ),
            });
        }
        if n_fields == 1 && is_blank(&record) {
            continue;
        }
        cells.clear();
        for &j in &selected {
            match parse_cell(&record[j]) {
                Ok(v) => cells.push(v),
                Err(problem) => {
                    return Err(Error::Table {
                        line: record_line(&rdr, &record),
                        column: Some(header[j].clone()),
                        problem,
                    })
                }
            }
        }
        row(&cells)?;
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
    Ok((names, n_rows))
}

/// A delimiter the CSV parser can split on without confusing it with a quote, a line end or
/// the text of a number.
fn check_delimiter(delimiter: u8) -> Result<()> {
    let bad = !delimiter.is_ascii()
        || delimiter.is_ascii_alphanumeric()
        || (delimiter.is_ascii_control() && delimiter != b'\t')
        || matches!(delimiter, b'"' | b'\n' | b'\r' | b'.' | b'+' | b'-');
    if bad {
        return Err(Error::InvalidConfig {
            field: "delimiter",
            reason: format!(
                "{:?} cannot separate fields; use one of , ; | tab space",
                char::from(delimiter)
            ),
        });
    }
    Ok(())
}

/// What the start of the input looks like when it is not CSV text: the problem sentence.
fn not_csv_text(prefix: &[u8]) -> Option<String> {
    let kind = if prefix.starts_with(b"\x1f\x8b") {
        "a gzip-compressed file; decompress it first (gunzip)"
    } else if prefix.starts_with(b"PK\x03\x04") {
        "a zip archive (an .xlsx or .ods spreadsheet, say); export the sheet as CSV"
    } else if prefix.starts_with(b"PAR1") {
        "a Parquet file, which is not supported yet; export it as CSV (e.g. \
         pandas.read_parquet(path).to_csv(out, index=False))"
    } else if prefix.starts_with(b"\x93NUMPY") {
        "a .npy array; pass it as a file whose name ends in .npy"
    } else if prefix.starts_with(b"\xff\xfe") || prefix.starts_with(b"\xfe\xff") {
        "UTF-16 text; save it as UTF-8 (e.g. iconv -f utf-16 -t utf-8)"
    } else if prefix.starts_with(b"\x89PNG") || prefix.starts_with(b"\xff\xd8\xff") {
        "an image (PNG or JPEG); emkit segment reads images, other commands read CSV"
    } else if prefix.starts_with(b"%PDF") {
        "a PDF document; export the table as CSV"
    } else if let Some(at) = prefix.iter().position(|&b| b == 0) {
        if looks_like_utf16_without_bom(prefix) {
            "UTF-16 text; save it as UTF-8 (e.g. iconv -f utf-16 -t utf-8)"
        } else {
            return Some(format!(
                "the file holds binary data (a NUL byte at byte {at}), not CSV text; give a CSV \
                 text file of numbers"
            ));
        }
    } else {
        return None;
    };
    Some(format!("this is {kind}, not CSV text"))
}

/// ASCII text in UTF-16: a NUL in every other byte, little- or big-endian.
fn looks_like_utf16_without_bom(prefix: &[u8]) -> bool {
    let pairs = prefix.len() / 2;
    if pairs < 2 {
        return false;
    }
    let zeros_at = |parity: usize| {
        prefix
            .iter()
            .skip(parity)
            .step_by(2)
            .take(pairs)
            .filter(|&&b| b == 0)
            .count()
    };
    let (even, odd) = (zeros_at(0), zeros_at(1));
    (odd * 10 >= pairs * 9 && even == 0) || (even * 10 >= pairs * 9 && odd == 0)
}

/// A one-field first row that holds another common delimiter: the sentence that says which
/// `--delimiter` to pass.
fn other_delimiter(record: &csv::ByteRecord, delimiter: u8, has_header: bool) -> Option<String> {
    if record.len() != 1 {
        return None;
    }
    let field = &record[0];
    let (byte, flag, name) = [
        (b'\t', "tab", "tab characters"),
        (b';', ";", "semicolons"),
        (b',', ",", "commas"),
        (b'|', "|", "'|' characters"),
    ]
    .into_iter()
    .find(|&(b, ..)| b != delimiter && field.contains(&b))?;
    let what = if has_header { "header" } else { "first row" };
    let sep = match byte {
        b'\t' => "tab-separated",
        b';' => "semicolon-separated",
        b',' => "comma-separated",
        _ => "'|'-separated",
    };
    let fix = if byte == b',' {
        "leave out --delimiter (commas are the default)".to_string()
    } else {
        format!("pass --delimiter {flag}")
    };
    Some(format!(
        "the {what} is a single field holding {name}, so the file looks {sep}; {fix}"
    ))
}

/// A field that reads as a number (finite or not).
fn is_number(field: &[u8]) -> bool {
    std::str::from_utf8(field.trim_ascii()).is_ok_and(|s| s.parse::<f64>().is_ok())
}

/// Removes a UTF-8 byte-order mark from the start of the first field.
fn strip_bom(record: &mut csv::ByteRecord) {
    let Some(first) = record.get(0) else { return };
    let Some(rest) = first.trim_ascii_start().strip_prefix(b"\xEF\xBB\xBF") else {
        return;
    };
    let mut out = csv::ByteRecord::new();
    out.push_field(rest);
    for field in record.iter().skip(1) {
        out.push_field(field);
    }
    out.set_position(record.position().cloned());
    *record = out;
}

/// Reads until `buf` is full, the input ends or reading fails: the number of bytes read, and
/// the error that stopped it.
pub(super) fn read_until_full<R: Read>(
    reader: &mut R,
    buf: &mut [u8],
) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

/// A reader that first gives back an error met earlier, then reads on.
struct Pending<R> {
    error: Option<io::Error>,
    inner: R,
}

impl<R: Read> Read for Pending<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.error.take() {
            Some(e) => Err(e),
            None => self.inner.read(buf),
        }
    }
}

/// Reads the next record into `record`; `false` at the end of the input.
///
/// With a space delimiter the empty fields that runs of spaces leave are dropped (`raw` is the
/// scratch record they are read into), so that aligned columns split as a reader expects.
fn next_record<R: Read>(
    rdr: &mut csv::Reader<Tracked<R>>,
    raw: &mut csv::ByteRecord,
    record: &mut csv::ByteRecord,
    delimiter: u8,
) -> Result<bool> {
    let target = if delimiter == b' ' {
        &mut *raw
    } else {
        &mut *record
    };
    let more = rdr.read_byte_record(target).map_err(|err| {
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
    })?;
    if more && delimiter == b' ' {
        record.clear();
        for field in raw.iter().filter(|f| !f.is_empty()) {
            record.push_field(field);
        }
        record.set_position(raw.position().cloned());
    }
    Ok(more)
}

/// A record that came from a line holding only whitespace.
fn is_blank(record: &csv::ByteRecord) -> bool {
    record.is_empty() || (record.len() == 1 && record[0].trim_ascii().is_empty())
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

/// Validates the header and gives back its names (trimmed).
///
/// `strict`: every name must be non-empty, valid UTF-8 and unique (all columns are used).
fn read_header(record: &csv::ByteRecord, line: u64, strict: bool) -> Result<Vec<String>> {
    let mut names = Vec::with_capacity(record.len());
    for (j, raw) in record.iter().enumerate() {
        let raw = raw.trim_ascii();
        let name = match std::str::from_utf8(raw) {
            Ok(s) => s.to_owned(),
            Err(_) if strict => {
                return Err(Error::Table {
                    line,
                    column: Some((j + 1).to_string()),
                    problem: format!("the name of column number {} {}", j + 1, not_text(raw)),
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
///
/// Without a header (`has_header` false) the names are `x0`, `x1`, ... and no line is blamed.
fn select_columns(
    header: &[String],
    names: &[String],
    header_line: u64,
    has_header: bool,
) -> Result<Vec<usize>> {
    let header_line = if has_header { header_line } else { 0 };
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
                let problem = if has_header {
                    format!("no such column; the header has: {}", list_names(header))
                } else {
                    format!(
                        "no such column; without a header row the columns are named x0 to x{}",
                        header.len().saturating_sub(1)
                    )
                };
                return Err(Error::Table {
                    line: header_line,
                    column: Some(name.clone()),
                    problem,
                });
            }
        }
    }
    Ok(selected)
}

/// `a, b, c`, shortened for wide headers, each name shortened and with its control
/// characters escaped (a quoted name may hold a line break; the message stays one line).
fn list_names(header: &[String]) -> String {
    let mut out = header
        .iter()
        .filter(|n| !n.is_empty())
        .take(MAX_LISTED_NAMES)
        .map(|n| {
            if n.chars().any(char::is_control) || n.chars().count() > MAX_QUOTED_CHARS {
                quote(n)
            } else {
                n.clone()
            }
        })
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
            "{} {}",
            quote(&String::from_utf8_lossy(raw)),
            not_text(raw)
        ));
    };
    if raw.contains(&0) {
        return Err(format!("{} {}", quote(text), not_text(raw)));
    }
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

/// The end of the sentence for bytes that are not UTF-8 text (or hold NULs).
fn not_text(raw: &[u8]) -> &'static str {
    if raw.contains(&0) {
        "holds binary data (NUL bytes), so the file is not CSV text; give a CSV text file of \
         numbers"
    } else {
        "is not valid UTF-8: the file looks like Latin-1 or Windows-1252 text; convert it to \
         UTF-8, e.g. iconv -f latin1 -t utf-8 data.csv > data-utf8.csv"
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
    fn listed_names_stay_on_one_line() {
        let (_, _, problem, shown) = table_err(read_cols("\"a\nb\",c\n1,2\n", &["z"]));
        assert!(problem.contains(r#""a\nb", c"#), "{problem}");
        assert!(!shown.contains('\n'), "{shown}");
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

    fn read_with(
        text: &[u8],
        cols: Option<&[&str]>,
        has_header: bool,
        delimiter: u8,
    ) -> Result<Table> {
        let cols: Option<Vec<String>> = cols.map(|c| c.iter().map(|s| s.to_string()).collect());
        read_csv_with(
            text,
            cols.as_deref(),
            &CsvOptions {
                has_header,
                delimiter,
            },
        )
    }

    #[test]
    fn default_options_are_header_and_comma() {
        assert_eq!(
            CsvOptions::default(),
            CsvOptions {
                has_header: true,
                delimiter: b','
            }
        );
    }

    #[test]
    fn parse_delimiter_accepts_the_documented_spellings() {
        for (s, b) in [
            (",", b','),
            (";", b';'),
            ("|", b'|'),
            ("tab", b'\t'),
            ("TAB", b'\t'),
            ("\\t", b'\t'),
            ("\t", b'\t'),
            ("space", b' '),
            (" ", b' '),
        ] {
            assert_eq!(parse_delimiter(s), Ok(b), "{s:?}");
        }
        for s in ["", "::", "comma", "x", "\\n"] {
            let err = parse_delimiter(s).unwrap_err();
            assert!(err.contains("tab") && err.contains("space"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn unusable_delimiters_are_invalid_config() {
        for d in [
            b'"', b'\n', b'\r', 0, 0x0b, b'a', b'7', b'.', b'-', b'+', 0xe9,
        ] {
            let err = read_with(b"a\n1\n", None, true, d).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidConfig {
                        field: "delimiter",
                        ..
                    }
                ),
                "{d}: {err:?}"
            );
        }
    }

    #[test]
    fn no_header_names_columns_x0_x1() {
        let t = read_with(b"1,2,3\n4,5,6\n", None, false, b',').unwrap();
        assert_eq!(t.names, ["x0", "x1", "x2"]);
        assert_eq!(t.data.values(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // Blank lines first, a byte-order mark, no final newline.
        let t = read_with(b"\n\xEF\xBB\xBF7\n8", None, false, b',').unwrap();
        assert_eq!(t.data.values(), &[7.0, 8.0]);
        let t = read_with(b"a,1,2\nb,3,4\n", Some(&["x2", "x1"]), false, b',').unwrap();
        assert_eq!(t.names, ["x2", "x1"]);
        assert_eq!(t.data.values(), &[2.0, 1.0, 4.0, 3.0]);
    }

    #[test]
    fn no_header_errors_name_rows_and_x_columns() {
        let (line, column, problem, _) = table_err(read_with(b"1,2\n3,x\n", None, false, b','));
        assert_eq!((line, column.as_deref()), (2, Some("x1")));
        assert!(problem.contains("\"x\" is not a number"), "{problem}");
        let (line, _, problem, _) = table_err(read_with(b"1,2\n\n3\n", None, false, b','));
        assert_eq!(line, 3);
        assert!(problem.contains("the first row has 2"), "{problem}");
        let (line, column, problem, _) = table_err(read_with(b"1,2\n", Some(&["x2"]), false, b','));
        assert_eq!((line, column.as_deref()), (0, Some("x2")));
        assert!(problem.contains("named x0 to x1"), "{problem}");
        let (line, _, problem, _) = table_err(read_with(b"\n  \n", None, false, b','));
        assert_eq!(line, 0);
        assert!(problem.contains("at least one row of numbers"), "{problem}");
        // A header read as data is text in a cell: the usual message, on line 1.
        let (line, column, _, _) = table_err(read_with(b"a,b\n1,2\n", None, false, b','));
        assert_eq!((line, column.as_deref()), (1, Some("x0")));
    }

    #[test]
    fn other_delimiters() {
        let t = read_with(b"a\tb\n1\t2\n", None, true, b'\t').unwrap();
        assert_eq!(t.names, ["a", "b"]);
        assert_eq!(t.data.values(), &[1.0, 2.0]);
        let t = read_with(b"a;b\n1,5;2\n", None, true, b';').unwrap_err();
        assert!(t.to_string().contains("\"1,5\""), "{t}");
        let t = read_with(b"a|b\n\"1\"|2\n", None, true, b'|').unwrap();
        assert_eq!(t.data.values(), &[1.0, 2.0]);
    }

    #[test]
    fn space_delimiter_takes_runs_of_spaces_as_one() {
        let text = b"  a    b  c\n 1   2 3\n\n   \n10 20    30  \n";
        let t = read_with(text, None, true, b' ').unwrap();
        assert_eq!(t.names, ["a", "b", "c"]);
        assert_eq!(t.data.values(), &[1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
        let (line, _, problem, _) = table_err(read_with(b"a b\n1 2\n3\n", None, true, b' '));
        assert_eq!(line, 3);
        assert!(
            problem.contains("has 1 field but the header has 2"),
            "{problem}"
        );
        let t = read_with(b"1 2\r\n3  4\r\n", None, false, b' ').unwrap();
        assert_eq!(t.data.values(), &[1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn numeric_header_looks_like_data() {
        for text in ["1,2\n3,4\n", "\n 1.5 , -2e3\n3,4\n", "7\n8\n"] {
            let (line, column, problem, shown) = table_err(read(text));
            assert_eq!(line, if text.starts_with('\n') { 2 } else { 1 }, "{text:?}");
            assert_eq!(column, None);
            assert!(problem.contains("only numbers"), "{problem}");
            assert!(problem.contains("looks like data"), "{problem}");
            assert!(problem.contains("--no-header"), "{problem}");
            assert!(problem.contains("x0, x1"), "{problem}");
            assert!(!shown.contains('\n'), "{shown}");
        }
        // A selection that finds its names shows the numbers are names.
        let t = read_cols("2019,2020\n3,4\n", &["2020"]).unwrap();
        assert_eq!(t.data.values(), &[4.0]);
        let (_, _, problem, _) = table_err(read_cols("2019,2020\n3,4\n", &["x"]));
        assert!(problem.contains("only numbers"), "{problem}");
        // Not all numbers: a header.
        assert_eq!(read("a,2\n3,4\n").unwrap().names, ["a", "2"]);
    }

    #[test]
    fn one_field_header_with_another_delimiter_says_which_to_pass() {
        let (line, _, problem, _) = table_err(read("a\tb\tc\n1\t2\t3\n"));
        assert_eq!(line, 1);
        assert!(problem.contains("tab-separated"), "{problem}");
        assert!(problem.contains("--delimiter tab"), "{problem}");
        let (_, _, problem, _) = table_err(read("a;b\n1;2\n"));
        assert!(problem.contains("--delimiter ;"), "{problem}");
        let (_, _, problem, _) = table_err(read_with(b"a,b\n1,2\n", None, true, b';'));
        assert!(problem.contains("leave out --delimiter"), "{problem}");
        let (_, _, problem, _) = table_err(read_with(b"1\t2\n3\t4\n", None, false, b','));
        assert!(problem.contains("first row"), "{problem}");
        assert!(problem.contains("--delimiter tab"), "{problem}");
        // A selected one-field name that exists is taken as it is.
        let t = read_cols("a;b\n1\n", &["a;b"]).unwrap();
        assert_eq!(t.data.values(), &[1.0]);
        // Semicolons inside a wider header are text, not a hint.
        let (_, _, problem, _) = table_err(read("a;b,c\n1,x\n"));
        assert!(problem.contains("not a number"), "{problem}");
    }

    fn not_csv(bytes: &[u8]) -> String {
        let (line, column, problem, shown) = table_err(read_csv(bytes, None));
        assert_eq!(line, 1, "{problem}");
        assert_eq!(column, None);
        assert!(!shown.contains('\n'), "{shown}");
        problem
    }

    #[test]
    fn input_that_is_not_csv_text_is_named() {
        let p = not_csv(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03");
        assert!(p.contains("gzip-compressed") && p.contains("gunzip"), "{p}");
        let p = not_csv(b"PK\x03\x04\x14\x00\x06\x00");
        assert!(
            p.contains("zip archive") && p.contains("export the sheet as CSV"),
            "{p}"
        );
        let p = not_csv(b"PAR1\x15\x04\x15");
        assert!(p.contains("Parquet"), "{p}");
        let p = not_csv(b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'");
        assert!(
            p.contains(".npy array") && p.contains("name ends in .npy"),
            "{p}"
        );
        let p = not_csv(b"\x89PNG\r\n\x1a\n\x00\x00");
        assert!(p.contains("image"), "{p}");
        let p = not_csv(b"%PDF-1.7\n");
        assert!(p.contains("PDF"), "{p}");
        let p = not_csv(b"a,b\n1,2\n\x00\x01\x02\x03");
        assert!(p.contains("binary data") && p.contains("byte 8"), "{p}");
    }

    #[test]
    fn utf16_is_named_with_or_without_byte_order_mark() {
        let utf16le: Vec<u8> = "a,b\n1,2\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let utf16be: Vec<u8> = "a,b\n1,2\n"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        for bytes in [
            [&b"\xff\xfe"[..], &utf16le].concat(),
            [&b"\xfe\xff"[..], &utf16be].concat(),
            utf16le,
            utf16be,
        ] {
            let p = not_csv(&bytes);
            assert!(p.contains("UTF-16") && p.contains("iconv"), "{p}");
        }
    }

    #[test]
    fn binary_past_the_first_bytes_is_named_in_its_cell() {
        let mut text = String::from("a,b\n");
        for i in 0..2_000 {
            text.push_str(&format!("{i},{i}\n"));
        }
        let mut bytes = text.into_bytes();
        bytes.extend(b"1,\x00\x00\n");
        let (line, column, problem, _) = table_err(read_csv(&bytes[..], None));
        assert_eq!((line, column.as_deref()), (2_002, Some("b")));
        assert!(problem.contains("binary data"), "{problem}");
    }

    #[test]
    fn latin1_is_named_with_how_to_convert() {
        // "température" in Latin-1, in the header and in a cell.
        let (line, column, problem, _) = table_err(read_csv(&b"a,temp\xe9rature\n1,2\n"[..], None));
        assert_eq!((line, column.as_deref()), (1, Some("2")));
        assert!(problem.contains("Latin-1"), "{problem}");
        assert!(problem.contains("iconv -f latin1 -t utf-8"), "{problem}");
        let (line, column, problem, _) = table_err(read_csv(&b"a,b\n1,2\xb0\n"[..], None));
        assert_eq!((line, column.as_deref()), (2, Some("b")));
        assert!(problem.contains("Latin-1"), "{problem}");
        assert!(!problem.contains("save the file as UTF-8"), "{problem}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

        /// Any delimiter byte: refused as a setting, or used to split.
        #[test]
        fn any_delimiter_is_refused_or_splits(d in proptest::prelude::any::<u8>()) {
            let sep = char::from(d);
            let text = format!("a{sep}b\n1{sep}2\n");
            match read_with(text.as_bytes(), None, true, d) {
                Ok(t) => {
                    proptest::prop_assert_eq!(t.data.values(), &[1.0, 2.0]);
                }
                Err(Error::InvalidConfig { field, .. }) => {
                    proptest::prop_assert_eq!(field, "delimiter");
                }
                Err(other) => proptest::prop_assert!(false, "{other:?}"),
            }
        }

        /// Zero, one or many columns and rows, with or without a header.
        #[test]
        fn any_table_size_reads(
            n_rows in 0usize..50,
            n_cols in 0usize..300,
            has_header in proptest::bool::ANY,
        ) {
            let mut text = String::new();
            if has_header {
                let names: Vec<String> = (0..n_cols).map(|j| format!("c{j}")).collect();
                text.push_str(&names.join(","));
                text.push('\n');
            }
            for i in 0..n_rows {
                let row: Vec<String> = (0..n_cols).map(|j| (i * j).to_string()).collect();
                text.push_str(&row.join(","));
                text.push('\n');
            }
            match read_with(text.as_bytes(), None, has_header, b',') {
                Ok(t) => {
                    proptest::prop_assert!(n_rows > 0 && n_cols > 0);
                    proptest::prop_assert_eq!(t.data.n_rows(), n_rows);
                    proptest::prop_assert_eq!(t.data.n_cols(), n_cols);
                }
                Err(Error::Table { .. }) => proptest::prop_assert!(n_rows == 0 || n_cols == 0),
                Err(other) => proptest::prop_assert!(false, "{other:?}"),
            }
        }
    }
}
