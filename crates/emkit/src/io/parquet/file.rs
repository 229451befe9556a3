//! The file under a [`ParquetSource`](super::ParquetSource): positional
//! reads that threads never share a position in, and errors in our words.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedFileReader;

use crate::error::{Error, Result};
use crate::io::source::{read_at, read_exact_at};

pub(super) fn problem(text: impl Into<String>) -> Error {
    Error::Parquet {
        problem: text.into(),
    }
}

/// A Parquet error in our words: I/O stays I/O, the rest names the fix.
pub(super) fn from_parquet(e: ParquetError) -> Error {
    match e {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => Error::Io(*io),
            Err(other) => problem(other.to_string()),
        },
        other => {
            let text = other.to_string();
            let text = text.strip_prefix("Parquet error: ").unwrap_or(&text);
            problem(format!("{text}; the file may be damaged: write it again"))
        }
    }
}

/// The file read by positional reads, so cursors on several threads never
/// share a file position (`File`'s own reader clones share one).
pub(super) struct PreadFile {
    file: File,
    len: u64,
}

impl Length for PreadFile {
    fn len(&self) -> u64 {
        self.len
    }
}

/// A reader from a position of a [`PreadFile`], moving only its own offset.
pub(super) struct At {
    file: Arc<PreadFile>,
    offset: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.file.len.saturating_sub(self.offset);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = read_at(&self.file.file, &mut buf[..want], self.offset)?;
        self.offset += got as u64;
        Ok(got)
    }
}

/// [`ChunkReader`] for a shared [`PreadFile`].
pub(super) struct Shared(Arc<PreadFile>);

impl Length for Shared {
    fn len(&self) -> u64 {
        self.0.len
    }
}

impl ChunkReader for Shared {
    type T = std::io::BufReader<At>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(std::io::BufReader::with_capacity(
            16 * 1024,
            At {
                file: Arc::clone(&self.0),
                offset: start,
            },
        ))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        let end = start.checked_add(length as u64);
        if end.is_none_or(|e| e > self.0.len) {
            return Err(ParquetError::EOF(format!(
                "{length} bytes at byte {start} run past the end of the file ({} bytes): the \
                 file is truncated or changed while it was read",
                self.0.len
            )));
        }
        let mut buf = vec![0u8; length];
        read_exact_at(&self.0.file, &mut buf, start)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(buf.into())
    }
}

pub(super) fn open_reader(path: &Path) -> Result<SerializedFileReader<Shared>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = [0u8; 4];
    let mut tail = [0u8; 4];
    let marked = len >= 12
        && read_exact_at(&file, &mut head, 0).is_ok()
        && read_exact_at(&file, &mut tail, len - 4).is_ok()
        && &head == b"PAR1"
        && (&tail == b"PAR1" || &tail == b"PARE");
    if !marked {
        return Err(problem(
            "it does not begin and end with the Parquet mark PAR1, so it is not a Parquet file \
             (or it is cut short); give a Parquet file, or name a CSV or .npy file by its own \
             extension",
        ));
    }
    if &tail == b"PARE" {
        return Err(problem(
            "its footer is encrypted, which emkit does not read; write it without encryption",
        ));
    }
    let shared = Shared(Arc::new(PreadFile { file, len }));
    SerializedFileReader::new(shared).map_err(from_parquet)
}
