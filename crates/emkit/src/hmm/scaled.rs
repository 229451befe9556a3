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

/// Buffers of the scaled recursions, kept by a task between sequences.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScaledWork {
    /// `T × K`: scaled emission probabilities.
    pub b: Vec<f64>,
    /// `T`: the log of each row's emission scale.
    pub log_scale: Vec<f64>,
    /// `T × K`: forward variables, then state posteriors.
    pub gamma: Vec<f64>,
    /// `T`: forward normalisers.
    c: Vec<f64>,
    /// `K` each: predicted state probabilities, backward variables, and
    /// `b ∘ β / c` of the next step.
    pred: Vec<f64>,
    beta: Vec<f64>,
    w: Vec<f64>,
    /// `K × K`: `Σ_t α̂_t(i) w_{t+1}(j)`.
    m: Vec<f64>,
}

impl ScaledWork {
    /// Sizes the buffers for a sequence of `t` steps and `k` states, reusing
    /// their memory.
    pub fn prepare(&mut self, t: usize, k: usize) {
        self.b.resize(t * k, 0.0);
        self.log_scale.resize(t, 0.0);
        self.gamma.resize(t * k, 0.0);
        self.c.resize(t, 0.0);
        self.pred.resize(k, 0.0);
        self.beta.resize(k, 0.0);
        self.w.resize(k, 0.0);
        self.m.resize(k * k, 0.0);
    }

    /// The scaled forward pass over `self.b` (with `self.log_scale`): fills
    /// `self.gamma` with the filtered state probabilities `P(state_t | x_1..t)`
    /// and returns `ln p(x)`, or `None` when a step cannot be scaled.
    pub fn forward(&mut self, start: &[f64], trans: &[f64], t_len: usize) -> Option<f64> {
        let k = start.len();
        let mut ll = 0.0;
        for t in 0..t_len {
            let (done, rest) = self.gamma.split_at_mut(t * k);
            let alpha = &mut rest[..k];
            if t == 0 {
                self.pred.copy_from_slice(start);
            } else {
                let prev = &done[(t - 1) * k..];
                self.pred.fill(0.0);
                for (i, &a) in prev.iter().enumerate() {
                    for (p, &tr) in self.pred.iter_mut().zip(&trans[i * k..(i + 1) * k]) {
                        *p += a * tr;
                    }
                }
            }
            let b = &self.b[t * k..(t + 1) * k];
            let mut c = 0.0;
            for ((a, &p), &e) in alpha.iter_mut().zip(&self.pred).zip(b) {
                *a = p * e;
                c += *a;
            }
            if !(c.is_normal() && c > 0.0) {
                return None;
            }
            let inv = 1.0 / c;
            for a in alpha.iter_mut() {
                *a *= inv;
            }
            self.c[t] = c;
            ll += c.ln() + self.log_scale[t];
        }
        ll.is_finite().then_some(ll)
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
        let k = start.len();
        let ll = self.forward(start, trans, t_len)?;
        self.m.fill(0.0);
        self.beta.fill(1.0);
        for t in (0..t_len).rev() {
            if t + 1 < t_len {
                // β̂_t(i) = Σ_j A_ij w_j with w_j = b_{t+1}(j) β̂_{t+1}(j) / c_{t+1}.
                let inv = 1.0 / self.c[t + 1];
                let b = &self.b[(t + 1) * k..(t + 2) * k];
                for ((w, &e), &be) in self.w.iter_mut().zip(b).zip(&self.beta) {
                    *w = e * be * inv;
                }
                let alpha = &self.gamma[t * k..(t + 1) * k];
                for i in 0..k {
                    let row = &trans[i * k..(i + 1) * k];
                    let mut s = 0.0;
                    for (&tr, &w) in row.iter().zip(&self.w) {
                        s += tr * w;
                    }
                    self.beta[i] = s;
                    let a = alpha[i];
                    for (m, &w) in self.m[i * k..(i + 1) * k].iter_mut().zip(&self.w) {
                        *m += a * w;
                    }
                }
            }
            let gamma = &mut self.gamma[t * k..(t + 1) * k];
            let mut sum = 0.0;
            for (g, &be) in gamma.iter_mut().zip(&self.beta) {
                *g *= be;
                sum += *g;
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
        for ((x, &m), &tr) in transitions.iter_mut().zip(&self.m).zip(trans) {
            *x += tr * m;
        }
        Some(ll)
    }
}
