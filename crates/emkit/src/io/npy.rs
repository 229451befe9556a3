//! Reading numpy `.npy` arrays.
//!
//! Format versions 1.0, 2.0 and 3.0 are read. The array must be 1-D (`n` samples of one
//! feature) or 2-D (`n × d`), of a float (`f4`, `f8`), signed (`i1`..`i8`) or unsigned
//! (`u1`..`u8`) dtype in either byte order, in C or Fortran order. Values are converted to
//! `f64` (64-bit integers beyond 2^53 are rounded). Columns are named `x0`, `x1`, ....
//!
//! Every problem is reported as [`Error::Npy`]; I/O errors while reading become [`Error::Io`].

use std::io::{self, Read};

use super::data::Table;
use crate::data::Matrix;
use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Headers longer than this are refused (numpy itself writes a few hundred bytes at most).
const MAX_HEADER_LEN: usize = 1 << 20;

/// Bytes of array data read at a time; a multiple of every item size.
const CHUNK: usize = 64 * 1024;

/// The most values reserved up front, before the data proves to be there.
const MAX_RESERVE: usize = 1 << 20;

/// How deeply tuples, lists and dicts may nest in a header.
const MAX_DEPTH: usize = 16;

const SUPPORTED: &str = "supported dtypes are float64, float32, int8/16/32/64 and \
                         uint8/16/32/64 ('<f8', '<f4', '<i8', '<i4', '<i2', '|i1', '<u8', '<u4', \
                         '<u2', '|u1', or '>' for big-endian): convert it with arr.astype(float)";

/// Reads a `.npy` array from `reader` as a table with columns `x0`, `x1`, ....
///
/// A 1-D array of length `n` becomes an `n × 1` table; a 2-D array of shape `(n, d)` an
/// `n × d` table, transposed into row-major order when it was saved in Fortran order.
/// The data is read in chunks, so a header that claims more data than the file holds fails
/// without a large allocation.
///
/// # Errors
///
/// [`Error::Npy`] when the input is not a `.npy` file, its header is malformed, its dtype or
/// number of dimensions is not supported, it has no rows or columns, it is shorter than its
/// header says, or a float value is NaN or infinite; [`Error::Io`] when reading fails.
pub fn read_npy<R: Read>(mut reader: R) -> Result<Table> {
    let Layout {
        dtype,
        fortran_order,
        n_rows,
        n_cols,
        ..
    } = read_layout(&mut reader)?;
    let item = dtype.size;
    let n_values = n_rows * n_cols;
    let mut values: Vec<f64> = Vec::with_capacity(n_values.min(MAX_RESERVE));
    let mut buf = vec![0u8; CHUNK.min(n_values * item)];
    while values.len() < n_values {
        let want = ((n_values - values.len()) * item).min(buf.len());
        let got = read_full(&mut reader, &mut buf[..want])?;
        dtype.convert(&buf[..got - got % item], &mut values);
        if got < want {
            return Err(npy(format!(
                "the file ends after {} of {n_values} values; the file is truncated: save it \
                 again",
                values.len()
            )));
        }
    }

    if fortran_order && n_rows > 1 && n_cols > 1 {
        // values[j * n_rows + i] holds element (i, j).
        let mut row_major = Vec::with_capacity(n_values);
        for i in 0..n_rows {
            row_major.extend(values[i..].iter().step_by(n_rows).take(n_cols));
        }
        values = row_major;
    }

    if dtype.kind == Kind::Float {
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(npy(format!(
                "row {}, column {} (0-based) is not finite ({}); missing values are not \
                 supported yet: remove or impute them before saving",
                at / n_cols,
                at % n_cols,
                values[at]
            )));
        }
    }

    let names = (0..n_cols).map(|j| format!("x{j}")).collect();
    let data = Matrix::new(values, n_rows, n_cols)?;
    Ok(Table { names, data })
}

/// Where a `.npy` file's values are and how they are laid out: what its
/// header says, checked (a 1-D array is `n × 1`; no dimension is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub dtype: Dtype,
    pub fortran_order: bool,
    pub n_rows: usize,
    pub n_cols: usize,
    /// Bytes before the first value: the magic, version, length and header.
    pub data_offset: u64,
}

/// Reads a `.npy` file's prefix and header from `reader`, leaving it at the
/// first value.
///
/// # Errors
///
/// As [`read_npy`], for everything up to the values.
pub(crate) fn read_layout<R: Read>(mut reader: R) -> Result<Layout> {
    let mut prefix = [0u8; 8];
    let got = read_full(&mut reader, &mut prefix)?;
    if got < MAGIC.len() || prefix[..MAGIC.len()] != MAGIC[..] {
        return Err(npy(
            "not a .npy file (missing the \\x93NUMPY magic); save the array with numpy.save",
        ));
    }
    if got < prefix.len() {
        return Err(npy(
            "the file ends inside its format version; the file is truncated: save it again",
        ));
    }
    let (major, minor) = (prefix[6], prefix[7]);
    let header_len = match major {
        1 => {
            let mut len = [0u8; 2];
            read_exact_or(
                &mut reader,
                &mut len,
                "the file ends inside its header length",
            )?;
            usize::from(u16::from_le_bytes(len))
        }
        2 | 3 => {
            let mut len = [0u8; 4];
            read_exact_or(
                &mut reader,
                &mut len,
                "the file ends inside its header length",
            )?;
            usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX)
        }
        _ => {
            return Err(npy(format!(
                "format version {major}.{minor} is not supported (only 1.0, 2.0 and 3.0 are); \
                 save the array with a current numpy"
            )))
        }
    };
    if header_len > MAX_HEADER_LEN {
        return Err(npy(format!(
            "the header claims {header_len} bytes, more than the {MAX_HEADER_LEN} this reader \
             accepts; the file is damaged or not a plain numeric array"
        )));
    }
    let prefix_len = if major == 1 { 10 } else { 12 };
    let mut header = vec![0u8; header_len];
    read_exact_or(&mut reader, &mut header, "the file ends inside its header")?;
    let header = if major >= 3 {
        String::from_utf8(header)
            .map_err(|_| npy("the header is not valid UTF-8; save the array with numpy.save"))?
    } else {
        // Versions 1 and 2 use latin-1, whose bytes are the first 256 code points.
        header.iter().map(|&b| char::from(b)).collect()
    };
    let header = parse_header(&header)?;

    let (n_rows, n_cols) = match header.shape[..] {
        [] => {
            return Err(npy(
                "the array is 0-dimensional (a single number); save a 1-D array of samples \
                 or a 2-D array of samples × features",
            ))
        }
        [n] => (n, 1),
        [n, d] => (n, d),
        _ => {
            return Err(npy(format!(
                "the array has {} dimensions (shape {}); save a 1-D or 2-D array (reshape it to \
                 samples × features)",
                header.shape.len(),
                show_shape(&header.shape)
            )))
        }
    };
    if n_rows == 0 {
        return Err(npy(
            "the array has no rows; save an array with at least one row",
        ));
    }
    if n_cols == 0 {
        return Err(npy(
            "the array has no columns; save an array with at least one column",
        ));
    }
    let too_large = || {
        npy(format!(
            "the shape {} is too large to hold in memory; the file is damaged or not meant for \
             this reader",
            show_shape(&header.shape)
        ))
    };
    let n_rows = usize::try_from(n_rows).map_err(|_| too_large())?;
    let n_cols = usize::try_from(n_cols).map_err(|_| too_large())?;
    let n_values = n_rows.checked_mul(n_cols).ok_or_else(too_large)?;
    let dtype = header.dtype;
    let item = dtype.size;
    n_values
        .checked_mul(item)
        .filter(|&bytes| bytes <= isize::MAX as usize)
        .ok_or_else(too_large)?;

    Ok(Layout {
        dtype,
        fortran_order: header.fortran_order,
        n_rows,
        n_cols,
        data_offset: (prefix_len + header_len) as u64,
    })
}

/// The error for a structured (record) dtype: what it is and how to convert it.
fn structured() -> Error {
    npy(
        "structured (record) dtypes, with named fields, are not supported; convert the array to \
         plain floats and save that, e.g. \
         numpy.save(path, numpy.lib.recfunctions.structured_to_unstructured(a).astype('f8'))",
    )
}

pub(crate) fn npy(problem: impl Into<String>) -> Error {
    Error::Npy {
        problem: problem.into(),
    }
}

fn show_shape(shape: &[u64]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    match super::table::read_until_full(reader, buf) {
        (_, Some(e)) => Err(e),
        (n, None) => Ok(n),
    }
}

/// Fills `buf`, or fails with "`what`; the file is truncated".
fn read_exact_or<R: Read>(reader: &mut R, buf: &mut [u8], what: &str) -> Result<()> {
    if read_full(reader, buf)? < buf.len() {
        return Err(npy(format!("{what}; the file is truncated: save it again")));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Float,
    Signed,
    Unsigned,
}

/// A supported element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dtype {
    pub kind: Kind,
    /// Bytes per element: 1, 2, 4 or 8.
    pub size: usize,
    little_endian: bool,
}

impl Dtype {
    /// `<f8`: what a spill file holds.
    pub(crate) const F64_LE: Dtype = Dtype {
        kind: Kind::Float,
        size: 8,
        little_endian: true,
    };

    /// Parses a numpy type string such as `<f8` or `|u1`.
    fn parse(descr: &str) -> Result<Dtype> {
        let unsupported = || npy(format!("unsupported dtype {descr:?}; {SUPPORTED}"));
        let (order, rest) = match descr.chars().next() {
            Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
            _ => ('=', descr),
        };
        let mut chars = rest.chars();
        let code = chars.next().ok_or_else(unsupported)?;
        let size = chars.as_str();
        if code == 'V' {
            return Err(structured());
        }
        if code == 'O' {
            return Err(npy(
                "object arrays (dtype 'O') are not supported; save a numeric array, e.g. \
                 arr.astype(float)",
            ));
        }
        let kind = match code {
            'f' => Kind::Float,
            'i' => Kind::Signed,
            'u' => Kind::Unsigned,
            _ => return Err(unsupported()),
        };
        let size: usize = match (kind, size) {
            (_, "4") => 4,
            (_, "8") => 8,
            (Kind::Signed | Kind::Unsigned, "1") => 1,
            (Kind::Signed | Kind::Unsigned, "2") => 2,
            _ => return Err(unsupported()),
        };
        let little_endian = match order {
            '<' => true,
            '>' => false,
            '=' => cfg!(target_endian = "little"),
            // "Not applicable": only meaningful for one-byte types.
            _ if size == 1 => true,
            _ => return Err(unsupported()),
        };
        Ok(Dtype {
            kind,
            size,
            little_endian,
        })
    }

    /// Appends the elements in `bytes` (a whole number of them) to `out` as `f64`.
    pub(crate) fn convert(self, bytes: &[u8], out: &mut Vec<f64>) {
        macro_rules! convert {
            ($t:ty, $n:literal) => {{
                let it = bytes.chunks_exact($n).map(|c| {
                    let mut raw = [0u8; $n];
                    raw.copy_from_slice(c);
                    raw
                });
                if self.little_endian {
                    out.extend(it.map(|raw| <$t>::from_le_bytes(raw) as f64));
                } else {
                    out.extend(it.map(|raw| <$t>::from_be_bytes(raw) as f64));
                }
            }};
        }
        match (self.kind, self.size) {
            (Kind::Float, 8) => convert!(f64, 8),
            (Kind::Float, _) => convert!(f32, 4),
            (Kind::Signed, 1) => convert!(i8, 1),
            (Kind::Signed, 2) => convert!(i16, 2),
            (Kind::Signed, 4) => convert!(i32, 4),
            (Kind::Signed, _) => convert!(i64, 8),
            (Kind::Unsigned, 1) => convert!(u8, 1),
            (Kind::Unsigned, 2) => convert!(u16, 2),
            (Kind::Unsigned, 4) => convert!(u32, 4),
            (Kind::Unsigned, _) => convert!(u64, 8),
        }
    }
}

/// What the header dict says.
#[derive(Debug)]
struct Header {
    dtype: Dtype,
    fortran_order: bool,
    shape: Vec<u64>,
}

/// A Python literal as it appears in a `.npy` header.
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Int(u64),
    None,
    /// A tuple or a list.
    Seq(Vec<Value>),
    Dict(Vec<(String, Value)>),
}

/// Parses the header dict, e.g. `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }`.
fn parse_header(text: &str) -> Result<Header> {
    let mut parser = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    let bad = |why: String| {
        npy(format!(
            "the header is malformed ({why}); the file is damaged or was not written by numpy"
        ))
    };
    let value = parser.value().map_err(|why| {
        // A record dtype this parser does not follow is still a record dtype.
        let descr = text.find("descr").map(|at| {
            text[at + "descr".len()..]
                .trim_start_matches(|c: char| matches!(c, '\'' | '"' | ':') || c.is_whitespace())
        });
        if descr.is_some_and(|rest| rest.starts_with(['[', '{'])) {
            structured()
        } else {
            bad(why)
        }
    })?;
    parser.skip_ws();
    // numpy pads with spaces and ends with a newline; tolerate stray NUL padding too.
    if !parser
        .rest()
        .chars()
        .all(|c| c.is_whitespace() || c == '\0')
    {
        return Err(bad(format!(
            "unexpected text after the dict at byte {}",
            parser.pos
        )));
    }
    let Value::Dict(entries) = value else {
        return Err(bad("it is not a dict".into()));
    };
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| bad(format!("the key '{key}' is missing")))
    };
    let dtype = match get("descr")? {
        Value::Str(s) => Dtype::parse(s)?,
        // A list of fields, or a dict of names, formats and offsets (numpy's form for
        // padded or aligned records).
        Value::Seq(_) | Value::Dict(_) => return Err(structured()),
        _ => return Err(bad("'descr' is not a string".into())),
    };
    let fortran_order = match get("fortran_order")? {
        Value::Bool(b) => *b,
        _ => return Err(bad("'fortran_order' is not True or False".into())),
    };
    let shape = match get("shape")? {
        Value::Seq(dims) => dims
            .iter()
            .map(|d| match d {
                Value::Int(n) => Ok(*n),
                _ => Err(bad(
                    "'shape' holds something other than whole numbers".into()
                )),
            })
            .collect::<Result<Vec<u64>>>()?,
        _ => return Err(bad("'shape' is not a tuple".into())),
    };
    Ok(Header {
        dtype,
        fortran_order,
        shape,
    })
}

/// A recursive-descent parser for the small subset of Python literals numpy writes.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

type Parsed<T> = std::result::Result<T, String>;

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn expect(&mut self, want: char) -> Parsed<()> {
        self.skip_ws();
        match self.bump() {
            Some(c) if c == want => Ok(()),
            Some(c) => Err(format!(
                "expected '{want}' but found {c:?} at byte {}",
                self.pos - 1
            )),
            None => Err(format!("expected '{want}' but the header ended")),
        }
    }

    fn value(&mut self) -> Parsed<Value> {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return Err("expected a value but the header ended".into());
        };
        match c {
            '\'' | '"' => self.string().map(Value::Str),
            '(' => self.nested(|p| p.seq(')')),
            '[' => self.nested(|p| p.seq(']')),
            '{' => self.nested(Parser::dict),
            '0'..='9' => self.int(),
            c if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.bump();
                }
                match &self.text[start..self.pos] {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    "None" => Ok(Value::None),
                    word => Err(format!("unexpected word '{word}' at byte {start}")),
                }
            }
            c => Err(format!("unexpected {c:?} at byte {}", self.pos)),
        }
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Parsed<Value>) -> Parsed<Value> {
        if self.depth >= MAX_DEPTH {
            return Err("values nested too deeply".into());
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn string(&mut self) -> Parsed<String> {
        let start = self.pos;
        let quote = self.bump().ok_or("expected a string")?;
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(format!("the string starting at byte {start} is not closed")),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.bump() {
                    Some(c) => out.push(c),
                    None => {
                        return Err(format!("the string starting at byte {start} is not closed"))
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn int(&mut self) -> Parsed<Value> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        let digits = &self.text[start..self.pos];
        // Python 2 wrote long integers as `3L`.
        if matches!(self.peek(), Some('L' | 'l')) {
            self.bump();
        }
        digits
            .parse()
            .map(Value::Int)
            .map_err(|_| format!("the number {digits} is too large"))
    }

    /// A tuple or list; the opening bracket is next.
    fn seq(&mut self, close: char) -> Parsed<Value> {
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.bump();
                return Ok(Value::Seq(items));
            }
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(c) if c == close => {}
                Some(c) => {
                    return Err(format!(
                        "expected ',' or '{close}' but found {c:?} at byte {}",
                        self.pos
                    ))
                }
                None => return Err(format!("expected '{close}' but the header ended")),
            }
        }
    }

    /// A dict with string keys; the `{` is next.
    fn dict(&mut self) -> Parsed<Value> {
        self.bump();
        let mut entries: Vec<(String, Value)> = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some('}') => {
                    self.bump();
                    return Ok(Value::Dict(entries));
                }
                Some('\'' | '"') => {}
                Some(c) => {
                    return Err(format!(
                        "expected a key in quotes at byte {}, found {c:?}",
                        self.pos
                    ))
                }
                None => return Err("expected '}' but the header ended".into()),
            }
            let key = self.string()?;
            self.expect(':')?;
            let value = self.value()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(format!("the key {key:?} appears twice"));
            }
            entries.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {}
                Some(c) => {
                    return Err(format!(
                        "expected ',' or '}}' but found {c:?} at byte {}",
                        self.pos
                    ))
                }
                None => return Err("expected '}' but the header ended".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.npy` file as numpy writes it: the header padded with spaces and ended by a newline
    /// so that magic + version + length + header is a multiple of 64 bytes.
    fn npy_bytes(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let len_bytes = if major == 1 { 2 } else { 4 };
        let mut header = dict.to_string();
        let unpadded = 8 + len_bytes + header.len() + 1;
        header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        header.push('\n');
        assert_eq!((8 + len_bytes + header.len()) % 64, 0);
        let mut out = MAGIC.to_vec();
        out.extend([major, 0]);
        if major == 1 {
            out.extend((header.len() as u16).to_le_bytes());
        } else {
            out.extend((header.len() as u32).to_le_bytes());
        }
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    fn file(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let fortran = if fortran { "True" } else { "False" };
        let dict =
            format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
        npy_bytes(1, &dict, data)
    }

    fn le_f64(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn npy_problem(result: Result<Table>) -> String {
        match result {
            Err(Error::Npy { problem }) => problem,
            other => panic!("expected Error::Npy, got {other:?}"),
        }
    }

    #[test]
    fn f8_c_order() {
        let bytes = file(
            "<f8",
            false,
            "(2, 3)",
            &le_f64(&[1.0, 2.0, 3.0, 4.0, 5.5, -6.0]),
        );
        let t = read_npy(&bytes[..]).unwrap();
        assert_eq!(t.names, ["x0", "x1", "x2"]);
        assert_eq!(t.data.n_rows(), 2);
        assert_eq!(t.data.n_cols(), 3);
        assert_eq!(t.data.values(), &[1.0, 2.0, 3.0, 4.0, 5.5, -6.0]);
    }

    #[test]
    fn f8_big_endian_and_version_2() {
        let data: Vec<u8> = [0.25f64, -1e300]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let bytes = npy_bytes(
            2,
            "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }",
            &data,
        );
        let t = read_npy(&bytes[..]).unwrap();
        assert_eq!(t.data.values(), &[0.25, -1e300]);
    }

    #[test]
    fn f4() {
        let data: Vec<u8> = [1.5f32, -0.125, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let t = read_npy(&file("<f4", false, "(2, 2)", &data)[..]).unwrap();
        assert_eq!(t.data.values(), &[1.5, -0.125, 3.0, 4.0]);
    }

    #[test]
    fn i4_and_other_integers() {
        let data: Vec<u8> = [-7i32, 0, 2_000_000_000]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let t = read_npy(&file("<i4", false, "(3,)", &data)[..]).unwrap();
        assert_eq!(t.data.values(), &[-7.0, 0.0, 2e9]);

        let t = read_npy(&file("|u1", false, "(2,)", &[255, 3])[..]).unwrap();
        assert_eq!(t.data.values(), &[255.0, 3.0]);
        let t = read_npy(&file("|i1", false, "(2,)", &[255, 3])[..]).unwrap();
        assert_eq!(t.data.values(), &[-1.0, 3.0]);
        let data: Vec<u8> = [-300i16, 5].iter().flat_map(|v| v.to_be_bytes()).collect();
        let t = read_npy(&file(">i2", false, "(2,)", &data)[..]).unwrap();
        assert_eq!(t.data.values(), &[-300.0, 5.0]);
        let data: Vec<u8> = [u64::MAX, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = read_npy(&file("<u8", false, "(2,)", &data)[..]).unwrap();
        assert_eq!(t.data.values(), &[u64::MAX as f64, 1.0]);
        let data: Vec<u8> = [-5i64].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let t = read_npy(&file("=i8", false, "(1, 1)", &data)[..]).unwrap();
        assert_eq!(t.data.values(), &[-5.0]);
    }

    #[test]
    fn fortran_order_is_transposed() {
        // The 2 × 3 array [[1, 2, 3], [4, 5, 6]] stored column by column.
        let bytes = file(
            "<f8",
            true,
            "(2, 3)",
            &le_f64(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]),
        );
        let t = read_npy(&bytes[..]).unwrap();
        assert_eq!(t.data.n_rows(), 2);
        assert_eq!(t.data.n_cols(), 3);
        assert_eq!(t.data.values(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(t.data.row(1), &[4.0, 5.0, 6.0]);
    }

    #[test]
    fn one_dimensional_is_one_column() {
        let bytes = file("<f8", false, "(3,)", &le_f64(&[1.0, 2.0, 3.0]));
        let t = read_npy(&bytes[..]).unwrap();
        assert_eq!(t.names, ["x0"]);
        assert_eq!((t.data.n_rows(), t.data.n_cols()), (3, 1));
        assert_eq!(t.data.values(), &[1.0, 2.0, 3.0]);
    }

    #[test]
    fn header_in_any_key_order_and_spacing() {
        for dict in [
            "{'shape':(2,1),'fortran_order':False,'descr':'<f8'}",
            "{ \"fortran_order\" : False , \"shape\" : ( 2 , 1 ) , \"descr\" : \"<f8\" , }",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 1L)}",
        ] {
            let t = read_npy(&npy_bytes(1, dict, &le_f64(&[1.0, 2.0]))[..]).unwrap();
            assert_eq!(t.data.values(), &[1.0, 2.0], "{dict}");
        }
        // Version 3 (UTF-8 header), no padding at all.
        let dict = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}";
        let mut bytes = MAGIC.to_vec();
        bytes.extend([3, 0]);
        bytes.extend((dict.len() as u32).to_le_bytes());
        bytes.extend(dict);
        bytes.extend(le_f64(&[9.0]));
        assert_eq!(read_npy(&bytes[..]).unwrap().data.values(), &[9.0]);
    }

    #[test]
    fn truncated_data() {
        let data = le_f64(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        let bytes = file("<f8", false, "(3, 2)", &data[..data.len() - 3]);
        let problem = npy_problem(read_npy(&bytes[..]));
        assert!(problem.contains("ends after 4 of 6 values"), "{problem}");
    }

    #[test]
    fn truncated_header() {
        let bytes = file("<f8", false, "(1,)", &le_f64(&[1.0]));
        let problem = npy_problem(read_npy(&bytes[..30]));
        assert!(problem.contains("ends inside its header"), "{problem}");
        let problem = npy_problem(read_npy(&bytes[..7]));
        assert!(problem.contains("truncated"), "{problem}");
    }

    #[test]
    fn huge_claimed_shape_fails_without_allocating() {
        let bytes = file("<f8", false, "(1000000000000, 1000)", &le_f64(&[1.0]));
        let problem = npy_problem(read_npy(&bytes[..]));
        assert!(problem.contains("ends after 1 of"), "{problem}");

        let bytes = file("<f8", false, "(18446744073709551615, 3)", &[]);
        let problem = npy_problem(read_npy(&bytes[..]));
        assert!(problem.contains("too large"), "{problem}");
        let bytes = file("<f8", false, "(99999999999999999999999,)", &[]);
        let problem = npy_problem(read_npy(&bytes[..]));
        assert!(problem.contains("too large"), "{problem}");
    }

    #[test]
    fn bad_magic() {
        for bytes in [&b"a,b\n1,2\n"[..], b"", b"\x93NUM"] {
            let problem = npy_problem(read_npy(bytes));
            assert!(
                problem.contains("missing the \\x93NUMPY magic"),
                "{problem}"
            );
        }
    }

    #[test]
    fn unsupported_version() {
        let mut bytes = file("<f8", false, "(1,)", &le_f64(&[1.0]));
        bytes[6] = 4;
        assert!(npy_problem(read_npy(&bytes[..])).contains("version 4.0"));
    }

    #[test]
    fn unsupported_dtypes() {
        for descr in ["<c16", "<f2", "|b1", "<U5", "|f8", "", "<i3", "<M8[ns]"] {
            let problem = npy_problem(read_npy(&file(descr, false, "(1,)", &[0; 16])[..]));
            assert!(problem.contains("unsupported dtype"), "{descr}: {problem}");
            assert!(
                problem.contains(&format!("{descr:?}")),
                "{descr}: {problem}"
            );
            assert!(problem.contains("'<f8'"), "{problem}");
        }
        let problem = npy_problem(read_npy(&file("|O", false, "(1,)", &[0; 8])[..]));
        assert!(problem.contains("object arrays"), "{problem}");
    }

    #[test]
    fn structured_dtypes_say_how_to_convert() {
        for descr in [
            "[('a', '<f8'), ('b', '<i4')]",
            "[('a', '<f8', (2,)), ('b', [('c', '|u1')])]",
            // numpy's form for aligned or padded records.
            "{'names': ['a', 'b'], 'formats': ['<f8', '<i4'], 'offsets': [0, 8], 'itemsize': 16, \
             'aligned': True}",
            "'|V16'",
            // Something this parser does not follow, still a record dtype.
            "[('a', '<f8', -1)]",
        ] {
            let dict = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,)}}");
            let problem = npy_problem(read_npy(&npy_bytes(1, &dict, &[0; 16])[..]));
            assert!(
                problem.contains("structured (record) dtypes"),
                "{descr}: {problem}"
            );
            assert!(
                problem.contains("structured_to_unstructured(a).astype('f8')"),
                "{problem}"
            );
            assert!(!problem.contains("malformed"), "{problem}");
        }
    }

    #[test]
    fn dimensions() {
        let problem = npy_problem(read_npy(&file("<f8", false, "()", &le_f64(&[1.0]))[..]));
        assert!(problem.contains("0-dimensional"), "{problem}");
        let problem = npy_problem(read_npy(
            &file("<f8", false, "(1, 1, 1)", &le_f64(&[1.0]))[..],
        ));
        assert!(problem.contains("3 dimensions"), "{problem}");
        assert!(problem.contains("(1, 1, 1)"), "{problem}");
        let problem = npy_problem(read_npy(&file("<f8", false, "(0, 3)", &[])[..]));
        assert!(problem.contains("the array has no rows"), "{problem}");
        let problem = npy_problem(read_npy(&file("<f8", false, "(0,)", &[])[..]));
        assert!(problem.contains("the array has no rows"), "{problem}");
        let problem = npy_problem(read_npy(&file("<f8", false, "(3, 0)", &[])[..]));
        assert!(problem.contains("no columns"), "{problem}");
    }

    #[test]
    fn non_finite_values() {
        let bytes = file(
            "<f8",
            false,
            "(2, 3)",
            &le_f64(&[1.0, 2.0, 3.0, 4.0, f64::NAN, 6.0]),
        );
        let problem = npy_problem(read_npy(&bytes[..]));
        assert!(
            problem.starts_with("row 1, column 1 (0-based) is not finite"),
            "{problem}"
        );
        // Fortran order: reported at the logical position.
        let bytes = file(
            "<f4",
            true,
            "(2, 2)",
            &[1f32, f32::INFINITY, 3.0, 4.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        );
        let problem = npy_problem(read_npy(&bytes[..]));
        assert!(
            problem.starts_with("row 1, column 0 (0-based)"),
            "{problem}"
        );
    }

    #[test]
    fn malformed_headers() {
        for dict in [
            "{'descr': '<f8', 'shape': (1,)}",
            "{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1.5,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} junk",
            "{'descr': '<f8' 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
            "['descr']",
            "",
        ] {
            let problem = npy_problem(read_npy(&npy_bytes(1, dict, &le_f64(&[1.0]))[..]));
            assert!(problem.contains("header is malformed"), "{dict}: {problem}");
        }
        let deep = format!("{}{}", "(".repeat(10_000), ")".repeat(10_000));
        let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {deep}}}");
        let problem = npy_problem(read_npy(&npy_bytes(2, &dict, &[])[..]));
        assert!(problem.contains("nested too deeply"), "{problem}");
    }

    #[test]
    fn large_array_in_many_chunks() {
        let n = 30_000;
        let values: Vec<f64> = (0..n * 3).map(|i| i as f64 * 0.5).collect();
        let t = read_npy(&file("<f8", true, &format!("({n}, 3)"), &le_f64(&values))[..]).unwrap();
        assert_eq!(t.data.n_rows(), n);
        assert_eq!(
            t.data.row(7),
            &[3.5, (n + 7) as f64 * 0.5, (2 * n + 7) as f64 * 0.5]
        );
    }

    /// Sizes a header may claim: zero, small, and the edges of every width.
    fn claimed_size() -> impl proptest::strategy::Strategy<Value = u64> {
        use proptest::prelude::*;
        prop_oneof![
            Just(0u64),
            1u64..5,
            Just(u64::from(u32::MAX)),
            Just(1 << 40),
            Just((isize::MAX as u64) / 8 + 1),
            Just(u64::MAX / 2),
            Just(u64::MAX),
            any::<u64>(),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Whatever shape a header claims, the reader reads what is there: an
        /// array of that shape when the data is all there, else an error, and
        /// never an allocation of the claimed size.
        #[test]
        fn any_claimed_shape_reads_or_fails_by_the_data(
            rows in claimed_size(),
            cols in claimed_size(),
            two_d in proptest::bool::ANY,
            fortran in proptest::bool::ANY,
            have in 0usize..40,
        ) {
            let data = le_f64(&(0..have).map(|i| i as f64).collect::<Vec<_>>());
            let shape = if two_d { format!("({rows}, {cols})") } else { format!("({rows},)") };
            let result = read_npy(&file("<f8", fortran, &shape, &data)[..]);
            let want = if two_d { rows.checked_mul(cols) } else { Some(rows) };
            let n_cols = if two_d { cols } else { 1 };
            match want {
                Some(n) if rows > 0 && n_cols > 0 && n <= have as u64 => {
                    let t = result.unwrap();
                    proptest::prop_assert_eq!(t.data.n_rows() as u64, rows);
                    proptest::prop_assert_eq!(t.data.n_cols() as u64, n_cols);
                }
                _ => {
                    let problem = npy_problem(result);
                    proptest::prop_assert!(
                        problem.contains("no rows")
                            || problem.contains("no columns")
                            || problem.contains("too large")
                            || problem.contains("ends after"),
                        "{}", problem
                    );
                }
            }
        }

        /// A header length field of any value: refused, truncated or read.
        #[test]
        fn any_header_length_is_handled(len in proptest::prelude::any::<u32>(), major in 1u8..4) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend([major, 0]);
            if major == 1 {
                bytes.extend((len as u16).to_le_bytes());
            } else {
                bytes.extend(len.to_le_bytes());
            }
            bytes.extend(b"{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}");
            let _ = npy_problem(read_npy(&bytes[..]));
        }
    }
}
