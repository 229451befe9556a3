//! A set of weighted Gaussian components: what the block kernel evaluates and
//! the M-step writes, for a mixture and for the states of a Gaussian HMM alike.

use super::{blocks_of, factor_block, per_block, CovarianceType, Covariances, Factored};
use crate::em::flat::{same, FlatReader};
use crate::error::{Error, Result};
use crate::linalg::cholesky_lower;

/// `k` Gaussians in `d` dimensions with log-weights: the means (`k × d`,
/// row-major), the covariances with their factorisation, and `ln w_j`, which
/// the posterior adds to each component's log-density (a mixture's weights;
/// zeros for the states of an HMM, whose weights live in the transitions).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GaussianComponents {
    pub n_features: usize,
    pub log_weights: Vec<f64>,
    pub means: Vec<f64>,
    pub factored: Factored,
}

impl GaussianComponents {
    /// Components from `means` (`k × n_features`, row-major) and covariances in
    /// scikit-learn's layout, with log-weights 0: checks shapes, finiteness,
    /// symmetry and positive definiteness, naming the bad field.
    pub fn new(means: Vec<f64>, n_features: usize, covariances: Covariances) -> Result<Self> {
        let d = n_features;
        let invalid = |field: &str, problem: String| Error::InvalidModel {
            field: field.into(),
            problem,
        };
        if d == 0 || means.is_empty() || !means.len().is_multiple_of(d) {
            return Err(invalid(
                "means",
                format!("expected n_components x {d} values, got {}", means.len()),
            ));
        }
        let k = means.len() / d;
        if let Some(i) = means.iter().position(|m| !m.is_finite()) {
            return Err(invalid(
                &format!("means[{}][{}]", i / d, i % d),
                "is not a finite number".into(),
            ));
        }
        let kind = covariances.covariance_type();
        let values = covariances.values();
        let want = kind.covariance_len(k, d);
        if values.len() != want {
            return Err(invalid(
                "covariances",
                format!(
                    "a {kind} covariance for k = {k}, d = {d} has {want} values, got {}",
                    values.len()
                ),
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(invalid(
                &format!("covariances (value {i})"),
                "is not a finite number".into(),
            ));
        }
        if matches!(kind, CovarianceType::Full | CovarianceType::Tied) {
            for (b, m) in values.chunks(d * d).enumerate() {
                for a in 0..d {
                    for c in 0..a {
                        let (x, y) = (m[a * d + c], m[c * d + a]);
                        // Symmetric up to the rounding of a matrix product:
                        // relative to the diagonal scale of that entry.
                        let scale = (m[a * d + a] * m[c * d + c]).abs().sqrt();
                        if (x - y).abs() > 1e-10 * scale {
                            return Err(invalid(
                                &format!("covariances[{b}]"),
                                format!("is not symmetric: [{a}][{c}] = {x} but [{c}][{a}] = {y}"),
                            ));
                        }
                    }
                }
            }
        }
        let factored = Factored::new(covariances, k, d).map_err(|e| {
            invalid(
                &format!("covariances[{}]", e.0),
                "is not positive definite".into(),
            )
        })?;
        Ok(GaussianComponents {
            n_features: d,
            log_weights: vec![0.0; k],
            means,
            factored,
        })
    }

    /// Components of the right shapes whose values an M-step will overwrite.
    pub fn blank(kind: CovarianceType, k: usize, d: usize) -> Self {
        GaussianComponents {
            n_features: d,
            log_weights: vec![0.0; k],
            means: vec![0.0; k * d],
            factored: Factored {
                covariances: Covariances::from_values(kind, vec![0.0; kind.covariance_len(k, d)]),
                precisions_cholesky: vec![0.0; kind.covariance_len(k, d)],
                log_det: vec![0.0; blocks_of(kind, k)],
            },
        }
    }

    /// Number of components `k`.
    pub fn n_components(&self) -> usize {
        self.log_weights.len()
    }

    /// Number of features `d`.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn covariance_type(&self) -> CovarianceType {
        self.factored.covariance_type()
    }

    pub fn means(&self) -> &[f64] {
        &self.means
    }

    pub fn covariances(&self) -> &Covariances {
        &self.factored.covariances
    }

    /// Appends the means, then each covariance block in an unconstrained
    /// form: full and tied the lower Cholesky factor `L` of `Σ = L Lᵀ`, row
    /// by row, with `ln Lᵢᵢ` on the diagonal; diagonal and spherical the
    /// logarithms of the variances.
    pub fn write_flat(&self, out: &mut Vec<f64>) {
        out.extend_from_slice(&self.means);
        let (kind, d) = (self.covariance_type(), self.n_features);
        let values = self.covariances().values();
        match kind {
            CovarianceType::Full | CovarianceType::Tied => {
                let mut l = vec![0.0; d * d];
                for block in values.chunks_exact(d * d) {
                    // Covariances are only ever set when they factor; NaN
                    // would make the reader refuse any point built on it.
                    if cholesky_lower(block, d, &mut l).is_err() {
                        l.fill(f64::NAN);
                    }
                    for a in 0..d {
                        out.extend_from_slice(&l[a * d..a * d + a]);
                        out.push(l[a * d + a].ln());
                    }
                }
            }
            CovarianceType::Diagonal | CovarianceType::Spherical => {
                out.extend(values.iter().map(|v| v.ln()))
            }
        }
    }

    /// Reads what [`Self::write_flat`] writes, refactoring only the
    /// covariance blocks that changed; `false` when a value is not finite or
    /// a covariance does not factor.
    pub fn read_flat(&mut self, flat: &mut FlatReader<'_>) -> bool {
        let (kind, d) = (self.covariance_type(), self.n_features);
        let Some((means, _)) = flat.take(self.means.len()) else {
            return false;
        };
        if !means.iter().all(|m| m.is_finite()) {
            return false;
        }
        self.means.copy_from_slice(means);
        let per = per_block(kind, d);
        let packed = match kind {
            CovarianceType::Full | CovarianceType::Tied => d * (d + 1) / 2,
            _ => per,
        };
        let mut cov = vec![0.0; per];
        let (mut l, mut scratch) = (vec![0.0; d * d], vec![0.0; d * d]);
        let f = &mut self.factored;
        for j in 0..f.log_det.len() {
            let Some((x, base)) = flat.take(packed) else {
                return false;
            };
            if same(x, base) {
                continue;
            }
            match kind {
                CovarianceType::Full | CovarianceType::Tied => {
                    let mut x = x.iter();
                    for a in 0..d {
                        for c in 0..a {
                            l[a * d + c] = *x.next().expect("d(d+1)/2 values");
                        }
                        l[a * d + a] = x.next().expect("d(d+1)/2 values").exp();
                    }
                    // Σ = L Lᵀ, both triangles.
                    for a in 0..d {
                        for c in 0..=a {
                            let v: f64 = (0..=c).map(|p| l[a * d + p] * l[c * d + p]).sum();
                            cov[a * d + c] = v;
                            cov[c * d + a] = v;
                        }
                    }
                }
                CovarianceType::Diagonal | CovarianceType::Spherical => {
                    for (c, x) in cov.iter_mut().zip(x) {
                        *c = x.exp();
                    }
                }
            }
            let range = j * per..(j + 1) * per;
            let Some(log_det) = factor_block(
                kind,
                &cov,
                d,
                &mut f.precisions_cholesky[range.clone()],
                &mut scratch,
            ) else {
                return false;
            };
            f.log_det[j] = log_det;
            f.covariances.values_mut()[range].copy_from_slice(&cov);
        }
        true
    }
}
