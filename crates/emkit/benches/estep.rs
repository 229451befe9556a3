//! The E-step kernel alone (log-densities, log-sum-exp, responsibilities and
//! M-step statistics in one pass) over a grid of shapes and covariance types,
//! and the scoring kernel. Whole fits side by side with scikit-learn are in
//! `bench/run.sh`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use emkit::{CovarianceType, DataRef, GaussianMixture, Init};
use rand::{Rng, SeedableRng};

fn data(n: usize, d: usize, k: usize) -> Vec<f64> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64((n * 31 + d * 7 + k) as u64);
    let centres: Vec<f64> = (0..k * d).map(|_| rng.random_range(-5.0..5.0)).collect();
    (0..n)
        .flat_map(|i| {
            let j = i % k;
            (0..d)
                .map(|f| centres[j * d + f] + rng.random_range(-1.5..1.5))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn e_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("e_step");
    group.sample_size(10);
    for (n, d, k) in [(100_000, 2, 8), (50_000, 16, 16), (20_000, 64, 32)] {
        let x = data(n, d, k);
        let view = DataRef::new(&x, n, d).unwrap();
        for kind in CovarianceType::ALL {
            // Two iterations from k-means++: realistic parameters, cheap to get.
            let model = GaussianMixture::builder(k)
                .covariance(kind)
                .init(Init::KMeansPlusPlus)
                .max_iter(2)
                .fit(view)
                .unwrap()
                .model;
            group.throughput(Throughput::Elements((n * k) as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{kind}"), format!("n{n}_d{d}_k{k}")),
                &model,
                |b, m| b.iter(|| emkit::bench_support::e_step(m, view)),
            );
        }
    }
    group.finish();
}

fn score(c: &mut Criterion) {
    let mut group = c.benchmark_group("score_samples");
    group.sample_size(10);
    for (n, d, k) in [(100_000, 2, 8), (50_000, 16, 16)] {
        let x = data(n, d, k);
        let view = DataRef::new(&x, n, d).unwrap();
        let model = GaussianMixture::builder(k)
            .init(Init::KMeansPlusPlus)
            .max_iter(2)
            .fit(view)
            .unwrap()
            .model;
        group.throughput(Throughput::Elements((n * k) as u64));
        group.bench_function(format!("full/n{n}_d{d}_k{k}"), |b| {
            b.iter(|| model.score_samples(view).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, e_step, score);
criterion_main!(benches);
