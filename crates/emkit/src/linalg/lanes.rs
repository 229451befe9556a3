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

/// Lanes that start on a 64-byte boundary, one cache line and one AVX-512
/// vector each: a vector load that straddles two lines costs a second cache
/// access, and the block kernels load every lane of their scratch many times.
/// On one cached 512 × 64 block with k = 32 (single thread, AVX-512), aligned
/// scratch made the log-densities 7% and the second moments 15% faster than
/// scratch offset by 8 bytes; whole fits gain less, as the allocator's
/// placement is not always unlucky. Dereferences to `[Lane]`.
pub struct LaneBuf {
    values: Vec<f64>,
    start: usize,
    len: usize,
}

impl LaneBuf {
    /// `len` lanes of zeros.
    pub fn zeros(len: usize) -> Self {
        let values = vec![0.0; len * LANES + LANES - 1];
        // An offset of at most 7 values always reaches the boundary; should
        // `align_offset` decline (it may), the lanes are merely unaligned.
        let start = match values.as_ptr().align_offset(LANES * size_of::<f64>()) {
            s if s < LANES => s,
            _ => 0,
        };
        LaneBuf { values, start, len }
    }
}

impl Default for LaneBuf {
    fn default() -> Self {
        LaneBuf::zeros(0)
    }
}

impl std::ops::Deref for LaneBuf {
    type Target = [Lane];
    fn deref(&self) -> &[Lane] {
        self.values[self.start..self.start + self.len * LANES]
            .as_chunks()
            .0
    }
}

impl std::ops::DerefMut for LaneBuf {
    fn deref_mut(&mut self) -> &mut [Lane] {
        self.values[self.start..self.start + self.len * LANES]
            .as_chunks_mut()
            .0
    }
}

/// A clone is allocated anew, so its alignment is worked out anew.
impl Clone for LaneBuf {
    fn clone(&self) -> Self {
        let mut copy = LaneBuf::zeros(self.len);
        copy.copy_from_slice(self);
        copy
    }
}

impl PartialEq for LaneBuf {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for LaneBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

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
    fn lane_bufs_are_aligned_zeros_and_clone_by_value() {
        for len in [0, 1, 3, 64, 1000] {
            let mut a = LaneBuf::zeros(len);
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|l| *l == ZERO));
            if len > 0 {
                assert_eq!(a.as_ptr() as usize % 64, 0, "len {len}");
                a[len - 1][7] = 2.5;
            }
            let b = a.clone();
            assert_eq!(a, b);
            if len > 0 {
                assert_eq!(b.as_ptr() as usize % 64, 0);
                assert_eq!(b[len - 1][7], 2.5);
            }
        }
    }

    #[test]
    fn hsum_adds_pairwise() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        assert_eq!(hsum(&a), 36.0);
    }
}
