"""hmmlearn's MAP M-steps: the reference data of tests/hmm_priors.rs.

For each case, hmmlearn 0.3 starts from a given model (every parameter set
explicitly, init_params=""), with priors of every kind at non-default values
(and, for two cases, hmmlearn's own defaults), and runs n_iter = 1 and
n_iter = 5 Baum-Welch iterations (tol = -inf, so exactly that many) on small
seeded data; hmm_priors.json holds the data, the starting model, the priors
(values with their numpy shape, exactly as passed to hmmlearn) and the
parameters after each run, in emkit's layouts.

    python3 -m venv target/hmm-venv
    target/hmm-venv/bin/pip install numpy scipy scikit-learn==1.9.1 hmmlearn==0.3.3
    target/hmm-venv/bin/python crates/emkit/tests/reference/make_hmm_prior_refs.py

The output depends only on the seeds below and the library versions it
records.
"""

import json
import pathlib
import platform
import sys
import logging
import warnings

import numpy as np
import scipy
import sklearn
import hmmlearn
from hmmlearn import hmm

OUT = pathlib.Path(__file__).with_name("hmm_priors.json")
N_ITERS = [1, 5]
LENGTHS = [70, 25, 45]


def arr(x):
    """A prior exactly as hmmlearn gets it: flat values and numpy shape."""
    a = np.asarray(x, dtype=float)
    return {"values": a.ravel().tolist(), "shape": list(a.shape)}


def sample(model, seed):
    """Sequences of LENGTHS drawn from `model`, one seed per sequence."""
    xs = [model.sample(n, random_state=seed + i)[0] for i, n in enumerate(LENGTHS)]
    return np.concatenate(xs)


def spd(rng, d, scale):
    a = rng.standard_normal((d, d))
    return scale * (a @ a.T / d + np.eye(d))


# emkit's layouts: Gaussian covariances as scikit-learn (full k*d*d, tied d*d,
# diag k*d, spherical k); GMM per state: one mixture's covariances.
def gaussian_covars(h):
    c = np.asarray(h._covars_)
    if h.covariance_type == "spherical":
        # hmmlearn keeps one variance per state, tiled over the features
        # after an M-step.
        c = c.reshape(h.n_components, -1)[:, 0]
    return c.ravel().tolist()


def gaussian_params(h):
    return {
        "startprob": h.startprob_.tolist(),
        "transmat": h.transmat_.ravel().tolist(),
        "means": h.means_.ravel().tolist(),
        "covars": gaussian_covars(h),
    }


def categorical_params(h):
    return {
        "startprob": h.startprob_.tolist(),
        "transmat": h.transmat_.ravel().tolist(),
        "emissionprob": h.emissionprob_.ravel().tolist(),
    }


def gmm_params(h):
    k = h.n_components
    c = np.asarray(h.covars_)
    return {
        "startprob": h.startprob_.tolist(),
        "transmat": h.transmat_.ravel().tolist(),
        "weights": [h.weights_[j].tolist() for j in range(k)],
        "means": [h.means_[j].ravel().tolist() for j in range(k)],
        "covars": [c[j].ravel().tolist() for j in range(k)],
    }


def run(make, X, params_of):
    """hmmlearn from the starting model for each n_iter: parameters and the
    log-likelihood of each iteration's E-step (its monitor history)."""
    out = []
    for n_iter in N_ITERS:
        h = make(n_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h.fit(X, lengths=LENGTHS)
        assert h.monitor_.iter == n_iter
        r = params_of(h)
        r["n_iter"] = n_iter
        r["log_likelihoods"] = list(h.monitor_.history)
        out.append(r)
    return out


def gaussian_cases():
    rng = np.random.default_rng(12)
    k, d = 3, 2
    truth = hmm.GaussianHMM(k, "full", init_params="")
    truth.startprob_ = np.array([0.5, 0.3, 0.2])
    truth.transmat_ = np.array([[0.85, 0.1, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    truth.means_ = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 3.5]])
    truth.covars_ = np.array([spd(rng, d, 0.6) for _ in range(k)])
    X = sample(truth, 100)
    start = np.array([0.4, 0.35, 0.25])
    trans = np.array([[0.7, 0.2, 0.1], [0.15, 0.7, 0.15], [0.1, 0.2, 0.7]])
    means = truth.means_ + rng.normal(0, 0.4, (k, d))
    full = np.array([spd(rng, d, 1.0) for _ in range(k)])
    start_covars = {
        "full": full,
        "tied": full[0],
        "diag": np.array([np.diag(c) for c in full]),
        "spherical": np.array([np.diag(c).mean() for c in full]),
    }
    chain = {
        "startprob_prior": np.array([2.0, 0.5, 3.0]),
        "transmat_prior": rng.uniform(0.5, 3.0, (k, k)),
    }
    priors = {
        # Per-state weights as a column: numpy broadcasts (k, 1) over features.
        "diag": dict(
            chain,
            means_prior=rng.normal(0, 1, (k, d)),
            means_weight=np.array([[1.5], [0.5], [4.0]]),
            covars_prior=np.array([0.3, 0.8]),
            covars_weight=3.0,
        ),
        "spherical": dict(
            chain,
            means_prior=np.array([1.0, -1.0]),
            means_weight=rng.uniform(0.5, 3.0, (k, d)),
            covars_prior=rng.uniform(0.1, 1.0, (k, d)),
            covars_weight=2.5,
        ),
        "full": dict(
            chain,
            means_prior=np.array([0.5, 1.0]),
            means_weight=1.5,
            covars_prior=spd(rng, d, 0.5),
            covars_weight=d + 2.5,
        ),
        "tied": dict(
            chain,
            means_prior=rng.normal(0, 1, (k, d)),
            means_weight=2.0,
            covars_prior=spd(rng, d, 0.7),
            covars_weight=d + 3.0,
        ),
    }
    cases = []
    for ct in ["full", "tied", "diag", "spherical"]:
        for label, pri in [("priors", priors[ct]), ("hmmlearn defaults", {})]:
            if label == "hmmlearn defaults" and ct not in ("full", "diag"):
                continue

            def make(n_iter=1, ct=ct, pri=pri):
                h = hmm.GaussianHMM(k, ct, init_params="", params="stmc",
                                    n_iter=n_iter, tol=-np.inf, **pri)
                h.startprob_ = start
                h.transmat_ = trans
                h.means_ = means
                h.covars_ = start_covars[ct]
                return h

            h0 = make()
            # hmmlearn's defaults, spelled out, so that the Rust side passes
            # the same values.
            given = {
                name: getattr(h0, name)
                for name in ["startprob_prior", "transmat_prior", "means_prior",
                             "means_weight", "covars_prior", "covars_weight"]
            }
            cases.append({
                "name": f"gaussian {ct} {label}",
                "model": "gaussian",
                "covariance_type": ct,
                "n_components": k,
                "n_features": d,
                "X": X.ravel().tolist(),
                "lengths": LENGTHS,
                "init": {
                    "startprob": start.tolist(),
                    "transmat": trans.ravel().tolist(),
                    "means": means.ravel().tolist(),
                    "covars": np.asarray(start_covars[ct]).ravel().tolist(),
                },
                "priors": {n: arr(v) for n, v in given.items()},
                "results": run(make, X, gaussian_params),
            })
    return cases


def categorical_cases():
    rng = np.random.default_rng(7)
    k, m = 3, 4
    truth = hmm.CategoricalHMM(k, init_params="")
    truth.startprob_ = np.array([0.6, 0.2, 0.2])
    truth.transmat_ = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    truth.emissionprob_ = np.array([
        [0.7, 0.2, 0.05, 0.05], [0.1, 0.1, 0.4, 0.4], [0.25, 0.25, 0.25, 0.25]])
    X = sample(truth, 200)
    start = np.array([0.3, 0.3, 0.4])
    trans = np.array([[0.6, 0.2, 0.2], [0.25, 0.5, 0.25], [0.2, 0.3, 0.5]])
    emis = rng.uniform(0.2, 1.0, (k, m))
    emis /= emis.sum(1, keepdims=True)
    pri = {
        # Below 1 the pseudo-counts of states rarely first are clamped at 0,
        # and a start probability that is 0 stays 0.
        "startprob_prior": np.array([0.05, 2.0, 0.05]),
        # One concentration per row: (k, 1) against (k, k).
        "transmat_prior": np.array([[1.5], [0.8], [2.5]]),
        "emissionprob_prior": rng.uniform(0.6, 3.0, (k, m)),
    }

    def make(n_iter=1):
        h = hmm.CategoricalHMM(k, init_params="", params="ste", n_features=m,
                               n_iter=n_iter, tol=-np.inf, **pri)
        h.startprob_ = start
        h.transmat_ = trans
        h.emissionprob_ = emis
        return h

    return [{
        "name": "categorical priors",
        "model": "categorical",
        "n_components": k,
        "n_symbols": m,
        "X": X.ravel().astype(float).tolist(),
        "lengths": LENGTHS,
        "init": {"startprob": start.tolist(), "transmat": trans.ravel().tolist(),
                 "emissionprob": emis.ravel().tolist()},
        "priors": {n: arr(v) for n, v in pri.items()},
        "results": run(make, X, categorical_params),
    }]


def gmm_cases():
    rng = np.random.default_rng(3)
    k, nm, d = 2, 2, 2
    truth = hmm.GaussianHMM(k, "diag", init_params="")
    truth.startprob_ = np.array([0.5, 0.5])
    truth.transmat_ = np.array([[0.9, 0.1], [0.15, 0.85]])
    truth.means_ = np.array([[0.0, 0.0], [3.0, 2.0]])
    truth.covars_ = np.array([[1.5, 0.7], [0.6, 1.8]])
    X = sample(truth, 300)
    start = np.array([0.45, 0.55])
    trans = np.array([[0.8, 0.2], [0.25, 0.75]])
    weights = np.array([[0.4, 0.6], [0.55, 0.45]])
    means = np.array([[[-0.5, 0.3], [0.6, -0.4]], [[2.5, 1.5], [3.4, 2.6]]])
    full = np.array([[spd(rng, d, 0.8) for _ in range(nm)] for _ in range(k)])
    start_covars = {
        "full": full,
        "tied": full[:, 0],
        "diag": np.array([[np.diag(c) for c in s] for s in full]),
        "spherical": np.array([[np.diag(c).mean() for c in s] for s in full]),
    }
    common = {
        "startprob_prior": np.array([1.5, 2.5]),
        "transmat_prior": np.array([[2.0, 1.2], [0.9, 3.0]]),
        "weights_prior": np.array([1.8, 2.6]),
        "means_prior": rng.normal(1.0, 1.0, (k, nm, d)),
        "means_weight": rng.uniform(0.5, 3.0, (k, nm)),
    }
    priors = {
        "full": dict(common, covars_prior=spd(rng, d, 0.4),
                     covars_weight=rng.uniform(0.5, 3.0, (k, nm))),
        "tied": dict(common, covars_prior=np.array([spd(rng, d, 0.4) for _ in range(k)]),
                     covars_weight=np.array([1.0, 2.5])),
        "diag": dict(common, covars_prior=rng.uniform(0.2, 2.0, (k, nm, d)),
                     covars_weight=np.array([0.1, 0.3])),
        "spherical": dict(common, covars_prior=rng.uniform(0.2, 2.0, (k, nm)),
                          covars_weight=0.25),
    }
    cases = []
    for ct in ["full", "tied", "diag", "spherical"]:
        for label, pri in [("priors", priors[ct]), ("hmmlearn defaults", {})]:
            if label == "hmmlearn defaults" and ct != "diag":
                continue

            def make(n_iter=1, ct=ct, pri=pri):
                h = hmm.GMMHMM(k, nm, covariance_type=ct, init_params="",
                               params="stmcw", n_iter=n_iter, tol=-np.inf, **pri)
                h.startprob_ = start
                h.transmat_ = trans
                h.weights_ = weights
                h.means_ = means
                h.covars_ = start_covars[ct]
                return h

            h0 = make()
            h0.n_features = d
            h0._init_covar_priors()  # hmmlearn's None defaults, spelled out
            given = {
                name: getattr(h0, name)
                for name in ["startprob_prior", "transmat_prior", "weights_prior",
                             "means_prior", "means_weight", "covars_prior",
                             "covars_weight"]
            }
            cases.append({
                "name": f"gmm {ct} {label}",
                "model": "gmm",
                "covariance_type": ct,
                "n_components": k,
                "n_mix": nm,
                "n_features": d,
                "X": X.ravel().tolist(),
                "lengths": LENGTHS,
                "init": {
                    "startprob": start.tolist(),
                    "transmat": trans.ravel().tolist(),
                    "weights": weights.tolist(),
                    "means": [means[j].ravel().tolist() for j in range(k)],
                    "covars": [start_covars[ct][j].ravel().tolist() for j in range(k)],
                },
                "priors": {n: arr(v) for n, v in given.items()},
                "results": run(make, X, gmm_params),
            })
    return cases


def main():
    # hmmlearn logs "Model is not converging" when a MAP iteration lowers the
    # log-likelihood, which is expected here.
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    doc = {
        "about": "hmmlearn's MAP M-steps from given models (see make_hmm_prior_refs.py)",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "hmmlearn": hmmlearn.__version__,
        },
        "cases": gaussian_cases() + categorical_cases() + gmm_cases(),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(doc['cases'])} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
