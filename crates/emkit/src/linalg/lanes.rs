//! Row-lane vectors: eight rows' values of one quantity side by side.
//!
//! Kernels hold a block of rows transposed, feature by feature, as `[f64; 8]`
//! lanes; [`super::simd`] holds one lane in vector registers.

/// Rows per lane vector.
pub const LANES: usize = 8;

/// One quantity for [`LANES`] consecutive rows.
pub type Lane = [f64; LANES];

/// A lane of zeros.
pub const ZERO: Lane = [0.0; LANES];

/// Sum of a lane in a fixed order (pairwise), so results never depend on
/// how a kernel was compiled.
#[inline(always)]
pub fn hsum(a: &Lane) -> f64 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsum_adds_pairwise() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        assert_eq!(hsum(&a), 36.0);
    }
}
