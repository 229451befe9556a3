use rand::Rng;
use rayon::prelude::*;

use crate::data::DataRef;

/// Rows per parallel task; fixed so results do not depend on the thread count.
const ROWS_PER_TASK: usize = 2048;

/// Centres (`k × d`, row-major), labels and inertia of a k-means run.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansResult {
    /// `k × d` centres, row-major.
    pub centres: Vec<f64>,
    /// Index of the nearest centre of each row.
    pub labels: Vec<usize>,
    /// Sum of squared distances of rows to their centres.
    pub inertia: f64,
    /// Lloyd iterations run.
    pub n_iter: usize,
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// A row drawn with probability proportional to `mass[i]` (whose sum is
/// `total > 0`), by the inverse of the cumulative sums.
fn draw_proportional<R: Rng>(mass: impl Iterator<Item = f64>, total: f64, rng: &mut R) -> usize {
    let target = rng.random::<f64>() * total;
    let mut acc = 0.0;
    let mut last = 0;
    for (i, m) in mass.enumerate() {
        if m > 0.0 {
            last = i;
        }
        acc += m;
        if acc > target {
            return i;
        }
    }
    // Rounding left the target above the last partial sum: the last row
    // with any mass.
    last
}

/// Greedy k-means++ seeding (Arthur & Vassilvitskii, with scikit-learn's
/// `2 + ln k` candidate trials per centre). Needs `1 <= k <= n`. With
/// `weights`, a row of weight `w` counts as `w` copies of it (seeds are drawn
/// with probability `∝ w·D²`, the first `∝ w`); rows of weight 0 are never
/// picked, and at least `k` rows need a positive weight.
pub fn kmeans_plus_plus<R: Rng>(
    data: DataRef<'_>,
    weights: Option<&[f64]>,
    k: usize,
    rng: &mut R,
) -> Vec<f64> {
    let n = data.n_rows();
    let d = data.n_cols();
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let mut centres = Vec::with_capacity(k * d);
    let first = match weights {
        None => rng.random_range(0..n),
        Some(w) => draw_proportional(w.iter().copied(), w.iter().sum(), rng),
    };
    centres.extend_from_slice(data.row(first));
    let mut closest: Vec<f64> = (0..n)
        .map(|i| sq_dist(data.row(i), data.row(first)))
        .collect();
    let trials = 2 + (k as f64).ln() as usize;
    let mut candidate_dist = vec![0.0; n];
    let mut best_dist = vec![0.0; n];
    for _ in 1..k {
        let total: f64 = match weights {
            None => closest.iter().sum(),
            Some(w) => closest.iter().zip(w).map(|(c, w)| c * w).sum(),
        };
        let mut best: Option<(f64, usize)> = None;
        for _ in 0..trials {
            let cand = if total > 0.0 {
                // Inverse-CDF draw proportional to the (weighted) squared distance.
                match weights {
                    None => {
                        let target = rng.random::<f64>() * total;
                        let mut acc = 0.0;
                        let mut pick = n - 1;
                        for (i, &c) in closest.iter().enumerate() {
                            acc += c;
                            if acc > target {
                                pick = i;
                                break;
                            }
                        }
                        pick
                    }
                    // Never a row of weight 0, even when rounding leaves the
                    // target above the last partial sum.
                    Some(w) => {
                        draw_proportional(closest.iter().zip(w).map(|(c, w)| c * w), total, rng)
                    }
                }
            } else {
                // Every row coincides with a centre: any row will do (of
                // positive weight).
                match weights {
                    None => rng.random_range(0..n),
                    Some(w) => draw_proportional(w.iter().copied(), w.iter().sum(), rng),
                }
            };
            let c = data.row(cand);
            let mut pot = 0.0;
            for (i, cd) in candidate_dist.iter_mut().enumerate() {
                *cd = sq_dist(data.row(i), c).min(closest[i]);
                pot += match weights {
                    None => *cd,
                    Some(_) => weight(i) * *cd,
                };
            }
            if best.is_none_or(|(p, _)| pot < p) {
                best = Some((pot, cand));
                best_dist.copy_from_slice(&candidate_dist);
            }
        }
        let (_, pick) = best.expect("at least two trials");
        centres.extend_from_slice(data.row(pick));
        closest.copy_from_slice(&best_dist);
    }
    centres
}

/// Label of the nearest centre for every row, and the inertia.
pub fn nearest_centres(data: DataRef<'_>, centres: &[f64]) -> (Vec<usize>, f64) {
    let (labels, dists) = nearest_distances(data, centres);
    // Summed per task, then across tasks, so the inertia does not depend on
    // the thread count.
    let inertia = dists
        .chunks(ROWS_PER_TASK)
        .map(|c| c.iter().fold(0.0, |acc, v| acc + v))
        .fold(0.0, |acc, v| acc + v);
    (labels, inertia)
}

/// Label of the nearest centre for every row (ties to the lower index) and
/// its squared Euclidean distance (k-means‖ on a cluster samples by these).
pub fn nearest_distances(data: DataRef<'_>, centres: &[f64]) -> (Vec<usize>, Vec<f64>) {
    let d = data.n_cols();
    let k = centres.len() / d;
    let n = data.n_rows();
    let parts: Vec<(Vec<usize>, Vec<f64>)> = (0..n.div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .map(|t| {
            let end = ((t + 1) * ROWS_PER_TASK).min(n);
            let mut labels = Vec::with_capacity(end - t * ROWS_PER_TASK);
            let mut dists = Vec::with_capacity(end - t * ROWS_PER_TASK);
            for i in t * ROWS_PER_TASK..end {
                let x = data.row(i);
                let (mut best, mut best_j) = (f64::INFINITY, 0);
                for j in 0..k {
                    let dist = sq_dist(x, &centres[j * d..(j + 1) * d]);
                    if dist < best {
                        best = dist;
                        best_j = j;
                    }
                }
                labels.push(best_j);
                dists.push(best);
            }
            (labels, dists)
        })
        .collect();
    let mut labels = Vec::with_capacity(n);
    let mut dists = Vec::with_capacity(n);
    for (l, s) in parts {
        labels.extend(l);
        dists.extend(s);
    }
    (labels, dists)
}

/// Lloyd's k-means from k-means++ seeds, until no label changes, the centres
/// move less than `tol` times the mean feature variance (squared, as
/// scikit-learn), or `max_iter` iterations. An empty cluster is moved to the
/// row farthest from its centre. With `weights`, every sum and count is
/// weighted (a row of weight `w` is `w` copies of it; the inertia too), and
/// rows of weight 0 take no part beyond getting a label.
pub fn kmeans<R: Rng>(
    data: DataRef<'_>,
    weights: Option<&[f64]>,
    k: usize,
    max_iter: usize,
    rng: &mut R,
) -> KMeansResult {
    let d = data.n_cols();
    let n = data.n_rows();
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let mut centres = kmeans_plus_plus(data, weights, k, rng);
    let tol = 1e-4 * mean_variance(data, weights);
    let (mut labels, mut inertia) = weighted_nearest(data, weights, &centres);
    let mut n_iter = 0;
    for _ in 0..max_iter {
        n_iter += 1;
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0.0; k];
        // Sum offsets from the old centre rather than raw values, so that data far
        // from the origin keeps its precision.
        for (i, &l) in labels.iter().enumerate() {
            let w = weight(i);
            if w == 0.0 {
                continue;
            }
            counts[l] += w;
            let x = data.row(i);
            for f in 0..d {
                sums[l * d + f] += match weights {
                    None => x[f] - centres[l * d + f],
                    Some(_) => w * (x[f] - centres[l * d + f]),
                };
            }
        }
        let mut new = centres.clone();
        for j in 0..k {
            if counts[j] == 0.0 {
                let far = (0..n)
                    .filter(|&i| weight(i) > 0.0)
                    .max_by(|&a, &b| {
                        let da = sq_dist(data.row(a), &centres[labels[a] * d..(labels[a] + 1) * d]);
                        let db = sq_dist(data.row(b), &centres[labels[b] * d..(labels[b] + 1) * d]);
                        da.total_cmp(&db)
                    })
                    .unwrap_or(0);
                new[j * d..(j + 1) * d].copy_from_slice(data.row(far));
            } else {
                for f in 0..d {
                    new[j * d + f] += sums[j * d + f] / counts[j];
                }
            }
        }
        let shift: f64 = sq_dist(&new, &centres);
        centres = new;
        let (new_labels, new_inertia) = weighted_nearest(data, weights, &centres);
        let unchanged = new_labels == labels;
        labels = new_labels;
        inertia = new_inertia;
        if unchanged || shift <= tol {
            break;
        }
    }
    KMeansResult {
        centres,
        labels,
        inertia,
        n_iter,
    }
}

/// [`nearest_centres`], with the inertia weighted.
fn weighted_nearest(
    data: DataRef<'_>,
    weights: Option<&[f64]>,
    centres: &[f64],
) -> (Vec<usize>, f64) {
    let (labels, inertia) = nearest_centres(data, centres);
    match weights {
        None => (labels, inertia),
        Some(w) => {
            let d = data.n_cols();
            let inertia = (0..data.n_rows())
                .filter(|&i| w[i] > 0.0)
                .map(|i| w[i] * sq_dist(data.row(i), &centres[labels[i] * d..(labels[i] + 1) * d]))
                .sum();
            (labels, inertia)
        }
    }
}

fn mean_variance(data: DataRef<'_>, weights: Option<&[f64]>) -> f64 {
    let n = data.n_rows() as f64;
    let d = data.n_cols();
    let first = data.row(0);
    let mut total = 0.0;
    for f in 0..d {
        // Shifted by the first row for precision on offset data.
        let (mut s, mut s2, mut sw) = (0.0, 0.0, 0.0);
        for i in 0..data.n_rows() {
            let z = data.row(i)[f] - first[f];
            match weights {
                None => {
                    s += z;
                    s2 += z * z;
                }
                Some(w) => {
                    s += w[i] * z;
                    s2 += w[i] * z * z;
                    sw += w[i];
                }
            }
        }
        let n = if weights.is_some() { sw } else { n };
        total += (s2 - s * s / n) / n;
    }
    total / d as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn kmeans_separates_two_obvious_clusters() {
        let mut v = Vec::new();
        for i in 0..20 {
            let o = if i < 10 { 0.0 } else { 100.0 };
            v.extend_from_slice(&[o + (i % 3) as f64 * 0.1, o - (i % 4) as f64 * 0.1]);
        }
        let data = DataRef::new(&v, 20, 2).unwrap();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let res = kmeans(data, None, 2, 100, &mut rng);
        assert!(res.labels[..10].iter().all(|&l| l == res.labels[0]));
        assert!(res.labels[10..].iter().all(|&l| l == res.labels[10]));
        assert_ne!(res.labels[0], res.labels[10]);
    }

    #[test]
    fn seeding_picks_distinct_rows_when_rows_are_distinct() {
        let v: Vec<f64> = (0..30).map(|i| i as f64).collect();
        let data = DataRef::new(&v, 30, 1).unwrap();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        let mut c = kmeans_plus_plus(data, None, 5, &mut rng);
        c.sort_by(f64::total_cmp);
        c.dedup();
        assert_eq!(c.len(), 5);
    }
}
