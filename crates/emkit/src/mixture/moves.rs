//! Split-and-merge moves of a fitted mixture (Ueda, Nakano, Ghahramani &
//! Hinton 2000, "SMEM"): two components that explain the same rows are
//! merged, and a component that spreads over too much space is split, in one
//! move that keeps `k`. The engine's split-merge strategy runs EM from each
//! proposal and keeps the first that raises the log-likelihood.

use super::em::MixtureEm;
use super::GaussianMixture;
use crate::data::RowBlock;
use crate::dist::gaussian::{CovarianceType, Covariances};
use crate::error::Result;
use crate::linalg::cholesky_lower;

/// How many merge pairs and split candidates are combined into proposals.
pub(crate) const N_MERGE: usize = 5;
pub(crate) const N_SPLIT: usize = 3;

/// What one pass over the data gathers for the proposals: the Gram matrix of
/// the responsibilities (`Σ w rᵢ rⱼ`, `k × k`), and each component's
/// responsibility-weighted count and scatter about its mean (`d × d`).
pub(crate) struct MoveStats {
    k: usize,
    d: usize,
    gram: Vec<f64>,
    counts: Vec<f64>,
    scatter: Vec<f64>,
}

impl MoveStats {
    pub fn new(model: &GaussianMixture) -> Self {
        let (k, d) = (model.n_components(), model.n_features());
        MoveStats {
            k,
            d,
            gram: vec![0.0; k * k],
            counts: vec![0.0; k],
            scatter: vec![0.0; k * d * d],
        }
    }

    /// Adds one block of rows under `model`.
    pub fn add(&mut self, model: &GaussianMixture, block: RowBlock<'_>) -> Result<()> {
        let (k, d) = (self.k, self.d);
        let resp = model.predict_proba(block.rows)?;
        let means = model.means();
        let mut z = vec![0.0; d];
        for i in 0..block.rows.n_rows() {
            let w = block.weights.map_or(1.0, |w| w[i]);
            if w == 0.0 {
                continue;
            }
            let r = resp.row(i);
            let x = block.rows.row(i);
            for a in 0..k {
                let wa = w * r[a];
                self.counts[a] += wa;
                for b in a..k {
                    self.gram[a * k + b] += wa * r[b];
                }
                for f in 0..d {
                    z[f] = x[f] - means[a * d + f];
                }
                let s = &mut self.scatter[a * d * d..(a + 1) * d * d];
                for f in 0..d {
                    for g in f..d {
                        s[f * d + g] += wa * z[f] * z[g];
                    }
                }
            }
        }
        Ok(())
    }

    /// The proposals from `em`'s model, most promising first: merge pairs
    /// ranked by the correlation of their responsibilities, split candidates
    /// (outside the pair) by `N_l · ½ ln det S_l`, their share of the
    /// entropy term, combined in order of the sum of the two ranks.
    pub fn proposals(mut self, em: &MixtureEm) -> Vec<MixtureEm> {
        let (k, d) = (self.k, self.d);
        if k < 3 {
            // A merge and a split need three distinct components.
            return Vec::new();
        }
        for a in 0..k {
            for b in 0..a {
                self.gram[a * k + b] = self.gram[b * k + a];
            }
            let s = &mut self.scatter[a * d * d..(a + 1) * d * d];
            let n = self.counts[a].max(f64::MIN_POSITIVE);
            for f in 0..d {
                for g in f..d {
                    s[f * d + g] /= n;
                    s[g * d + f] = s[f * d + g];
                }
            }
        }
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for a in 0..k {
            for b in a + 1..k {
                let norm = (self.gram[a * k + a] * self.gram[b * k + b]).sqrt();
                let c = if norm > 0.0 {
                    self.gram[a * k + b] / norm
                } else {
                    0.0
                };
                pairs.push((c, a, b));
            }
        }
        pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
        pairs.truncate(N_MERGE);
        let mut splits: Vec<(f64, usize)> = (0..k)
            .map(|l| {
                let s = &self.scatter[l * d * d..(l + 1) * d * d];
                (self.counts[l] * 0.5 * log_det_floored(s, d), l)
            })
            .collect();
        splits.sort_by(|x, y| y.0.total_cmp(&x.0));
        let mut order = Vec::new();
        for (pa, &(_, i, j)) in pairs.iter().enumerate() {
            let outside = splits.iter().map(|s| s.1).filter(|&l| l != i && l != j);
            for (pb, l) in outside.take(N_SPLIT).enumerate() {
                order.push((pa + pb, pa, i, j, l));
            }
        }
        order.sort_unstable();
        order
            .into_iter()
            .filter_map(|(_, _, i, j, l)| {
                let s = &self.scatter[l * d * d..(l + 1) * d * d];
                let model = merge_and_split(&em.model, i, j, l, s)?;
                Some(MixtureEm::new(model, em.reg_covar))
            })
            .collect()
    }
}

/// `ln det` of a scatter matrix with `1e-9` added to its diagonal (a
/// component on a flat set of rows still ranks).
fn log_det_floored(s: &[f64], d: usize) -> f64 {
    let mut m = s.to_vec();
    for f in 0..d {
        m[f * d + f] += 1e-9;
    }
    let mut l = vec![0.0; d * d];
    match cholesky_lower(&m, d, &mut l) {
        Ok(()) => (0..d).map(|f| 2.0 * l[f * d + f].ln()).sum(),
        Err(_) => f64::NEG_INFINITY,
    }
}

/// Merges `i` and `j` into slot `i` (weights added, the first two moments of
/// the pair kept) and splits `l` into slots `l` and `j` along the main axis
/// of its scatter `s`: means `μ ∓ ½√λ v`, covariance `Σ − ¼λ vvᵀ` (the pair
/// keeps the component's first two moments), half the weight each. The
/// covariances then take the model's structure (diagonal, their mean for
/// spherical; a tied covariance is left as it is). `None` when the result
/// is no valid mixture.
fn merge_and_split(
    m: &GaussianMixture,
    i: usize,
    j: usize,
    l: usize,
    s: &[f64],
) -> Option<GaussianMixture> {
    let (k, d, kind) = (m.n_components(), m.n_features(), m.covariance_type());
    let mut w = m.weights().to_vec();
    let mut mu = m.means().to_vec();
    let mut cov: Vec<Vec<f64>> = (0..k)
        .map(|c| m.covariances().component_matrix(c, d))
        .collect();
    // Merge: moment matching.
    let (wi, wj) = (w[i], w[j]);
    let wm = wi + wj;
    if wm.is_nan() || wm <= 0.0 {
        return None;
    }
    let mm: Vec<f64> = (0..d)
        .map(|f| (wi * mu[i * d + f] + wj * mu[j * d + f]) / wm)
        .collect();
    let mut cm = vec![0.0; d * d];
    for (c, wc) in [(i, wi), (j, wj)] {
        for f in 0..d {
            for g in 0..d {
                let df = mu[c * d + f] - mm[f];
                let dg = mu[c * d + g] - mm[g];
                cm[f * d + g] += wc * (cov[c][f * d + g] + df * dg) / wm;
            }
        }
    }
    // Split along the main axis of the scatter.
    let (lambda, v) = main_axis(s, d)?;
    let shift: Vec<f64> = v.iter().map(|x| 0.5 * lambda.sqrt() * x).collect();
    let mut cl = cov[l].clone();
    for f in 0..d {
        for g in 0..d {
            cl[f * d + g] -= 0.25 * lambda * v[f] * v[g];
        }
    }
    let mut scratch = vec![0.0; d * d];
    if cholesky_lower(&cl, d, &mut scratch).is_err() {
        // The scatter's axis is longer than the covariance's (a regularised
        // or stale covariance): keep the covariance and move the means only.
        cl.clone_from(&cov[l]);
    }
    let ml: Vec<f64> = mu[l * d..(l + 1) * d].to_vec();
    w[i] = wm;
    mu[i * d..(i + 1) * d].copy_from_slice(&mm);
    cov[i] = cm;
    w[l] *= 0.5;
    w[j] = w[l];
    for f in 0..d {
        mu[l * d + f] = ml[f] - shift[f];
        mu[j * d + f] = ml[f] + shift[f];
    }
    cov[l] = cl.clone();
    cov[j] = cl;
    let covariances = match kind {
        CovarianceType::Full => Covariances::Full(cov.concat()),
        CovarianceType::Tied => Covariances::Tied(m.covariances().values().to_vec()),
        CovarianceType::Diagonal => Covariances::Diagonal(
            cov.iter()
                .flat_map(|c| (0..d).map(move |f| c[f * d + f]))
                .collect(),
        ),
        CovarianceType::Spherical => Covariances::Spherical(
            cov.iter()
                .map(|c| (0..d).map(|f| c[f * d + f]).sum::<f64>() / d as f64)
                .collect(),
        ),
    };
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|x| *x /= total);
    GaussianMixture::new(w, mu, d, covariances).ok()
}

/// The largest eigenvalue of a symmetric positive semi-definite `d × d`
/// matrix and its unit eigenvector, by power iteration (enough for a split
/// direction); `None` for a zero or non-finite matrix.
fn main_axis(s: &[f64], d: usize) -> Option<(f64, Vec<f64>)> {
    // Start from the column of the largest diagonal entry: never orthogonal
    // to the main axis of a matrix whose largest entry it holds.
    let start = (0..d).max_by(|&a, &b| s[a * d + a].total_cmp(&s[b * d + b]))?;
    let mut v: Vec<f64> = (0..d).map(|f| s[f * d + start]).collect();
    let mut lambda = 0.0;
    for _ in 0..200 {
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return None;
        }
        v.iter_mut().for_each(|x| *x /= norm);
        let next: Vec<f64> = (0..d)
            .map(|f| (0..d).map(|g| s[f * d + g] * v[g]).sum())
            .collect();
        let new_lambda: f64 = next.iter().zip(&v).map(|(a, b)| a * b).sum();
        let settled = (new_lambda - lambda).abs() <= 1e-12 * new_lambda.abs();
        lambda = new_lambda;
        v = next;
        if settled {
            break;
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    (lambda > 0.0 && norm > 0.0 && lambda.is_finite())
        .then(|| (lambda, v.iter().map(|x| x / norm).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_axis_of_a_known_matrix() {
        // Eigenvalues 3 and 1, axis (1, 1)/√2.
        let s = [2.0, 1.0, 1.0, 2.0];
        let (lambda, v) = main_axis(&s, 2).unwrap();
        assert!((lambda - 3.0).abs() < 1e-9);
        assert!((v[0].abs() - 0.5f64.sqrt()).abs() < 1e-6 && (v[0] - v[1]).abs() < 1e-6);
        assert!(main_axis(&[0.0; 4], 2).is_none());
    }

    /// A split keeps the component's first two moments: the two halves'
    /// mixture has the original mean and covariance.
    #[test]
    fn merge_and_split_keep_the_moments() {
        let cov = vec![
            1.0, 0.0, 0.0, 1.0, //
            0.5, 0.1, 0.1, 0.3, //
            2.0, 0.5, 0.5, 1.0,
        ];
        let m = GaussianMixture::new(
            vec![0.2, 0.3, 0.5],
            vec![0.0, 0.0, 1.0, 1.0, 5.0, 5.0],
            2,
            Covariances::Full(cov.clone()),
        )
        .unwrap();
        let s = &cov[8..12];
        let out = merge_and_split(&m, 0, 1, 2, s).unwrap();
        let (w, mu) = (out.weights(), out.means());
        assert!((w[0] - 0.5).abs() < 1e-12 && (w[1] - 0.25).abs() < 1e-12);
        // The split pair (slots 2 and 1): mean and covariance of component 2.
        let c = out.covariances().values();
        for f in 0..2 {
            assert!(((mu[2 + f] + mu[4 + f]) / 2.0 - 5.0).abs() < 1e-12);
            for g in 0..2 {
                let spread = 0.25
                    * ((mu[2 + f] - 5.0) * (mu[2 + g] - 5.0)
                        + (mu[4 + f] - 5.0) * (mu[4 + g] - 5.0))
                    * 2.0;
                assert!((c[8 + f * 2 + g] + spread - s[f * 2 + g]).abs() < 1e-9);
            }
        }
        // The merged pair: weight-averaged mean.
        assert!((mu[0] - 0.6).abs() < 1e-12 && (mu[1] - 0.6).abs() < 1e-12);
    }
}
