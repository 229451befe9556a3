//! Data read from a file a few rows at a time, on every pass: what a fit
//! larger than memory reads (`--stream`).
//!
//! A [`RowSource`] hands out any range of rows on request, from any thread,
//! so the E-step reads each block of rows when it reaches it and holds no
//! more than a block per thread. Sources:
//!
//! - [`NpySource`]: a `.npy` file, read in place by positional reads (every
//!   dtype and both orders that [`read_npy`](super::read_npy) reads);
//! - [`Spill`]: rows of numbers from any reader (a CSV table, a Parquet
//!   file) parsed once into a temporary binary file of `f64` that is then
//!   read like a `.npy`. Re-parsing text on every pass would cost far more
//!   than the pass itself (measured in `bench/README.md`);
//! - a [`DataRef`] in memory, and [`Columns`], some columns of another source.
//!
//! Reads are positional (`pread`), so no file position is shared and no lock
//! is taken; the operating system's page cache keeps a file that fits in
//! memory warm between passes without counting it in the process's memory.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::npy::{npy, read_layout, Dtype, Kind, Layout};
use crate::data::DataRef;
use crate::error::{Error, Result};

/// The first read that failed during a pass over a source, kept for the
/// end of the pass (an E-step task cannot return an error): the pass goes
/// on over empty blocks, and the fit ends with this error.
#[derive(Default)]
pub(crate) struct ReadFailure {
    failed: std::sync::atomic::AtomicBool,
    error: std::sync::Mutex<Option<Error>>,
}

impl ReadFailure {
    /// Whether a read has failed during this pass.
    pub fn failed(&self) -> bool {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps `e` unless an earlier error is kept.
    pub fn record(&self, e: Error) {
        self.failed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(e);
    }

    /// The kept error, if any (for `EmData::pass_finished`).
    pub fn take(&self) -> Result<()> {
        match self.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Rows that can be read in any order, any number of times, from any thread.
pub trait RowSource: Send + Sync {
    /// Number of rows.
    fn n_rows(&self) -> usize;
    /// Number of values per row.
    fn n_cols(&self) -> usize;
    /// Replaces the contents of `out` with rows `start..start + rows`,
    /// row-major (`rows × n_cols` values). `start + rows <= n_rows`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when reading fails, [`Error::Npy`] when the file changed
    /// since it was opened (it is shorter than its header says).
    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()>;
}

impl<T: RowSource + ?Sized> RowSource for &T {
    fn n_rows(&self) -> usize {
        (**self).n_rows()
    }
    fn n_cols(&self) -> usize {
        (**self).n_cols()
    }
    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()> {
        (**self).read_rows(start, rows, out)
    }
}

impl<T: RowSource + ?Sized> RowSource for std::sync::Arc<T> {
    fn n_rows(&self) -> usize {
        (**self).n_rows()
    }
    fn n_cols(&self) -> usize {
        (**self).n_cols()
    }
    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()> {
        (**self).read_rows(start, rows, out)
    }
}

impl<T: RowSource + ?Sized> RowSource for Box<T> {
    fn n_rows(&self) -> usize {
        (**self).n_rows()
    }
    fn n_cols(&self) -> usize {
        (**self).n_cols()
    }
    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()> {
        (**self).read_rows(start, rows, out)
    }
}

impl RowSource for DataRef<'_> {
    fn n_rows(&self) -> usize {
        DataRef::n_rows(self)
    }

    fn n_cols(&self) -> usize {
        DataRef::n_cols(self)
    }

    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()> {
        out.clear();
        out.extend_from_slice(self.rows(start, start + rows).values());
        Ok(())
    }
}

/// A `.npy` file read in place: 1-D (`n × 1`) or 2-D, any dtype
/// [`read_npy`](super::read_npy) reads, C or Fortran order.
#[derive(Debug)]
pub struct NpySource {
    file: File,
    layout: Layout,
}

impl NpySource {
    /// Opens the `.npy` file at `path` and reads its header. The file must
    /// hold every value its header announces.
    ///
    /// # Errors
    ///
    /// [`Error::Npy`] for anything [`read_npy`](super::read_npy) refuses
    /// before the values, and for a file shorter than its header says;
    /// [`Error::Io`] when it cannot be opened or read.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path)?;
        let layout = read_layout(BufReader::new(&file))?;
        let values = (layout.n_rows as u128) * (layout.n_cols as u128);
        let needed = u128::from(layout.data_offset) + values * layout.dtype.size as u128;
        let len = u128::from(file.metadata()?.len());
        if len < needed {
            return Err(npy(format!(
                "the file has {len} bytes but its header announces {needed}; the file is \
                 truncated: save it again"
            )));
        }
        Ok(NpySource { file, layout })
    }

    /// Whether the values are floats (which may be NaN or infinite; integers
    /// never are).
    pub fn is_float(&self) -> bool {
        self.layout.dtype.kind == Kind::Float
    }

    /// Reads `out.len()` bytes at byte `offset` of the values.
    fn read_bytes(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        read_exact_at(&self.file, out, self.layout.data_offset + offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                npy("the file became shorter while it was read; do not change a file during a fit")
            } else {
                Error::Io(e)
            }
        })
    }
}

thread_local! {
    /// Raw bytes of the last read on this thread, reused.
    static BYTES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl RowSource for NpySource {
    fn n_rows(&self) -> usize {
        self.layout.n_rows
    }

    fn n_cols(&self) -> usize {
        self.layout.n_cols
    }

    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()> {
        let Layout {
            dtype,
            n_rows,
            n_cols,
            fortran_order,
            ..
        } = self.layout;
        debug_assert!(start + rows <= n_rows);
        let item = dtype.size;
        out.clear();
        BYTES.with_borrow_mut(|bytes| {
            if !fortran_order || n_cols == 1 || n_rows == 1 {
                bytes.resize(rows * n_cols * item, 0);
                self.read_bytes((start * n_cols * item) as u64, bytes)?;
                dtype.convert(bytes, out);
                return Ok(());
            }
            // Column j holds values j·n .. (j+1)·n: one read per column,
            // each scattered into its place in the rows.
            out.resize(rows * n_cols, 0.0);
            let mut column = Vec::with_capacity(rows);
            bytes.resize(rows * item, 0);
            for j in 0..n_cols {
                self.read_bytes(((j * n_rows + start) * item) as u64, bytes)?;
                column.clear();
                dtype.convert(bytes, &mut column);
                for (i, v) in column.iter().enumerate() {
                    out[i * n_cols + j] = *v;
                }
            }
            Ok(())
        })
    }
}

/// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
#[cfg(all(unix, feature = "parquet"))]
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    loop {
        match std::os::unix::fs::FileExt::read_at(file, buf, offset) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
#[cfg(all(windows, feature = "parquet"))]
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    loop {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(unix)]
pub(super) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
pub(super) fn read_exact_at(
    file: &File,
    mut buf: &mut [u8],
    mut offset: u64,
) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Some columns of another source, in a given order.
pub struct Columns<S> {
    inner: S,
    picks: Vec<usize>,
}

impl<S: RowSource> Columns<S> {
    /// Columns `picks` (0-based, each `< inner.n_cols()`) of `inner`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] (`columns`) for no column or one out of range.
    pub fn new(inner: S, picks: Vec<usize>) -> Result<Self> {
        let width = inner.n_cols();
        if picks.is_empty() || picks.iter().any(|&j| j >= width) {
            return Err(Error::InvalidConfig {
                field: "columns",
                reason: format!("pick at least one of the {width} columns, each below {width}"),
            });
        }
        Ok(Columns { inner, picks })
    }
}

thread_local! {
    /// Whole rows of the inner source of [`Columns`], reused.
    static WHOLE: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<S: RowSource> RowSource for Columns<S> {
    fn n_rows(&self) -> usize {
        self.inner.n_rows()
    }

    fn n_cols(&self) -> usize {
        self.picks.len()
    }

    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()> {
        WHOLE.with_borrow_mut(|whole| {
            self.inner.read_rows(start, rows, whole)?;
            out.clear();
            for row in whole.chunks_exact(self.inner.n_cols()) {
                out.extend(self.picks.iter().map(|&j| row[j]));
            }
            Ok(())
        })
    }
}

/// Rows of numbers written once to a temporary binary file and read from it
/// on every pass: the streamed form of a CSV table or a Parquet file.
///
/// The file is created in the directory given (next to the output, so that
/// it is on the disk the user chose for large files) and removed when the
/// `Spill` is dropped; on Unix its name is removed at once, so that nothing
/// is left behind even when the process is killed.
#[derive(Debug)]
pub struct Spill {
    source: NpySource,
    _path: TempPath,
}

/// The name of a temporary file while it has one, removed on drop.
#[derive(Debug)]
struct TempPath(Option<PathBuf>);

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Writes rows to a [`Spill`], then [`finish`](SpillWriter::finish)es it.
pub struct SpillWriter {
    out: BufWriter<File>,
    path: TempPath,
    n_cols: usize,
    n_rows: usize,
}

impl SpillWriter {
    /// A new, empty spill file of `n_cols` values per row in `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be created.
    pub fn create(dir: &Path, n_cols: usize) -> Result<Self> {
        let (file, path) = create_unique(dir)?;
        Ok(SpillWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            path: TempPath(path),
            n_cols,
            n_rows: 0,
        })
    }

    /// Appends one row of `n_cols` values.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when writing fails (a full disk, say).
    pub fn push(&mut self, row: &[f64]) -> Result<()> {
        debug_assert_eq!(row.len(), self.n_cols);
        for v in row {
            self.out.write_all(&v.to_le_bytes())?;
        }
        self.n_rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// The written rows as a source.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the last writes fail.
    pub fn finish(self) -> Result<Spill> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        let layout = Layout {
            dtype: Dtype::F64_LE,
            fortran_order: false,
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            data_offset: 0,
        };
        Ok(Spill {
            source: NpySource { file, layout },
            _path: self.path,
        })
    }
}

impl RowSource for Spill {
    fn n_rows(&self) -> usize {
        self.source.n_rows()
    }

    fn n_cols(&self) -> usize {
        self.source.n_cols()
    }

    fn read_rows(&self, start: usize, rows: usize, out: &mut Vec<f64>) -> Result<()> {
        self.source.read_rows(start, rows, out)
    }
}

/// A new file in `dir` under a name no other file has, opened for reading
/// and writing; on Unix its name is already removed (`None`).
fn create_unique(dir: &Path) -> Result<(File, Option<PathBuf>)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".emkit-spill-{pid}-{n}.tmp"));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                if cfg!(unix) && std::fs::remove_file(&path).is_ok() {
                    return Ok((file, None));
                }
                return Ok((file, Some(path)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::Io(std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot create a temporary file in {} for the streamed data: {e}",
                        dir.display()
                    ),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        let header =
            format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}\n");
        let header = if fortran {
            header.replace("true", "True")
        } else {
            header.replace("false", "False")
        };
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("emkit-source-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn npy_rows_equal_read_npy_in_every_layout() {
        let d = dir();
        // 5 x 3 values 0..15 as big-endian i16, in both orders.
        let values: Vec<i16> = (0..15).map(|v| v * 3 - 7).collect();
        for fortran in [false, true] {
            let order: Vec<i16> = if fortran {
                (0..3)
                    .flat_map(|j| (0..5).map(move |i| i * 3 + j))
                    .map(|at| values[at as usize])
                    .collect()
            } else {
                values.clone()
            };
            let data: Vec<u8> = order.iter().flat_map(|v| v.to_be_bytes()).collect();
            let bytes = npy_bytes(">i2", fortran, "(5, 3)", &data);
            let path = d.join(format!("a{fortran}.npy"));
            std::fs::write(&path, &bytes).unwrap();
            let whole = super::super::read_npy(&bytes[..]).unwrap().data;
            let src = NpySource::open(&path).unwrap();
            assert_eq!((src.n_rows(), src.n_cols()), (5, 3));
            let mut out = Vec::new();
            for start in 0..5 {
                for rows in 0..=5 - start {
                    src.read_rows(start, rows, &mut out).unwrap();
                    assert_eq!(&out[..], whole.view().rows(start, start + rows).values());
                }
            }
        }
    }

    #[test]
    fn a_truncated_npy_is_refused_when_opened() {
        let d = dir();
        let data: Vec<u8> = (0..5).flat_map(|v| f64::from(v).to_le_bytes()).collect();
        let bytes = npy_bytes("<f8", false, "(3, 2)", &data);
        let path = d.join("short.npy");
        std::fs::write(&path, bytes).unwrap();
        let err = NpySource::open(&path).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn spilled_rows_read_back_and_the_file_goes_away() {
        let d = d_spill();
        let mut w = SpillWriter::create(&d, 2).unwrap();
        for i in 0..1000 {
            w.push(&[i as f64, -(i as f64) / 3.0]).unwrap();
        }
        let spill = w.finish().unwrap();
        assert_eq!((spill.n_rows(), spill.n_cols()), (1000, 2));
        let mut out = Vec::new();
        spill.read_rows(998, 2, &mut out).unwrap();
        assert_eq!(out, [998.0, -998.0 / 3.0, 999.0, -333.0]);
        let cols = Columns::new(spill, vec![1]).unwrap();
        cols.read_rows(3, 1, &mut out).unwrap();
        assert_eq!(out, [-1.0]);
        drop(cols);
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            0,
            "nothing left behind"
        );
    }

    fn d_spill() -> PathBuf {
        let d = dir().join("spill");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
