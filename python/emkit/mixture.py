"""``emkit.GaussianMixture``: scikit-learn's GaussianMixture, fitted by emkit."""

import json
import warnings
from numbers import Integral, Real
from time import time

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from . import _dask, _emkit
from ._common import as_data, read_only, seed_from, write_atomic

_INIT = {
    "kmeans": "kmeans",
    "k-means++": "kmeans++",
    "random": "random",
    "random_from_data": "random-from-data",
}

_SHAPES = {
    "full": lambda k, d: (k, d, d),
    "tied": lambda k, d: (d, d),
    "diag": lambda k, d: (k, d),
    "spherical": lambda k, d: (k,),
}


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM: scikit-learn's ``GaussianMixture``, faster.

    The constructor, its defaults and validation, the fitted attributes and the
    methods are scikit-learn 1.9's (read its documentation for each); what
    differs is said here.

    Parameters
    ----------
    n_components, covariance_type, tol, reg_covar, max_iter, n_init,
    init_params, weights_init, means_init, precisions_init, warm_start,
    verbose, verbose_interval
        As scikit-learn's. ``init_params`` is one of 'kmeans', 'k-means++',
        'random', 'random_from_data'. 'random_from_data' assigns every row to
        its nearest picked row, where scikit-learn gives the picked rows alone
        weight.
    accel : {'none', 'squarem'}
        emkit's addition: 'squarem' extrapolates along pairs of EM steps
        (SQUAREM) and keeps a step only where it raises the log-likelihood,
        reaching the same optimum in fewer passes over the data; 'none' is
        plain EM, scikit-learn's iterations exactly. ``tol`` and
        ``max_iter`` apply to the iterations either way. Fits on Dask or
        Spark data run plain EM.
    strategy : {'restarts', 'split-merge'}
        emkit's addition: how the ``n_init`` starts are spent. 'restarts'
        is scikit-learn's (independent fits, the best kept); 'split-merge'
        runs ``n_init`` short EM runs, continues the best three, then tries
        split-and-merge moves from the best model (Ueda et al. 2000), in
        about 1.5x the compute, and reaches the best optimum more often
        (bench/optimum.py). Its ``lower_bounds_`` is the best run's trace.
    random_state : int, RandomState instance or None
        An int is emkit's seed (``random_state=N`` fits exactly what
        ``emkit fit --seed N`` fits); a RandomState gives one 64-bit seed per
        fit (and per ``sample`` call); None a fresh one. The same
        ``random_state`` gives the same emkit result every time; emkit's
        generator is not numpy's, so the draws are not scikit-learn's.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_,
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_,
    feature_names_in_
        As scikit-learn's (``lower_bounds_`` is the best restart's trace).
        The arrays are read-only: to change the model, assign new arrays to
        ``weights_``, ``means_`` or ``covariances_`` and the next call uses them.
    n_em_steps_ : int
        Passes over the data (E-steps) the best restart's iterations ran:
        ``n_iter_`` for plain EM, more with ``accel='squarem'`` (each
        extrapolation tried costs one).
    restarts_ : list of dict
        One entry per EM run of the fit (each restart; with
        ``strategy='split-merge'`` each short run, continuation and move):
        its ``seed``, ``n_iter``, ``n_em_steps``, ``stop_reason``,
        ``mean_log_likelihood`` and ``error``.
    stop_reason_ : str
        Why the best restart stopped: 'converged', 'max_iter' or 'max_iter=0'.
    reseeded_ : list of (iteration, component)
        Components of the best restart that emptied or collapsed and were
        re-seeded (scikit-learn fails or keeps them degenerate instead).
    anomaly_threshold_ : float
        Set by :meth:`anomaly_threshold`; saved with the model.

    Notes
    -----
    Of several restarts, emkit keeps the one with the highest log-likelihood
    of its returned parameters (after their final E-step); scikit-learn keeps
    the highest lower bound of the iteration before its last M-step. They
    agree except between restarts within one iteration's change of each other.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(_INIT))],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "accel": [StrOptions({"none", "squarem"})],
        "strategy": [StrOptions({"restarts", "split-merge"})],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        accel="none",
        strategy="restarts",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.accel = accel
        self.strategy = strategy

    # ----------------------------------------------------------------- fitting

    def fit(self, X, y=None, sample_weight=None):
        """Fits the model (``n_init`` restarts, the best kept) and returns self.

        ``sample_weight`` (emkit's addition; scikit-learn's GaussianMixture
        has none): one non-negative weight per row. An integer weight counts
        as that many copies of the row and a zero weight as the row left out,
        in the initialisation, every E-step and M-step, and the log-likelihood
        (``lower_bound_`` is per unit of weight); ``bic``/``aic`` and the
        scores of new data are unweighted."""
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fits the model and returns the label of each row of X (those of
        ``fit(X).predict(X)``: the returned model's last E-step)."""
        model, X = self._fit(X, sample_weight)
        if _dask.is_dask(X):
            return _dask.map_rows(model, X, "predict")
        return model.predict(X)

    def _fit(self, X, sample_weight=None):
        """Fits and returns the library's model and X as it was fitted
        (``fit`` computes no labels: n of them would be a second copy of a
        large input's size)."""
        self._validate_params()
        if _dask.is_dask(X):
            return self._fit_dask(X, sample_weight)
        X = as_data(self, X, reset=True, ensure_min_samples=2)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(
                _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
            )
        n, d = X.shape
        if n < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, n_samples = {n}"
            )
        inits = self._checked_inits(d)
        init_model = self._warm_model(d)
        warm = init_model is not None
        progress = _Progress(self) if self.verbose else None
        model, report = _emkit.fit_mixture(
            X,
            int(self.n_components),
            self.covariance_type,
            float(self.tol),
            float(self.reg_covar),
            int(self.max_iter),
            1 if warm else int(self.n_init),
            _INIT[self.init_params],
            seed_from(self.random_state),
            **inits,
            init_model=init_model,
            callback=progress,
            sample_weight=sample_weight,
            accel=self.accel,
            strategy=self.strategy,
        )
        self._adopt(model, report, X)
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. "
                "Try different init parameters, or increase max_iter, "
                "tol, or check for degenerate data.",
                ConvergenceWarning,
            )
        return model, X

    def _warm_model(self, d):
        """The model a warm start continues (None without one), checked
        against the data's `d` features."""
        if not (self.warm_start and hasattr(self, "converged_")):
            return None
        model = self._model()
        if model.n_features != d:
            raise ValueError(
                f"X has {d} features, but the model being warm-started has "
                f"{model.n_features}; fit it again with warm_start=False"
            )
        return model

    def _fit_dask(self, X, sample_weight):
        """Fits on a Dask array or DataFrame on the active scheduler (see
        ``emkit._dask``); returns the model and X as a dask array."""
        X = _dask.as_dask_rows(X)
        d = int(X.shape[1])
        inits = self._checked_inits(d)
        warm_model = self._warm_model(d)
        for attr in ("feature_names_in_",):
            if hasattr(self, attr):
                delattr(self, attr)
        model, report, parts = _dask.fit(
            self, X, sample_weight, inits, warm_model, _INIT[self.init_params],
            seed_from(self.random_state),
        )
        if int(self.max_iter) == 0:
            report = None
        self._adopt(model, report, parts.X)
        if report is not None and not self.converged_:
            warnings.warn(
                "Best performing initialization did not converge. "
                "Try different init parameters, or increase max_iter, "
                "tol, or check for degenerate data.",
                ConvergenceWarning,
            )
        return model, parts.X

    def _dask_checked(self, X):
        """A Dask X for scoring: rows-chunked float64 with the fitted width."""
        X = _dask.as_dask_rows(X)
        if int(X.shape[1]) != self.n_features_in_:
            raise ValueError(
                f"X has {int(X.shape[1])} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _adopt(self, model, report, X):
        """Takes a fit's model and report (None: max_iter=0) as the fitted state."""
        if report is None:
            # max_iter=0: the initialisation itself, as scikit-learn returns it.
            report = {
                "converged": False,
                "n_iter": 0,
                "lower_bounds": [],
                "stop_reason": "max_iter=0",
                "reseeded": [],
            }
        self._set_model(model)
        self._n_samples_fit = X.shape[0]
        self.n_features_in_ = X.shape[1]
        self.converged_ = bool(report["converged"])
        self.n_iter_ = int(report["n_iter"])
        self.n_em_steps_ = int(report.get("n_em_steps", self.n_iter_))
        self.restarts_ = [dict(r) for r in report.get("restarts", [])]
        bounds = [float(v) for v in report["lower_bounds"]]
        self.lower_bound_ = np.float64(bounds[-1] if bounds else -np.inf)
        self.lower_bounds_ = bounds
        self.stop_reason_ = report["stop_reason"]
        self.reseeded_ = [tuple(r) for r in report["reseeded"]]

    def _checked_inits(self, d):
        """The user's weights_init, means_init and precisions_init, checked
        as scikit-learn checks them, flat for the library (precisions become
        covariances)."""
        k = int(self.n_components)
        out = {}
        if self.weights_init is not None:
            w = check_array(self.weights_init, dtype=[np.float64, np.float32], ensure_2d=False)
            _check_shape(w, (k,), "weights")
            if np.any(w < 0.0) or np.any(w > 1.0):
                raise ValueError(
                    "The parameter 'weights' should be in the range [0, 1], but got "
                    f"max value {np.max(w):.5f}, min value {np.min(w):.5f}"
                )
            atol = 1e-6 if w.dtype == np.float32 else 1e-8
            if not np.allclose(abs(1.0 - np.sum(w)), 0.0, atol=atol):
                raise ValueError(
                    "The parameter 'weights' should be normalized, but got "
                    f"sum(weights) = {np.sum(w):.5f}"
                )
            # Renormalised in double precision: float32 weights sum to 1 within 1e-6 only.
            w = np.asarray(w, dtype=np.float64)
            out["weights_init"] = np.ascontiguousarray(w / w.sum())
        if self.means_init is not None:
            m = check_array(self.means_init, dtype=[np.float64, np.float32], ensure_2d=False)
            _check_shape(m, (k, d), "means")
            out["means_init"] = np.ascontiguousarray(m, dtype=np.float64).ravel()
        if self.precisions_init is not None:
            kind = self.covariance_type
            p = check_array(
                self.precisions_init,
                dtype=[np.float64, np.float32],
                ensure_2d=False,
                allow_nd=kind == "full",
            )
            _check_shape(p, _SHAPES[kind](k, d), f"{kind} precision")
            p = np.asarray(p, dtype=np.float64)
            if kind in ("diag", "spherical"):
                if np.any(p <= 0.0):
                    raise ValueError(f"'{kind} precision' should be positive")
                cov = 1.0 / p
            else:
                mats = p.reshape(-1, d, d)
                for m in mats:
                    if not (np.allclose(m, m.T) and np.all(np.linalg.eigvalsh(m) > 0.0)):
                        raise ValueError(
                            f"'{kind} precision' should be symmetric, positive-definite"
                        )
                cov = np.linalg.inv(mats)
                cov = (cov + np.swapaxes(cov, 1, 2)) / 2.0
            out["covariances_init"] = np.ascontiguousarray(cov, dtype=np.float64).ravel()
        return out

    # ---------------------------------------------------------------- the model

    def _set_model(self, model):
        """Keeps the library's model and exposes its parameters as scikit-learn's attributes."""
        k, d, kind = model.n_components, model.n_features, model.covariance_type
        shape = _SHAPES[kind](k, d)
        self.weights_ = read_only(model.weights)
        self.means_ = read_only(model.means.reshape(k, d))
        self.covariances_ = read_only(model.covariances.reshape(shape))
        self.precisions_cholesky_ = read_only(model.precisions_cholesky.reshape(shape))
        if kind in ("full", "tied"):
            u = self.precisions_cholesky_.reshape(-1, d, d)
            self.precisions_ = read_only((u @ np.swapaxes(u, 1, 2)).reshape(shape))
        else:
            self.precisions_ = read_only(self.precisions_cholesky_**2)
        self._emkit_model = model
        self._emkit_source = (self.weights_, self.means_, self.covariances_)

    def _model(self):
        """The library's model of the current attributes (rebuilt, without
        caching, when one was replaced since the fit)."""
        check_is_fitted(self)
        current = (self.weights_, self.means_, self.covariances_)
        if all(a is b for a, b in zip(self._emkit_source, current)):
            return self._emkit_model
        means = np.ascontiguousarray(self.means_, dtype=np.float64)
        return _emkit.Mixture.from_params(
            np.ascontiguousarray(self.weights_, dtype=np.float64).ravel(),
            means.ravel(),
            means.shape[1],
            self.covariance_type,
            np.ascontiguousarray(self.covariances_, dtype=np.float64).ravel(),
        )

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_emkit_model")

    def _n_parameters(self):
        """Number of free parameters (scikit-learn's count)."""
        return int(self._model().n_parameters)

    # ------------------------------------------------------------------ scoring

    def score_samples(self, X):
        """Log-density of each row of X under the model (a dask array for a
        Dask X)."""
        model = self._model()
        if _dask.is_dask(X):
            return _dask.map_rows(model, self._dask_checked(X), "score_samples")
        return model.score_samples(as_data(self, X, reset=False))

    def score(self, X, y=None):
        """Mean log-density of the rows of X."""
        model = self._model()
        if _dask.is_dask(X):
            return float(self.score_samples(X).mean().compute())
        return float(model.score(as_data(self, X, reset=False)))

    def predict(self, X):
        """The most probable component of each row of X (a dask array for a
        Dask X)."""
        model = self._model()
        if _dask.is_dask(X):
            return _dask.map_rows(model, self._dask_checked(X), "predict")
        return model.predict(as_data(self, X, reset=False))

    def predict_proba(self, X):
        """Each row's posterior probability of each component, shape (n, k)
        (a dask array for a Dask X)."""
        model = self._model()
        if _dask.is_dask(X):
            return _dask.map_rows(model, self._dask_checked(X), "predict_proba", model.n_components)
        X = as_data(self, X, reset=False)
        return model.predict_proba(X).reshape(X.shape[0], model.n_components)

    def bic(self, X):
        """Bayesian information criterion on X (lower is better)."""
        X = as_data(self, X, reset=False)
        n = X.shape[0]
        return -2 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion on X (lower is better)."""
        X = as_data(self, X, reset=False)
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draws ``n_samples`` rows: ``(X, labels)``, grouped by component as
        scikit-learn returns them, from a seed drawn from ``random_state``."""
        model = self._model()
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling "
                "requires at least one sample."
            )
        X, labels = model.sample(int(n_samples), seed_from(self.random_state))
        X = X.reshape(int(n_samples), model.n_features)
        order = np.argsort(labels, kind="stable")
        return X[order], labels[order]

    # ------------------------------------------------------------ anomalies

    def anomaly_threshold(self, X, contamination=0.01):
        """The log-density below which the lowest ``contamination`` share of
        X's rows lie; kept as ``anomaly_threshold_`` (and saved with the
        model). ``score_samples(X) < threshold`` then flags anomalies."""
        if not isinstance(contamination, Real):
            raise ValueError(f"contamination must be a number, got {contamination!r}")
        scores = self.score_samples(X)
        self.anomaly_threshold_ = float(_emkit.contamination_threshold(scores, float(contamination)))
        return self.anomaly_threshold_

    # ---------------------------------------------------------------- files

    def to_json(self):
        """The model file's text: the CLI's format (``emkit fit -o``), with
        the feature names, the fit's summary and the estimator's settings."""
        model = self._model()
        names = getattr(self, "feature_names_in_", None)
        fit = {
            "converged": self.converged_,
            "n_iter": self.n_iter_,
            "lower_bound": _finite_or_none(self.lower_bound_),
            "lower_bounds": self.lower_bounds_,
            "stop_reason": self.stop_reason_,
            "reseeded": [{"iteration": i, "component": c} for i, c in self.reseeded_],
            "n_samples": getattr(self, "_n_samples_fit", None),
            "python": {"params": _json_params(self)},
        }
        return model.to_json(
            feature_names=None if names is None else [str(s) for s in names],
            fit=json.dumps(fit),
            anomaly_threshold=getattr(self, "anomaly_threshold_", None),
        )

    def save(self, path):
        """Writes the model file (atomically) to ``path``; ``emkit.load``,
        ``emkit score`` and every other command read it."""
        write_atomic(path, self.to_json())

    @classmethod
    def from_json(cls, text):
        """A fitted estimator from a model file's text (written by
        :meth:`save` or by ``emkit fit -o``)."""
        model, names, threshold, fit = _emkit.Mixture.from_json(text)
        fit = json.loads(fit) if fit else {}
        params = (fit.get("python") or {}).get("params") or {}
        est = cls(n_components=model.n_components, covariance_type=model.covariance_type)
        valid = est.get_params()
        est.set_params(**{k: v for k, v in params.items() if k in valid and _is_plain(v)})
        est.n_components = model.n_components
        est.covariance_type = model.covariance_type
        est._set_model(model)
        est.n_features_in_ = model.n_features
        if names is not None:
            est.feature_names_in_ = np.asarray(names, dtype=object)
        est.converged_ = bool(fit.get("converged", True))
        est.n_iter_ = int(fit.get("n_iter", 0) or 0)
        lb = fit.get("lower_bound", fit.get("mean_log_likelihood"))
        est.lower_bound_ = np.float64(lb if isinstance(lb, (int, float)) else -np.inf)
        est.lower_bounds_ = [float(v) for v in fit.get("lower_bounds", [])]
        est.stop_reason_ = str(fit.get("stop_reason", "unknown"))
        est.reseeded_ = [
            (int(r["iteration"]), int(r["component"]))
            for r in fit.get("reseeded", [])
            if isinstance(r, dict) and "iteration" in r and "component" in r
        ]
        if threshold is not None:
            est.anomaly_threshold_ = float(threshold)
        return est

    # Pickle (and joblib, and copy) go through the model file's text: loading
    # runs emkit's validated parser and nothing else.
    def __getstate__(self):
        state = {"params": _json_params(self, keep_objects=True)}
        if self.__sklearn_is_fitted__():
            state["model"] = self.to_json()
        return state

    def __setstate__(self, state):
        if "model" in state:
            self.__dict__.update(type(self).from_json(state["model"]).__dict__)
        defaults = type(self)().get_params(deep=False)
        params = state.get("params", {})
        for key, default in defaults.items():
            value = params.get(key, default)
            if key.endswith("_init") and isinstance(value, list):
                value = np.asarray(value, dtype=np.float64)
            setattr(self, key, value)


def _check_shape(a, shape, name):
    if a.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, but got {a.shape}"
        )


def _finite_or_none(v):
    return float(v) if np.isfinite(v) else None


def _is_plain(v):
    return v is None or isinstance(v, (bool, int, float, str))


def _json_params(est, keep_objects=False):
    """The constructor's arguments as JSON values: arrays as lists; a
    RandomState, which JSON cannot hold, as None (or, for pickle, kept)."""
    out = {}
    for key, value in est.get_params(deep=False).items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        elif not (_is_plain(value) or isinstance(value, (list, tuple)) or keep_objects):
            value = None
        out[key] = value
    return out


class _Progress:
    """Prints scikit-learn's verbose messages from the fit's events."""

    def __init__(self, est):
        self.verbose = est.verbose
        self.interval = est.verbose_interval
        self.init_time = self.iter_time = time()

    def __call__(self, kind, restart, iteration, value, change):
        if kind == "start":
            print("Initialization %d" % restart)
            self.init_time = self.iter_time = time()
        elif kind == "iteration":
            if iteration % self.interval == 0:
                if self.verbose == 1:
                    print("  Iteration %d" % iteration)
                else:
                    now = time()
                    print(
                        "  Iteration %d\t time lapse %.5fs\t ll change %.5f"
                        % (iteration, now - self.iter_time, change)
                    )
                    self.iter_time = now
        else:
            msg = "converged" if iteration else "did not converge"
            if self.verbose == 1:
                print(f"Initialization {msg}.")
            else:
                t = time() - self.init_time
                print(f"Initialization {msg}. time lapse {t:.5f}s\t lower bound {value:.5f}.")
