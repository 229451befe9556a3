//! Fast kernels against naive formulas.

mod common;

use common::{blobs, test_seed};
use emkit::{CovarianceType, Covariances, DataRef, GaussianMixture};
use rand::{Rng, SeedableRng};

/// Determinant and inverse by Gauss–Jordan elimination with partial pivoting:
/// slow, obvious, and independent of the Cholesky code under test.
fn det_and_inverse(a: &[f64], d: usize) -> (f64, Vec<f64>) {
    let mut m = a.to_vec();
    let mut inv: Vec<f64> = (0..d * d)
        .map(|i| if i / d == i % d { 1.0 } else { 0.0 })
        .collect();
    let mut det = 1.0;
    for c in 0..d {
        let p = (c..d)
            .max_by(|&x, &y| m[x * d + c].abs().total_cmp(&m[y * d + c].abs()))
            .unwrap();
        if p != c {
            for j in 0..d {
                m.swap(p * d + j, c * d + j);
                inv.swap(p * d + j, c * d + j);
            }
            det = -det;
        }
        let piv = m[c * d + c];
        det *= piv;
        for j in 0..d {
            m[c * d + j] /= piv;
            inv[c * d + j] /= piv;
        }
        for r in 0..d {
            if r != c {
                let f = m[r * d + c];
                for j in 0..d {
                    m[r * d + j] -= f * m[c * d + j];
                    inv[r * d + j] -= f * inv[c * d + j];
                }
            }
        }
    }
    (det, inv)
}

/// `ln Σ_j w_j N(x | μ_j, Σ_j)` straight from the textbook formula.
fn naive_log_density(model: &GaussianMixture, x: &[f64]) -> f64 {
    let d = model.n_features();
    let mut total = 0.0;
    for j in 0..model.n_components() {
        let cov = model.covariances().component_matrix(j, d);
        let (det, inv) = det_and_inverse(&cov, d);
        let diff: Vec<f64> = (0..d).map(|i| x[i] - model.means()[j * d + i]).collect();
        let mut maha = 0.0;
        for a in 0..d {
            for b in 0..d {
                maha += diff[a] * inv[a * d + b] * diff[b];
            }
        }
        let norm = ((2.0 * std::f64::consts::PI).powi(d as i32) * det).sqrt();
        total += model.weights()[j] * (-0.5 * maha).exp() / norm;
    }
    total.ln()
}

fn random_spd(d: usize, rng: &mut impl Rng) -> Vec<f64> {
    let a: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut s = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            s[i * d + j] = (0..d).map(|p| a[i * d + p] * a[j * d + p]).sum::<f64>();
        }
        s[i * d + i] += 0.5;
    }
    s
}

fn random_model(kind: CovarianceType, k: usize, d: usize, rng: &mut impl Rng) -> GaussianMixture {
    let raw: Vec<f64> = (0..k).map(|_| rng.random_range(0.2..1.0)).collect();
    let sum: f64 = raw.iter().sum();
    let weights = raw.iter().map(|w| w / sum).collect();
    let means = (0..k * d).map(|_| rng.random_range(-3.0..3.0)).collect();
    let covariances = match kind {
        CovarianceType::Full => {
            Covariances::Full((0..k).flat_map(|_| random_spd(d, rng)).collect())
        }
        CovarianceType::Tied => Covariances::Tied(random_spd(d, rng)),
        CovarianceType::Diagonal => {
            Covariances::Diagonal((0..k * d).map(|_| rng.random_range(0.3..3.0)).collect())
        }
        CovarianceType::Spherical => {
            Covariances::Spherical((0..k).map(|_| rng.random_range(0.3..3.0)).collect())
        }
    };
    GaussianMixture::new(weights, means, d, covariances).unwrap()
}

#[test]
fn fast_log_density_equals_the_naive_formula() {
    let seed = test_seed(21);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    for kind in CovarianceType::ALL {
        for d in [1, 2, 3, 5] {
            let model = random_model(kind, 3, d, &mut rng);
            let x = blobs(300, d, 2, seed + d as u64);
            let data = DataRef::new(&x, 300, d).unwrap();
            let fast = model.score_samples(data).unwrap();
            for (i, f) in fast.iter().enumerate() {
                let naive = naive_log_density(&model, data.row(i));
                // Far rows have log-densities of -100s where exp() in the naive
                // formula loses relative precision; 1e-9 of the magnitude allows
                // for that and for the elimination's rounding.
                assert!(
                    (f - naive).abs() <= 1e-9 * (1.0 + naive.abs()),
                    "{kind} d={d} row {i}: {f} vs {naive}"
                );
            }
        }
    }
}

#[test]
fn full_covariance_equals_diag_on_a_diagonal_covariance() {
    let seed = test_seed(4);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let diag = random_model(CovarianceType::Diagonal, 3, 4, &mut rng);
    let d = 4;
    let full_cov: Vec<f64> = (0..3)
        .flat_map(|j| diag.covariances().component_matrix(j, d))
        .collect();
    let full = GaussianMixture::new(
        diag.weights().to_vec(),
        diag.means().to_vec(),
        d,
        Covariances::Full(full_cov),
    )
    .unwrap();
    let x = blobs(500, d, 3, seed);
    let data = DataRef::new(&x, 500, d).unwrap();
    let (a, b) = (
        diag.score_samples(data).unwrap(),
        full.score_samples(data).unwrap(),
    );
    for (p, q) in a.iter().zip(&b) {
        // The two kernels multiply in different orders: a few ulps of |value|.
        assert!((p - q).abs() <= 1e-12 * (1.0 + p.abs()), "{p} vs {q}");
    }
    // And a fit with full covariance on axis-aligned blobs finds near-zero
    // off-diagonal terms, like the diag fit's variances on the diagonal.
    let fd = GaussianMixture::builder(3)
        .covariance(CovarianceType::Diagonal)
        .seed(seed)
        .tol(1e-9)
        .max_iter(500)
        .fit(data)
        .unwrap();
    let ff = GaussianMixture::builder(3)
        .covariance(CovarianceType::Full)
        .seed(seed)
        .tol(1e-9)
        .max_iter(500)
        .fit(data)
        .unwrap();
    // Same clustering, so the full model's log-likelihood is at least the diag one's
    // (it has more freedom), up to the stopping tolerance.
    assert!(ff.mean_log_likelihood() >= fd.mean_log_likelihood() - 1e-6);
}

#[test]
fn log_determinant_equals_ln_det_sigma() {
    let seed = test_seed(2);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    for kind in CovarianceType::ALL {
        for d in [1, 2, 4, 6] {
            let model = random_model(kind, 2, d, &mut rng);
            // The density at the mean of a one-component model is
            // (2π)^(-d/2) det(Σ)^(-1/2): it exposes the log-determinant.
            let one = GaussianMixture::new(
                vec![1.0],
                model.means()[..d].to_vec(),
                d,
                Covariances::Full(model.covariances().component_matrix(0, d)),
            )
            .unwrap();
            let at_mean = one
                .score_samples(DataRef::new(&model.means()[..d], 1, d).unwrap())
                .unwrap()[0];
            let (det, _) = det_and_inverse(&model.covariances().component_matrix(0, d), d);
            let want = -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + det.ln());
            assert!(
                (at_mean - want).abs() <= 1e-12 * (1.0 + want.abs()),
                "{kind} d={d}"
            );
        }
    }
}

#[test]
fn probabilities_sum_to_one_and_predict_is_their_argmax() {
    let seed = test_seed(6);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    for kind in CovarianceType::ALL {
        let model = random_model(kind, 4, 3, &mut rng);
        let x = blobs(700, 3, 4, seed);
        let data = DataRef::new(&x, 700, 3).unwrap();
        let p = model.predict_proba(data).unwrap();
        let labels = model.predict(data).unwrap();
        for i in 0..700 {
            let row = p.row(i);
            let sum: f64 = row.iter().sum();
            // k terms each rounded once.
            assert!((sum - 1.0).abs() < 1e-12);
            let arg = (0..4).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            assert_eq!(row[arg], row[labels[i]]);
        }
    }
}

#[test]
fn samples_follow_the_model() {
    let seed = test_seed(12);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let model = random_model(CovarianceType::Full, 2, 2, &mut rng);
    let (x, labels) = model.sample(40_000, seed).unwrap();
    assert_eq!(x.n_rows(), 40_000);
    // Same seed, same samples.
    assert_eq!(model.sample(40_000, seed).unwrap().0, x);
    for j in 0..2 {
        let rows: Vec<&[f64]> = (0..40_000)
            .filter(|&i| labels[i] == j)
            .map(|i| x.row(i))
            .collect();
        let share = rows.len() as f64 / 40_000.0;
        // Binomial standard error is below 0.0025; 5 of them.
        assert!((share - model.weights()[j]).abs() < 0.0125);
        for f in 0..2 {
            let mean = rows.iter().map(|r| r[f]).sum::<f64>() / rows.len() as f64;
            let var = model.covariances().component_matrix(j, 2)[f * 2 + f];
            // Standard error of a mean of >= 4000 draws is below sqrt(var/4000); 5 of them.
            assert!((mean - model.means()[j * 2 + f]).abs() < 5.0 * (var / 4000.0).sqrt());
        }
    }
}
