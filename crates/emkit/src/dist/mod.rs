//! Emission distributions: the per-component densities that models mix, and
//! the M-step formulas of each family (maximum likelihood, or MAP under a
//! conjugate prior).

pub(crate) mod categorical;
pub mod gaussian;
