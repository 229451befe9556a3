//! Reading data (CSV, `.npy`), sequence lengths, and reading/writing model files.

pub mod data;
mod hmm_model;
pub mod lengths;
mod model;
pub mod npy;
pub mod table;

pub use data::{read_table, read_table_with, Table};
pub use hmm_model::{HmmFile, HMM_FORMAT, HMM_VERSION};
pub use lengths::read_lengths;
pub use model::{MixtureFile, MIXTURE_FORMAT, MIXTURE_VERSION};
pub use npy::read_npy;
pub use table::{parse_delimiter, read_csv, read_csv_with, CsvOptions};
