//! The bodies of emkit's fuzz targets, shared with the regression tests that
//! replay `fuzz/regressions/` under a plain `cargo test`.

pub mod image;
pub mod readers;
