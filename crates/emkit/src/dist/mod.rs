//! Emission distributions: the per-component densities that models mix.

pub mod gaussian;
