//! Multivariate Gaussian components in the four covariance structures.
//!
//! Each structure lives in its own file with the same four operations: factor
//! the covariances into precision Cholesky factors, evaluate log-densities for a
//! block of rows, accumulate the second-moment statistics of a block, and turn
//! merged statistics into covariances. This module dispatches once per block,
//! never per row.

mod block;
mod components;
mod data_covariance;
mod diag;
mod full;
mod prior;
mod spherical;
mod stats;
mod tied;

use std::fmt;
use std::str::FromStr;

pub(crate) use block::{
    accumulate_given, block_rows, component_log_densities, e_step_block, posterior_block, Path,
    Scratch, BLOCK_ROWS,
};
pub(crate) use components::GaussianComponents;
pub use data_covariance::DataCovariance;
pub(crate) use full::{packed_lanes, Block, ROW_SCATTER_MIN_D};
pub use prior::CovarianceCentre;
pub(crate) use prior::{covariances_with_prior, GaussianPrior};
pub(crate) use stats::{
    factor_scratch, maximize_into, repair_with_pooled, update_components, ComponentStats,
    MixturePrior, Update, WorstRows,
};

use crate::linalg::lanes::Lane;
use crate::linalg::simd::Simd;

/// How component covariances are constrained (scikit-learn's `covariance_type`;
/// mclust's names in brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CovarianceType {
    /// Each component has its own general covariance matrix (VVV).
    #[default]
    Full,
    /// All components share one general covariance matrix (EEE).
    Tied,
    /// Each component has its own diagonal covariance matrix (VVI).
    Diagonal,
    /// Each component has its own single variance, `σ²·I` (VII).
    Spherical,
}

impl CovarianceType {
    /// All four, in scikit-learn's order.
    pub const ALL: [CovarianceType; 4] = [
        CovarianceType::Full,
        CovarianceType::Tied,
        CovarianceType::Diagonal,
        CovarianceType::Spherical,
    ];

    /// scikit-learn's name: `full`, `tied`, `diag` or `spherical`.
    pub fn name(self) -> &'static str {
        match self {
            CovarianceType::Full => "full",
            CovarianceType::Tied => "tied",
            CovarianceType::Diagonal => "diag",
            CovarianceType::Spherical => "spherical",
        }
    }

    /// Free covariance parameters of a `k`-component, `d`-feature mixture
    /// (scikit-learn's count).
    pub fn n_covariance_parameters(self, k: usize, d: usize) -> usize {
        match self {
            CovarianceType::Full => k * d * (d + 1) / 2,
            CovarianceType::Tied => d * (d + 1) / 2,
            CovarianceType::Diagonal => k * d,
            CovarianceType::Spherical => k,
        }
    }

    /// Number of stored covariance values (the flat layout of [`Covariances`]);
    /// the second-moment statistics have the same layout. Saturates rather
    /// than overflows (no such array could be allocated anyway).
    pub fn covariance_len(self, k: usize, d: usize) -> usize {
        match self {
            CovarianceType::Full => k.saturating_mul(d).saturating_mul(d),
            CovarianceType::Tied => d.saturating_mul(d),
            CovarianceType::Diagonal => k.saturating_mul(d),
            CovarianceType::Spherical => k,
        }
    }
}

impl fmt::Display for CovarianceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CovarianceType {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "full" | "VVV" => Ok(CovarianceType::Full),
            "tied" | "EEE" => Ok(CovarianceType::Tied),
            "diag" | "diagonal" | "VVI" => Ok(CovarianceType::Diagonal),
            "spherical" | "VII" => Ok(CovarianceType::Spherical),
            _ => Err(crate::Error::InvalidConfig {
                field: "covariance_type",
                reason: format!("unknown {s:?}; use full, tied, diag or spherical"),
            }),
        }
    }
}

/// Covariance parameters, flat and row-major, in scikit-learn's layouts:
/// full `k × d × d`, tied `d × d`, diag `k × d`, spherical `k`.
#[derive(Clone, Debug, PartialEq)]
pub enum Covariances {
    /// `k` matrices of `d × d`.
    Full(Vec<f64>),
    /// One shared `d × d` matrix.
    Tied(Vec<f64>),
    /// `k` rows of `d` variances.
    Diagonal(Vec<f64>),
    /// `k` variances.
    Spherical(Vec<f64>),
}

impl Covariances {
    /// The structure.
    pub fn covariance_type(&self) -> CovarianceType {
        match self {
            Covariances::Full(_) => CovarianceType::Full,
            Covariances::Tied(_) => CovarianceType::Tied,
            Covariances::Diagonal(_) => CovarianceType::Diagonal,
            Covariances::Spherical(_) => CovarianceType::Spherical,
        }
    }

    /// The values, flat.
    pub fn values(&self) -> &[f64] {
        match self {
            Covariances::Full(v)
            | Covariances::Tied(v)
            | Covariances::Diagonal(v)
            | Covariances::Spherical(v) => v,
        }
    }

    pub(crate) fn values_mut(&mut self) -> &mut [f64] {
        match self {
            Covariances::Full(v)
            | Covariances::Tied(v)
            | Covariances::Diagonal(v)
            | Covariances::Spherical(v) => v,
        }
    }

    pub(crate) fn from_values(kind: CovarianceType, values: Vec<f64>) -> Covariances {
        match kind {
            CovarianceType::Full => Covariances::Full(values),
            CovarianceType::Tied => Covariances::Tied(values),
            CovarianceType::Diagonal => Covariances::Diagonal(values),
            CovarianceType::Spherical => Covariances::Spherical(values),
        }
    }

    /// The full `d × d` covariance matrix of component `j` (row-major).
    pub fn component_matrix(&self, j: usize, d: usize) -> Vec<f64> {
        let mut m = vec![0.0; d * d];
        match self {
            Covariances::Full(v) => m.copy_from_slice(&v[j * d * d..(j + 1) * d * d]),
            Covariances::Tied(v) => m.copy_from_slice(v),
            Covariances::Diagonal(v) => (0..d).for_each(|i| m[i * d + i] = v[j * d + i]),
            Covariances::Spherical(v) => (0..d).for_each(|i| m[i * d + i] = v[j]),
        }
        m
    }
}

/// Covariances with their factorisation: the precision Cholesky factors and
/// their log-determinants, ready for evaluating densities.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Factored {
    pub covariances: Covariances,
    /// Layout as the covariances: full/tied upper-triangular `U` with `Σ⁻¹ = U Uᵀ`;
    /// diag/spherical `1/σ`.
    pub precisions_cholesky: Vec<f64>,
    /// `ln det U` per component (one value for tied).
    pub log_det: Vec<f64>,
}

/// A covariance block that failed to factor: the 0-based component (0 for tied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NotPositiveDefinite(pub usize);

impl Factored {
    /// Factors every component; fails on the first that is not positive definite.
    pub fn new(covariances: Covariances, k: usize, d: usize) -> Result<Self, NotPositiveDefinite> {
        let kind = covariances.covariance_type();
        let mut f = Factored {
            precisions_cholesky: vec![0.0; kind.covariance_len(k, d)],
            log_det: vec![0.0; blocks_of(kind, k)],
            covariances,
        };
        let mut scratch = vec![0.0; d * d];
        f.refactor(d, &mut scratch).map_err(NotPositiveDefinite)?;
        Ok(f)
    }

    /// Recomputes every factor from the covariances, in place; fails with the
    /// first block that is not positive definite.
    pub fn refactor(&mut self, d: usize, scratch: &mut [f64]) -> Result<(), usize> {
        let kind = self.covariance_type();
        let per = per_block(kind, d);
        let values = self.covariances.values();
        for (j, ld) in self.log_det.iter_mut().enumerate() {
            let out = &mut self.precisions_cholesky[j * per..(j + 1) * per];
            *ld = factor_block(kind, &values[j * per..(j + 1) * per], d, out, scratch).ok_or(j)?;
        }
        Ok(())
    }

    pub fn covariance_type(&self) -> CovarianceType {
        self.covariances.covariance_type()
    }

    /// Log-densities `ln N(x | means_j, Σ_j)` of a transposed block (`xt`: `d × nch`
    /// lanes) into `lp` (`k × nch` lanes); `diff` (`d × nch` lanes) and `work`
    /// (`2d` values) are scratch.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn log_densities<S: Simd>(
        &self,
        s: S,
        xt: &[Lane],
        nch: usize,
        d: usize,
        k: usize,
        means: &[f64],
        diff: &mut [Lane],
        lp: &mut [Lane],
        work: &mut [f64],
    ) {
        let (p, ld) = (&self.precisions_cholesky, &self.log_det);
        match self.covariance_type() {
            CovarianceType::Full => {
                full::log_densities(s, xt, nch, d, means, p, ld, diff, lp, work)
            }
            CovarianceType::Tied => {
                tied::log_densities(s, xt, nch, d, k, means, p, ld[0], diff, lp, work)
            }
            CovarianceType::Diagonal => diag::log_densities(s, xt, nch, d, means, p, ld, lp),
            CovarianceType::Spherical => spherical::log_densities(s, xt, nch, d, means, p, ld, lp),
        }
    }
}

/// `Σ w` over the lanes of one component's responsibilities.
#[inline(always)]
pub(super) fn lane_total<S: Simd>(s: S, w: &[Lane]) -> f64 {
    let mut n = s.splat(0.0);
    for wl in w {
        n = s.add(n, s.load(wl));
    }
    s.hsum(n)
}

/// Lane sums `(Σ w·z, Σ w·z²)` with `z = x_f − c` over a block's lanes of feature `f`.
#[inline(always)]
pub(super) fn centred_sums<S: Simd>(
    s: S,
    xt: &[Lane],
    w: &[Lane],
    nch: usize,
    f: usize,
    c: f64,
) -> (S::V, S::V) {
    let c = s.splat(c);
    let (mut sa, mut q) = (s.splat(0.0), s.splat(0.0));
    for ch in 0..nch {
        let z = s.sub(s.load(&xt[f * nch + ch]), c);
        let wz = s.mul(s.load(&w[ch]), z);
        sa = s.add(sa, wz);
        q = s.madd(wz, z, q);
    }
    (sa, q)
}

/// Checks `reg_covar`, the regularisation added to every variance: the one
/// check of the setting, for mixtures and HMMs alike.
///
/// # Errors
///
/// [`crate::Error::InvalidConfig`] (field `reg_covar`) unless it is finite
/// and `>= 0`.
pub fn check_reg_covar(reg_covar: f64) -> crate::error::Result<()> {
    if reg_covar >= 0.0 && reg_covar.is_finite() {
        Ok(())
    } else {
        Err(crate::error::Error::InvalidConfig {
            field: "reg_covar",
            reason: format!("must be a finite number >= 0, got {reg_covar}"),
        })
    }
}

/// Number of separately factored covariance blocks.
pub(crate) fn blocks_of(kind: CovarianceType, k: usize) -> usize {
    match kind {
        CovarianceType::Tied => 1,
        _ => k,
    }
}

/// Values per factored block.
pub(crate) fn per_block(kind: CovarianceType, d: usize) -> usize {
    match kind {
        CovarianceType::Full | CovarianceType::Tied => d * d,
        CovarianceType::Diagonal => d,
        CovarianceType::Spherical => 1,
    }
}

/// Factors one covariance block into `out`; `None` when it is not positive
/// definite. `scratch` holds at least `d × d` values.
pub(crate) fn factor_block(
    kind: CovarianceType,
    cov: &[f64],
    d: usize,
    out: &mut [f64],
    scratch: &mut [f64],
) -> Option<f64> {
    match kind {
        CovarianceType::Full | CovarianceType::Tied => full::factor(cov, d, out, scratch),
        CovarianceType::Diagonal => diag::factor(cov, out),
        CovarianceType::Spherical => spherical::factor(cov[0], d, &mut out[0]),
    }
}

/// Adds the statistics of a block of rows with responsibilities `resp`
/// (`k × nch` lanes): per component `Σ r`, `Σ r·(x−c_j)` and the second
/// moments `Σ r·(x−c_j)(x−c_j)ᵀ` (upper triangle; diagonal for diag; trace for
/// spherical; pooled over components for tied), where `c_j` is `shifts[j]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn accumulate_block<S: Simd>(
    s: S,
    kind: CovarianceType,
    block: Block<'_>,
    shifts: &[f64],
    resp: &[Lane],
    counts: &mut [f64],
    first: &mut [f64],
    second: &mut [f64],
) {
    let (xt, nch, d) = (block.xt, block.nch, block.d);
    match kind {
        CovarianceType::Full => {
            full::accumulate(s, block, shifts, resp, counts, first, second, false)
        }
        CovarianceType::Tied => {
            full::accumulate(s, block, shifts, resp, counts, first, second, true)
        }
        CovarianceType::Diagonal => {
            diag::accumulate(s, xt, nch, d, shifts, resp, counts, first, second)
        }
        CovarianceType::Spherical => {
            spherical::accumulate(s, xt, nch, d, shifts, resp, counts, first, second)
        }
    }
}

/// What a conjugate prior adds to the covariance M-step (see
/// [`GaussianPrior`]): `scale` to the scatter matrices (laid out as the
/// covariances; full and tied read the upper triangle; spherical holds one
/// value per component, the sum over features), `dof` to the counts that
/// divide them (full and spherical one per component, tied one, diag one per
/// variance).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PriorTerms<'a> {
    pub scale: &'a [f64],
    pub dof: &'a [f64],
}

/// Covariances from merged statistics (`counts[j] = Σ r`, `first[j] = Σ r(x−c_j)`,
/// second moments), with `reg_covar` added to every variance, into `out`; a
/// prior's terms, when given, are added to the scatter and to the counts.
#[allow(clippy::too_many_arguments)]
pub(crate) fn covariances_from_stats(
    kind: CovarianceType,
    counts: &[f64],
    first: &[f64],
    second: &[f64],
    d: usize,
    reg_covar: f64,
    prior: Option<PriorTerms<'_>>,
    out: &mut [f64],
) {
    let (n, s, q, r) = (counts, first, second, reg_covar);
    match kind {
        CovarianceType::Full => full::from_stats(n, s, q, d, r, prior, out),
        CovarianceType::Tied => tied::from_stats(n, s, q, d, r, prior, out),
        CovarianceType::Diagonal => diag::from_stats(n, s, q, d, r, prior, out),
        CovarianceType::Spherical => spherical::from_stats(n, s, q, d, r, prior, out),
    }
}
