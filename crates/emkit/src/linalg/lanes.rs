//! Row-lane vectors: eight rows' values of one quantity side by side.
//!
//! Kernels hold a block of rows transposed, feature by feature, as `[f64; 8]`
//! lanes, and write every operation lane-wise. The compiler turns each lane
//! operation into two AVX2 (or one AVX-512) instructions, with no intrinsics
//! and no fast-math: results are the same bits on every path.

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

/// `acc += a * b`, lane-wise.
#[inline(always)]
pub fn mul_acc(acc: &mut Lane, a: &Lane, b: &Lane) {
    for l in 0..LANES {
        acc[l] += a[l] * b[l];
    }
}

/// `acc += a * s`, lane-wise with a scalar.
#[inline(always)]
pub fn mul_acc_scalar(acc: &mut Lane, a: &Lane, s: f64) {
    for l in 0..LANES {
        acc[l] += a[l] * s;
    }
}

/// `e^x`, branch-free so that a loop over lanes vectorises: Cody–Waite
/// reduction `x = n ln 2 + r`, |r| ≤ ln2/2, a degree-13 Taylor polynomial (its
/// truncation error, r¹⁴/14! ≤ 4e-18, is below half an ulp) and `2^n` applied
/// in two halves so that results down to the subnormal range are right.
/// Arguments below −746 give 0, above 709.78 give +∞ (as `f64::exp`); NaN
/// stays NaN.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    // Adding 1.5·2^52 rounds to an integer held in the low mantissa bits.
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    let x = if x < -746.0 { -746.0 } else { x };
    let x = if x > 710.0 { 710.0 } else { x };
    let n = (x * LOG2E + SHIFTER) - SHIFTER;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor coefficients 1/i!, Horner from the top.
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^n as 2^a · 2^b with both halves in the normal range.
    let a = (n * 0.5 + SHIFTER) - SHIFTER;
    let b = n - a;
    p * pow2(a) * pow2(b)
}

/// `2^n` for an integer-valued `n` in [−1022, 1023], built from its bits.
#[inline(always)]
fn pow2(n: f64) -> f64 {
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    let i = (n + SHIFTER).to_bits().wrapping_sub(SHIFTER.to_bits());
    f64::from_bits(i.wrapping_add(1023) << 52)
}

/// [`exp`] of every lane, written step by step across the lanes so that each
/// step is one vector instruction (the same operations, so the same bits).
#[inline(always)]
pub fn exp_lane(x: &Lane) -> Lane {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    const C: [f64; 14] = [
        1.0 / 6_227_020_800.0,
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
    let mut x = *x;
    for v in x.iter_mut() {
        *v = if *v < -746.0 { -746.0 } else { *v };
        *v = if *v > 710.0 { 710.0 } else { *v };
    }
    let mut n = ZERO;
    let mut r = ZERO;
    for l in 0..LANES {
        n[l] = (x[l] * LOG2E + SHIFTER) - SHIFTER;
        r[l] = (x[l] - n[l] * LN2_HI) - n[l] * LN2_LO;
    }
    let mut p = [C[0]; LANES];
    for c in &C[1..] {
        for l in 0..LANES {
            p[l] = p[l] * r[l] + c;
        }
    }
    let mut out = ZERO;
    for l in 0..LANES {
        let a = (n[l] * 0.5 + SHIFTER) - SHIFTER;
        let b = n[l] - a;
        out[l] = p[l] * pow2(a) * pow2(b);
    }
    out
}

/// `ln x` of every lane for positive normal `x` (0 gives −∞), branch-free:
/// `x = m·2^e` with `m ∈ [√½, √2)`, then `ln m = 2 atanh s`, `s = (m−1)/(m+1)`,
/// as an odd series in `s` (|s| ≤ 0.172; the terms dropped are below 1e-18
/// relative) and `e ln 2` added in two parts.
#[inline(always)]
pub fn ln_lane(x: &Lane) -> Lane {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const EXP_SHIFTER: f64 = 4_503_599_627_370_496.0; // 2^52
    const SQRT2: f64 = std::f64::consts::SQRT_2;
    let mut m = ZERO;
    let mut e = ZERO;
    for l in 0..LANES {
        let bits = x[l].to_bits();
        // The biased exponent as a float, via the 2^52 trick (no integer-to-float
        // conversion instruction needed).
        e[l] = f64::from_bits(0x4330_0000_0000_0000 | (bits >> 52)) - EXP_SHIFTER - 1023.0;
        m[l] = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    }
    for l in 0..LANES {
        let big = m[l] > SQRT2;
        m[l] = if big { m[l] * 0.5 } else { m[l] };
        e[l] = if big { e[l] + 1.0 } else { e[l] };
    }
    let mut s = ZERO;
    let mut s2 = ZERO;
    for l in 0..LANES {
        s[l] = (m[l] - 1.0) / (m[l] + 1.0);
        s2[l] = s[l] * s[l];
    }
    // 2·(s + s³/3 + s⁵/5 + … + s²³/23), Horner in s².
    let mut p = [1.0 / 23.0; LANES];
    for c in [21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
        for l in 0..LANES {
            p[l] = p[l] * s2[l] + 1.0 / c;
        }
    }
    let mut out = ZERO;
    for l in 0..LANES {
        let ln_m = 2.0 * s[l] * p[l];
        let v = e[l] * LN2_HI + (e[l] * LN2_LO + ln_m);
        out[l] = if x[l] > 0.0 { v } else { f64::NEG_INFINITY };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulps_of_the_library_exp() {
        let mut worst = 0.0f64;
        let mut x = -745.0;
        while x < 709.0 {
            let (ours, libm) = (exp(x), x.exp());
            if libm > 1e-300 {
                worst = worst.max(((ours - libm) / libm).abs());
            }
            x += 0.013_7;
        }
        // Each of 14 Horner steps rounds once; measured worst is ~2.2e-16 (1 ulp).
        assert!(worst < 4.5e-16, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(-800.0), 0.0);
        assert_eq!(exp(800.0), f64::INFINITY);
        assert!(exp(f64::NAN).is_nan());
        // Subnormal results keep their magnitude.
        let sub = exp(-740.0);
        assert!((sub - (-740.0f64).exp()).abs() <= 1e-6 * (-740.0f64).exp());
    }

    #[test]
    fn lane_exp_equals_scalar_exp() {
        let xs = [-745.5, -700.0, -3.3, -0.1, 0.0, 0.2, 5.0, 709.0];
        let lane = exp_lane(&xs);
        for (x, e) in xs.iter().zip(lane) {
            assert_eq!(e.to_bits(), exp(*x).to_bits(), "{x}");
        }
    }

    #[test]
    fn lane_ln_is_within_two_ulps_of_the_library_ln() {
        let mut worst = 0.0f64;
        let mut x = 1e-300;
        while x < 1e300 {
            let lane = ln_lane(&[x, x * 1.1, x * 1.2, x * 1.3, x * 1.4, x * 1.5, x * 1.6, x * 1.9]);
            for (i, f) in [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.9].iter().enumerate() {
                let want = (x * f).ln();
                let err = (lane[i] - want).abs() / want.abs().max(1.0);
                worst = worst.max(err);
            }
            x *= 1.37;
        }
        // Measured worst is about 2e-16 (one ulp of the result).
        assert!(worst < 4.5e-16, "worst {worst:e}");
        // Sums of responsibilities live in [1, k]: check that range densely.
        for i in 0..10_000 {
            let v = 1.0 + i as f64 * 1e-3;
            let got = ln_lane(&[v; LANES])[0];
            assert!((got - v.ln()).abs() <= 4.5e-16 * v.ln().max(1.0), "{v}");
        }
        assert_eq!(ln_lane(&[0.0; LANES])[0], f64::NEG_INFINITY);
        assert_eq!(ln_lane(&[1.0; LANES])[0], 0.0);
    }

    #[test]
    fn hsum_adds_pairwise() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        assert_eq!(hsum(&a), 36.0);
    }
}
