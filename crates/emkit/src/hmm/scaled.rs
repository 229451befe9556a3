//! Scaled forward–backward: the fast path of Baum–Welch.
//!
//! The recursions run on probabilities rather than their logarithms, with the
//! forward variables renormalised at every step (Rabiner's scaling), so a step
//! costs a few `K × K` multiply-adds and no exponentials. The log-space
//! recursions in [`super::forward_backward`] define the result; this one must
//! agree with them (a test checks it), and it gives up — returning `None` so
//! the caller falls back to log space — whenever scaling cannot represent a
//! step: a scale factor that is zero, subnormal or not finite, or posteriors
//! that no longer sum to one.
//!
//! The step functions are compiled for each state count up to 8 with `K` a
//! constant (every loop unrolls into a few vector operations) and once more for
//! any `K` read at run time.

use crate::linalg::simd::{simd_limit, SimdLevel};

/// Buffers of the scaled recursions, kept by a task between sequences.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScaledWork {
    /// `T × K`: scaled emission probabilities.
    pub b: Vec<f64>,
    /// `T`: the log of each row's emission scale.
    pub log_scale: Vec<f64>,
    /// `T × K`: forward variables, then state posteriors.
    pub gamma: Vec<f64>,
    /// `T`: the inverses of the forward normalisers.
    inv_c: Vec<f64>,
    /// `K × K`: the transition matrix transposed, and `Σ_t α̂_t(i) w_{t+1}(j)`.
    trans_t: Vec<f64>,
    m: Vec<f64>,
    /// The log-likelihood of the last forward pass that scaled, if the last
    /// one did: a backward pass can fail after it, and the log-space fallback
    /// then keeps this value, so a fit reports exactly what `score` computes.
    pub last_forward: Option<f64>,
}

/// The product of the normalisers is kept as a mantissa and a sum of
/// logarithms: one `ln` per ~600 steps instead of one per step. Renormalise
/// when the running product leaves `[TINY, 1/TINY]`.
const TINY: f64 = 1e-200;

/// Calls `$f::<K>` with `K` the number of states when it is at most 8, `0`
/// ("read it at run time") otherwise.
macro_rules! by_states {
    ($k:expr, $f:ident($($arg:expr),*)) => {
        match $k {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            8 => $f::<8>($($arg),*),
            _ => $f::<0>($($arg),*),
        }
    };
}

impl ScaledWork {
    /// Sizes the buffers for a sequence of `t` steps and `k` states, reusing
    /// their memory.
    pub fn prepare(&mut self, t: usize, k: usize) {
        self.b.resize(t * k, 0.0);
        self.log_scale.resize(t, 0.0);
        self.gamma.resize(t * k, 0.0);
        self.inv_c.resize(t, 0.0);
        self.trans_t.resize(k * k, 0.0);
        self.m.resize(k * k, 0.0);
    }

    /// The scaled forward pass over `self.b` (with `self.log_scale`): fills
    /// `self.gamma` with the filtered state probabilities `P(state_t | x_1..t)`
    /// and returns `ln p(x)`, or `None` when a step cannot be scaled.
    pub fn forward(&mut self, start: &[f64], trans: &[f64], t_len: usize) -> Option<f64> {
        self.last_forward = self.forward_any_path(start, trans, t_len);
        self.last_forward
    }

    fn forward_any_path(&mut self, start: &[f64], trans: &[f64], t_len: usize) -> Option<f64> {
        #[cfg(target_arch = "x86_64")]
        {
            if simd_limit() >= SimdLevel::Avx512
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the instructions were just detected.
                return unsafe { forward_avx512(self, start, trans, t_len) };
            }
            if simd_limit() >= SimdLevel::Avx2
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: as above.
                return unsafe { forward_avx2(self, start, trans, t_len) };
            }
        }
        forward_any(self, start, trans, t_len)
    }

    /// The whole scaled forward–backward: `self.gamma` ends as the state
    /// posteriors, the expected transition counts are added to `transitions`
    /// (`K × K`), and the log-likelihood is returned; `None` (with
    /// `transitions` untouched) when scaling fails.
    pub fn forward_backward(
        &mut self,
        start: &[f64],
        trans: &[f64],
        t_len: usize,
        transitions: &mut [f64],
    ) -> Option<f64> {
        let ll = self.forward(start, trans, t_len)?;
        #[cfg(target_arch = "x86_64")]
        {
            if simd_limit() >= SimdLevel::Avx512
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the instructions were just detected.
                unsafe { backward_avx512(self, trans, t_len, transitions) }?;
                return Some(ll);
            }
            if simd_limit() >= SimdLevel::Avx2
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: as above.
                unsafe { backward_avx2(self, trans, t_len, transitions) }?;
                return Some(ll);
            }
        }
        backward_any(self, trans, t_len, transitions)?;
        Some(ll)
    }
}

// The recursions compiled three times: for AVX-512, for AVX2 + FMA, and for
// any processor; the widest the processor runs is chosen at run time.

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn forward_avx512(
    w: &mut ScaledWork,
    start: &[f64],
    trans: &[f64],
    t: usize,
) -> Option<f64> {
    forward_any(w, start, trans, t)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_avx2(w: &mut ScaledWork, start: &[f64], trans: &[f64], t: usize) -> Option<f64> {
    forward_any(w, start, trans, t)
}

#[inline(always)]
fn forward_any(w: &mut ScaledWork, start: &[f64], trans: &[f64], t: usize) -> Option<f64> {
    by_states!(start.len(), forward_k(w, start, trans, t))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn backward_avx512(
    w: &mut ScaledWork,
    trans: &[f64],
    t: usize,
    transitions: &mut [f64],
) -> Option<()> {
    backward_any(w, trans, t, transitions)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_avx2(
    w: &mut ScaledWork,
    trans: &[f64],
    t: usize,
    transitions: &mut [f64],
) -> Option<()> {
    backward_any(w, trans, t, transitions)
}

#[inline(always)]
fn backward_any(
    w: &mut ScaledWork,
    trans: &[f64],
    t: usize,
    transitions: &mut [f64],
) -> Option<()> {
    let k = transitions.len().isqrt();
    by_states!(k, backward_k(w, k, trans, t, transitions))
}

#[inline(always)]
fn forward_k<const K: usize>(
    w: &mut ScaledWork,
    start: &[f64],
    trans: &[f64],
    t_len: usize,
) -> Option<f64> {
    let k = if K == 0 { start.len() } else { K };
    let trans = &trans[..k * k];
    let mut bufs = [[0.0; 8]; 2];
    let mut vecs = Vec::new();
    let [pred, acc]: [&mut [f64]; 2] = if k <= 8 {
        let [a, b] = &mut bufs;
        [&mut a[..k], &mut b[..k]]
    } else {
        vecs.resize(2 * k, 0.0);
        let (a, b) = vecs.split_at_mut(k);
        [a, b]
    };
    let (mut log_sum, mut product) = (0.0, 1.0);
    let mut scale_sum = 0.0;
    // The row of step t − 1 is normalised only while step t runs, so the
    // division is off the chain of dependent operations from step to step:
    // step t uses the unnormalised row times the previous 1/c.
    let mut inv = 1.0;
    for t in 0..t_len {
        let (done, rest) = w.gamma.split_at_mut(t * k);
        let alpha = &mut rest[..k];
        if t == 0 {
            pred.copy_from_slice(&start[..k]);
        } else {
            let prev = &mut done[(t - 1) * k..t * k];
            acc.fill(0.0);
            for i in 0..k {
                let a = prev[i];
                let row = &trans[i * k..(i + 1) * k];
                for j in 0..k {
                    acc[j] += a * row[j];
                }
            }
            for j in 0..k {
                pred[j] = acc[j] * inv;
            }
            for a in prev.iter_mut() {
                *a *= inv;
            }
        }
        let b = &w.b[t * k..(t + 1) * k];
        let mut c = 0.0;
        for j in 0..k {
            alpha[j] = pred[j] * b[j];
            c += alpha[j];
        }
        if !(c.is_normal() && c > 0.0) {
            return None;
        }
        inv = 1.0 / c;
        w.inv_c[t] = inv;
        product *= c;
        if !(TINY..=1.0 / TINY).contains(&product) {
            log_sum += product.ln();
            product = 1.0;
        }
        scale_sum += w.log_scale[t];
    }
    if t_len > 0 {
        for a in w.gamma[(t_len - 1) * k..t_len * k].iter_mut() {
            *a *= inv;
        }
    }
    let ll = log_sum + product.ln() + scale_sum;
    ll.is_finite().then_some(ll)
}

#[inline(always)]
fn backward_k<const K: usize>(
    w: &mut ScaledWork,
    k: usize,
    trans: &[f64],
    t_len: usize,
    transitions: &mut [f64],
) -> Option<()> {
    let k = if K == 0 { k } else { K };
    let trans = &trans[..k * k];
    for i in 0..k {
        for j in 0..k {
            w.trans_t[j * k + i] = trans[i * k + j];
        }
    }
    let trans_t = &w.trans_t[..k * k];
    let m = &mut w.m[..k * k];
    m.fill(0.0);
    let mut bufs = [[0.0; 8]; 2];
    let mut vecs = Vec::new();
    let [beta, wn]: [&mut [f64]; 2] = if k <= 8 {
        let [a, b] = &mut bufs;
        [&mut a[..k], &mut b[..k]]
    } else {
        vecs.resize(2 * k, 0.0);
        let (a, b) = vecs.split_at_mut(k);
        [a, b]
    };
    beta.fill(1.0);
    for t in (0..t_len).rev() {
        if t + 1 < t_len {
            // β̂_t(i) = Σ_j A_ij w_j with w_j = b_{t+1}(j) β̂_{t+1}(j) / c_{t+1}.
            let inv = w.inv_c[t + 1];
            let b = &w.b[(t + 1) * k..(t + 2) * k];
            for j in 0..k {
                wn[j] = b[j] * beta[j] * inv;
            }
            beta.fill(0.0);
            let alpha = &w.gamma[t * k..(t + 1) * k];
            for j in 0..k {
                let x = wn[j];
                let col = &trans_t[j * k..(j + 1) * k];
                for i in 0..k {
                    beta[i] += col[i] * x;
                }
            }
            for i in 0..k {
                let a = alpha[i];
                let row = &mut m[i * k..(i + 1) * k];
                for j in 0..k {
                    row[j] += a * wn[j];
                }
            }
        }
        let gamma = &mut w.gamma[t * k..(t + 1) * k];
        let mut sum = 0.0;
        for j in 0..k {
            gamma[j] *= beta[j];
            sum += gamma[j];
        }
        // Σ_j α̂_t(j) β̂_t(j) is one in exact arithmetic; rounding moves it by
        // a few ulps per step of the recursion. A larger miss means the
        // backward variables over- or underflowed.
        if (sum - 1.0).abs() >= 1e-6 || sum.is_nan() {
            return None;
        }
        let inv = 1.0 / sum;
        for g in gamma.iter_mut() {
            *g *= inv;
        }
    }
    for ((x, &mm), &tr) in transitions.iter_mut().zip(m.iter()).zip(trans) {
        *x += tr * mm;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The builds for wider vector units run the same operations (no fused
    /// multiply-adds are written here, and the compiler does not fuse on its
    /// own), so they give the portable build's bits exactly.
    #[test]
    fn every_build_of_the_recursions_agrees_bit_for_bit() {
        for (seed, k) in [(1u64, 2usize), (2, 5), (3, 8), (4, 11)] {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
            let t = 300;
            let row = |rng: &mut rand_pcg::Pcg64| {
                let r: Vec<f64> = (0..k).map(|_| rng.random_range(0.01..1.0)).collect();
                let s: f64 = r.iter().sum();
                r.into_iter().map(|v| v / s).collect::<Vec<f64>>()
            };
            let start = row(&mut rng);
            let trans: Vec<f64> = (0..k).flat_map(|_| row(&mut rng)).collect();
            let mut work = ScaledWork::default();
            work.prepare(t, k);
            for b in work.b.iter_mut() {
                *b = rng.random_range(0.0..1.0);
            }
            for s in work.log_scale.iter_mut() {
                *s = rng.random_range(-5.0..0.0);
            }
            let mut portable = work.clone();
            let mut counts = vec![0.0; k * k];
            let ll = work
                .forward_backward(&start, &trans, t, &mut counts)
                .unwrap();
            let mut counts_p = vec![0.0; k * k];
            let ll_p = forward_any(&mut portable, &start, &trans, t).unwrap();
            backward_any(&mut portable, &trans, t, &mut counts_p).unwrap();
            assert_eq!(ll.to_bits(), ll_p.to_bits(), "k = {k}");
            assert_eq!(work.gamma, portable.gamma, "k = {k}");
            assert_eq!(counts, counts_p, "k = {k}");
        }
    }
}
