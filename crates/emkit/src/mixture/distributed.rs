//! EM over data spread across many processes: the E-step of one part of the
//! rows as plain, serialisable statistics, their merge, and the M-step.
//!
//! A driver (Dask's client, Spark's driver) sends the current model to every
//! worker; each computes [`GaussianMixture::expectation`] of its rows; the
//! statistics are merged in a fixed order ([`MixtureStats::merge`]) and
//! [`GaussianMixture::maximization`] gives the next model. The loop that
//! [`GaussianMixtureBuilder::fit`](super::GaussianMixtureBuilder::fit) runs,
//! with the same stopping rule (see [`MixtureStats::log_likelihood`]),
//! then gives the fit in memory to rounding: merging sums in another order
//! changes their last bits only.
//!
//! Statistics are *shifted* by the model's means (see
//! [`crate::dist::gaussian`]), so only statistics of one model merge; each
//! part also keeps its worst-fit rows (by log-density, ties by row index, so
//! give each part its `offset` in the whole data), from which an empty
//! component is re-seeded exactly as in memory.

use crate::data::{DataRef, RowBlocks};
use crate::dist::gaussian::{
    block_rows, factor_scratch, maximize_into, ComponentStats, CovarianceType, WorstRows,
};
use crate::em::{driver_e_step as e_step, EmModel};
use crate::error::{Error, Result};
use crate::init::nearest_centres;

use super::builder::stats_of_labels;
use super::{GaussianMixture, MixtureEm};

/// E-step statistics of some rows under one model: Σ r, Σ r·x and the
/// second moments per component (about the model's means), the total weight
/// and log-likelihood of the rows, and their worst-fit rows.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureStats {
    stats: ComponentStats,
    log_likelihood: f64,
}

/// Leading bytes of [`MixtureStats::to_bytes`]: a name and a layout version.
const MAGIC: &[u8; 8] = b"EMKSTAT1";

fn invalid(problem: impl Into<String>) -> Error {
    Error::InvalidModel {
        field: "statistics".into(),
        problem: problem.into(),
    }
}

impl MixtureStats {
    /// Log-likelihood of the rows under the model (weighted); the fit's
    /// stopping rule compares `log_likelihood / total_weight` between
    /// iterations.
    pub fn log_likelihood(&self) -> f64 {
        self.log_likelihood
    }

    /// Sum of the rows' weights (their number when unweighted).
    pub fn total_weight(&self) -> f64 {
        self.stats.weight
    }

    /// Number of rows with a positive weight.
    pub fn n_rows(&self) -> usize {
        self.stats.rows
    }

    /// Adds the statistics of other rows under the same model.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidModel`] when `other` is of another model (other
    /// shapes, covariance type or means).
    pub fn merge(&mut self, other: &MixtureStats) -> Result<()> {
        let (a, b) = (&self.stats, &other.stats);
        if a.kind != b.kind || a.d != b.d || a.k() != b.k() {
            return Err(invalid(format!(
                "cannot merge statistics of a {}-component {} model in {} dimensions with \
                 those of a {}-component {} model in {}",
                a.k(),
                a.kind.name(),
                a.d,
                b.k(),
                b.kind.name(),
                b.d
            )));
        }
        if a.shifts
            .iter()
            .zip(&b.shifts)
            .any(|(x, y)| x.to_bits() != y.to_bits())
        {
            return Err(invalid(
                "the statistics are of different models (their means differ); merge only the \
                 statistics of one iteration",
            ));
        }
        self.stats.merge(&other.stats);
        self.log_likelihood += other.log_likelihood;
        Ok(())
    }

    /// The statistics as bytes (little-endian, versioned): what travels
    /// between processes. [`from_bytes`](Self::from_bytes) gives them back
    /// bit for bit.
    pub fn to_bytes(&self) -> Vec<u8> {
        let s = &self.stats;
        let mut out =
            Vec::with_capacity(64 + 8 * (s.shifts.len() * 2 + s.counts.len() + s.second.len()));
        out.extend_from_slice(MAGIC);
        out.push(kind_code(s.kind));
        for v in [s.k(), s.d, s.rows] {
            out.extend_from_slice(&(v as u64).to_le_bytes());
        }
        for v in [s.weight, self.log_likelihood] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for part in [&s.shifts, &s.counts, &s.first, &s.second] {
            part.iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        let (keys, values) = s.worst.used();
        out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
        for &(l, i) in keys {
            out.extend_from_slice(&l.to_le_bytes());
            out.extend_from_slice(&(i as u64).to_le_bytes());
        }
        values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        out
    }

    /// Statistics from [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidModel`] for bytes that are not such statistics (a
    /// wrong length, version or shape).
    pub fn from_bytes(bytes: &[u8]) -> Result<MixtureStats> {
        let mut r = Bytes(bytes);
        if r.take(MAGIC.len())? != MAGIC {
            return Err(invalid(
                "these bytes are not emkit mixture statistics (or of another version of emkit)",
            ));
        }
        let kind = match r.take(1)?[0] {
            0 => CovarianceType::Full,
            1 => CovarianceType::Tied,
            2 => CovarianceType::Diagonal,
            3 => CovarianceType::Spherical,
            other => return Err(invalid(format!("unknown covariance type code {other}"))),
        };
        let (k, d, rows) = (r.size()?, r.size()?, r.size()?);
        if k == 0 || d == 0 {
            return Err(invalid("statistics of no component or no feature"));
        }
        let kd = k
            .checked_mul(d)
            .filter(|&n| n <= bytes.len() / 8)
            .ok_or_else(|| invalid("the shapes announced do not fit in the bytes given"))?;
        let (weight, log_likelihood) = (r.f64()?, r.f64()?);
        let mut stats = ComponentStats::new(kind, r.f64s(kd)?, d);
        stats.counts = r.f64s(k)?;
        stats.first = r.f64s(kd)?;
        stats.second = r.f64s(kind.covariance_len(k, d))?;
        stats.weight = weight;
        stats.rows = rows;
        let n_worst = r.size()?;
        if n_worst > k {
            return Err(invalid("more worst-fit rows than components"));
        }
        let mut keys = Vec::with_capacity(n_worst);
        for _ in 0..n_worst {
            keys.push((r.f64()?, r.size()?));
        }
        let values = r.f64s(n_worst * d)?;
        if !r.0.is_empty() {
            return Err(invalid("bytes left over after the statistics"));
        }
        let mut worst = WorstRows::new(k, d);
        for (i, &(l, at)) in keys.iter().enumerate() {
            worst.offer(l, at, &values[i * d..(i + 1) * d]);
        }
        stats.worst = worst;
        Ok(MixtureStats {
            stats,
            log_likelihood,
        })
    }
}

fn kind_code(kind: CovarianceType) -> u8 {
    match kind {
        CovarianceType::Full => 0,
        CovarianceType::Tied => 1,
        CovarianceType::Diagonal => 2,
        CovarianceType::Spherical => 3,
    }
}

/// A cursor over bytes being decoded.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(invalid("the bytes end before the statistics do"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn size(&mut self) -> Result<usize> {
        usize::try_from(self.u64()?).map_err(|_| invalid("a size too large for this machine"))
    }

    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    fn f64s(&mut self, n: usize) -> Result<Vec<f64>> {
        let bytes = self.take(
            n.checked_mul(8)
                .ok_or_else(|| invalid("a size overflows"))?,
        )?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }
}

impl GaussianMixture {
    /// The E-step of `data`, rows `offset..offset + n` of a data set spread
    /// over many processes, with optional per-row `weights` (finite, >= 0; a
    /// part whose weights are all 0 contributes nothing). The rows are split
    /// into the blocks of a fit in memory, so the statistics of the whole
    /// data in one part are the fit's own, bit for bit.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] for a wrong number of columns or weights,
    /// [`Error::InvalidWeights`] for a negative or non-finite weight,
    /// [`Error::NonFinite`] for a NaN or infinite value.
    pub fn expectation(
        &self,
        data: DataRef<'_>,
        weights: Option<&[f64]>,
        offset: usize,
    ) -> Result<MixtureStats> {
        let total = self.checked_total(data, weights, offset)?;
        let d = self.n_features();
        let em = MixtureEm::new(self.clone(), 0.0);
        if data.n_rows() == 0 {
            let stats = <MixtureEm as EmModel<RowBlocks<'_>>>::empty_stats(&em);
            return Ok(MixtureStats {
                stats,
                log_likelihood: 0.0,
            });
        }
        let blocks = RowBlocks {
            data,
            weights,
            total,
            rows: block_rows(d),
            offset,
        };
        let mut workspace = Vec::new();
        let (stats, ll) = e_step(&em, &blocks, &mut workspace);
        Ok(MixtureStats {
            stats: stats.clone(),
            log_likelihood: ll,
        })
    }

    /// Statistics of hard assignments of rows `offset..offset + n`: every
    /// row counts fully (times its weight) for the component whose mean is
    /// nearest (Euclidean distance, ties to the lower index), as the k-means
    /// initialisation assigns rows in memory. Only the means of `self` are
    /// read; merged over all parts, their [`maximization`](Self::maximization)
    /// is the start that initialisation makes from those centres (k-means‖
    /// on a cluster ends so). The log-likelihood of these statistics is 0.
    ///
    /// # Errors
    ///
    /// As [`expectation`](Self::expectation).
    pub fn nearest_expectation(
        &self,
        data: DataRef<'_>,
        weights: Option<&[f64]>,
        offset: usize,
    ) -> Result<MixtureStats> {
        self.checked_total(data, weights, offset)?;
        let (labels, _) = nearest_centres(data, self.means());
        let means = self.means().to_vec();
        Ok(MixtureStats {
            stats: stats_of_labels(self.covariance_type(), data, weights, &labels, means),
            log_likelihood: 0.0,
        })
    }

    /// The total weight of rows `offset..offset + n`, after the checks of
    /// [`expectation`](Self::expectation) (errors name rows from `offset`).
    fn checked_total(
        &self,
        data: DataRef<'_>,
        weights: Option<&[f64]>,
        offset: usize,
    ) -> Result<f64> {
        let d = self.n_features();
        if data.n_cols() != d {
            return Err(Error::ShapeMismatch {
                what: "columns of the data".into(),
                expected: d,
                got: data.n_cols(),
            });
        }
        if let Err(Error::NonFinite { row, column }) = data.check_finite() {
            return Err(Error::NonFinite {
                row: offset + row,
                column,
            });
        }
        Ok(match weights {
            None => data.n_rows() as f64,
            Some(w) => {
                if w.len() != data.n_rows() {
                    return Err(Error::ShapeMismatch {
                        what: "weights".into(),
                        expected: data.n_rows(),
                        got: w.len(),
                    });
                }
                if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                    return Err(Error::InvalidWeights {
                        problem: format!(
                            "weight {} (0-based) is {}; weights must be finite and >= 0",
                            offset + i,
                            w[i]
                        ),
                    });
                }
                w.iter().sum()
            }
        })
    }

    /// The M-step from merged statistics (see [`expectation`](Self::expectation)),
    /// with `reg_covar` added to the covariances' diagonals as in a fit; also
    /// the components re-seeded because they were empty.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidModel`] for statistics of another model or with no
    /// weight, [`Error::InvalidConfig`] for a bad `reg_covar`, and the
    /// M-step's own errors (a covariance that is not positive definite).
    pub fn maximization(
        &self,
        stats: &MixtureStats,
        reg_covar: f64,
    ) -> Result<(GaussianMixture, Vec<usize>)> {
        crate::dist::gaussian::check_reg_covar(reg_covar)?;
        let s = &stats.stats;
        let (k, d) = (self.n_components(), self.n_features());
        if s.kind != self.covariance_type() || s.k() != k || s.d != d {
            return Err(invalid(
                "the statistics are of a model of other shapes or covariance type",
            ));
        }
        if s.shifts
            .iter()
            .zip(self.means())
            .any(|(x, y)| x.to_bits() != y.to_bits())
        {
            return Err(invalid(
                "the statistics are of another model (their means differ); maximise the \
                 model whose expectation they are",
            ));
        }
        if !(s.weight > 0.0 && s.weight.is_finite()) {
            return Err(invalid(format!(
                "the statistics hold a total weight of {}; an M-step needs rows of positive \
                 weight",
                s.weight
            )));
        }
        let mut next = self.clone();
        let mut chol = factor_scratch(self.covariance_type(), d);
        let (weights, components) = next.parts_mut();
        let reseeded = maximize_into(s, reg_covar, None, weights, components, &mut chol)?;
        Ok((next, reseeded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Covariances, GaussianMixtureBuilder};

    fn cloud(n: usize, d: usize) -> Vec<f64> {
        (0..n * d)
            .map(|i| {
                let row = i / d;
                ((i * 7919) % 1013) as f64 / 101.3 + (row % 3) as f64 * 4.0
            })
            .collect()
    }

    /// The loop a distributed driver runs, over `parts`, merged left to right.
    fn fit_in_parts(
        start: &GaussianMixture,
        x: &[f64],
        d: usize,
        parts: &[usize],
        iters: usize,
    ) -> (GaussianMixture, f64) {
        let n = x.len() / d;
        let mut model = start.clone();
        let stats_of = |model: &GaussianMixture| {
            let mut merged: Option<MixtureStats> = None;
            let mut bounds = parts.to_vec();
            bounds.insert(0, 0);
            bounds.push(n);
            for w in bounds.windows(2) {
                let rows = DataRef::new(&x[w[0] * d..w[1] * d], w[1] - w[0], d).unwrap();
                let s = model.expectation(rows, None, w[0]).unwrap();
                // Through bytes, as between processes.
                let s = MixtureStats::from_bytes(&s.to_bytes()).unwrap();
                match &mut merged {
                    None => merged = Some(s),
                    Some(m) => m.merge(&s).unwrap(),
                }
            }
            merged.unwrap()
        };
        for _ in 0..iters {
            let s = stats_of(&model);
            model = model.maximization(&s, 1e-6).unwrap().0;
        }
        let ll = stats_of(&model).log_likelihood();
        (model, ll)
    }

    #[test]
    fn parts_merged_give_the_fit_in_memory() {
        let (n, d) = (5000, 3);
        let x = cloud(n, d);
        let all = DataRef::new(&x, n, d).unwrap();
        for kind in CovarianceType::ALL {
            let start = GaussianMixtureBuilder::new(3)
                .covariance(kind)
                .max_iter(1)
                .fit(all)
                .unwrap()
                .model;
            let fit = GaussianMixtureBuilder::new(3)
                .covariance(kind)
                .init_model(start.clone())
                .max_iter(5)
                .tol(0.0)
                .fit(all)
                .unwrap();
            // One part: the fit's own blocks and merge order, bit for bit.
            let (one, ll) = fit_in_parts(&start, &x, d, &[], 5);
            assert_eq!(one, fit.model, "{kind}");
            assert_eq!(ll, fit.report.best().log_likelihood, "{kind}");
            // Parts of any sizes: the same sums in another order. Each of the
            // ~n·d terms is rounded once either way, so the results agree to
            // a few ulps of the sums, amplified by five M-steps: 1e-10.
            let (many, ll) = fit_in_parts(&start, &x, d, &[1, 700, 701, 3333], 5);
            let close = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .all(|(u, v)| (u - v).abs() <= 1e-10 * v.abs().max(1.0))
            };
            assert!(close(many.means(), fit.model.means()), "{kind}");
            assert!(close(many.weights(), fit.model.weights()), "{kind}");
            assert!(
                close(
                    many.covariances().values(),
                    fit.model.covariances().values()
                ),
                "{kind}"
            );
            let best = fit.report.best().log_likelihood;
            assert!((ll - best).abs() <= 1e-10 * best.abs(), "{kind}");
        }
    }

    #[test]
    fn statistics_of_other_models_and_bad_bytes_are_refused() {
        let x = cloud(300, 2);
        let data = DataRef::new(&x, 300, 2).unwrap();
        let m = GaussianMixtureBuilder::new(2).fit(data).unwrap().model;
        let other = GaussianMixture::new(
            vec![0.5, 0.5],
            vec![0.0, 0.0, 1.0, 1.0],
            2,
            Covariances::Full(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]),
        )
        .unwrap();
        let mut a = m.expectation(data, None, 0).unwrap();
        let b = other.expectation(data, None, 0).unwrap();
        assert!(a.merge(&b).is_err());
        assert!(other.maximization(&a, 1e-6).is_err());
        let bytes = a.to_bytes();
        for cut in 0..bytes.len() {
            assert!(MixtureStats::from_bytes(&bytes[..cut]).is_err(), "{cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(MixtureStats::from_bytes(&long).is_err());
        assert_eq!(MixtureStats::from_bytes(&bytes).unwrap(), a);
        // A part of weight 0 adds nothing; an M-step on nothing is refused.
        let zeros = vec![0.0; 300];
        let empty = m.expectation(data, Some(&zeros), 0).unwrap();
        assert_eq!(empty.total_weight(), 0.0);
        assert!(m.maximization(&empty, 1e-6).is_err());
        let before = a.clone();
        a.merge(&empty).unwrap();
        assert_eq!(a.stats.counts, before.stats.counts);
        let bad = vec![-1.0; 300];
        assert!(m.expectation(data, Some(&bad), 0).is_err());
    }
}
