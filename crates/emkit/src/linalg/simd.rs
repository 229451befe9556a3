//! Explicit vectors for the row-lane kernels, one backend per instruction set.
//!
//! A [`Lane`] (eight rows' values) is one vector: two `__m256d` with AVX2, one
//! `__m512d` with AVX-512, a plain array in the portable build. Kernels are
//! written once, generic over [`Simd`], and each backend is compiled inside a
//! `#[target_feature]` function chosen at run time. Writing the vectors out
//! (instead of trusting auto-vectorisation) keeps the compiler from turning
//! lane loops into gathers and scatters.
//!
//! Every operation acts lane by lane, so two backends with the same
//! multiply-add rounding give the same bits. The AVX backends fuse
//! multiply-adds; the portable one rounds products separately.

use std::sync::OnceLock;

use super::lanes::Lane;

/// The instruction sets the kernels may use, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// Plain arrays: separate multiplies and adds.
    Portable,
    /// AVX2 with fused multiply-adds.
    Avx2,
    /// AVX-512F with fused multiply-adds (the same bits as AVX2).
    Avx512,
}

/// The widest level the environment variable `EMKIT_SIMD` allows:
/// `portable`, `avx2` or `avx512` (any other value, or none: no limit, the
/// best this processor runs). Results are bit-identical across thread counts
/// on one machine, but the portable build rounds products separately where
/// the AVX builds fuse them, so its last digits differ (agreement to ~1e-12
/// relative, tested); `EMKIT_SIMD=portable` reproduces here what a processor
/// without AVX2 prints.
pub fn simd_limit() -> SimdLevel {
    static LIMIT: OnceLock<SimdLevel> = OnceLock::new();
    *LIMIT.get_or_init(|| match std::env::var("EMKIT_SIMD").as_deref() {
        Ok("portable") => SimdLevel::Portable,
        Ok("avx2") => SimdLevel::Avx2,
        _ => SimdLevel::Avx512,
    })
}

/// Below this, [`Simd::exp`] returns exactly 0: the true values (< 1e-304)
/// are far below what any sum of responsibilities or densities can register,
/// and computing them would pass through subnormal numbers, which cost Intel
/// processors a microcode assist (~100× a normal multiply) per lane.
pub const EXP_CUTOFF: f64 = -700.0;

/// ln 2 split in two: the high part has trailing zero bits, so `n·LN2_HI` is
/// exact for the `n` that occur, and `LN2_HI + LN2_LO` is ln 2 to ~1e-26.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// 1.5·2^52: adding it rounds a double to an integer held in the low mantissa bits.
const SHIFTER: f64 = 6_755_399_441_055_744.0;

/// Vector operations on [`Lane`]-sized values.
///
/// # Safety
/// A backend's methods may only run on a processor with the instructions it
/// was written for: implementors are constructed only after detection.
pub unsafe trait Simd: Copy {
    /// One [`Lane`] held in registers.
    type V: Copy;
    /// Every lane `x`.
    fn splat(self, x: f64) -> Self::V;
    /// Loads a lane.
    fn load(self, lane: &Lane) -> Self::V;
    /// Stores a lane.
    fn store(self, lane: &mut Lane, v: Self::V);
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a − b`.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b + c`: fused (one rounding) in the AVX backends, two roundings in
    /// the portable one.
    fn madd(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a / b`.
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `if a > b { a } else { b }`, lane by lane.
    fn max(self, a: Self::V, b: Self::V) -> Self::V {
        self.select_gt(a, b, a, b)
    }
    /// `if a > b { t } else { f }`, lane by lane (NaN compares false).
    fn select_gt(self, a: Self::V, b: Self::V, t: Self::V, f: Self::V) -> Self::V;
    /// `if a < b { t } else { f }`, lane by lane (NaN compares false).
    fn select_lt(self, a: Self::V, b: Self::V, t: Self::V, f: Self::V) -> Self::V;
    /// `2^n` for integer-valued `n` in [−1022, 1023], built from its bits.
    fn pow2i(self, n: Self::V) -> Self::V;
    /// For positive normal `x = m·2^e`, `m ∈ [1, 2)`: `(e, m)`, with `e` as a double.
    fn split_exponent(self, x: Self::V) -> (Self::V, Self::V);

    /// `e^x` lane by lane: Cody–Waite reduction `x = n ln 2 + r`, |r| ≤ ln2/2, a
    /// degree-13 Taylor polynomial (truncation error r¹⁴/14! ≤ 4e-18, below half
    /// an ulp) and `2^n` applied in two halves. Below [`EXP_CUTOFF`] gives 0,
    /// above 709.78 gives +∞, NaN stays NaN. Within 2 ulps of `f64::exp` (tested).
    #[inline(always)]
    fn exp(self, x: Self::V) -> Self::V {
        const LOG2E: f64 = std::f64::consts::LOG2_E;
        const C: [f64; 13] = [
            1.0 / 479_001_600.0,
            1.0 / 39_916_800.0,
            1.0 / 3_628_800.0,
            1.0 / 362_880.0,
            1.0 / 40_320.0,
            1.0 / 5_040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ];
        let cut = self.splat(EXP_CUTOFF);
        let top = self.splat(710.0);
        let xc = self.select_lt(x, cut, cut, x);
        let xc = self.select_gt(xc, top, top, xc);
        let shifter = self.splat(SHIFTER);
        let n = self.sub(self.madd(xc, self.splat(LOG2E), shifter), shifter);
        let r = self.madd(n, self.splat(-LN2_HI), xc);
        let r = self.madd(n, self.splat(-LN2_LO), r);
        let mut p = self.splat(1.0 / 6_227_020_800.0);
        for c in C {
            p = self.madd(p, r, self.splat(c));
        }
        let a = self.sub(self.madd(n, self.splat(0.5), shifter), shifter);
        let b = self.sub(n, a);
        let out = self.mul(self.mul(p, self.pow2i(a)), self.pow2i(b));
        self.select_lt(x, cut, self.splat(0.0), out)
    }

    /// `ln x` lane by lane for positive normal `x` (0 gives −∞): `x = m·2^e`
    /// with `m ∈ [√½, √2)`, `ln m = 2 atanh s`, `s = (m−1)/(m+1)`, as an odd
    /// series in `s` (|s| ≤ 0.172; dropped terms below 1e-18 relative), and
    /// `e ln 2` added in two parts. Within 2 ulps of `f64::ln` (tested).
    #[inline(always)]
    fn ln(self, x: Self::V) -> Self::V {
        let (e, m) = self.split_exponent(x);
        let sqrt2 = self.splat(std::f64::consts::SQRT_2);
        let one = self.splat(1.0);
        let e = self.select_gt(m, sqrt2, self.add(e, one), e);
        let m = self.select_gt(m, sqrt2, self.mul(m, self.splat(0.5)), m);
        let s = self.div(self.sub(m, one), self.add(m, one));
        let s2 = self.mul(s, s);
        // 2·(s + s³/3 + … + s²³/23), Horner in s².
        let mut p = self.splat(1.0 / 23.0);
        for c in [21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
            p = self.madd(p, s2, self.splat(1.0 / c));
        }
        let ln_m = self.mul(self.mul(self.splat(2.0), s), p);
        let v = self.madd(e, self.splat(LN2_LO), ln_m);
        let v = self.madd(e, self.splat(LN2_HI), v);
        self.select_gt(x, self.splat(0.0), v, self.splat(f64::NEG_INFINITY))
    }

    /// Sum of the lanes in a fixed pairwise order.
    #[inline(always)]
    fn hsum(self, v: Self::V) -> f64 {
        let mut lane = [0.0; 8];
        self.store(&mut lane, v);
        super::lanes::hsum(&lane)
    }
}

/// Plain arrays: any processor.
#[derive(Clone, Copy, Debug)]
pub struct Portable;

// SAFETY: uses no special instructions.
unsafe impl Simd for Portable {
    type V = Lane;
    #[inline(always)]
    fn splat(self, x: f64) -> Lane {
        [x; 8]
    }
    #[inline(always)]
    fn load(self, lane: &Lane) -> Lane {
        *lane
    }
    #[inline(always)]
    fn store(self, lane: &mut Lane, v: Lane) {
        *lane = v;
    }
    #[inline(always)]
    fn add(self, a: Lane, b: Lane) -> Lane {
        std::array::from_fn(|l| a[l] + b[l])
    }
    #[inline(always)]
    fn sub(self, a: Lane, b: Lane) -> Lane {
        std::array::from_fn(|l| a[l] - b[l])
    }
    #[inline(always)]
    fn mul(self, a: Lane, b: Lane) -> Lane {
        std::array::from_fn(|l| a[l] * b[l])
    }
    #[inline(always)]
    fn madd(self, a: Lane, b: Lane, c: Lane) -> Lane {
        std::array::from_fn(|l| a[l] * b[l] + c[l])
    }
    #[inline(always)]
    fn div(self, a: Lane, b: Lane) -> Lane {
        std::array::from_fn(|l| a[l] / b[l])
    }
    #[inline(always)]
    fn select_gt(self, a: Lane, b: Lane, t: Lane, f: Lane) -> Lane {
        std::array::from_fn(|l| if a[l] > b[l] { t[l] } else { f[l] })
    }
    #[inline(always)]
    fn select_lt(self, a: Lane, b: Lane, t: Lane, f: Lane) -> Lane {
        std::array::from_fn(|l| if a[l] < b[l] { t[l] } else { f[l] })
    }
    #[inline(always)]
    fn pow2i(self, n: Lane) -> Lane {
        std::array::from_fn(|l| {
            let i = (n[l] + SHIFTER).to_bits().wrapping_sub(SHIFTER.to_bits());
            f64::from_bits(i.wrapping_add(1023) << 52)
        })
    }
    #[inline(always)]
    fn split_exponent(self, x: Lane) -> (Lane, Lane) {
        let e = std::array::from_fn(|l| exponent_of(x[l].to_bits()));
        let m = std::array::from_fn(|l| mantissa_of(x[l].to_bits()));
        (e, m)
    }
}

/// The unbiased exponent of positive `bits` as a double, via the 2^52 trick
/// (no integer-to-float conversion needed).
#[inline(always)]
fn exponent_of(bits: u64) -> f64 {
    f64::from_bits(0x4330_0000_0000_0000 | (bits >> 52)) - 4_503_599_627_370_496.0 - 1023.0
}

/// The mantissa of `bits` scaled into [1, 2).
#[inline(always)]
fn mantissa_of(bits: u64) -> f64 {
    f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000)
}

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Lane, Simd, SHIFTER};

    /// AVX2 + FMA: a lane is two 256-bit vectors.
    #[derive(Clone, Copy, Debug)]
    pub struct Avx2(());

    impl Avx2 {
        /// The backend, when the processor has AVX2 and FMA.
        pub fn detect() -> Option<Avx2> {
            (super::simd_limit() >= super::SimdLevel::Avx2
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma"))
            .then_some(Avx2(()))
        }
    }

    // SAFETY: `Avx2` exists only where AVX2 and FMA were detected.
    unsafe impl Simd for Avx2 {
        type V = (__m256d, __m256d);
        #[inline(always)]
        fn splat(self, x: f64) -> Self::V {
            unsafe { (_mm256_set1_pd(x), _mm256_set1_pd(x)) }
        }
        #[inline(always)]
        fn load(self, lane: &Lane) -> Self::V {
            unsafe {
                (
                    _mm256_loadu_pd(lane.as_ptr()),
                    _mm256_loadu_pd(lane.as_ptr().add(4)),
                )
            }
        }
        #[inline(always)]
        fn store(self, lane: &mut Lane, v: Self::V) {
            unsafe {
                _mm256_storeu_pd(lane.as_mut_ptr(), v.0);
                _mm256_storeu_pd(lane.as_mut_ptr().add(4), v.1);
            }
        }
        #[inline(always)]
        fn add(self, a: Self::V, b: Self::V) -> Self::V {
            unsafe { (_mm256_add_pd(a.0, b.0), _mm256_add_pd(a.1, b.1)) }
        }
        #[inline(always)]
        fn sub(self, a: Self::V, b: Self::V) -> Self::V {
            unsafe { (_mm256_sub_pd(a.0, b.0), _mm256_sub_pd(a.1, b.1)) }
        }
        #[inline(always)]
        fn mul(self, a: Self::V, b: Self::V) -> Self::V {
            unsafe { (_mm256_mul_pd(a.0, b.0), _mm256_mul_pd(a.1, b.1)) }
        }
        #[inline(always)]
        fn madd(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
            unsafe {
                (
                    _mm256_fmadd_pd(a.0, b.0, c.0),
                    _mm256_fmadd_pd(a.1, b.1, c.1),
                )
            }
        }
        #[inline(always)]
        fn div(self, a: Self::V, b: Self::V) -> Self::V {
            unsafe { (_mm256_div_pd(a.0, b.0), _mm256_div_pd(a.1, b.1)) }
        }
        #[inline(always)]
        fn select_gt(self, a: Self::V, b: Self::V, t: Self::V, f: Self::V) -> Self::V {
            // Ordered compare: NaN gives false, as the scalar `>`.
            unsafe {
                let m0 = _mm256_cmp_pd::<_CMP_GT_OQ>(a.0, b.0);
                let m1 = _mm256_cmp_pd::<_CMP_GT_OQ>(a.1, b.1);
                (
                    _mm256_blendv_pd(f.0, t.0, m0),
                    _mm256_blendv_pd(f.1, t.1, m1),
                )
            }
        }
        #[inline(always)]
        fn select_lt(self, a: Self::V, b: Self::V, t: Self::V, f: Self::V) -> Self::V {
            unsafe {
                let m0 = _mm256_cmp_pd::<_CMP_LT_OQ>(a.0, b.0);
                let m1 = _mm256_cmp_pd::<_CMP_LT_OQ>(a.1, b.1);
                (
                    _mm256_blendv_pd(f.0, t.0, m0),
                    _mm256_blendv_pd(f.1, t.1, m1),
                )
            }
        }
        #[inline(always)]
        fn pow2i(self, n: Self::V) -> Self::V {
            unsafe {
                let p = |v: __m256d| {
                    let i = _mm256_sub_epi64(
                        _mm256_castpd_si256(_mm256_add_pd(v, _mm256_set1_pd(SHIFTER))),
                        _mm256_castpd_si256(_mm256_set1_pd(SHIFTER)),
                    );
                    _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_add_epi64(
                        i,
                        _mm256_set1_epi64x(1023),
                    )))
                };
                (p(n.0), p(n.1))
            }
        }
        #[inline(always)]
        fn split_exponent(self, x: Self::V) -> (Self::V, Self::V) {
            unsafe {
                let split = |v: __m256d| {
                    let bits = _mm256_castpd_si256(v);
                    let e_bits = _mm256_or_si256(
                        _mm256_srli_epi64::<52>(bits),
                        _mm256_set1_epi64x(0x4330_0000_0000_0000),
                    );
                    let e = _mm256_sub_pd(
                        _mm256_castsi256_pd(e_bits),
                        _mm256_set1_pd(4_503_599_627_370_496.0 + 1023.0),
                    );
                    let m_bits = _mm256_or_si256(
                        _mm256_and_si256(bits, _mm256_set1_epi64x(0x000f_ffff_ffff_ffff)),
                        _mm256_set1_epi64x(0x3ff0_0000_0000_0000),
                    );
                    (e, _mm256_castsi256_pd(m_bits))
                };
                let (e0, m0) = split(x.0);
                let (e1, m1) = split(x.1);
                ((e0, e1), (m0, m1))
            }
        }
    }

    /// AVX-512 (F) + FMA: a lane is one 512-bit vector.
    #[derive(Clone, Copy, Debug)]
    pub struct Avx512(());

    impl Avx512 {
        /// The backend, when the processor has AVX-512F, AVX2 and FMA.
        pub fn detect() -> Option<Avx512> {
            (super::simd_limit() >= super::SimdLevel::Avx512
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma"))
            .then_some(Avx512(()))
        }
    }

    // SAFETY: `Avx512` exists only where AVX-512F, AVX2 and FMA were detected.
    unsafe impl Simd for Avx512 {
        type V = __m512d;
        #[inline(always)]
        fn splat(self, x: f64) -> __m512d {
            unsafe { _mm512_set1_pd(x) }
        }
        #[inline(always)]
        fn load(self, lane: &Lane) -> __m512d {
            unsafe { _mm512_loadu_pd(lane.as_ptr()) }
        }
        #[inline(always)]
        fn store(self, lane: &mut Lane, v: __m512d) {
            unsafe { _mm512_storeu_pd(lane.as_mut_ptr(), v) }
        }
        #[inline(always)]
        fn add(self, a: __m512d, b: __m512d) -> __m512d {
            unsafe { _mm512_add_pd(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: __m512d, b: __m512d) -> __m512d {
            unsafe { _mm512_sub_pd(a, b) }
        }
        #[inline(always)]
        fn mul(self, a: __m512d, b: __m512d) -> __m512d {
            unsafe { _mm512_mul_pd(a, b) }
        }
        #[inline(always)]
        fn madd(self, a: __m512d, b: __m512d, c: __m512d) -> __m512d {
            unsafe { _mm512_fmadd_pd(a, b, c) }
        }
        #[inline(always)]
        fn div(self, a: __m512d, b: __m512d) -> __m512d {
            unsafe { _mm512_div_pd(a, b) }
        }
        #[inline(always)]
        fn select_gt(self, a: __m512d, b: __m512d, t: __m512d, f: __m512d) -> __m512d {
            unsafe { _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_GT_OQ>(a, b), f, t) }
        }
        #[inline(always)]
        fn select_lt(self, a: __m512d, b: __m512d, t: __m512d, f: __m512d) -> __m512d {
            unsafe { _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, b), f, t) }
        }
        #[inline(always)]
        fn pow2i(self, n: __m512d) -> __m512d {
            unsafe {
                let i = _mm512_sub_epi64(
                    _mm512_castpd_si512(_mm512_add_pd(n, _mm512_set1_pd(SHIFTER))),
                    _mm512_castpd_si512(_mm512_set1_pd(SHIFTER)),
                );
                _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_add_epi64(
                    i,
                    _mm512_set1_epi64(1023),
                )))
            }
        }
        #[inline(always)]
        fn split_exponent(self, x: __m512d) -> (__m512d, __m512d) {
            unsafe {
                let bits = _mm512_castpd_si512(x);
                let e_bits = _mm512_or_si512(
                    _mm512_srli_epi64::<52>(bits),
                    _mm512_set1_epi64(0x4330_0000_0000_0000),
                );
                let e = _mm512_sub_pd(
                    _mm512_castsi512_pd(e_bits),
                    _mm512_set1_pd(4_503_599_627_370_496.0 + 1023.0),
                );
                let m_bits = _mm512_or_si512(
                    _mm512_and_si512(bits, _mm512_set1_epi64(0x000f_ffff_ffff_ffff)),
                    _mm512_set1_epi64(0x3ff0_0000_0000_0000),
                );
                (e, _mm512_castsi512_pd(m_bits))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `exp` and `ln` of a lane, through one backend.
    type ExpLn<'a> = &'a dyn Fn(&Lane) -> (Lane, Lane);

    fn backends_check(check: &mut dyn FnMut(&str, ExpLn<'_>)) {
        check("portable", &|x| {
            let s = Portable;
            (s.exp(*x), s.ln(*x))
        });
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(s) = Avx2::detect() {
                // SAFETY-free: the token proves the instructions exist.
                check("avx2", &move |x| {
                    let (mut e, mut l) = ([0.0; 8], [0.0; 8]);
                    s.store(&mut e, s.exp(s.load(x)));
                    s.store(&mut l, s.ln(s.load(x)));
                    (e, l)
                });
            }
            if let Some(s) = Avx512::detect() {
                check("avx512", &move |x| {
                    let (mut e, mut l) = ([0.0; 8], [0.0; 8]);
                    s.store(&mut e, s.exp(s.load(x)));
                    s.store(&mut l, s.ln(s.load(x)));
                    (e, l)
                });
            }
        }
    }

    #[test]
    fn exp_and_ln_are_within_two_ulps_on_every_backend() {
        backends_check(&mut |name, f| {
            let (mut worst_exp, mut worst_ln) = (0.0f64, 0.0f64);
            let mut x = EXP_CUTOFF;
            while x < 709.0 {
                let xs: Lane = std::array::from_fn(|l| x + l as f64 * 0.0013);
                let (e, _) = f(&xs);
                for l in 0..8 {
                    let want = xs[l].exp();
                    worst_exp = worst_exp.max(((e[l] - want) / want).abs());
                }
                x += 0.0137 * 8.0;
            }
            let mut x = 1e-300;
            while x < 1e300 {
                let xs: Lane = std::array::from_fn(|l| x * (1.0 + 0.13 * l as f64));
                let (_, g) = f(&xs);
                for l in 0..8 {
                    let want = xs[l].ln();
                    worst_ln = worst_ln.max((g[l] - want).abs() / want.abs().max(1.0));
                }
                x *= 1.37;
            }
            // Each of ~15 rounding steps is exact to half an ulp; measured worst
            // is about one ulp (2.2e-16).
            assert!(worst_exp < 4.5e-16, "{name}: exp worst {worst_exp:e}");
            assert!(worst_ln < 4.5e-16, "{name}: ln worst {worst_ln:e}");
            let edge = [
                EXP_CUTOFF - 1e-9,
                f64::NEG_INFINITY,
                0.0,
                800.0,
                f64::NAN,
                1.0,
                -1.0,
                EXP_CUTOFF,
            ];
            let (e, l) = f(&edge);
            assert_eq!(e[..4], [0.0, 0.0, 1.0, f64::INFINITY], "{name}");
            assert!(e[4].is_nan(), "{name}");
            assert!(e[7] > 0.0, "{name}");
            assert_eq!(l[2], f64::NEG_INFINITY, "{name}: ln 0");
            assert_eq!(l[5], 0.0, "{name}: ln 1");
        });
    }
}
