//! The collapse test: how small a component's variance is relative to the data's.

use crate::dist::gaussian::{Covariances, DataCovariance};
use crate::error::{Error, Result};
use crate::linalg::eigen::min_generalized_eigenvalue;
use crate::mixture::GaussianMixture;

/// A fit whose [`min_relative_variance`] is below this is
/// degenerate: some component has (nearly) collapsed onto a few points, a
/// subspace or tied values, so its likelihood is large for a fragile reason.
/// The value is that of the project's scikit-learn references
/// (`degenerate_suspect`).
pub const DEGENERATE_RELATIVE_VARIANCE: f64 = 1e-3;

/// The smallest ratio of a component's variance to the data's variance along
/// any direction, over all components: the smallest generalised eigenvalue
/// of (component covariance, the data's `cov(X) + reg_covar·I`). Tied: the shared
/// matrix; diag: the diagonal matrix; spherical: the smallest component
/// variance over the mean of the diagonal of `cov(X) + reg_covar·I`.
///
/// `None` when the data's covariance itself is not positive definite (a
/// constant column with `reg_covar = 0`): then there is no yardstick.
pub fn min_relative_variance(
    data_covariance: &DataCovariance,
    model: &GaussianMixture,
) -> Result<Option<f64>> {
    let d = data_covariance.n_features();
    if model.n_features() != d {
        return Err(Error::ShapeMismatch {
            what: "number of features of the model".into(),
            expected: d,
            got: model.n_features(),
        });
    }
    let b = data_covariance.matrix();
    let k = model.n_components();
    let covariances = model.covariances();
    if let Covariances::Spherical(v) = covariances {
        let mean_variance = (0..d).map(|i| b[i * d + i]).sum::<f64>() / d as f64;
        if !crate::linalg::positive_finite(mean_variance) {
            return Ok(None);
        }
        let smallest = v.iter().copied().fold(f64::INFINITY, f64::min);
        return Ok(Some(smallest / mean_variance));
    }
    let blocks = if let Covariances::Tied(_) = covariances {
        1
    } else {
        k
    };
    let mut smallest = f64::INFINITY;
    for j in 0..blocks {
        let a = covariances.component_matrix(j, d);
        match min_generalized_eigenvalue(&a, b, d) {
            Ok(v) => smallest = smallest.min(v),
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(smallest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataRef;

    #[test]
    fn relative_variance_of_each_covariance_type() {
        // Data covariance diag(4, 1) exactly (reg 0): rows (±2, ±1).
        let x = [2.0, 1.0, -2.0, -1.0, 2.0, -1.0, -2.0, 1.0];
        let yard = DataCovariance::new(DataRef::new(&x, 4, 2).unwrap(), 0.0).unwrap();
        let model = |cov: Covariances, k: usize| {
            GaussianMixture::new(vec![1.0 / k as f64; k], vec![0.0; 2 * k], 2, cov).unwrap()
        };
        let rel = |m: &GaussianMixture| min_relative_variance(&yard, m).unwrap().unwrap();
        // Full: the second component's variance 0.01 along x is 0.0025 of 4.
        let full = model(
            Covariances::Full(vec![4.0, 0.0, 0.0, 1.0, 0.01, 0.0, 0.0, 1.0]),
            2,
        );
        assert!((rel(&full) - 0.0025).abs() < 1e-15);
        // Tied: one matrix, ratios 1 and 0.5.
        let tied = model(Covariances::Tied(vec![4.0, 0.0, 0.0, 0.5]), 2);
        assert!((rel(&tied) - 0.5).abs() < 1e-15);
        // Diag: (2, 0.1) against (4, 1): 0.1.
        let diag = model(Covariances::Diagonal(vec![2.0, 0.1, 4.0, 1.0]), 2);
        assert!((rel(&diag) - 0.1).abs() < 1e-15);
        // Spherical: 0.25 over the mean variance 2.5.
        let sph = model(Covariances::Spherical(vec![0.25, 3.0]), 2);
        assert!((rel(&sph) - 0.1).abs() < 1e-15);
    }

    #[test]
    fn no_yardstick_for_a_constant_column_without_reg() {
        let x = [1.0, 5.0, 2.0, 5.0, 3.0, 5.0];
        let yard = DataCovariance::new(DataRef::new(&x, 3, 2).unwrap(), 0.0).unwrap();
        let m = GaussianMixture::new(
            vec![1.0],
            vec![2.0, 5.0],
            2,
            Covariances::Full(vec![1.0, 0.0, 0.0, 1.0]),
        )
        .unwrap();
        assert_eq!(min_relative_variance(&yard, &m).unwrap(), None);
    }
}
