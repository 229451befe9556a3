"""``emkit.hmm``: hmmlearn 0.3's GaussianHMM, CategoricalHMM and GMMHMM, fitted by emkit.

The constructors, defaults, attributes, shapes and method signatures are
hmmlearn's; read its documentation for each. What differs is said in each
class's docstring and in the README's Python section.

Every class adds ``accel`` ('none' or 'squarem'): 'squarem' extrapolates
along pairs of Baum–Welch steps (SQUAREM) and keeps a step only where it
raises the log-likelihood, reaching the same optimum in fewer passes over
the data; ``n_em_steps_`` counts those passes (E-steps), ``monitor_.iter``
the iterations, which ``tol`` and ``n_iter`` apply to as in plain EM. Fits on
Dask collections run plain Baum–Welch.
"""

import json
import sys
from collections import deque

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from . import _dask_hmm, _emkit
from ._common import check_finite, seed_from, write_atomic

__all__ = ["GaussianHMM", "CategoricalHMM", "GMMHMM", "ConvergenceMonitor"]

DECODER_ALGORITHMS = frozenset(("viterbi", "map"))
COVARIANCE_TYPES = frozenset(("spherical", "diag", "full", "tied"))


class ConvergenceMonitor:
    """hmmlearn's ``monitor_``: ``history`` holds the total log-likelihood
    of every iteration, ``iter`` their number, and ``converged`` is hmmlearn's
    test (the last gain below ``tol``, or ``n_iter`` reached)."""

    _template = "{iter:>10d} {log_prob:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol, n_iter, verbose):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history = deque()
        self.iter = 0

    def __repr__(self):
        params = sorted(dict(vars(self), history=list(self.history)).items())
        return f"{type(self).__name__}(\n" + "".join(f"    {k}={v},\n" for k, v in params) + ")"

    def _reset(self):
        self.iter = 0
        self.history.clear()

    def report(self, log_prob):
        """Records one iteration's total log-likelihood (printing it to
        stderr when verbose, as hmmlearn does)."""
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else np.nan
            print(self._template.format(iter=self.iter + 1, log_prob=log_prob, delta=delta), file=sys.stderr)
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self):
        return self.iter == self.n_iter or (
            len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol
        )


def _lengths(X, lengths):
    if lengths is None:
        return None
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError("lengths must be a 1-D array of integers")
    if np.any(lengths <= 0):
        raise ValueError(f"lengths must be positive, got {lengths[lengths <= 0][0]}")
    if lengths.sum() != X.shape[0]:
        raise ValueError(f"lengths sum to {lengths.sum()} but X has {X.shape[0]} rows")
    return [int(v) for v in lengths]


def _flat(a):
    return np.ascontiguousarray(a, dtype=np.float64).ravel()


def _prior_arrays(est, names):
    """hmmlearn's prior arguments (attributes ``names`` of ``est``) as the
    library takes them: name -> (values, shape), broadcast by numpy's rules
    in the library, which checks them."""
    return _as_prior_arrays({name: getattr(est, name) for name in names})


def _as_prior_arrays(values):
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        a = np.asarray(value, dtype=np.float64)
        out[name] = (a.ravel().tolist(), list(a.shape))
    return out


def _floor_unless_regularised(covars_prior):
    """emkit's 1e-6 variance floor (``reg_covar``) in the M-step, unless a
    positive ``covars_prior`` regularises every variance already: then none,
    so that the M-step is hmmlearn's exactly."""
    if covars_prior is not None and np.all(np.asarray(covars_prior, dtype=np.float64) > 0):
        return 0.0
    return 1e-6


class _BaseHMM(BaseEstimator):
    """What the three HMMs share: fitting by the library, scoring, decoding,
    sampling, files and pickling."""

    _emission = None  # "gaussian", "categorical", "gmm"
    _emission_letters = ""  # the letters of the emission's parameters

    def _init_monitor(self):
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)

    # ------------------------------------------------------------ data

    def _data(self, X):
        X = check_array(X, dtype=np.float64, ensure_all_finite=False)
        X = np.ascontiguousarray(X, dtype=np.float64)
        check_finite(X, "X")
        return X

    # ---------------------------------------------------------- fitting

    def fit(self, X, lengths=None):
        """Estimates the parameters by Baum–Welch (one run from hmmlearn's
        initialisation of the parameters in ``init_params``) and returns self.

        ``X`` may also be a dask bag of sequences or a list of
        ``dask.delayed`` sequences (then without ``lengths``): the fit runs
        on the active Dask client, see ``emkit._dask_hmm``."""
        if _dask_hmm.is_sequences(X):
            if lengths is not None:
                raise ValueError(
                    "lengths must be None for a Dask collection of sequences: each item is "
                    "one sequence"
                )
            self._check_params()
            model, report, n = _dask_hmm.fit(self, X)
            self._init_monitor()
            self._fitted(model, report, n, record=True)
            return self
        X = self._data(X)
        lengths = _lengths(X, lengths)
        self._check_params()
        self._check_and_set_n_features(X)
        seed = seed_from(self.random_state)
        init, init_parts = self._initial(X, lengths, seed)
        learn = self._learn_checked()
        self._init_monitor()
        n = X.shape[0]
        verbose = self.monitor_ if self.verbose else None
        callback = None
        if verbose is not None:
            def callback(kind, restart, iteration, value, change):
                if kind == "iteration":
                    verbose.report(value * n)
        model, report = _emkit.fit_hmm(
            self._library_data(X),
            lengths,
            self._emission,
            int(self.n_components),
            # hmmlearn's tol is on the total log-likelihood; the library's on its mean.
            float(self.tol) / n,
            int(self.n_iter),
            1,
            seed,
            self._learn_letters(learn),
            init=init,
            init_parts=init_parts,
            callback=callback,
            accel=self.accel,
            **self._fit_kwargs(),
        )
        self._fitted(model, report, n, record=verbose is None)
        return self

    def _learn_checked(self):
        """The letters of ``params`` the fit learns; at least one."""
        learn = "".join(c for c in self.params if c in "stmce" + self._emission_letters)
        if not learn:
            raise ValueError(
                f"params={self.params!r} learns nothing; give at least one of "
                f"'s', 't' and {', '.join(repr(c) for c in self._emission_letters)}"
            )
        return learn

    def _fitted(self, model, report, n, record):
        """Takes the fitted `model` and its `report` (`n` observations);
        `record`: fill ``monitor_`` from the report."""
        self._set_model(model)
        history = [v * n for v in report["lower_bounds"]]
        if record:
            self.monitor_.history.extend(history)
            self.monitor_.iter = len(history)
        self.stop_reason_ = report["stop_reason"]
        self.reseeded_ = [tuple(r) for r in report["reseeded"]]
        self.lower_bounds_ = history
        self.n_em_steps_ = int(report.get("n_em_steps", len(history)))

    def _learn_letters(self, learn):
        return learn

    def _check_params(self):
        if getattr(self, "accel", "none") not in ("none", "squarem"):
            raise ValueError(f"accel must be 'none' or 'squarem', got {self.accel!r}")
        if not isinstance(self.n_components, (int, np.integer)) or self.n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {self.n_components!r}")
        if not isinstance(self.n_iter, (int, np.integer)) or self.n_iter < 1:
            raise ValueError(f"n_iter must be a positive integer, got {self.n_iter!r}")
        if not (np.isfinite(self.tol) and self.tol >= 0):
            raise ValueError(f"tol must be a finite number >= 0, got {self.tol!r}")
        if self.algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"Unknown decoder {self.algorithm!r}")

    def _needs_init(self, code, name):
        return code in self.init_params or not hasattr(self, name)

    def _initial(self, X, lengths, seed):
        """hmmlearn's initialisation of start and transitions (uniform) for
        the letters in ``init_params``; the user's values for the others; the
        emission from the library (k-means) unless the user set it and
        ``init_params`` leaves it alone. Returns the starting model and the
        letters of its parts to use."""
        nc = int(self.n_components)
        start = np.full(nc, 1.0 / nc) if self._needs_init("s", "startprob_") else self.startprob_
        trans = np.full((nc, nc), 1.0 / nc) if self._needs_init("t", "transmat_") else self.transmat_
        emission = self._initial_emission(X)
        parts = "st" + ("e" if emission is not None else "")
        model = self._build(start, trans, emission)
        return model, parts

    # ------------------------------------------------------------ model

    def _model(self):
        check_is_fitted(self, "startprob_")
        self._check()
        return self._build(self.startprob_, self.transmat_, self._current_emission())

    def _check(self):
        nc = int(self.n_components)
        self.startprob_ = np.asarray(self.startprob_, dtype=np.float64)
        if len(self.startprob_) != nc:
            raise ValueError("startprob_ must have length n_components")
        s = self.startprob_.sum()
        if not np.allclose(s, 1):
            raise ValueError(f"startprob_ must sum to 1 (got {s:.4f})")
        self.transmat_ = np.asarray(self.transmat_, dtype=np.float64)
        if self.transmat_.shape != (nc, nc):
            raise ValueError("transmat_ must have shape (n_components, n_components)")
        rows = self.transmat_.sum(axis=1)
        if not np.allclose(rows, 1):
            raise ValueError(f"transmat_ rows must sum to 1 (got row sums of {rows})")

    def _set_model(self, model):
        nc = model.n_states
        self.startprob_ = np.array(model.start)
        self.transmat_ = np.array(model.transitions).reshape(nc, nc)
        self._set_emission(model.emission_params())

    # ------------------------------------------------------------ scoring

    def _prepared(self, X, lengths):
        X = self._data(X)
        return self._library_data(X), _lengths(X, lengths)

    def score(self, X, lengths=None):
        """Total log-likelihood of X under the model (forward algorithm); X
        may be a Dask collection of sequences (then a float, computed)."""
        model = self._model()
        if _dask_hmm.is_sequences(X):
            return _dask_hmm.score(model, self, X)
        X, lengths = self._prepared(X, lengths)
        return float(model.score(X, lengths))

    def score_samples(self, X, lengths=None):
        """``(log-likelihood, posteriors)``: the total log-likelihood and each
        observation's state posteriors, shape (n_samples, n_components)."""
        model = self._model()
        X, lengths = self._prepared(X, lengths)
        posteriors = model.predict_proba(X, lengths).reshape(X.shape[0], model.n_states)
        return float(model.score(X, lengths)), posteriors

    def decode(self, X, lengths=None, algorithm=None):
        """``(log-probability, states)`` by ``algorithm`` ('viterbi': the most
        probable path and its log-probability; 'map': each step's most probable
        state, and hmmlearn's sum of those posteriors)."""
        if _dask_hmm.is_sequences(X):
            return _dask_hmm.map_sequences(self, X, "decode")
        model = self._model()
        algorithm = algorithm or self.algorithm
        if algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"Unknown decoder {algorithm!r}")
        X, lengths = self._prepared(X, lengths)
        if algorithm == "viterbi":
            log_prob, states = model.decode(X, lengths)
            return float(log_prob), states
        posteriors = model.predict_proba(X, lengths).reshape(X.shape[0], model.n_states)
        return float(np.max(posteriors, axis=1).sum()), np.argmax(posteriors, axis=1)

    def predict(self, X, lengths=None):
        """The states ``decode`` finds with ``self.algorithm`` (per sequence
        for a Dask collection of sequences)."""
        if _dask_hmm.is_sequences(X):
            return _dask_hmm.map_sequences(self, X, "predict")
        return self.decode(X, lengths)[1]

    def predict_proba(self, X, lengths=None):
        """State posteriors given each whole sequence, shape (n_samples, n_components)
        (per sequence for a Dask collection of sequences)."""
        if _dask_hmm.is_sequences(X):
            return _dask_hmm.map_sequences(self, X, "predict_proba")
        return self.score_samples(X, lengths)[1]

    def filter(self, X, lengths=None):
        """emkit's causal filter: ``P(state_t | x_1..x_t)`` for every step,
        shape (n_samples, n_components); a step never depends on later ones."""
        model = self._model()
        X, lengths = self._prepared(X, lengths)
        return model.filter(X, lengths).reshape(X.shape[0], model.n_states)

    def sample(self, n_samples=1, random_state=None, currstate=None):
        """``(X, states)``: one sequence of ``n_samples`` draws, from a seed
        drawn from ``random_state`` (default: the estimator's); ``currstate``
        is the first state, as in hmmlearn."""
        model = self._model()
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        if currstate is not None:
            start = np.zeros(model.n_states)
            start[int(currstate)] = 1.0
            model = self._build(start, self.transmat_, self._current_emission())
        seed = seed_from(self.random_state if random_state is None else random_state)
        X, states = model.sample(int(n_samples), seed)
        return self._from_library_data(X.reshape(int(n_samples), -1)), states

    def _n_fit_scalars(self):
        per = self._get_n_fit_scalars_per_param()
        return sum(per[c] for c in self.params if c in per)

    def aic(self, X, lengths=None):
        """AIC: ``-2 score(X) + 2 p``, p the free parameters in ``params``."""
        return -2 * self.score(X, lengths) + 2 * self._n_fit_scalars()

    def bic(self, X, lengths=None):
        """BIC: ``-2 score(X) + p ln n``."""
        return -2 * self.score(X, lengths) + self._n_fit_scalars() * np.log(len(X))

    def get_stationary_distribution(self):
        """The stationary distribution of the transition matrix."""
        check_is_fitted(self, "transmat_")
        eigvals, eigvecs = np.linalg.eig(self.transmat_.T)
        eigvec = np.real_if_close(eigvecs[:, np.argmax(eigvals)])
        return eigvec / eigvec.sum()

    # ------------------------------------------------------------- files

    def to_json(self):
        """The model file's text: the CLI's format (``emkit hmm fit -o``)."""
        model = self._model()
        fit = {
            "converged": bool(self.monitor_.converged) if self.monitor_.history else None,
            "n_iter": self.monitor_.iter,
            "history": list(self.monitor_.history),
            "stop_reason": getattr(self, "stop_reason_", None),
            "python": {"class": type(self).__name__, "params": _plain_params(self)},
        }
        return model.to_json(self._learn_letters(self.params), fit=json.dumps(fit))

    def save(self, path):
        """Writes the model file (atomically); ``emkit.load`` and the CLI read it."""
        write_atomic(path, self.to_json())

    @classmethod
    def _from_model(cls, model, fit):
        params = (fit.get("python") or {}).get("params") or {}
        est = cls()
        valid = est.get_params()
        est.set_params(**{k: v for k, v in params.items() if k in valid and (v is None or isinstance(v, (bool, int, float, str)))})
        est.n_components = model.n_states
        e = model.emission_params()
        if "covariance_type" in e:
            est.covariance_type = e["covariance_type"]
        if "n_mix" in e:
            est.n_mix = int(e["n_mix"])
        if not params:
            # A file from the command line: what it learned is what it fits.
            learned = model.learned
            est.params = learned + ("w" if cls is GMMHMM and "m" in learned else "")
        est._set_model(model)
        est._init_monitor()
        history = fit.get("history") or []
        est.monitor_.history.extend(float(v) for v in history)
        est.monitor_.iter = int(fit.get("n_iter", len(history)) or 0)
        est.stop_reason_ = fit.get("stop_reason") or "unknown"
        return est

    def __getstate__(self):
        state = {"params": _plain_params(self, keep_objects=True)}
        if hasattr(self, "startprob_"):
            state["model"] = self.to_json()
        return state

    def __setstate__(self, state):
        if "model" in state:
            model, _, fit = _emkit.Hmm.from_json(state["model"])
            fitted = type(self)._from_model(model, json.loads(fit) if fit else {})
            self.__dict__.update(fitted.__dict__)
        defaults = type(self)().get_params(deep=False)
        params = state.get("params", {})
        for key, default in defaults.items():
            value = params.get(key, default)
            if isinstance(value, list):
                value = np.asarray(value, dtype=np.float64)
            setattr(self, key, value)
        if not hasattr(self, "monitor_"):
            self._init_monitor()


def _plain_params(est, keep_objects=False):
    out = {}
    for key, value in est.get_params(deep=False).items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        elif not (value is None or isinstance(value, (bool, int, float, str, list, tuple)) or keep_objects):
            value = None
        out[key] = value
    return out


def _full_covars(covars, covariance_type, n_states, n_features):
    """Per-type covariances as full matrices (hmmlearn's ``covars_`` getter)."""
    if covariance_type == "full":
        return covars
    if covariance_type == "diag":
        return np.array([np.diag(c) for c in covars])
    if covariance_type == "tied":
        return np.tile(covars, (n_states, 1, 1))
    return np.array([np.eye(n_features) * c for c in covars])


class GaussianHMM(_BaseHMM):
    """hmmlearn's ``GaussianHMM``, fitted by emkit.

    The priors are hmmlearn's MAP estimates in the M-step (Dirichlet
    pseudo-counts for start and transitions, a normal prior on the means,
    inverse-gamma / inverse-Wishart on the covariances). With a positive
    ``covars_prior`` (the default 1e-2) the M-step is exactly hmmlearn's;
    with ``covars_prior=0`` (plain maximum likelihood) emkit keeps every
    variance at least 1e-6 in the M-step, so a state cannot collapse onto
    tied values (where the likelihood is unbounded). ``min_covar`` is added
    to the whole data's covariance at initialisation, as in hmmlearn.
    Means start from k-means (emkit's, seeded by ``random_state``; not
    scikit-learn's KMeans draws).

    ``implementation`` is accepted and has no effect: emkit's recursions
    scale, and fall back to log space sequence by sequence where scaling
    cannot represent a step. ``tol`` is on the total log-likelihood, as in
    hmmlearn; emkit stops when the change is smaller than ``tol`` in size
    (hmmlearn also stops when the log-likelihood falls).
    """

    _emission = "gaussian"
    _emission_letters = "mc"

    def __init__(
        self,
        n_components=1,
        covariance_type="diag",
        min_covar=1e-3,
        startprob_prior=1.0,
        transmat_prior=1.0,
        means_prior=0,
        means_weight=0,
        covars_prior=1e-2,
        covars_weight=1,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stmc",
        init_params="stmc",
        implementation="log",
        accel="none",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.accel = accel
        self._init_monitor()

    def _check_params(self):
        super()._check_params()
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}")

    def _check_and_set_n_features(self, X):
        if hasattr(self, "n_features") and self.n_features != X.shape[1]:
            raise ValueError(f"Unexpected number of dimensions, got {X.shape[1]} but expected {self.n_features}")
        self.n_features = X.shape[1]

    def _library_data(self, X):
        return X

    def _from_library_data(self, X):
        return X

    def _fit_kwargs(self):
        return {
            "covariance_type": self.covariance_type,
            "reg_covar": _floor_unless_regularised(self.covars_prior),
            "priors": _prior_arrays(
                self,
                ("startprob_prior", "transmat_prior", "means_prior", "means_weight", "covars_prior", "covars_weight"),
            ),
        }

    @property
    def covars_(self):
        """Full ``(n_components, n_features, n_features)`` matrices, as hmmlearn returns them."""
        return _full_covars(self._covars_, self.covariance_type, self.n_components, self.means_.shape[1])

    @covars_.setter
    def covars_(self, covars):
        self._covars_ = np.asarray(covars, dtype=np.float64).copy()

    def _initial_emission(self, X):
        init_m, init_c = self._needs_init("m", "means_"), self._needs_init("c", "_covars_")
        nc, nf = int(self.n_components), X.shape[1]
        means = self.means_ if not init_m else _library_start_means(X, nc, self.random_state)
        if not init_c:
            covars = self._covars_
        else:
            # hmmlearn's: the whole data's covariance (n - 1 divisor) plus
            # min_covar, per type; spherical takes the mean of every entry.
            cv = np.atleast_2d(np.cov(X.T)) + self.min_covar * np.eye(nf)
            covars = {
                "full": np.tile(cv, (nc, 1, 1)),
                "tied": cv,
                "diag": np.tile(np.diag(cv), (nc, 1)),
                "spherical": np.full(nc, cv.mean()),
            }[self.covariance_type]
        return np.asarray(means, dtype=np.float64), np.asarray(covars, dtype=np.float64)

    def _current_emission(self):
        return np.asarray(self.means_, dtype=np.float64), np.asarray(self._covars_, dtype=np.float64)

    def _build(self, start, trans, emission):
        nc = int(self.n_components)
        if emission is None:
            # A placeholder the fit does not use (the library initialises it).
            nf = self.n_features
            emission = (np.zeros((nc, nf)), {
                "full": np.tile(np.eye(nf), (nc, 1, 1)),
                "tied": np.eye(nf),
                "diag": np.ones((nc, nf)),
                "spherical": np.ones(nc),
            }[self.covariance_type])
        means, covars = emission
        return _emkit.Hmm.gaussian(
            _flat(start), _flat(trans), _flat(means), means.shape[1], self.covariance_type, _flat(covars)
        )

    def _set_emission(self, e):
        nc = int(self.n_components)
        nf = len(e["means"]) // nc
        self.means_ = np.array(e["means"]).reshape(nc, nf)
        shape = {"full": (nc, nf, nf), "tied": (nf, nf), "diag": (nc, nf), "spherical": (nc,)}[self.covariance_type]
        self._covars_ = np.array(e["covariances"]).reshape(shape)
        self.n_features = nf

    def _check(self):
        super()._check()
        nc = int(self.n_components)
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 2 or self.means_.shape[0] != nc:
            raise ValueError("means_ must have shape (n_components, n_features)")
        self.n_features = self.means_.shape[1]

    def _get_n_fit_scalars_per_param(self):
        nc, nf = int(self.n_components), self.n_features
        return {
            "s": nc - 1,
            "t": nc * (nc - 1),
            "m": nc * nf,
            "c": {
                "spherical": nc,
                "diag": nc * nf,
                "full": nc * nf * (nf + 1) // 2,
                "tied": nf * (nf + 1) // 2,
            }[self.covariance_type],
        }


def _library_start_means(X, nc, random_state):
    """k-means centres from the library (its initialisation of a mixture)."""
    model, _ = _emkit.fit_mixture(
        X, nc, "spherical", 1e-3, 1e-6, 0, 1, "kmeans", seed_from(random_state)
    )
    return np.array(model.means).reshape(nc, X.shape[1])


class CategoricalHMM(_BaseHMM):
    """hmmlearn's ``CategoricalHMM``, fitted by emkit.

    ``X`` holds one column of non-negative integer symbols. ``implementation``
    is accepted and has no effect.
    """

    _emission = "categorical"
    _emission_letters = "e"

    def __init__(
        self,
        n_components=1,
        startprob_prior=1.0,
        transmat_prior=1.0,
        *,
        emissionprob_prior=1.0,
        n_features=None,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="ste",
        init_params="ste",
        implementation="log",
        accel="none",
    ):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.accel = accel
        self._init_monitor()

    def _data(self, X):
        X = check_array(X, dtype=None, ensure_all_finite=False)
        if not np.issubdtype(X.dtype, np.integer):
            if np.issubdtype(X.dtype, np.floating) and np.all(np.isfinite(X)) and np.all(X == np.round(X)):
                X = X.astype(np.int64)
            else:
                raise ValueError("Symbols should be integers")
        if X.shape[1] != 1:
            raise ValueError(f"X must have one column of symbols, got {X.shape[1]} columns")
        if X.min() < 0:
            raise ValueError("Symbols should be nonnegative")
        return X

    def _check_and_set_n_features(self, X):
        top = int(X.max()) + 1
        if self.n_features is not None:
            if self.n_features < top:
                raise ValueError(
                    f"Largest symbol is {top - 1} but the model only emits symbols up to {self.n_features - 1}"
                )
        else:
            self.n_features = top

    def _library_data(self, X):
        return np.ascontiguousarray(X, dtype=np.float64)

    def _from_library_data(self, X):
        return X.astype(np.int64)

    def _learn_letters(self, learn):
        return learn.replace("e", "m")

    def _fit_kwargs(self):
        return {
            "n_symbols": int(self.n_features),
            "priors": _prior_arrays(self, ("startprob_prior", "transmat_prior", "emissionprob_prior")),
        }

    def _initial_emission(self, X):
        if self._needs_init("e", "emissionprob_"):
            return None
        return np.asarray(self.emissionprob_, dtype=np.float64)

    def _current_emission(self):
        return np.asarray(self.emissionprob_, dtype=np.float64)

    def _build(self, start, trans, emission):
        nc = int(self.n_components)
        if emission is None:
            emission = np.full((nc, int(self.n_features)), 1.0 / int(self.n_features))
        return _emkit.Hmm.categorical(_flat(start), _flat(trans), _flat(emission), emission.shape[1])

    def _set_emission(self, e):
        nc, m = int(self.n_components), int(e["n_symbols"])
        self.emissionprob_ = np.array(e["probabilities"]).reshape(nc, m)
        self.n_features = m

    def _check(self):
        super()._check()
        self.emissionprob_ = np.atleast_2d(np.asarray(self.emissionprob_, dtype=np.float64))
        if self.emissionprob_.shape[0] != int(self.n_components):
            raise ValueError("emissionprob_ must have shape (n_components, n_features)")
        rows = self.emissionprob_.sum(axis=1)
        if not np.allclose(rows, 1):
            raise ValueError(f"emissionprob_ rows must sum to 1 (got row sums of {rows})")

    def _get_n_fit_scalars_per_param(self):
        nc, nf = int(self.n_components), int(self.n_features)
        return {"s": nc - 1, "t": nc * (nc - 1), "e": nc * (nf - 1)}


class GMMHMM(_BaseHMM):
    """hmmlearn's ``GMMHMM``, fitted by emkit: each state emits from a
    mixture of ``n_mix`` Gaussians.

    The priors and their defaults (``covars_prior=None`` and
    ``covars_weight=None`` take hmmlearn's per-type values) are hmmlearn's
    MAP M-step, covariances centred on the previous means as hmmlearn does.
    Where hmmlearn's formulas break down emkit does not follow: weights are
    clamped at zero (hmmlearn's can go negative with ``weights_prior < 1``),
    and a component left with no mass is re-seeded. Weights, means and
    covariances are learned together (``params`` needs all of 'w', 'm', 'c'
    or none of them). No variance floor is added (hmmlearn adds none); a
    component that collapses is re-seeded instead. Each state's mixture starts from k-means on its
    k-means cluster and a short mixture fit (hmmlearn nests k-means too).
    ``implementation`` has no effect.
    """

    _emission = "gmm"
    _emission_letters = "mcw"

    def __init__(
        self,
        n_components=1,
        n_mix=1,
        min_covar=1e-3,
        startprob_prior=1.0,
        transmat_prior=1.0,
        weights_prior=1.0,
        means_prior=0.0,
        means_weight=0.0,
        covars_prior=None,
        covars_weight=None,
        algorithm="viterbi",
        covariance_type="diag",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stmcw",
        init_params="stmcw",
        implementation="log",
        accel="none",
    ):
        self.n_components = n_components
        self.n_mix = n_mix
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.weights_prior = weights_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
        self.covariance_type = covariance_type
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.accel = accel
        self._init_monitor()

    def _check_params(self):
        super()._check_params()
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}")
        if not isinstance(self.n_mix, (int, np.integer)) or self.n_mix < 1:
            raise ValueError(f"n_mix must be a positive integer, got {self.n_mix!r}")

    _check_and_set_n_features = GaussianHMM._check_and_set_n_features
    _library_data = GaussianHMM._library_data
    _from_library_data = GaussianHMM._from_library_data

    def _learn_letters(self, learn):
        # The library learns a state's mixture (weights, means, covariances) as one.
        mixture = set(learn) & set("mcw")
        if mixture and mixture != set("mcw"):
            raise ValueError(
                f"params={self.params!r}: emkit learns a state's mixture weights, means and "
                "covariances together; give all of 'w', 'm' and 'c', or none"
            )
        return "".join(c for c in learn if c in "st") + ("mc" if mixture else "")

    def _covars_prior_defaults(self):
        """hmmlearn's defaults for ``covars_prior=None`` / ``covars_weight=None``."""
        nm, nf = int(self.n_mix), self.n_features
        return {
            "full": (0.0, -(1.0 + nf + 1.0)),
            "tied": (0.0, -(nm + nf + 1.0)),
            "diag": (-1.5, 0.0),
            "spherical": (-(nm + 2.0) / 2.0, 0.0),
        }[self.covariance_type]

    def _fit_kwargs(self):
        prior, weight = self._covars_prior_defaults()
        covars_prior = prior if self.covars_prior is None else self.covars_prior
        covars_weight = weight if self.covars_weight is None else self.covars_weight
        priors = _prior_arrays(self, ("startprob_prior", "transmat_prior", "weights_prior", "means_prior", "means_weight"))
        priors.update(_as_prior_arrays({"covars_prior": covars_prior, "covars_weight": covars_weight}))
        return {
            "covariance_type": self.covariance_type,
            "n_mix": int(self.n_mix),
            # hmmlearn's M-step exactly: no variance floor (a component that
            # collapses is re-seeded by the library instead).
            "reg_covar": 0.0,
            "priors": priors,
            # hmmlearn centres a state's covariances on its previous means.
            "covariance_centre": "previous",
        }

    def _cov_shape(self, nc, m, nf):
        return {
            "full": (nc, m, nf, nf),
            "tied": (nc, nf, nf),
            "diag": (nc, m, nf),
            "spherical": (nc, m),
        }[self.covariance_type]

    def _initial_emission(self, X):
        if any(self._needs_init(c, n) for c, n in (("m", "means_"), ("c", "covars_"), ("w", "weights_"))):
            return None
        return self._current_emission()

    def _current_emission(self):
        return (
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            np.asarray(self.covars_, dtype=np.float64),
        )

    def _build(self, start, trans, emission):
        nc, m = int(self.n_components), int(self.n_mix)
        if emission is None:
            nf = self.n_features
            emission = (
                np.full((nc, m), 1.0 / m),
                np.zeros((nc, m, nf)),
                {
                    "full": np.tile(np.eye(nf), (nc, m, 1, 1)),
                    "tied": np.tile(np.eye(nf), (nc, 1, 1)),
                    "diag": np.ones((nc, m, nf)),
                    "spherical": np.ones((nc, m)),
                }[self.covariance_type],
            )
        weights, means, covars = emission
        return _emkit.Hmm.gmm(
            _flat(start), _flat(trans), _flat(weights), _flat(means), means.shape[-1],
            self.covariance_type, _flat(covars), m,
        )

    def _set_emission(self, e):
        nc, m = int(self.n_components), int(e["n_mix"])
        nf = len(e["means"]) // (nc * m)
        self.weights_ = np.array(e["weights"]).reshape(nc, m)
        self.means_ = np.array(e["means"]).reshape(nc, m, nf)
        self.covars_ = np.array(e["covariances"]).reshape(self._cov_shape(nc, m, nf))
        self.n_features = nf

    def _check(self):
        super()._check()
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 3 or self.means_.shape[:2] != (int(self.n_components), int(self.n_mix)):
            raise ValueError("means_ must have shape (n_components, n_mix, n_features)")
        self.n_features = self.means_.shape[2]

    def _get_n_fit_scalars_per_param(self):
        nc, m, nf = int(self.n_components), int(self.n_mix), self.n_features
        return {
            "s": nc - 1,
            "t": nc * (nc - 1),
            "m": nc * m * nf,
            "c": {
                "spherical": nc * m,
                "diag": nc * m * nf,
                "full": nc * m * nf * (nf + 1) // 2,
                "tied": nc * nf * (nf + 1) // 2,
            }[self.covariance_type],
            "w": nc * (m - 1),
        }
