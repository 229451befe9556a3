//! `emkit._emkit`: the compiled half of the Python package.
//!
//! Thin on purpose: it moves arrays between numpy and the library (reading
//! C-contiguous float64 input in place), runs the work on emkit's own thread
//! pool with the GIL released, and turns the library's errors into Python
//! exceptions. Everything scikit-learn- or hmmlearn-shaped (names, defaults,
//! validation, shapes of attributes, printing) is in the Python modules.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{
    PyKeyboardInterrupt, PyMemoryError, PyOSError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

mod hmm;

use emkit::io::MixtureFile;
use emkit::{
    CovarianceType, Covariances, DataRef, GaussianMixture, Init, MixtureStats, Monitor,
    RestartReport, TraceEntry,
};

/// Stack of every thread that runs library code: the kernels keep per-block
/// buffers on the stack, and unoptimised (debug) builds need far more than
/// the 2 MiB a thread gets by default (the CLI uses the same size).
const STACK_BYTES: usize = 16 << 20;

/// How often a waiting fit looks for Ctrl-C (and delivers progress events).
const POLL: Duration = Duration::from_millis(50);

/// emkit's thread pool: `RAYON_NUM_THREADS` threads (all cores when unset)
/// until [`set_num_threads`] replaces it.
static POOL: Mutex<Option<Arc<rayon::ThreadPool>>> = Mutex::new(None);

fn build_pool(n_threads: usize) -> PyResult<Arc<rayon::ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        // 0 lets rayon read RAYON_NUM_THREADS, then count the cores.
        .num_threads(n_threads)
        .stack_size(STACK_BYTES)
        .thread_name(|i| format!("emkit-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start emkit's threads: {e}")))
}

fn pool() -> PyResult<Arc<rayon::ThreadPool>> {
    let mut guard = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = guard.as_ref() {
        return Ok(Arc::clone(p));
    }
    let p = build_pool(0)?;
    *guard = Some(Arc::clone(&p));
    Ok(p)
}

/// Sets the number of threads emkit's fits and scoring use (0: as at import,
/// `RAYON_NUM_THREADS` or every core). Results do not depend on it.
#[pyfunction]
fn set_num_threads(n_threads: usize) -> PyResult<()> {
    let p = build_pool(n_threads)?;
    *POOL.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
    Ok(())
}

/// The number of threads emkit's fits and scoring use.
#[pyfunction]
fn get_num_threads() -> PyResult<usize> {
    Ok(pool()?.current_num_threads())
}

/// The library's error as the Python exception a scikit-learn user expects.
pub(crate) fn to_py(e: emkit::Error) -> PyErr {
    let message = e.to_string();
    match e {
        emkit::Error::TooMuchMemory { .. } => PyMemoryError::new_err(message),
        emkit::Error::Io(_) => PyOSError::new_err(message),
        emkit::Error::Interrupted { .. } => PyKeyboardInterrupt::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// A 2-D float64 array as the library's view, in place. The Python layer
/// makes every array C-contiguous float64 before it gets here.
pub(crate) fn view<'a>(x: &'a PyReadonlyArray2<'_, f64>) -> PyResult<DataRef<'a>> {
    let (n, d) = (x.shape()[0], x.shape()[1]);
    let values = x
        .as_slice()
        .map_err(|_| PyValueError::new_err("X must be a C-contiguous float64 array"))?;
    DataRef::new(values, n, d).map_err(to_py)
}

/// Runs `work` on emkit's pool with the GIL released.
pub(crate) fn detached<T: Send>(
    py: Python<'_>,
    work: impl FnOnce() -> emkit::Result<T> + Send,
) -> PyResult<T> {
    let pool = pool()?;
    py.detach(|| pool.install(work)).map_err(to_py)
}

/// What a running fit tells the waiting Python thread.
enum Event {
    Started {
        restart: usize,
    },
    Iteration {
        restart: usize,
        entry: TraceEntry,
    },
    Finished {
        restart: usize,
        converged: bool,
        last: f64,
    },
}

/// Forwards a fit's progress to the waiting thread and stops when it asks.
/// Dropping it (the fit is over) wakes the waiting thread at once.
pub(crate) struct Relay<'a> {
    events: mpsc::Sender<Event>,
    /// Whether anyone wants the progress events.
    forward: bool,
    stop: &'a AtomicBool,
}

impl Relay<'_> {
    fn send(&self, event: Event) {
        if self.forward {
            // The receiver only goes away once the fit is over.
            let _ = self.events.send(event);
        }
    }
}

impl Monitor for Relay<'_> {
    fn restart_started(&mut self, restart: usize, _n_init: usize) {
        self.send(Event::Started { restart });
    }
    fn iteration(&mut self, restart: usize, entry: &TraceEntry) {
        self.send(Event::Iteration {
            restart,
            entry: *entry,
        });
    }
    fn restart_finished(&mut self, restart: usize, report: &RestartReport) {
        let last = report
            .trace
            .last()
            .map_or(f64::NEG_INFINITY, |e| e.mean_log_likelihood);
        self.send(Event::Finished {
            restart,
            converged: report.converged(),
            last,
        });
    }
    fn stop_requested(&mut self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Runs a fit on emkit's pool with the GIL released, while this thread
/// watches for Ctrl-C (Python runs signal handlers on the main thread only,
/// so the check cannot happen inside the fit) and hands progress events to
/// `callback(kind, restart, iteration, value, change)`. A Ctrl-C or an
/// exception in the callback stops the fit after its current iteration and
/// is raised here.
pub(crate) fn fit_watched<T: Send>(
    py: Python<'_>,
    callback: Option<Py<PyAny>>,
    work: impl FnOnce(&mut Relay<'_>) -> emkit::Result<T> + Send,
) -> PyResult<T> {
    let pool = pool()?;
    let stop = AtomicBool::new(false);
    let (events, rx) = mpsc::channel::<Event>();
    let forward = callback.is_some();
    let mut raised: Option<PyErr> = None;
    let raised_slot = &mut raised;
    let stop = &stop;
    let outcome = py.detach(move || {
        std::thread::scope(|scope| {
            let job = std::thread::Builder::new()
                .name("emkit-fit".into())
                .stack_size(STACK_BYTES)
                .spawn_scoped(scope, move || {
                    let mut relay = Relay {
                        events,
                        forward,
                        stop,
                    };
                    pool.install(|| work(&mut relay))
                });
            let job = match job {
                Ok(j) => j,
                Err(e) => return Err(format!("cannot start a thread for the fit: {e}")),
            };
            loop {
                let event = match rx.recv_timeout(POLL) {
                    Ok(event) => Some(event),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    // The relay is gone: the fit is over.
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                if raised_slot.is_some() {
                    continue;
                }
                Python::attach(|py| {
                    let delivered = match (&event, &callback) {
                        (Some(event), Some(cb)) => deliver(py, cb, event),
                        _ => Ok(()),
                    };
                    if let Err(e) = delivered.and_then(|()| py.check_signals()) {
                        *raised_slot = Some(e);
                        stop.store(true, Ordering::Relaxed);
                    }
                });
            }
            job.join().map_err(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                format!("emkit failed unexpectedly ({what}); please report this")
            })
        })
    });
    if let Some(e) = raised {
        return Err(e);
    }
    match outcome {
        Ok(result) => result.map_err(to_py),
        Err(message) => Err(PyRuntimeError::new_err(message)),
    }
}

fn deliver(py: Python<'_>, callback: &Py<PyAny>, event: &Event) -> PyResult<()> {
    let cb = callback.bind(py);
    match *event {
        Event::Started { restart } => cb.call1(("start", restart, 0usize, f64::NAN, f64::NAN)),
        Event::Iteration { restart, entry } => cb.call1((
            "iteration",
            restart,
            entry.iteration,
            entry.mean_log_likelihood,
            entry.change.unwrap_or(f64::INFINITY),
        )),
        Event::Finished {
            restart,
            converged,
            last,
        } => cb.call1(("end", restart, usize::from(converged), last, f64::NAN)),
    }
    .map(drop)
}

/// A fit's report as a dict: the best restart's trace, why it stopped, the
/// re-seeded components, and every restart's final log-likelihood.
pub(crate) fn report_dict<'py>(
    py: Python<'py>,
    report: &emkit::FitReport,
) -> PyResult<Bound<'py, PyDict>> {
    let best = report.best();
    let out = PyDict::new(py);
    let trace: Vec<f64> = best.trace.iter().map(|e| e.mean_log_likelihood).collect();
    out.set_item("lower_bounds", trace)?;
    out.set_item("converged", best.converged())?;
    out.set_item("n_iter", best.n_iter())?;
    out.set_item("n_em_steps", best.em_steps)?;
    out.set_item("stop_reason", stop_name(best.stop))?;
    out.set_item("reseeded", best.reseeded.clone())?;
    out.set_item("best_init", report.best_init)?;
    out.set_item("n_samples", report.n_samples)?;
    out.set_item("log_likelihood", best.log_likelihood)?;
    let restarts = PyList::empty(py);
    for r in &report.restarts {
        let d = PyDict::new(py);
        d.set_item("seed", r.seed)?;
        d.set_item("n_iter", r.n_iter())?;
        d.set_item("n_em_steps", r.em_steps)?;
        d.set_item("stop_reason", stop_name(r.stop))?;
        d.set_item("mean_log_likelihood", r.mean_log_likelihood)?;
        d.set_item("error", r.error.clone())?;
        restarts.append(d)?;
    }
    out.set_item("restarts", restarts)?;
    Ok(out)
}

fn stop_name(stop: emkit::StopReason) -> &'static str {
    match stop {
        emkit::StopReason::Converged { .. } => "converged",
        emkit::StopReason::MaxIter { .. } => "max_iter",
        emkit::StopReason::Failed => "failed",
    }
}

pub(crate) fn covariance_type(name: &str) -> PyResult<CovarianceType> {
    name.parse::<CovarianceType>().map_err(to_py)
}

/// Drawn rows (flat) and their components or states.
pub(crate) type Draws<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<i64>>);

/// A model file's mixture, feature names, anomaly threshold and fit summary.
type LoadedMixture = (Mixture, Option<Vec<String>>, Option<f64>, Option<String>);

/// A segmentation: model, palette, labels, mean log-likelihood, pixels fitted.
type Segmented<'py> = (
    Mixture,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<i64>>,
    f64,
    usize,
);

/// A fitted Gaussian mixture (the library's model, immutable).
#[pyclass(frozen, module = "emkit._emkit", name = "Mixture")]
pub(crate) struct Mixture {
    pub(crate) inner: GaussianMixture,
}

#[pymethods]
impl Mixture {
    /// A mixture from its parameters, flat and row-major in scikit-learn's
    /// layouts; checked as a model file is.
    #[staticmethod]
    fn from_params(
        weights: PyReadonlyArray1<'_, f64>,
        means: PyReadonlyArray1<'_, f64>,
        n_features: usize,
        covariance_type: &str,
        covariances: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<Self> {
        let kind = self::covariance_type(covariance_type)?;
        let covariances = covariances_of(kind, covariances.as_slice()?.to_vec());
        GaussianMixture::new(
            weights.as_slice()?.to_vec(),
            means.as_slice()?.to_vec(),
            n_features,
            covariances,
        )
        .map(|inner| Mixture { inner })
        .map_err(to_py)
    }

    /// Reads a model file's text: `(model, feature_names, anomaly_threshold,
    /// fit)`, `fit` being the file's fit summary as JSON text (or None).
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<LoadedMixture> {
        let file = MixtureFile::from_json_str(text).map_err(to_py)?;
        let fit = file.fit.as_ref().map(|v| v.to_string());
        Ok((
            Mixture { inner: file.model },
            file.feature_names,
            file.anomaly_threshold,
            fit,
        ))
    }

    /// The model file's text (the CLI's format), with optional names, fit
    /// summary (JSON text) and anomaly threshold.
    #[pyo3(signature = (feature_names=None, fit=None, anomaly_threshold=None))]
    fn to_json(
        &self,
        feature_names: Option<Vec<String>>,
        fit: Option<&str>,
        anomaly_threshold: Option<f64>,
    ) -> PyResult<String> {
        let mut file = MixtureFile::new(self.inner.clone());
        file.feature_names = feature_names;
        file.anomaly_threshold = anomaly_threshold;
        if let Some(text) = fit {
            file.fit = Some(
                serde_json::from_str(text)
                    .map_err(|e| PyValueError::new_err(format!("fit summary is not JSON: {e}")))?,
            );
        }
        Ok(file.to_json_string())
    }

    #[getter]
    fn covariance_type(&self) -> &'static str {
        self.inner.covariance_type().name()
    }
    #[getter]
    fn n_components(&self) -> usize {
        self.inner.n_components()
    }
    #[getter]
    fn n_features(&self) -> usize {
        self.inner.n_features()
    }
    #[getter]
    fn n_parameters(&self) -> usize {
        self.inner.n_parameters()
    }
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.weights())
    }
    /// Flat, `k × d` row-major.
    #[getter]
    fn means<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.means())
    }
    /// Flat, in scikit-learn's layout for the covariance type.
    #[getter]
    fn covariances<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.covariances().values())
    }
    /// Flat, in scikit-learn's layout (upper-triangular factors, `Σ⁻¹ = U Uᵀ`).
    #[getter]
    fn precisions_cholesky<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.precisions_cholesky())
    }

    fn score_samples<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let data = view(&x)?;
        let scores = detached(py, || self.inner.score_samples(data))?;
        Ok(PyArray1::from_vec(py, scores))
    }

    fn score(&self, py: Python<'_>, x: PyReadonlyArray2<'_, f64>) -> PyResult<f64> {
        let data = view(&x)?;
        detached(py, || self.inner.score(data))
    }

    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let data = view(&x)?;
        let labels = detached(py, || self.inner.predict(data))?;
        Ok(PyArray1::from_vec(
            py,
            labels.into_iter().map(|l| l as i64).collect(),
        ))
    }

    /// Flat, `n × k` row-major.
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let data = view(&x)?;
        let proba = detached(py, || self.inner.predict_proba(data))?;
        Ok(PyArray1::from_vec(py, proba.into_values()))
    }

    /// E-step statistics of rows `offset..offset + n` of data spread over
    /// many processes (Dask partitions, Spark tasks).
    #[pyo3(signature = (x, sample_weight=None, offset=0))]
    fn expectation(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f64>,
        sample_weight: Option<PyReadonlyArray1<'_, f64>>,
        offset: usize,
    ) -> PyResult<Stats> {
        let (data, w) = (view(&x)?, in_place(&sample_weight)?);
        detached(py, || self.inner.expectation(data, w, offset)).map(|inner| Stats { inner })
    }

    /// Statistics of hard assignments of rows `offset..offset + n` to the
    /// nearest mean (as the k-means initialisation assigns rows); their
    /// `maximization`, merged over all parts, is that initialisation's start.
    #[pyo3(signature = (x, sample_weight=None, offset=0))]
    fn nearest_expectation(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f64>,
        sample_weight: Option<PyReadonlyArray1<'_, f64>>,
        offset: usize,
    ) -> PyResult<Stats> {
        let (data, w) = (view(&x)?, in_place(&sample_weight)?);
        detached(py, || self.inner.nearest_expectation(data, w, offset))
            .map(|inner| Stats { inner })
    }

    /// The M-step from merged statistics: `(model, reseeded components)`.
    fn maximization(
        &self,
        py: Python<'_>,
        stats: PyRef<'_, Stats>,
        reg_covar: f64,
    ) -> PyResult<(Mixture, Vec<usize>)> {
        let stats = &stats.inner;
        let (inner, reseeded) = detached(py, || self.inner.maximization(stats, reg_covar))?;
        Ok((Mixture { inner }, reseeded))
    }

    /// Pickling (to send a model to other processes) through the model
    /// file's text, which gives back the same model bit for bit.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let text = MixtureFile::new(self.inner.clone()).to_json_string();
        let load = py.get_type::<Mixture>().getattr("_from_model_text")?;
        Ok((load, (text,)))
    }

    #[staticmethod]
    fn _from_model_text(text: &str) -> PyResult<Mixture> {
        let file = MixtureFile::from_json_str(text).map_err(to_py)?;
        Ok(Mixture { inner: file.model })
    }

    /// `n` draws: flat `n × d` values and their components.
    fn sample<'py>(&self, py: Python<'py>, n: usize, seed: u64) -> PyResult<Draws<'py>> {
        let (x, labels) = detached(py, || self.inner.sample(n, seed))?;
        Ok((
            PyArray1::from_vec(py, x.into_values()),
            PyArray1::from_vec(py, labels.into_iter().map(|l| l as i64).collect()),
        ))
    }
}

/// E-step statistics of some rows under one model (see
/// `Mixture.expectation`): merged in a fixed order, then one M-step.
#[pyclass(frozen, module = "emkit._emkit", name = "MixtureStats")]
pub(crate) struct Stats {
    inner: MixtureStats,
}

#[pymethods]
impl Stats {
    /// These statistics plus `other`'s (of other rows, same model), as new
    /// statistics.
    fn merged(&self, py: Python<'_>, other: PyRef<'_, Stats>) -> PyResult<Stats> {
        let mut inner = self.inner.clone();
        let other = &other.inner;
        detached(py, || inner.merge(other))?;
        Ok(Stats { inner })
    }

    #[getter]
    fn log_likelihood(&self) -> f64 {
        self.inner.log_likelihood()
    }
    #[getter]
    fn total_weight(&self) -> f64 {
        self.inner.total_weight()
    }
    #[getter]
    fn n_rows(&self) -> usize {
        self.inner.n_rows()
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    #[staticmethod]
    fn from_bytes(bytes: &[u8]) -> PyResult<Stats> {
        MixtureStats::from_bytes(bytes)
            .map(|inner| Stats { inner })
            .map_err(to_py)
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let load = py.get_type::<Stats>().getattr("from_bytes")?;
        Ok((load, (self.to_bytes(py),)))
    }
}

pub(crate) fn covariances_of(kind: CovarianceType, values: Vec<f64>) -> Covariances {
    match kind {
        CovarianceType::Full => Covariances::Full(values),
        CovarianceType::Tied => Covariances::Tied(values),
        CovarianceType::Diagonal => Covariances::Diagonal(values),
        CovarianceType::Spherical => Covariances::Spherical(values),
    }
}

/// Fits a Gaussian mixture: `(model, report)`. `max_iter = 0` returns the
/// starting model of the first restart without iterating.
#[pyfunction]
#[pyo3(signature = (x, n_components, covariance_type, tol, reg_covar, max_iter, n_init, init,
    seed, weights_init=None, means_init=None, covariances_init=None, init_model=None,
    callback=None, sample_weight=None, restart=0, accel=None, strategy=None))]
#[allow(clippy::too_many_arguments)]
fn fit_mixture<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    n_components: usize,
    covariance_type: &str,
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
    init: &str,
    seed: u64,
    weights_init: Option<PyReadonlyArray1<'py, f64>>,
    means_init: Option<PyReadonlyArray1<'py, f64>>,
    covariances_init: Option<PyReadonlyArray1<'py, f64>>,
    init_model: Option<PyRef<'py, Mixture>>,
    callback: Option<Py<PyAny>>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    restart: usize,
    accel: Option<&str>,
    strategy: Option<&str>,
) -> PyResult<(Mixture, Option<Bound<'py, PyDict>>)> {
    let kind = self::covariance_type(covariance_type)?;
    let mut builder = mixture_builder(
        n_components,
        covariance_type,
        tol,
        reg_covar,
        max_iter.max(1),
        n_init,
        init,
        seed,
    )?
    .accel(parse_accel(accel)?)
    .strategy(strategy.map_or(Ok(emkit::Strategy::default()), |s| {
        s.parse()
            .map_err(|e: String| PyValueError::new_err(format!("strategy: {e}")))
    })?);
    if let Some(w) = weights_init {
        builder = builder.weights_init(w.as_slice()?.to_vec());
    }
    if let Some(m) = means_init {
        builder = builder.means_init(m.as_slice()?.to_vec());
    }
    if let Some(c) = covariances_init {
        builder = builder.covariances_init(covariances_of(kind, c.as_slice()?.to_vec()));
    }
    if let Some(m) = init_model {
        builder = builder.init_model(m.inner.clone());
    }
    let data = weighted(view(&x)?, sample_weight.as_ref())?;
    if max_iter == 0 {
        // The start of restart `restart` (of a fit elsewhere, on this sample).
        let start = detached(py, || builder.start_of_restart(data, restart))?;
        return Ok((Mixture { inner: start }, None));
    }
    let fit = fit_watched(py, callback, |relay| builder.fit_with_monitor(data, relay))?;
    let report = report_dict(py, &fit.report)?;
    Ok((Mixture { inner: fit.model }, Some(report)))
}

/// The values of an optional weight array, read in place.
fn in_place<'a>(weights: &'a Option<PyReadonlyArray1<'_, f64>>) -> PyResult<Option<&'a [f64]>> {
    Ok(match weights {
        None => None,
        Some(w) => Some(w.as_slice()?),
    })
}

/// Labels and squared distances, as numpy arrays.
type Nearest<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>);

/// `(labels, squared distances)`: the nearest of the `m × d` `centres` of
/// every row of `x` (ties to the lower index) and its squared distance.
#[pyfunction]
fn nearest_centres<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    centres: PyReadonlyArray2<'py, f64>,
) -> PyResult<Nearest<'py>> {
    let data = view(&x)?;
    let c = view(&centres)?;
    if c.n_cols() != data.n_cols() || c.n_rows() == 0 {
        return Err(PyValueError::new_err(format!(
            "centres must be a non-empty m x {} array, got {} x {}",
            data.n_cols(),
            c.n_rows(),
            c.n_cols()
        )));
    }
    let (labels, dists) = detached(py, || Ok(emkit::init::nearest_distances(data, c.values())))?;
    Ok((
        PyArray1::from_vec(py, labels.into_iter().map(|l| l as i64).collect()),
        PyArray1::from_vec(py, dists),
    ))
}

/// The `contamination`-quantile of `scores` (as `emkit anomalies --contamination`).
#[pyfunction]
fn contamination_threshold(scores: PyReadonlyArray1<'_, f64>, contamination: f64) -> PyResult<f64> {
    emkit::anomaly::contamination_threshold(scores.as_slice()?, contamination).map_err(to_py)
}

/// `(row, column)` of the first cell of `x` that is NaN or infinite, or
/// None: a scan in place (numpy's `isfinite` would allocate a mask as large
/// as the data).
#[pyfunction]
fn first_non_finite(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
) -> PyResult<Option<(usize, usize)>> {
    let data = view(&x)?;
    let d = data.n_cols();
    let values = data.values();
    Ok(py.detach(|| {
        values
            .iter()
            .position(|v| !v.is_finite())
            .map(|i| (i / d, i % d))
    }))
}

/// `data` with `sample_weight` (one per row, read in place), checked by the
/// library (ValueError naming the bad weight).
fn weighted<'a>(
    data: emkit::DataRef<'a>,
    sample_weight: Option<&'a PyReadonlyArray1<'_, f64>>,
) -> PyResult<emkit::Weighted<'a>> {
    match sample_weight {
        None => Ok(data.into()),
        Some(w) => emkit::Weighted::new(data, w.as_slice()?).map_err(to_py),
    }
}

/// An acceleration by name (`None`: the library's default).
pub(crate) fn parse_accel(accel: Option<&str>) -> PyResult<emkit::Accel> {
    accel.map_or(Ok(emkit::Accel::default()), |a| {
        a.parse()
            .map_err(|e: String| PyValueError::new_err(format!("accel: {e}")))
    })
}

/// A mixture builder from the settings every mixture fit shares.
#[allow(clippy::too_many_arguments)]
fn mixture_builder(
    n_components: usize,
    covariance_type: &str,
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
    init: &str,
    seed: u64,
) -> PyResult<emkit::GaussianMixtureBuilder> {
    Ok(GaussianMixture::builder(n_components)
        .covariance(self::covariance_type(covariance_type)?)
        .tol(tol)
        .reg_covar(reg_covar)
        .max_iter(max_iter)
        .n_init(n_init)
        .init(init.parse::<Init>().map_err(to_py)?)
        .seed(seed))
}

/// Fits every (k, covariance type) cell: `(cells, best)`, each cell a dict
/// with its status, criteria and (when fitted) model and report; `best` the
/// index of the pick or None.
#[pyfunction]
#[pyo3(signature = (x, k_min, k_max, covariance_types, criterion, allow_degenerate, tol,
    reg_covar, max_iter, n_init, init, seed, sample_weight=None))]
#[allow(clippy::too_many_arguments)]
fn select_grid<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    k_min: usize,
    k_max: usize,
    covariance_types: Vec<String>,
    criterion: &str,
    allow_degenerate: bool,
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
    init: &str,
    seed: u64,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<(Bound<'py, PyList>, Option<usize>)> {
    let types = covariance_types
        .iter()
        .map(|c| self::covariance_type(c))
        .collect::<PyResult<Vec<_>>>()?;
    let config = emkit::select::SelectConfig {
        n_components: k_min..=k_max,
        covariance_types: types,
        criterion: criterion.parse().map_err(to_py)?,
        allow_degenerate,
    };
    let builder = mixture_builder(1, "full", tol, reg_covar, max_iter, n_init, init, seed)?;
    let data = weighted(view(&x)?, sample_weight.as_ref())?;
    let selection = detached(py, || emkit::select::select(data, &config, &builder))?;
    let cells = PyList::empty(py);
    for cell in selection.cells {
        let d = PyDict::new(py);
        d.set_item("n_components", cell.n_components)?;
        d.set_item("covariance_type", cell.covariance_type.name())?;
        d.set_item("status", cell.status().name())?;
        match cell.outcome {
            Ok(f) => {
                d.set_item("bic", f.bic)?;
                d.set_item("aic", f.aic)?;
                d.set_item("icl", f.icl)?;
                d.set_item("log_likelihood", f.fit.log_likelihood())?;
                d.set_item("mean_log_likelihood", f.fit.mean_log_likelihood())?;
                d.set_item("n_parameters", f.fit.model.n_parameters())?;
                d.set_item("min_relative_variance", f.min_relative_variance)?;
                d.set_item("report", report_dict(py, &f.fit.report)?)?;
                d.set_item("model", Mixture { inner: f.fit.model })?;
            }
            Err(e) => d.set_item("error", e.to_string())?,
        }
        cells.append(d)?;
    }
    Ok((cells, selection.best))
}

/// Segments an image (`colours`: flat `h × w × 3`, uint8 or float64):
/// `(model, palette, labels, mean_log_likelihood, fitted_pixels)`, the
/// palette flat `k × 3` 8-bit colours as the CLI paints them.
#[pyfunction]
#[pyo3(signature = (colours, width, height, n_components, covariance_type, tol, reg_covar,
    max_iter, n_init, init, seed, spatial, max_pixels, callback=None))]
#[allow(clippy::too_many_arguments)]
fn segment_image<'py>(
    py: Python<'py>,
    colours: &Bound<'py, PyAny>,
    width: usize,
    height: usize,
    n_components: usize,
    covariance_type: &str,
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
    init: &str,
    seed: u64,
    spatial: Option<f64>,
    max_pixels: usize,
    callback: Option<Py<PyAny>>,
) -> PyResult<Segmented<'py>> {
    use emkit::segment::{palette, segment_with, Colours, Image, SegmentConfig};
    let bytes = colours.extract::<PyReadonlyArray1<'py, u8>>().ok();
    let floats = if bytes.is_none() {
        Some(colours.extract::<PyReadonlyArray1<'py, f64>>()?)
    } else {
        None
    };
    let source = match (&bytes, &floats) {
        (Some(b), _) => Colours::Bytes(b.as_slice()?),
        (_, Some(f)) => Colours::Floats(f.as_slice()?),
        _ => unreachable!("one of the two was extracted"),
    };
    let image = Image::new(source, width, height).map_err(to_py)?;
    let config = SegmentConfig {
        spatial,
        max_pixels,
        seed,
    };
    let builder = mixture_builder(
        n_components,
        covariance_type,
        tol,
        reg_covar,
        max_iter,
        n_init,
        init,
        seed,
    )?;
    let mut labels: Vec<i64> = Vec::new();
    let segmented = fit_watched(py, callback, |relay| {
        labels.reserve_exact(image.n_pixels());
        segment_with(image, &config, &builder, relay, |_, _, chunk| {
            labels.extend(chunk.iter().map(|&l| l as i64))
        })
    })?;
    let colours: Vec<u8> = palette(&segmented.fit.model).concat();
    Ok((
        Mixture {
            inner: segmented.fit.model,
        },
        PyArray1::from_vec(py, colours),
        PyArray1::from_vec(py, labels),
        segmented.mean_log_likelihood,
        segmented.fitted_pixels,
    ))
}

/// The version of the library inside this extension.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _emkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEFAULT_ACCEL", emkit::Accel::default().name())?;
    m.add("DEFAULT_STRATEGY", emkit::Strategy::default().name())?;
    m.add_class::<Mixture>()?;
    m.add_class::<Stats>()?;
    m.add_function(wrap_pyfunction!(fit_mixture, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(contamination_threshold, m)?)?;
    m.add_function(wrap_pyfunction!(first_non_finite, m)?)?;
    m.add_function(wrap_pyfunction!(nearest_centres, m)?)?;
    m.add_function(wrap_pyfunction!(select_grid, m)?)?;
    m.add_function(wrap_pyfunction!(segment_image, m)?)?;
    hmm::register(m)?;
    Ok(())
}
