//! Reading data (CSV, `.npy`, Parquet, streamed sources), sequence lengths, and reading/writing model files.

pub mod data;
mod hmm_model;
pub mod lengths;
mod model;
pub mod npy;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod source;
pub mod table;

#[cfg(feature = "parquet")]
pub use self::parquet::{read_parquet, ParquetSource};
pub use data::{is_parquet, npy_columns, read_table, read_table_with, Table};
pub use hmm_model::{HmmFile, HMM_FORMAT, HMM_VERSION};
pub use lengths::read_lengths;
pub use model::{MixtureFile, MIXTURE_FORMAT, MIXTURE_VERSION};
pub use npy::read_npy;
pub use source::{Columns, NpySource, RowSource, Spill, SpillWriter};
pub use table::{parse_delimiter, read_csv, read_csv_spilled, read_csv_with, CsvOptions};
