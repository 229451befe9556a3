//! The HMMs: the library's models and Baum–Welch fits, for `emkit.hmm`.

use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use emkit::hmm::{
    AnyHmm, CategoricalEmission, CategoricalHmm, CovarianceCentre, GaussianEmission, GaussianHmm,
    GmmEmission, GmmHmm, Hmm as LibHmm, HmmBuilder, Learn, PriorArray, SequenceStats, Sequences,
};
use emkit::io::HmmFile;
use emkit::GaussianMixture;

use crate::{
    covariance_type, covariances_of, detached, fit_watched, report_dict, to_py, view, Draws,
};

/// A hidden Markov model (the library's, immutable).
#[pyclass(frozen, module = "emkit._emkit", name = "Hmm")]
pub(crate) struct Hmm {
    inner: AnyHmm,
}

fn sequences<'a>(
    x: &'a PyReadonlyArray2<'_, f64>,
    lengths: Option<&[usize]>,
) -> PyResult<Sequences<'a>> {
    let data = view(x)?;
    match lengths {
        None => Ok(Sequences::one(data)),
        Some(l) => Sequences::new(data, l).map_err(to_py),
    }
}

/// `f` of the sequences of `x` (one `T × K` value per observation and state,
/// as posteriors), run without the GIL, flat for numpy.
fn per_state<'py, F>(
    py: Python<'py>,
    x: &PyReadonlyArray2<'py, f64>,
    lengths: Option<&[usize]>,
    f: F,
) -> PyResult<Bound<'py, PyArray1<f64>>>
where
    F: FnOnce(&Sequences<'_>) -> emkit::Result<emkit::Matrix> + Send,
{
    let seqs = sequences(x, lengths)?;
    let p = detached(py, || f(&seqs))?;
    Ok(PyArray1::from_vec(py, p.into_values()))
}

fn flat<'py>(py: Python<'py>, v: &[f64]) -> Bound<'py, PyArray1<f64>> {
    PyArray1::from_slice(py, v)
}

#[pymethods]
impl Hmm {
    /// Gaussian emissions: start (`K`), transitions (`K × K`), means
    /// (`K × d`) and covariances in scikit-learn's layout, all flat.
    #[staticmethod]
    fn gaussian(
        start: PyReadonlyArray1<'_, f64>,
        transitions: PyReadonlyArray1<'_, f64>,
        means: PyReadonlyArray1<'_, f64>,
        n_features: usize,
        covariance_type: &str,
        covariances: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<Self> {
        let kind = self::covariance_type(covariance_type)?;
        let emission = GaussianEmission::new(
            means.as_slice()?.to_vec(),
            n_features,
            covariances_of(kind, covariances.as_slice()?.to_vec()),
        )
        .map_err(to_py)?;
        let hmm = LibHmm::new(
            start.as_slice()?.to_vec(),
            transitions.as_slice()?.to_vec(),
            emission,
        )
        .map_err(to_py)?;
        Ok(Hmm {
            inner: AnyHmm::Gaussian(hmm),
        })
    }

    /// Categorical emissions: start, transitions and `K × M` probabilities, flat.
    #[staticmethod]
    fn categorical(
        start: PyReadonlyArray1<'_, f64>,
        transitions: PyReadonlyArray1<'_, f64>,
        probabilities: PyReadonlyArray1<'_, f64>,
        n_symbols: usize,
    ) -> PyResult<Self> {
        let emission = CategoricalEmission::new(probabilities.as_slice()?.to_vec(), n_symbols)
            .map_err(to_py)?;
        let hmm = LibHmm::new(
            start.as_slice()?.to_vec(),
            transitions.as_slice()?.to_vec(),
            emission,
        )
        .map_err(to_py)?;
        Ok(Hmm {
            inner: AnyHmm::Categorical(hmm),
        })
    }

    /// Mixture emissions: per state `n_mix` weights (`K × M`), means
    /// (`K × M × d`) and each state's covariances in scikit-learn's layout
    /// for the type, concatenated; all flat.
    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    fn gmm(
        start: PyReadonlyArray1<'_, f64>,
        transitions: PyReadonlyArray1<'_, f64>,
        weights: PyReadonlyArray1<'_, f64>,
        means: PyReadonlyArray1<'_, f64>,
        n_features: usize,
        covariance_type: &str,
        covariances: PyReadonlyArray1<'_, f64>,
        n_mix: usize,
    ) -> PyResult<Self> {
        let kind = self::covariance_type(covariance_type)?;
        let start = start.as_slice()?.to_vec();
        let k = start.len();
        let (w, m, c) = (
            weights.as_slice()?,
            means.as_slice()?,
            covariances.as_slice()?,
        );
        let d = n_features;
        let per_cov = kind.covariance_len(n_mix, d);
        if n_mix == 0 || w.len() != k * n_mix || m.len() != k * n_mix * d || c.len() != k * per_cov
        {
            return Err(PyValueError::new_err(format!(
                "a {k}-state GMM-HMM with n_mix = {n_mix} and {d} features needs {} weights, {} \
                 means and {} covariance values; got {}, {} and {}",
                k * n_mix,
                k * n_mix * d,
                k * per_cov,
                w.len(),
                m.len(),
                c.len()
            )));
        }
        let mut states = Vec::with_capacity(k);
        for j in 0..k {
            let mixture = GaussianMixture::new(
                w[j * n_mix..(j + 1) * n_mix].to_vec(),
                m[j * n_mix * d..(j + 1) * n_mix * d].to_vec(),
                d,
                covariances_of(kind, c[j * per_cov..(j + 1) * per_cov].to_vec()),
            )
            .map_err(|e| PyValueError::new_err(format!("state {j}: {e}")))?;
            states.push(mixture);
        }
        let emission = GmmEmission::new(states).map_err(to_py)?;
        let hmm = LibHmm::new(start, transitions.as_slice()?.to_vec(), emission).map_err(to_py)?;
        Ok(Hmm {
            inner: AnyHmm::Gmm(hmm),
        })
    }

    /// Reads an HMM model file's text: `(model, feature_names, fit)`.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<(Self, Option<Vec<String>>, Option<String>)> {
        let file = HmmFile::from_json_str(text).map_err(to_py)?;
        let fit = file.fit.as_ref().map(|v| v.to_string());
        Ok((Hmm { inner: file.model }, file.feature_names, fit))
    }

    /// The model file's text (the CLI's format); `learned` are the letters
    /// of the parameters that were fitted (they count in BIC and AIC).
    #[pyo3(signature = (learned, feature_names=None, fit=None))]
    fn to_json(
        &self,
        learned: &str,
        feature_names: Option<Vec<String>>,
        fit: Option<&str>,
    ) -> PyResult<String> {
        let learned: Learn = learned.parse().map_err(to_py)?;
        let mut model = self.inner.clone();
        match &mut model {
            AnyHmm::Gaussian(h) => h.set_learned(learned),
            AnyHmm::Categorical(h) => h.set_learned(learned),
            AnyHmm::Gmm(h) => h.set_learned(learned),
        }
        let mut file = HmmFile::new(model);
        file.feature_names = feature_names;
        if let Some(text) = fit {
            file.fit = Some(
                serde_json::from_str(text)
                    .map_err(|e| PyValueError::new_err(format!("fit summary is not JSON: {e}")))?,
            );
        }
        Ok(file.to_json_string())
    }

    /// "gaussian", "categorical" or "gmm".
    #[getter]
    fn emission(&self) -> &'static str {
        self.inner.emission_name()
    }
    #[getter]
    fn n_states(&self) -> usize {
        self.inner.n_states()
    }
    #[getter]
    fn n_features(&self) -> usize {
        self.inner.n_features()
    }
    /// The letters of the parameters the model was fitted for.
    #[getter]
    fn learned(&self) -> String {
        match &self.inner {
            AnyHmm::Gaussian(h) => h.learned().letters(),
            AnyHmm::Categorical(h) => h.learned().letters().replace('m', "e"),
            AnyHmm::Gmm(h) => h.learned().letters(),
        }
    }
    #[getter]
    fn start<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        flat(py, self.inner.start())
    }
    #[getter]
    fn transitions<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        flat(py, self.inner.transitions())
    }
    /// The emission's parameters as a dict of flat arrays (and sizes).
    fn emission_params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        match &self.inner {
            AnyHmm::Gaussian(h) => {
                let e = h.emission();
                out.set_item("means", flat(py, e.means()))?;
                out.set_item("covariances", flat(py, e.covariances().values()))?;
                out.set_item("covariance_type", e.covariance_type().name())?;
            }
            AnyHmm::Categorical(h) => {
                let e = h.emission();
                out.set_item("probabilities", flat(py, e.probabilities()))?;
                out.set_item("n_symbols", e.n_symbols())?;
            }
            AnyHmm::Gmm(h) => {
                let e = h.emission();
                let ms = e.mixtures();
                let cat = |f: &dyn Fn(&GaussianMixture) -> &[f64]| -> Vec<f64> {
                    ms.iter().flat_map(|m| f(m).to_vec()).collect()
                };
                out.set_item("weights", PyArray1::from_vec(py, cat(&|m| m.weights())))?;
                out.set_item("means", PyArray1::from_vec(py, cat(&|m| m.means())))?;
                out.set_item(
                    "covariances",
                    PyArray1::from_vec(py, cat(&|m| m.covariances().values())),
                )?;
                out.set_item("covariance_type", e.covariance_type().name())?;
                out.set_item("n_mix", e.n_mix())?;
            }
        }
        Ok(out)
    }

    /// Total log-likelihood of the sequences.
    #[pyo3(signature = (x, lengths=None))]
    fn score(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f64>,
        lengths: Option<Vec<usize>>,
    ) -> PyResult<f64> {
        let seqs = sequences(&x, lengths.as_deref())?;
        detached(py, || self.inner.score(&seqs))
    }

    /// Log-likelihood of each sequence.
    #[pyo3(signature = (x, lengths=None))]
    fn score_sequences<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        lengths: Option<Vec<usize>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let seqs = sequences(&x, lengths.as_deref())?;
        let v = detached(py, || match &self.inner {
            AnyHmm::Gaussian(h) => h.score_sequences(&seqs),
            AnyHmm::Categorical(h) => h.score_sequences(&seqs),
            AnyHmm::Gmm(h) => h.score_sequences(&seqs),
        })?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// Viterbi: `(log-probability of the paths, states)`.
    #[pyo3(signature = (x, lengths=None))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        lengths: Option<Vec<usize>>,
    ) -> PyResult<(f64, Bound<'py, PyArray1<i64>>)> {
        let seqs = sequences(&x, lengths.as_deref())?;
        let (lp, path) = detached(py, || self.inner.decode(&seqs))?;
        Ok((
            lp,
            PyArray1::from_vec(py, path.into_iter().map(|s| s as i64).collect()),
        ))
    }

    /// State posteriors, flat `n × K`.
    #[pyo3(signature = (x, lengths=None))]
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        lengths: Option<Vec<usize>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        per_state(py, &x, lengths.as_deref(), |seqs| {
            self.inner.predict_proba(seqs)
        })
    }

    /// Causal filtering `P(state_t | x_1..x_t)`, flat `n × K`.
    #[pyo3(signature = (x, lengths=None))]
    fn filter<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        lengths: Option<Vec<usize>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        per_state(py, &x, lengths.as_deref(), |seqs| self.inner.filter(seqs))
    }

    /// E-step statistics of some sequences of data spread over many
    /// processes (Dask partitions).
    #[pyo3(signature = (x, lengths=None))]
    fn expectation(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f64>,
        lengths: Option<Vec<usize>>,
    ) -> PyResult<HmmStats> {
        let seqs = sequences(&x, lengths.as_deref())?;
        let inner = detached(py, || {
            Ok(match &self.inner {
                AnyHmm::Gaussian(h) => AnyStats::Gaussian(h.expectation(&seqs)?),
                AnyHmm::Categorical(h) => AnyStats::Categorical(h.expectation(&seqs)?),
                AnyHmm::Gmm(h) => AnyStats::Gmm(h.expectation(&seqs)?),
            })
        })?;
        Ok(HmmStats { inner })
    }

    /// Pickling (to send a model to other processes) through the model
    /// file's text, which gives back the same model bit for bit.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let text = HmmFile::new(self.inner.clone()).to_json_string();
        let load = py.get_type::<Hmm>().getattr("_from_model_text")?;
        Ok((load, (text,)))
    }

    #[staticmethod]
    fn _from_model_text(text: &str) -> PyResult<Hmm> {
        let file = HmmFile::from_json_str(text).map_err(to_py)?;
        Ok(Hmm { inner: file.model })
    }

    /// One sequence of `n` draws: flat `n × d` values and the states.
    fn sample<'py>(&self, py: Python<'py>, n: usize, seed: u64) -> PyResult<Draws<'py>> {
        let (x, states) = detached(py, || self.inner.sample(n, seed))?;
        Ok((
            PyArray1::from_vec(py, x.into_values()),
            PyArray1::from_vec(py, states.into_iter().map(|s| s as i64).collect()),
        ))
    }
}

/// The prior `name` of `priors` (`{name: (values, shape)}`), if given.
fn prior(priors: Option<&Bound<'_, PyDict>>, name: &str) -> PyResult<Option<PriorArray>> {
    let Some(d) = priors else {
        return Ok(None);
    };
    let Some(p) = d.get_item(name)? else {
        return Ok(None);
    };
    let (values, shape): (Vec<f64>, Vec<usize>) = p.extract()?;
    Ok(Some(PriorArray::new(values, shape)))
}

/// Sets each prior of `names` that `priors` holds, by the builder method of that name.
macro_rules! with_priors {
    ($builder:expr, $priors:expr, [$($name:ident),*]) => {{
        let mut b = $builder;
        $(
            if let Some(p) = prior($priors, stringify!($name))? {
                b = b.$name(p);
            }
        )*
        b
    }};
}

/// A Baum–Welch fit's settings for one emission family.
#[derive(Clone)]
enum AnyBuilder {
    Gaussian(HmmBuilder<GaussianEmission>),
    Categorical(HmmBuilder<CategoricalEmission>),
    Gmm(HmmBuilder<GmmEmission>),
}

/// The fit's settings: `init` gives the starting values of the parts named
/// in `init_parts` (`s` start, `t` transitions, `e` the emission); the
/// others are initialised from the data. `priors` maps hmmlearn's prior
/// names to `(values, shape)` (numpy broadcasting); `covariance_centre` is
/// "new" or "previous" (GMM, see the library).
#[allow(clippy::too_many_arguments)]
fn builder(
    emission: &str,
    n_states: usize,
    tol: f64,
    max_iter: usize,
    n_init: usize,
    seed: u64,
    learn: &str,
    covariance_type: &str,
    reg_covar: f64,
    n_mix: usize,
    n_symbols: Option<usize>,
    init: Option<AnyHmm>,
    init_parts: &str,
    priors: Option<&Bound<'_, PyDict>>,
    covariance_centre: &str,
) -> PyResult<AnyBuilder> {
    let centre = match covariance_centre {
        "new" => CovarianceCentre::NewMeans,
        "previous" => CovarianceCentre::PreviousMeans,
        other => {
            return Err(PyValueError::new_err(format!(
                "covariance_centre must be \"new\" or \"previous\", got {other:?}"
            )))
        }
    };
    let learn: Learn = learn.parse().map_err(to_py)?;
    let kind = self::covariance_type(covariance_type)?;
    let (s, t, e) = (
        init_parts.contains('s'),
        init_parts.contains('t'),
        init_parts.contains('e'),
    );
    macro_rules! starting {
        ($builder:expr, $variant:ident) => {{
            let mut b = $builder;
            match init {
                Some(AnyHmm::$variant(h)) => {
                    if s {
                        b = b.start(h.start().to_vec());
                    }
                    if t {
                        b = b.transitions(h.transitions().to_vec());
                    }
                    if e {
                        b = b.emission(h.emission().clone());
                    }
                }
                Some(other) => {
                    return Err(PyValueError::new_err(format!(
                        "the starting model has {} emissions, the fit {emission}",
                        other.emission_name()
                    )))
                }
                None => {}
            }
            b.learn(learn)
                .tol(tol)
                .max_iter(max_iter)
                .n_init(n_init)
                .seed(seed)
        }};
    }
    Ok(match emission {
        "gaussian" => {
            let b = GaussianHmm::builder(n_states)
                .covariance(kind)
                .reg_covar(reg_covar);
            let b = with_priors!(
                b,
                priors,
                [
                    startprob_prior,
                    transmat_prior,
                    means_prior,
                    means_weight,
                    covars_prior,
                    covars_weight
                ]
            );
            AnyBuilder::Gaussian(starting!(b, Gaussian))
        }
        "categorical" => {
            let mut b = CategoricalHmm::builder(n_states);
            if let Some(m) = n_symbols {
                b = b.n_symbols(m);
            }
            let b = with_priors!(
                b,
                priors,
                [startprob_prior, transmat_prior, emissionprob_prior]
            );
            AnyBuilder::Categorical(starting!(b, Categorical))
        }
        "gmm" => {
            let b = GmmHmm::builder(n_states)
                .covariance(kind)
                .reg_covar(reg_covar)
                .n_mix(n_mix)
                .covariance_centre(centre);
            let b = with_priors!(
                b,
                priors,
                [
                    startprob_prior,
                    transmat_prior,
                    weights_prior,
                    means_prior,
                    means_weight,
                    covars_prior,
                    covars_weight
                ]
            );
            AnyBuilder::Gmm(starting!(b, Gmm))
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown emission {other:?}; use gaussian, categorical or gmm"
            )))
        }
    })
}

/// Fits an HMM by Baum–Welch: `(model, report)`. The settings are
/// [`builder`]'s.
#[pyfunction]
#[pyo3(signature = (x, lengths, emission, n_states, tol, max_iter, n_init, seed, learn,
    covariance_type="diag", reg_covar=1e-6, n_mix=1, n_symbols=None, init=None,
    init_parts="", priors=None, covariance_centre="new", callback=None, accel=None))]
#[allow(clippy::too_many_arguments)]
fn fit_hmm<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    lengths: Option<Vec<usize>>,
    emission: &str,
    n_states: usize,
    tol: f64,
    max_iter: usize,
    n_init: usize,
    seed: u64,
    learn: &str,
    covariance_type: &str,
    reg_covar: f64,
    n_mix: usize,
    n_symbols: Option<usize>,
    init: Option<PyRef<'py, Hmm>>,
    init_parts: &str,
    priors: Option<Bound<'py, PyDict>>,
    covariance_centre: &str,
    callback: Option<Py<PyAny>>,
    accel: Option<&str>,
) -> PyResult<(Hmm, Bound<'py, PyDict>)> {
    let accel = crate::parse_accel(accel)?;
    let b = builder(
        emission,
        n_states,
        tol,
        max_iter,
        n_init,
        seed,
        learn,
        covariance_type,
        reg_covar,
        n_mix,
        n_symbols,
        init.map(|h| h.inner.clone()),
        init_parts,
        priors.as_ref(),
        covariance_centre,
    )?;
    let seqs = sequences(&x, lengths.as_deref())?;
    let (model, report) = match b {
        AnyBuilder::Gaussian(b) => {
            let b = b.accel(accel);
            let fit = fit_watched(py, callback, |relay| b.fit_with_monitor(&seqs, relay))?;
            (AnyHmm::Gaussian(fit.model), fit.report)
        }
        AnyBuilder::Categorical(b) => {
            let b = b.accel(accel);
            let fit = fit_watched(py, callback, |relay| b.fit_with_monitor(&seqs, relay))?;
            (AnyHmm::Categorical(fit.model), fit.report)
        }
        AnyBuilder::Gmm(b) => {
            let b = b.accel(accel);
            let fit = fit_watched(py, callback, |relay| b.fit_with_monitor(&seqs, relay))?;
            (AnyHmm::Gmm(fit.model), fit.report)
        }
    };
    let report = report_dict(py, &report)?;
    Ok((Hmm { inner: model }, report))
}

/// A Baum–Welch fit's settings (those of `fit_hmm`) for a fit whose E-steps
/// run elsewhere: the starting model, and the M-step from merged
/// statistics.
#[pyclass(frozen, module = "emkit._emkit", name = "HmmFitter")]
pub(crate) struct HmmFitter {
    inner: AnyBuilder,
}

#[pymethods]
impl HmmFitter {
    #[new]
    #[pyo3(signature = (emission, n_states, tol, max_iter, n_init, seed, learn,
        covariance_type="diag", reg_covar=1e-6, n_mix=1, n_symbols=None, init=None,
        init_parts="", priors=None, covariance_centre="new"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        emission: &str,
        n_states: usize,
        tol: f64,
        max_iter: usize,
        n_init: usize,
        seed: u64,
        learn: &str,
        covariance_type: &str,
        reg_covar: f64,
        n_mix: usize,
        n_symbols: Option<usize>,
        init: Option<PyRef<'_, Hmm>>,
        init_parts: &str,
        priors: Option<Bound<'_, PyDict>>,
        covariance_centre: &str,
    ) -> PyResult<Self> {
        let inner = builder(
            emission,
            n_states,
            tol,
            max_iter,
            n_init,
            seed,
            learn,
            covariance_type,
            reg_covar,
            n_mix,
            n_symbols,
            init.map(|h| h.inner.clone()),
            init_parts,
            priors.as_ref(),
            covariance_centre,
        )?;
        Ok(HmmFitter { inner })
    }

    /// The model restart `restart` of `fit_hmm` on these sequences starts from.
    #[pyo3(signature = (x, lengths, restart=0))]
    fn initial(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f64>,
        lengths: Option<Vec<usize>>,
        restart: usize,
    ) -> PyResult<Hmm> {
        let seqs = sequences(&x, lengths.as_deref())?;
        let inner = detached(py, || {
            Ok(match &self.inner {
                AnyBuilder::Gaussian(b) => AnyHmm::Gaussian(b.initial_model(&seqs, restart)?),
                AnyBuilder::Categorical(b) => AnyHmm::Categorical(b.initial_model(&seqs, restart)?),
                AnyBuilder::Gmm(b) => AnyHmm::Gmm(b.initial_model(&seqs, restart)?),
            })
        })?;
        Ok(Hmm { inner })
    }

    /// The fit's M-step of `model` from merged statistics: `(model,
    /// states left as they were or repaired)`.
    fn maximization(
        &self,
        py: Python<'_>,
        model: PyRef<'_, Hmm>,
        stats: PyRef<'_, HmmStats>,
    ) -> PyResult<(Hmm, Vec<usize>)> {
        let (model, stats) = (&model.inner, &stats.inner);
        let (inner, reseeded) = detached(py, || match (&self.inner, model, stats) {
            (AnyBuilder::Gaussian(b), AnyHmm::Gaussian(m), AnyStats::Gaussian(s)) => {
                b.maximization(m, s).map(|(m, r)| (AnyHmm::Gaussian(m), r))
            }
            (AnyBuilder::Categorical(b), AnyHmm::Categorical(m), AnyStats::Categorical(s)) => b
                .maximization(m, s)
                .map(|(m, r)| (AnyHmm::Categorical(m), r)),
            (AnyBuilder::Gmm(b), AnyHmm::Gmm(m), AnyStats::Gmm(s)) => {
                b.maximization(m, s).map(|(m, r)| (AnyHmm::Gmm(m), r))
            }
            _ => Err(emkit::Error::InvalidModel {
                field: "statistics".into(),
                problem: "the fit, the model and the statistics are of different emissions".into(),
            }),
        })?;
        Ok((Hmm { inner }, reseeded))
    }
}

/// E-step statistics of one emission family.
// One value per Python object, moved rarely: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum AnyStats {
    Gaussian(SequenceStats<GaussianEmission>),
    Categorical(SequenceStats<CategoricalEmission>),
    Gmm(SequenceStats<GmmEmission>),
}

/// Calls the same method on whichever statistics `self` holds.
macro_rules! on_stats {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            AnyStats::Gaussian($s) => $e,
            AnyStats::Categorical($s) => $e,
            AnyStats::Gmm($s) => $e,
        }
    };
}

/// What `__reduce__` of statistics returns: the loader and its arguments.
type Reduced<'py> = (Bound<'py, PyAny>, (&'static str, Bound<'py, PyBytes>));

/// E-step statistics of some sequences under one model (see
/// `Hmm.expectation`): merged in a fixed order, then one M-step
/// (`HmmFitter.maximization`).
#[pyclass(frozen, module = "emkit._emkit", name = "HmmStats")]
pub(crate) struct HmmStats {
    inner: AnyStats,
}

#[pymethods]
impl HmmStats {
    /// These statistics plus `other`'s (of other sequences, same model), as
    /// new statistics.
    fn merged(&self, py: Python<'_>, other: PyRef<'_, HmmStats>) -> PyResult<HmmStats> {
        let mut inner = self.inner.clone();
        let other = &other.inner;
        detached(py, || match (&mut inner, other) {
            (AnyStats::Gaussian(a), AnyStats::Gaussian(b)) => a.merge(b),
            (AnyStats::Categorical(a), AnyStats::Categorical(b)) => a.merge(b),
            (AnyStats::Gmm(a), AnyStats::Gmm(b)) => a.merge(b),
            _ => Err(emkit::Error::InvalidModel {
                field: "statistics".into(),
                problem: "cannot merge statistics of different emissions".into(),
            }),
        })?;
        Ok(HmmStats { inner })
    }

    #[getter]
    fn log_likelihood(&self) -> f64 {
        on_stats!(&self.inner, s => s.log_likelihood())
    }
    #[getter]
    fn total_weight(&self) -> f64 {
        on_stats!(&self.inner, s => s.total_weight())
    }
    #[getter]
    fn n_observations(&self) -> usize {
        on_stats!(&self.inner, s => s.n_observations())
    }
    #[getter]
    fn n_sequences(&self) -> usize {
        on_stats!(&self.inner, s => s.n_sequences())
    }
    /// "gaussian", "categorical" or "gmm".
    #[getter]
    fn emission(&self) -> &'static str {
        match self.inner {
            AnyStats::Gaussian(_) => "gaussian",
            AnyStats::Categorical(_) => "categorical",
            AnyStats::Gmm(_) => "gmm",
        }
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &on_stats!(&self.inner, s => s.to_bytes()))
    }

    /// Statistics of `emission` from `to_bytes`.
    #[staticmethod]
    fn from_bytes(emission: &str, bytes: &[u8]) -> PyResult<HmmStats> {
        let inner = match emission {
            "gaussian" => SequenceStats::from_bytes(bytes).map(AnyStats::Gaussian),
            "categorical" => SequenceStats::from_bytes(bytes).map(AnyStats::Categorical),
            "gmm" => SequenceStats::from_bytes(bytes).map(AnyStats::Gmm),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown emission {other:?}; use gaussian, categorical or gmm"
                )))
            }
        }
        .map_err(to_py)?;
        Ok(HmmStats { inner })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Reduced<'py>> {
        let load = py.get_type::<HmmStats>().getattr("from_bytes")?;
        Ok((load, (self.emission(), self.to_bytes(py))))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Hmm>()?;
    m.add_class::<HmmFitter>()?;
    m.add_class::<HmmStats>()?;
    m.add_function(wrap_pyfunction!(fit_hmm, m)?)?;
    Ok(())
}
