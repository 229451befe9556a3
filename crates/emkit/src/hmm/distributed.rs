//! Baum–Welch over sequences spread across many processes: the E-step of
//! some sequences as plain, serialisable statistics, their merge, and the
//! M-step of a fit.
//!
//! A driver (Dask's client, say) sends the current model to every worker;
//! each computes [`Hmm::expectation`] of its sequences; the statistics are
//! merged in a fixed order ([`SequenceStats::merge`]) and
//! [`HmmBuilder::maximization`] gives the next model, with the fit's learn
//! flags, priors, family settings and unvisited-state policy. Run with the
//! stopping rule of [`HmmBuilder::fit`] (see
//! [`SequenceStats::log_likelihood`]) from the fit's starting model
//! ([`HmmBuilder::initial_model`]), the loop gives the fit in memory to
//! rounding: merging sums in another order changes their last bits only,
//! and with all sequences in one part the statistics are the fit's own, bit
//! for bit.
//!
//! Statistics hold the expected counts only: the forward–backward buffers of
//! the task that computed them are not part of the value. Gaussian
//! statistics are *shifted* by the model's means (see
//! [`crate::dist::gaussian`]), so only statistics of one model merge.

use crate::data::DataRef;
use crate::em::{driver_e_step as e_step, restart_seed, EmModel};
use crate::error::{Error, Result};

use super::emission::Emission;
use super::families::Initialise;
use super::fit::{row_weights, HmmEm};
use super::priors::ChainPrior;
use super::{Hmm, HmmBuilder, Learn, Sequences};
use crate::data::Weighted;

/// E-step statistics of some sequences under one model: the expected
/// counts of the first state and of the transitions, the emission's
/// statistics, the sequences' (weighted) log-likelihood, their total weight
/// (Σ weight × length) and their numbers of observations and sequences.
#[derive(Clone, Debug)]
pub struct SequenceStats<E: Emission> {
    /// `K`: Σ over sequences of weight × `P(state_0 = j | x)`.
    start: Vec<f64>,
    /// `K × K`: expected transition counts.
    transitions: Vec<f64>,
    emission: E::Stats,
    log_likelihood: f64,
    total_weight: f64,
    n_observations: usize,
    n_sequences: usize,
}

impl<E: Emission> PartialEq for SequenceStats<E> {
    fn eq(&self, other: &Self) -> bool {
        self.start == other.start
            && self.transitions == other.transitions
            && self.emission == other.emission
            && self.log_likelihood.to_bits() == other.log_likelihood.to_bits()
            && self.total_weight.to_bits() == other.total_weight.to_bits()
            && self.n_observations == other.n_observations
            && self.n_sequences == other.n_sequences
    }
}

/// Leading bytes of [`SequenceStats::to_bytes`]: a name and a layout version.
const MAGIC: &[u8; 8] = b"EMKHMMS1";

impl<E: Emission> SequenceStats<E> {
    /// Log-likelihood of the sequences under the model (each times its
    /// weight); the fit's stopping rule compares `log_likelihood /
    /// total_weight` between iterations and stops when it changes by less
    /// than `tol` (and no state was left as it was at that M-step).
    pub fn log_likelihood(&self) -> f64 {
        self.log_likelihood
    }

    /// Σ over sequences of weight × length (the number of observations
    /// when unweighted).
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }

    /// Number of observations (rows).
    pub fn n_observations(&self) -> usize {
        self.n_observations
    }

    /// Number of sequences.
    pub fn n_sequences(&self) -> usize {
        self.n_sequences
    }

    /// Expected counts of the first state (`K`).
    pub fn start_counts(&self) -> &[f64] {
        &self.start
    }

    /// Expected transition counts (`K × K`, row-major).
    pub fn transition_counts(&self) -> &[f64] {
        &self.transitions
    }

    /// The emission's statistics.
    pub fn emission(&self) -> &E::Stats {
        &self.emission
    }

    /// Adds the statistics of other sequences under the same model.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidModel`] when `other` is of another model (other
    /// shapes, or other means).
    pub fn merge(&mut self, other: &SequenceStats<E>) -> Result<()> {
        if self.start.len() != other.start.len()
            || self.transitions.len() != other.transitions.len()
            || !E::stats_match(&self.emission, &other.emission)
        {
            return Err(codec::invalid(format!(
                "cannot merge statistics of a {}-state model with those of another model \
                 ({} states, or other emission shapes or means); merge only the statistics \
                 of one iteration",
                self.start.len(),
                other.start.len()
            )));
        }
        for (a, b) in self.start.iter_mut().zip(&other.start) {
            *a += b;
        }
        for (a, b) in self.transitions.iter_mut().zip(&other.transitions) {
            *a += b;
        }
        E::merge_stats(&mut self.emission, &other.emission);
        self.log_likelihood += other.log_likelihood;
        self.total_weight += other.total_weight;
        self.n_observations += other.n_observations;
        self.n_sequences += other.n_sequences;
        Ok(())
    }

    /// The statistics as bytes (little-endian, versioned): what travels
    /// between processes. [`from_bytes`](Self::from_bytes) gives them back
    /// bit for bit.
    pub fn to_bytes(&self) -> Vec<u8> {
        let k = self.start.len();
        let mut out = Vec::with_capacity(64 + 8 * (k + k * k));
        out.extend_from_slice(MAGIC);
        for v in [k, self.n_observations, self.n_sequences] {
            codec::write_size(v, &mut out);
        }
        codec::write_f64s(&[self.total_weight, self.log_likelihood], &mut out);
        codec::write_f64s(&self.start, &mut out);
        codec::write_f64s(&self.transitions, &mut out);
        E::write_stats(&self.emission, &mut out);
        out
    }

    /// Statistics from [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidModel`] for bytes that are not such statistics (a
    /// wrong length, version, emission or shape).
    pub fn from_bytes(bytes: &[u8]) -> Result<SequenceStats<E>> {
        let mut r = bytes;
        if codec::take(&mut r, MAGIC.len())? != MAGIC {
            return Err(codec::invalid(
                "these bytes are not emkit HMM statistics (or of another version of emkit)",
            ));
        }
        let k = codec::read_size(&mut r)?;
        let (n_observations, n_sequences) = (codec::read_size(&mut r)?, codec::read_size(&mut r)?);
        if k == 0 {
            return Err(codec::invalid("statistics of no state"));
        }
        let kk = k
            .checked_mul(k)
            .filter(|&n| n <= bytes.len() / 8)
            .ok_or_else(|| codec::invalid("the shapes announced do not fit in the bytes given"))?;
        let total_weight = codec::read_f64(&mut r)?;
        let log_likelihood = codec::read_f64(&mut r)?;
        let start = codec::read_f64s(&mut r, k)?;
        let transitions = codec::read_f64s(&mut r, kk)?;
        let emission = E::read_stats(&mut r)?;
        if !r.is_empty() {
            return Err(codec::invalid("bytes left over after the statistics"));
        }
        Ok(SequenceStats {
            start,
            transitions,
            emission,
            log_likelihood,
            total_weight,
            n_observations,
            n_sequences,
        })
    }
}

/// The model of an E-step: only the parameters matter there.
fn expectation_model<E: Emission>(hmm: &Hmm<E>) -> HmmEm<E> {
    HmmEm {
        hmm: hmm.clone(),
        learn: Learn::ALL,
        settings: E::Settings::default(),
        chain: ChainPrior::default(),
        prior: E::Prior::default(),
    }
}

impl<E: Emission> Hmm<E> {
    /// The E-step of some sequences of a data set spread over many
    /// processes (with their weights, if `seqs` has any): forward–backward
    /// on each, their expected counts summed in the order of a fit, so that
    /// the statistics of all the data in one part are the fit's own, bit
    /// for bit.
    ///
    /// # Errors
    ///
    /// The errors of [`Emission::check_data`]: a wrong number of columns,
    /// a NaN or infinite value, a symbol out of range.
    pub fn expectation(&self, seqs: &Sequences<'_>) -> Result<SequenceStats<E>> {
        self.emission.check_data(seqs.data())?;
        let em = expectation_model(self);
        let mut workspace = Vec::new();
        let (stats, ll) = e_step(&em, seqs, &mut workspace);
        Ok(SequenceStats {
            start: stats.start.clone(),
            transitions: stats.transitions.clone(),
            emission: stats.emission.clone(),
            log_likelihood: ll,
            total_weight: seqs.total_weight(),
            n_observations: seqs.n_samples(),
            n_sequences: seqs.len(),
        })
    }
}

impl<E: Emission> HmmBuilder<E>
where
    Self: Initialise<E>,
{
    /// The starting model of restart `restart` of a fit on `seqs`: what
    /// [`fit`](Self::fit) starts that restart from (the parameters given to
    /// the builder, the others drawn from the restart's seed or initialised
    /// from the observations of `seqs`).
    ///
    /// # Errors
    ///
    /// The errors of [`fit`](Self::fit)'s checks and initialisation.
    pub fn initial_model(&self, seqs: &Sequences<'_>, restart: usize) -> Result<Hmm<E>> {
        self.validate(seqs)?;
        let weights = row_weights(seqs);
        let rows = match &weights {
            None => Weighted::from(seqs.data()),
            Some(w) => Weighted::new(seqs.data(), w)?,
        };
        self.initial_hmm(rows, restart_seed(self.em.seed, restart))
    }

    /// The M-step of a fit by this builder from merged statistics (see
    /// [`Hmm::expectation`]) of `model`: the learned parameters, the priors
    /// and the family's settings (`reg_covar`, …) of the builder, and its
    /// unvisited-state policy. Returns the next model and the states whose
    /// emission was left as it was or repaired (a fit's `reseeded`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidModel`] for statistics of another model or with no
    /// weight, [`Error::InvalidConfig`] for bad settings or priors (as a
    /// fit would report them), and the M-step's own errors.
    pub fn maximization(
        &self,
        model: &Hmm<E>,
        stats: &SequenceStats<E>,
    ) -> Result<(Hmm<E>, Vec<usize>)> {
        let (k, d) = (model.n_states(), model.n_features());
        if k != self.n_states {
            return Err(Error::ShapeMismatch {
                what: "number of states of the model".into(),
                expected: self.n_states,
                got: k,
            });
        }
        let own = model.emission.new_stats();
        if stats.start.len() != k || !E::stats_match(&own, &stats.emission) {
            return Err(codec::invalid(
                "the statistics are of another model (other shapes or means); maximise the \
                 model whose expectation they are",
            ));
        }
        if !(stats.total_weight > 0.0 && stats.total_weight.is_finite()) {
            return Err(codec::invalid(format!(
                "the statistics hold a total weight of {}; an M-step needs observations of \
                 positive weight",
                stats.total_weight
            )));
        }
        // The fit's checks and lowered priors, for the model's shapes: one
        // observation of zeros (a valid symbol too) stands for the data.
        let zeros = vec![0.0; d];
        let one = Sequences::one(DataRef::new(&zeros, 1, d)?);
        let (chain, prior) = self
            .clone()
            .emission(model.emission.clone())
            .validate(&one)?;
        let mut em = HmmEm {
            hmm: model.clone(),
            learn: self.learn,
            settings: self.family.clone(),
            chain,
            prior,
        };
        let mut counts = <HmmEm<E> as EmModel<Sequences<'_>>>::empty_stats(&em);
        counts.start.copy_from_slice(&stats.start);
        counts.transitions.copy_from_slice(&stats.transitions);
        counts.emission = stats.emission.clone();
        let outcome = <HmmEm<E> as EmModel<Sequences<'_>>>::maximize(&mut em, &counts)?;
        em.hmm.learned = self.learn;
        Ok((em.hmm, outcome.reseeded))
    }
}

/// Reading and writing statistics as bytes, shared by the emissions.
pub(super) mod codec {
    use crate::dist::gaussian::{ComponentStats, CovarianceType, WorstRows};
    use crate::error::{Error, Result};

    pub(crate) fn invalid(problem: impl Into<String>) -> Error {
        Error::InvalidModel {
            field: "statistics".into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn write_size(v: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&(v as u64).to_le_bytes());
    }

    pub(crate) fn write_f64s(values: &[f64], out: &mut Vec<u8>) {
        values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }

    /// The first `n` bytes, which `bytes` then starts after.
    pub(crate) fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
        if bytes.len() < n {
            return Err(invalid("the bytes end before the statistics do"));
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Ok(head)
    }

    /// Checks the byte that names the emission whose statistics follow.
    pub(crate) fn expect_tag(bytes: &mut &[u8], tag: u8, emission: &str) -> Result<()> {
        if take(bytes, 1)?[0] != tag {
            return Err(invalid(format!(
                "these are not statistics of {emission} emissions"
            )));
        }
        Ok(())
    }

    fn read_u64(bytes: &mut &[u8]) -> Result<u64> {
        let b = take(bytes, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    pub(crate) fn read_size(bytes: &mut &[u8]) -> Result<usize> {
        usize::try_from(read_u64(bytes)?).map_err(|_| invalid("a size too large for this machine"))
    }

    pub(crate) fn read_f64(bytes: &mut &[u8]) -> Result<f64> {
        Ok(f64::from_bits(read_u64(bytes)?))
    }

    pub(crate) fn read_f64s(bytes: &mut &[u8], n: usize) -> Result<Vec<f64>> {
        let b = take(
            bytes,
            n.checked_mul(8)
                .ok_or_else(|| invalid("a size overflows"))?,
        )?;
        Ok(b.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    fn kind_code(kind: CovarianceType) -> u8 {
        match kind {
            CovarianceType::Full => 0,
            CovarianceType::Tied => 1,
            CovarianceType::Diagonal => 2,
            CovarianceType::Spherical => 3,
        }
    }

    /// Whether two Gaussian statistics merge: one shape, the same shifts.
    pub(crate) fn components_match(a: &ComponentStats, b: &ComponentStats) -> bool {
        (a.kind, a.d, a.k()) == (b.kind, b.d, b.k())
            && a.shifts
                .iter()
                .zip(&b.shifts)
                .all(|(x, y)| x.to_bits() == y.to_bits())
    }

    pub(crate) fn write_components(s: &ComponentStats, out: &mut Vec<u8>) {
        out.push(kind_code(s.kind));
        for v in [s.k(), s.d, s.rows] {
            write_size(v, out);
        }
        write_f64s(&[s.weight], out);
        for part in [&s.shifts, &s.counts, &s.first, &s.second] {
            write_f64s(part, out);
        }
        let (keys, values) = s.worst.used();
        write_size(keys.len(), out);
        for &(l, i) in keys {
            write_f64s(&[l], out);
            write_size(i, out);
        }
        write_f64s(values, out);
    }

    pub(crate) fn read_components(bytes: &mut &[u8]) -> Result<ComponentStats> {
        let kind = match take(bytes, 1)?[0] {
            0 => CovarianceType::Full,
            1 => CovarianceType::Tied,
            2 => CovarianceType::Diagonal,
            3 => CovarianceType::Spherical,
            other => return Err(invalid(format!("unknown covariance type code {other}"))),
        };
        let (k, d, rows) = (read_size(bytes)?, read_size(bytes)?, read_size(bytes)?);
        if k == 0 || d == 0 {
            return Err(invalid("statistics of no component or no feature"));
        }
        let fits = |n: Option<usize>| n.filter(|&n| n <= bytes.len() / 8);
        let too_large = || invalid("the shapes announced do not fit in the bytes given");
        let kd = fits(k.checked_mul(d)).ok_or_else(too_large)?;
        let second = match kind {
            CovarianceType::Full => fits(kd.checked_mul(d)),
            CovarianceType::Tied => fits(d.checked_mul(d)),
            CovarianceType::Diagonal => Some(kd),
            CovarianceType::Spherical => Some(k),
        }
        .ok_or_else(too_large)?;
        let weight = read_f64(bytes)?;
        let mut stats = ComponentStats::new(kind, read_f64s(bytes, kd)?, d);
        stats.counts = read_f64s(bytes, k)?;
        stats.first = read_f64s(bytes, kd)?;
        stats.second = read_f64s(bytes, second)?;
        stats.weight = weight;
        stats.rows = rows;
        let n_worst = read_size(bytes)?;
        if n_worst > k {
            return Err(invalid("more worst-fit rows than components"));
        }
        let mut keys = Vec::with_capacity(n_worst);
        for _ in 0..n_worst {
            keys.push((read_f64(bytes)?, read_size(bytes)?));
        }
        let values = read_f64s(bytes, n_worst * d)?;
        let mut worst = WorstRows::new(k, d);
        for (i, &(l, at)) in keys.iter().enumerate() {
            worst.offer(l, at, &values[i * d..(i + 1) * d]);
        }
        stats.worst = worst;
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hmm::{
        CategoricalEmission, CategoricalHmm, GaussianEmission, GaussianHmm, GmmEmission, GmmHmm,
    };
    use crate::{CovarianceType, Covariances, GaussianMixture};

    /// Sequence lengths (one of length one among them).
    const LENGTHS: [usize; 8] = [50, 1, 120, 33, 77, 10, 200, 9];
    /// Part boundaries, as sequence indices: parts of one to four sequences.
    const SPLITS: [usize; 4] = [1, 2, 5, 6];
    const ITERS: usize = 5;

    /// One long draw of `model`, to be cut into `LENGTHS`.
    fn draw<E: Emission>(model: &Hmm<E>) -> Vec<f64> {
        let n = LENGTHS.iter().sum();
        model.sample(n, 7).unwrap().0.into_values()
    }

    fn chain() -> (Vec<f64>, Vec<f64>) {
        (
            vec![0.6, 0.3, 0.1],
            vec![0.8, 0.15, 0.05, 0.1, 0.8, 0.1, 0.2, 0.1, 0.7],
        )
    }

    /// Sequences `a..b` of `x` (`d` columns), with their weights if any.
    fn part<'a>(x: &'a [f64], d: usize, a: usize, b: usize, w: Option<&[f64]>) -> Sequences<'a> {
        let first: usize = LENGTHS[..a].iter().sum();
        let last: usize = LENGTHS[..b].iter().sum();
        let data = DataRef::new(&x[first * d..last * d], last - first, d).unwrap();
        let seqs = Sequences::new(data, &LENGTHS[a..b]).unwrap();
        match w {
            None => seqs,
            Some(w) => seqs.with_weights(&w[a..b]).unwrap(),
        }
    }

    /// The loop a distributed driver runs, over parts cut at `splits`
    /// (sequence indices), merged left to right through bytes.
    fn fit_in_parts<E: Emission>(
        builder: &HmmBuilder<E>,
        start: &Hmm<E>,
        x: &[f64],
        d: usize,
        w: Option<&[f64]>,
        splits: &[usize],
    ) -> (Hmm<E>, f64)
    where
        HmmBuilder<E>: Initialise<E>,
    {
        let mut bounds = splits.to_vec();
        bounds.insert(0, 0);
        bounds.push(LENGTHS.len());
        let stats_of = |model: &Hmm<E>| {
            let mut merged: Option<SequenceStats<E>> = None;
            for b in bounds.windows(2) {
                let s = model.expectation(&part(x, d, b[0], b[1], w)).unwrap();
                // Through bytes, as between processes.
                let s = SequenceStats::<E>::from_bytes(&s.to_bytes()).unwrap();
                match &mut merged {
                    None => merged = Some(s),
                    Some(m) => m.merge(&s).unwrap(),
                }
            }
            merged.unwrap()
        };
        let mut model = start.clone();
        for _ in 0..ITERS {
            model = builder.maximization(&model, &stats_of(&model)).unwrap().0;
        }
        let ll = stats_of(&model).log_likelihood();
        (model, ll)
    }

    /// `builder`'s fit in memory from its initial model equals the loop over
    /// parts: bit for bit in one part, to 1e-10 relative in several.
    fn check<E: Emission>(
        name: &str,
        builder: HmmBuilder<E>,
        x: &[f64],
        d: usize,
        w: Option<&[f64]>,
        params: impl Fn(&Hmm<E>) -> Vec<f64>,
    ) where
        HmmBuilder<E>: Initialise<E>,
    {
        let all = part(x, d, 0, LENGTHS.len(), w);
        let start = builder.initial_model(&all, 0).unwrap();
        let fit = builder
            .clone()
            .init_model(start.clone())
            .max_iter(ITERS)
            .tol(0.0)
            .fit(&all)
            .unwrap();
        let best = fit.report.best().log_likelihood;
        // The whole data in one part: the fit's own sums, bit for bit.
        let (one, ll) = fit_in_parts(&builder, &start, x, d, w, &[]);
        assert_eq!(one, fit.model, "{name}");
        assert_eq!(ll, best, "{name}");
        // Parts of one to four sequences: the same sums in another order.
        // Each of the ~n·K² terms is rounded once either way, so the sums
        // agree to a few ulps, amplified by five M-steps (normalisations,
        // factorisations): far below 1e-10.
        let (many, ll) = fit_in_parts(&builder, &start, x, d, w, &SPLITS);
        let (a, b) = (params(&many), params(&fit.model));
        assert_eq!(a.len(), b.len());
        let worst = a
            .iter()
            .zip(&b)
            .map(|(u, v)| (u - v).abs() / v.abs().max(1.0))
            .fold((ll - best).abs() / best.abs(), f64::max);
        eprintln!("{name}: max relative difference {worst:e}");
        assert!(worst <= 1e-10, "{name}: {worst:e}");
        assert!(many.learned() == fit.model.learned(), "{name}");
    }

    fn chain_params<E: Emission>(h: &Hmm<E>) -> Vec<f64> {
        [h.start(), h.transitions()].concat()
    }

    const WEIGHTS: [f64; 8] = [1.0, 2.5, 0.5, 1.0, 3.0, 0.25, 1.0, 2.0];

    #[test]
    fn gaussian_parts_merged_give_the_fit_in_memory() {
        let (s, t) = chain();
        let d = 2;
        let truth = GaussianHmm::new(
            s,
            t,
            GaussianEmission::new(
                vec![0.0, 0.0, 4.0, 1.0, -3.0, 5.0],
                d,
                Covariances::Full(vec![
                    1.0, 0.3, 0.3, 1.0, 0.5, 0.0, 0.0, 2.0, 1.0, -0.4, -0.4, 1.0,
                ]),
            )
            .unwrap(),
        )
        .unwrap();
        let x = draw(&truth);
        let params = |h: &GaussianHmm| {
            let e = h.emission();
            [
                chain_params(h),
                e.means().to_vec(),
                e.covariances().values().to_vec(),
            ]
            .concat()
        };
        for kind in CovarianceType::ALL {
            for w in [None, Some(&WEIGHTS[..])] {
                let b = GaussianHmm::builder(3).covariance(kind).seed(3);
                check(&format!("gaussian {kind} {w:?}"), b, &x, d, w, params);
            }
        }
        // MAP priors and part of the parameters learned.
        let b = GaussianHmm::builder(3)
            .covariance(CovarianceType::Diagonal)
            .transmat_prior(2.0)
            .covars_prior(0.01)
            .means_weight(0.5)
            .learn("tmc".parse().unwrap());
        check("gaussian diag, priors", b, &x, d, None, params);
    }

    #[test]
    fn categorical_parts_merged_give_the_fit_in_memory() {
        let (s, t) = chain();
        let p = vec![0.7, 0.1, 0.1, 0.1, 0.1, 0.7, 0.1, 0.1, 0.05, 0.05, 0.3, 0.6];
        let truth = CategoricalHmm::new(s, t, CategoricalEmission::new(p, 4).unwrap()).unwrap();
        let x = draw(&truth);
        let params =
            |h: &CategoricalHmm| [chain_params(h), h.emission().probabilities().to_vec()].concat();
        for w in [None, Some(&WEIGHTS[..])] {
            let b = CategoricalHmm::builder(3).seed(11);
            check(&format!("categorical {w:?}"), b, &x, 1, w, params);
        }
        let b = CategoricalHmm::builder(3)
            .seed(11)
            .startprob_prior(3.0)
            .emissionprob_prior(1.5);
        check("categorical, priors", b, &x, 1, None, params);
    }

    #[test]
    fn gmm_parts_merged_give_the_fit_in_memory() {
        let (s, t) = chain();
        let d = 2;
        let state = |m: [f64; 4]| {
            GaussianMixture::new(
                vec![0.4, 0.6],
                m.to_vec(),
                d,
                Covariances::Diagonal(vec![1.0, 0.5, 0.5, 1.0]),
            )
            .unwrap()
        };
        let emission = GmmEmission::new(vec![
            state([0.0, 0.0, 2.0, 2.0]),
            state([6.0, 0.0, 8.0, 1.0]),
            state([-5.0, 4.0, -4.0, 7.0]),
        ])
        .unwrap();
        let truth = GmmHmm::new(s, t, emission).unwrap();
        let x = draw(&truth);
        let params = |h: &GmmHmm| {
            let mut v = chain_params(h);
            for m in h.emission().mixtures() {
                v.extend(m.weights());
                v.extend(m.means());
                v.extend(m.covariances().values());
            }
            v
        };
        for kind in [CovarianceType::Diagonal, CovarianceType::Full] {
            for w in [None, Some(&WEIGHTS[..])] {
                let b = GmmHmm::builder(3).n_mix(2).covariance(kind).seed(5);
                check(&format!("gmm {kind} {w:?}"), b, &x, d, w, params);
            }
        }
    }

    #[test]
    fn statistics_of_other_models_and_bad_bytes_are_refused() {
        let (s, t) = chain();
        let truth = GaussianHmm::new(
            s.clone(),
            t.clone(),
            GaussianEmission::new(vec![0.0, 3.0, 6.0], 1, Covariances::Diagonal(vec![1.0; 3]))
                .unwrap(),
        )
        .unwrap();
        let x = draw(&truth);
        let seqs = part(&x, 1, 0, LENGTHS.len(), None);
        let builder = GaussianHmm::builder(3).covariance(CovarianceType::Diagonal);
        let m = builder.initial_model(&seqs, 0).unwrap();
        let mut a = m.expectation(&seqs).unwrap();
        assert_eq!(a.n_observations(), x.len());
        assert_eq!(a.n_sequences(), LENGTHS.len());
        // Statistics of another model (other means) neither merge nor maximise.
        let b = truth.expectation(&seqs).unwrap();
        assert!(a.clone().merge(&b).is_err());
        assert!(builder.maximization(&m, &b).is_err());
        // Nor do those of a model with another number of states.
        let two = GaussianHmm::builder(2)
            .covariance(CovarianceType::Diagonal)
            .initial_model(&seqs, 0)
            .unwrap();
        assert!(a.clone().merge(&two.expectation(&seqs).unwrap()).is_err());
        assert!(builder.maximization(&two, &a).is_err());
        // Data the model cannot have emitted.
        let bad = [f64::NAN];
        let one = Sequences::one(DataRef::new(&bad, 1, 1).unwrap());
        assert!(m.expectation(&one).is_err());
        // Bytes: every truncation, a byte too many, another emission, a
        // garbled shape: errors, never a panic.
        let bytes = a.to_bytes();
        for cut in 0..bytes.len() {
            assert!(SequenceStats::<GaussianEmission>::from_bytes(&bytes[..cut]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(SequenceStats::<GaussianEmission>::from_bytes(&long).is_err());
        assert!(SequenceStats::<CategoricalEmission>::from_bytes(&bytes).is_err());
        assert!(SequenceStats::<GmmEmission>::from_bytes(&bytes).is_err());
        for at in 0..bytes.len() {
            let mut garbled = bytes.clone();
            garbled[at] ^= 0xff;
            // Flipped values decode (as other numbers); flipped shapes must
            // not panic.
            let _ = SequenceStats::<GaussianEmission>::from_bytes(&garbled);
        }
        assert_eq!(
            SequenceStats::<GaussianEmission>::from_bytes(&bytes).unwrap(),
            a
        );
        // Merging is associative on the counts (up to rounding) and adds the totals.
        let before = a.clone();
        a.merge(&before).unwrap();
        assert_eq!(a.n_observations(), 2 * x.len());
        assert_eq!(a.total_weight(), 2.0 * before.total_weight());
        // An M-step on no weight is refused.
        let mut empty = before.clone();
        empty.total_weight = 0.0;
        assert!(builder.maximization(&m, &empty).is_err());
    }
}
