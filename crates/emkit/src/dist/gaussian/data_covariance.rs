//! The data's own covariance: the yardstick of the collapse test and the
//! starting covariance of Gaussian HMM states.

use crate::data::{DataRef, Weighted};
use crate::error::Result;

/// The whole data's covariance `cov(X) + reg_covar·I` (population covariance,
/// divided by `n`), the yardstick of the collapse test.
#[derive(Clone, Debug, PartialEq)]
pub struct DataCovariance {
    n_features: usize,
    matrix: Vec<f64>,
}

impl DataCovariance {
    /// `cov(X) + reg_covar·I` of `data` (centred two-pass sums, so a large
    /// offset costs no precision).
    pub fn new(data: DataRef<'_>, reg_covar: f64) -> Result<Self> {
        Self::weighted(data.into(), reg_covar)
    }

    /// [`new`](Self::new) of weighted rows: the weighted mean and covariance
    /// (a row of weight `w` counts as `w` copies of it).
    pub fn weighted(weighted: Weighted<'_>, reg_covar: f64) -> Result<Self> {
        let data = weighted.data();
        data.check_not_empty()?;
        data.check_fittable()?;
        let (n, d) = (data.n_rows(), data.n_cols());
        let weights = weighted.weights();
        let total = match weights {
            None => n as f64,
            Some(_) => weighted.total(),
        };
        let mut mean = vec![0.0; d];
        for i in 0..n {
            let w = weighted.weight(i);
            for (m, x) in mean.iter_mut().zip(data.row(i)) {
                match weights {
                    None => *m += x,
                    Some(_) => *m += w * x,
                }
            }
        }
        mean.iter_mut().for_each(|m| *m /= total);
        let mut matrix = vec![0.0; d * d];
        let mut centred = vec![0.0; d];
        for i in 0..n {
            let w = weighted.weight(i);
            if w == 0.0 {
                continue;
            }
            for ((c, x), m) in centred.iter_mut().zip(data.row(i)).zip(&mean) {
                *c = x - m;
            }
            for a in 0..d {
                for b in 0..=a {
                    match weights {
                        None => matrix[a * d + b] += centred[a] * centred[b],
                        Some(_) => matrix[a * d + b] += w * centred[a] * centred[b],
                    }
                }
            }
        }
        for a in 0..d {
            for b in 0..=a {
                let v = matrix[a * d + b] / total;
                matrix[a * d + b] = v;
                matrix[b * d + a] = v;
            }
            matrix[a * d + a] += reg_covar;
        }
        Ok(DataCovariance {
            n_features: d,
            matrix,
        })
    }

    /// The `d × d` matrix, row-major.
    pub fn matrix(&self) -> &[f64] {
        &self.matrix
    }
}

impl DataCovariance {
    /// Number of features `d`.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_covariance_is_the_population_covariance_plus_reg() {
        let x = [1.0, 2.0, 3.0, 6.0, 5.0, 7.0];
        let c = DataCovariance::new(DataRef::new(&x, 3, 2).unwrap(), 0.5).unwrap();
        // Means 3 and 5; centred rows (-2,-3), (0,1), (2,2).
        let want = [8.0 / 3.0 + 0.5, 10.0 / 3.0, 10.0 / 3.0, 14.0 / 3.0 + 0.5];
        for (g, w) in c.matrix().iter().zip(want) {
            assert!((g - w).abs() < 1e-14, "{:?}", c.matrix());
        }
    }
}
