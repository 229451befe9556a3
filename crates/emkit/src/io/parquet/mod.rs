//! Reading Parquet files: numeric columns, by name, a few rows at a time.
//!
//! A [`ParquetSource`] is a [`RowSource`]: it reads any range of rows on
//! request, page by page, so that neither a fit in memory nor a streamed one
//! ever holds a whole row group. Each reader ("cursor") walks one row group
//! forwards; a read that continues where an earlier one stopped takes that
//! cursor over, and a read elsewhere opens a cursor and skips to its first
//! row (whole pages are skipped without being decompressed). The E-step reads
//! each task's blocks in order, so a pass opens one cursor per task.
//!
//! Columns: every top-level column of a numeric type, read as `f64`:
//! booleans (0 and 1), signed and unsigned integers of 8 to 64 bits (64-bit
//! integers beyond 2^53 are rounded, as numpy's `astype(float)` does), half,
//! single and double floats. Strings, dates, times, timestamps, decimals and
//! nested columns (lists, maps, structs) are refused with their name. A null
//! is an error naming its row and column, until missing values are supported.
//! Compression: uncompressed, Snappy, gzip, LZ4 (both kinds) and Zstandard;
//! Brotli and LZO are refused when the file is opened, naming the column.
//!
//! Problems are reported as [`Error::Parquet`]; I/O errors as [`Error::Io`].

mod file;
mod types;

use std::path::Path;
use std::sync::Mutex;

use parquet::basic::Compression;
use parquet::column::reader::{get_typed_column_reader, ColumnReaderImpl};
use parquet::data_type::{
    BoolType, DataType, DoubleType, FixedLenByteArrayType, FloatType, Int32Type, Int64Type,
};
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::schema::types::ColumnDescPtr;

use self::file::{from_parquet, open_reader, problem, Shared};
use self::types::{half_to_f64, kind_of, Kind};
use super::data::Table;
use super::source::RowSource;
use crate::data::Matrix;
use crate::error::{Error, Result};

/// One column being read.
#[derive(Debug)]
struct Column {
    /// Leaf index in the file's schema.
    leaf: usize,
    kind: Kind,
    /// Whether the schema allows nulls (definition levels are then read).
    nullable: bool,
}

/// A typed column reader.
enum Reader {
    Bool(ColumnReaderImpl<BoolType>),
    I32(ColumnReaderImpl<Int32Type>),
    I64(ColumnReaderImpl<Int64Type>),
    F32(ColumnReaderImpl<FloatType>),
    F64(ColumnReaderImpl<DoubleType>),
    Fixed(ColumnReaderImpl<FixedLenByteArrayType>),
}

/// Readers of every selected column, at row `next` of row group `group`.
struct Cursor {
    group: usize,
    next: usize,
    readers: Vec<Reader>,
}

/// Buffers reused by one read.
#[derive(Default)]
struct Scratch {
    levels: Vec<i16>,
    bools: Vec<bool>,
    i32s: Vec<i32>,
    i64s: Vec<i64>,
    f32s: Vec<f32>,
    f64s: Vec<f64>,
    fixed: Vec<parquet::data_type::FixedLenByteArray>,
}

/// A Parquet file's numeric columns, read in place (see the [module](self)
/// documentation).
pub struct ParquetSource {
    reader: SerializedFileReader<Shared>,
    names: Vec<String>,
    columns: Vec<Column>,
    /// First row of each row group, then the number of rows.
    starts: Vec<usize>,
    /// Cursors not in use, most recently used last.
    idle: Mutex<Vec<Cursor>>,
}

impl std::fmt::Debug for ParquetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSource")
            .field("names", &self.names)
            .field("columns", &self.columns)
            .field("row_groups", &(self.starts.len() - 1))
            .finish_non_exhaustive()
    }
}

/// The most cursors kept between reads: one per task in flight, a few to spare.
fn max_idle() -> usize {
    rayon::current_num_threads() + 2
}

impl ParquetSource {
    /// Opens the Parquet file at `path` and reads its footer. `columns` picks
    /// top-level columns by name, in the order given; without it every
    /// column is read, and all must be numeric.
    ///
    /// # Errors
    ///
    /// [`Error::Parquet`] when the file is not Parquet, has no rows or no
    /// columns, a selected column is missing, repeated or not numeric;
    /// [`Error::Io`] when it cannot be opened or read.
    pub fn open(path: &Path, columns: Option<&[String]>) -> Result<Self> {
        let reader = open_reader(path)?;
        let meta = reader.metadata();
        let schema = meta.file_metadata().schema_descr();
        let leaves: Vec<(String, ColumnDescPtr)> = (0..schema.num_columns())
            .map(|i| (schema.column(i).path().parts()[0].clone(), schema.column(i)))
            .collect();
        let tops: Vec<&str> = schema
            .root_schema()
            .get_fields()
            .iter()
            .map(|f| f.name())
            .collect();
        if tops.is_empty() {
            return Err(problem("the file has no columns"));
        }
        let wanted: Vec<String> = match columns {
            Some([]) => {
                return Err(problem(
                    "no columns were selected; name at least one column",
                ))
            }
            Some(c) => c.to_vec(),
            None => tops.iter().map(|s| s.to_string()).collect(),
        };
        let mut picked = Vec::with_capacity(wanted.len());
        for (k, name) in wanted.iter().enumerate() {
            if wanted[..k].contains(name) {
                return Err(problem(format!(
                    "column {name:?} is selected twice; list each column once"
                )));
            }
            let mut found = leaves.iter().enumerate().filter(|(_, (n, _))| n == name);
            let Some((leaf, (_, descr))) = found.next() else {
                return Err(problem(format!(
                    "no column named {name:?}; its columns are {}",
                    list(&tops)
                )));
            };
            let nested = found.next().is_some();
            let kind = if nested {
                Err("a nested column (list, map or struct)".to_string())
            } else {
                kind_of(descr)
            };
            let kind = kind.map_err(|what| {
                let numeric: Vec<&str> = tops
                    .iter()
                    .copied()
                    .filter(|t| {
                        let mut l = leaves.iter().filter(|(n, _)| n == t);
                        matches!((l.next(), l.next()), (Some((_, d)), None) if kind_of(d).is_ok())
                    })
                    .collect();
                problem(format!(
                    "column {name:?} is {what}, not numbers; pick numeric columns with \
                     --columns (the numeric ones: {})",
                    if numeric.is_empty() {
                        "none".to_string()
                    } else {
                        list(&numeric)
                    }
                ))
            })?;
            picked.push(Column {
                leaf,
                kind,
                nullable: descr.max_def_level() > 0,
            });
        }
        let mut starts = Vec::with_capacity(meta.num_row_groups() + 1);
        let mut total = 0usize;
        for g in meta.row_groups() {
            starts.push(total);
            let rows = usize::try_from(g.num_rows())
                .map_err(|_| problem("a row group has a negative number of rows"))?;
            total = total
                .checked_add(rows)
                .ok_or_else(|| problem("the row groups hold more rows than can be counted"))?;
        }
        starts.push(total);
        for g in meta.row_groups() {
            for (c, name) in picked.iter().zip(&wanted) {
                let codec = g.column(c.leaf).compression();
                let codec = match codec {
                    Compression::BROTLI(_) => "Brotli",
                    Compression::LZO => "LZO",
                    _ => continue,
                };
                return Err(problem(format!(
                    "column {name:?} is compressed with {codec}, which emkit does not read; \
                     write the file with Snappy, Zstandard, gzip or LZ4 compression"
                )));
            }
        }
        if total == 0 {
            return Err(problem("the file has no rows; give at least one row"));
        }
        Ok(ParquetSource {
            reader,
            names: wanted,
            columns: picked,
            starts,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Names of the columns read, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether any column read holds floats (which may be NaN or infinite).
    pub fn has_floats(&self) -> bool {
        self.columns
            .iter()
            .any(|c| matches!(c.kind, Kind::F16 | Kind::F32 | Kind::F64))
    }

    /// Number of row groups.
    pub fn n_row_groups(&self) -> usize {
        self.starts.len() - 1
    }

    /// The row group holding row `row`.
    fn group_of(&self, row: usize) -> usize {
        self.starts.partition_point(|&s| s <= row) - 1
    }

    /// A cursor at row `row`: one left there by an earlier read, else one
    /// moved forward from earlier in the same row group, else a new one.
    fn cursor_at(&self, row: usize) -> Result<Cursor> {
        let group = self.group_of(row);
        let taken = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let at = idle
                .iter()
                .rposition(|c| c.next == row)
                .or_else(|| idle.iter().rposition(|c| c.group == group && c.next < row));
            at.map(|i| idle.remove(i))
        };
        let mut cursor = match taken {
            Some(c) => c,
            None => self.open_cursor(group)?,
        };
        let skip = row - cursor.next;
        if skip > 0 {
            for (reader, column) in cursor.readers.iter_mut().zip(&self.columns) {
                let skipped = match reader {
                    Reader::Bool(r) => r.skip_records(skip),
                    Reader::I32(r) => r.skip_records(skip),
                    Reader::I64(r) => r.skip_records(skip),
                    Reader::F32(r) => r.skip_records(skip),
                    Reader::F64(r) => r.skip_records(skip),
                    Reader::Fixed(r) => r.skip_records(skip),
                }
                .map_err(from_parquet)?;
                if skipped != skip {
                    return Err(self.short(column, group));
                }
            }
            cursor.next = row;
        }
        Ok(cursor)
    }

    fn open_cursor(&self, group: usize) -> Result<Cursor> {
        let rg = self.reader.get_row_group(group).map_err(from_parquet)?;
        let mut readers = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let r = rg.get_column_reader(c.leaf).map_err(from_parquet)?;
            readers.push(match c.kind {
                Kind::Bool => Reader::Bool(get_typed_column_reader(r)),
                Kind::I32 | Kind::U32 => Reader::I32(get_typed_column_reader(r)),
                Kind::I64 | Kind::U64 => Reader::I64(get_typed_column_reader(r)),
                Kind::F32 => Reader::F32(get_typed_column_reader(r)),
                Kind::F64 => Reader::F64(get_typed_column_reader(r)),
                Kind::F16 => Reader::Fixed(get_typed_column_reader(r)),
            });
        }
        Ok(Cursor {
            group,
            next: self.starts[group],
            readers,
        })
    }

    fn short(&self, column: &Column, group: usize) -> Error {
        let name = &self.names[self
            .columns
            .iter()
            .position(|c| c.leaf == column.leaf)
            .unwrap_or(0)];
        problem(format!(
            "column {name:?} holds fewer values in row group {group} than the row group's \
             {} rows; the file is damaged: write it again",
            self.starts[group + 1] - self.starts[group]
        ))
    }

    /// Reads `rows` rows from `cursor` into `out` (row-major, `rows` ×
    /// `n_cols`, already sized), all within the cursor's row group.
    fn read_into(
        &self,
        cursor: &mut Cursor,
        rows: usize,
        out: &mut [f64],
        scratch: &mut Scratch,
    ) -> Result<()> {
        let d = self.columns.len();
        for (j, (reader, column)) in cursor.readers.iter_mut().zip(&self.columns).enumerate() {
            let mut done = 0;
            while done < rows {
                scratch.levels.clear();
                let levels = column.nullable.then_some(&mut scratch.levels);
                let want = rows - done;
                let dest = &mut out[done * d..];
                macro_rules! read {
                    ($r:expr, $buf:expr, $convert:expr) => {
                        read_some($r, want, levels, $buf, $convert)
                            .map_err(from_parquet)?
                            .scatter(dest, d, j)
                    };
                }
                let (records, values) = match reader {
                    Reader::Bool(r) => read!(r, &mut scratch.bools, |&v| f64::from(u8::from(v))),
                    Reader::I32(r) if column.kind == Kind::U32 => {
                        read!(r, &mut scratch.i32s, |&v| f64::from(v as u32))
                    }
                    Reader::I32(r) => read!(r, &mut scratch.i32s, |&v| f64::from(v)),
                    Reader::I64(r) if column.kind == Kind::U64 => {
                        read!(r, &mut scratch.i64s, |&v| v as u64 as f64)
                    }
                    Reader::I64(r) => read!(r, &mut scratch.i64s, |&v| v as f64),
                    Reader::F32(r) => read!(r, &mut scratch.f32s, |&v| f64::from(v)),
                    Reader::F64(r) => read!(r, &mut scratch.f64s, |&v| v),
                    Reader::Fixed(r) => read!(r, &mut scratch.fixed, |v| {
                        let b = v.data();
                        half_to_f64(u16::from_le_bytes([b[0], b[1]]))
                    }),
                };
                if records == 0 {
                    return Err(self.short(column, cursor.group));
                }
                if values < records {
                    let at = scratch.levels.iter().position(|&l| l == 0).unwrap_or(0);
                    return Err(problem(format!(
                        "row {} (0-based), column {:?} is null; remove or impute missing \
                         values before fitting",
                        cursor.next + done + at,
                        self.names[j]
                    )));
                }
                done += records;
            }
        }
        cursor.next += rows;
        Ok(())
    }
}

/// Values read by [`read_some`], waiting to be placed in their column.
struct Got<'a, T, F> {
    records: usize,
    values: &'a [T],
    convert: F,
}

impl<T, F: Fn(&T) -> f64> Got<'_, T, F> {
    /// Writes the values into column `j` of the rows in `dest` (stride `d`)
    /// and returns the number of records and of values read.
    fn scatter(self, dest: &mut [f64], d: usize, j: usize) -> (usize, usize) {
        for (i, v) in self.values.iter().enumerate() {
            dest[i * d + j] = (self.convert)(v);
        }
        (self.records, self.values.len())
    }
}

/// Reads up to `want` records of a flat column.
fn read_some<'b, T: DataType, F: Fn(&T::T) -> f64>(
    reader: &mut ColumnReaderImpl<T>,
    want: usize,
    levels: Option<&mut Vec<i16>>,
    values: &'b mut Vec<T::T>,
    convert: F,
) -> parquet::errors::Result<Got<'b, T::T, F>> {
    values.clear();
    let (records, _, _) = reader.read_records(want, levels, None, values)?;
    Ok(Got {
        records,
        values,
        convert,
    })
}

fn list(names: &[&str]) -> String {
    let shown: Vec<String> = names.iter().take(20).map(|n| format!("{n:?}")).collect();
    let more = if names.len() > 20 {
        format!(", ... ({} in all)", names.len())
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

impl RowSource for ParquetSource {
    fn n_rows(&self) -> usize {
        *self.starts.last().expect("at least one start")
    }

    fn n_cols(&self) -> usize {
        self.columns.len()
    }

    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()> {
        debug_assert!(start + rows <= self.n_rows());
        let d = self.columns.len();
        out.clear();
        out.resize(rows * d, 0.0);
        SCRATCH.with_borrow_mut(|scratch| {
            let mut done = 0;
            while done < rows {
                let at = start + done;
                let mut cursor = self.cursor_at(at)?;
                let end = self.starts[cursor.group + 1];
                let n = (rows - done).min(end - at);
                self.read_into(&mut cursor, n, &mut out[done * d..(done + n) * d], scratch)?;
                done += n;
                if cursor.next < end {
                    let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                    if idle.len() >= max_idle() {
                        idle.remove(0);
                    }
                    idle.push(cursor);
                }
            }
            Ok(())
        })
    }
}

/// The names of the top-level columns of the Parquet file at `path`, numeric
/// or not, in the file's order, and its number of rows.
///
/// # Errors
///
/// As [`ParquetSource::open`] for a file that cannot be read.
pub fn describe(path: &Path) -> Result<(Vec<String>, usize)> {
    let reader = open_reader(path)?;
    let meta = reader.metadata();
    let names = meta
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let rows = meta
        .row_groups()
        .iter()
        .map(|g| usize::try_from(g.num_rows()).unwrap_or(0))
        .fold(0usize, usize::saturating_add);
    Ok((names, rows))
}

/// Reads the Parquet file at `path` into a table: the columns named by
/// `columns`, in that order, or every column.
///
/// # Errors
///
/// As [`ParquetSource::open`], and [`Error::Parquet`] for a null, NaN or
/// infinite value (naming its row and column).
pub fn read_parquet(path: &Path, columns: Option<&[String]>) -> Result<Table> {
    let source = ParquetSource::open(path, columns)?;
    let (n, d) = (source.n_rows(), source.n_cols());
    let mut values = Vec::new();
    // The value count is checked against memory before reading it all.
    n.checked_mul(d)
        .filter(|&v| v <= isize::MAX as usize / 8)
        .ok_or_else(|| problem("the file holds more values than can be addressed"))?;
    source.read_rows(0, n, &mut values)?;
    if source.has_floats() {
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(problem(format!(
                "row {} (0-based), column {:?} is {}; remove or impute missing values before \
                 fitting",
                at / d,
                source.names[at % d],
                values[at]
            )));
        }
    }
    Ok(Table {
        names: source.names.clone(),
        data: Matrix::new(values, n, d)?,
    })
}
